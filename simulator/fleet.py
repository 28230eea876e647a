"""A fleet of simulated cameras: which scene each plays, and the hub config that reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from simulator.scenes import SCENES, SceneFiles
from simulator.server import Mount

# Normalised zone polygons that match the generated scenes' geometry.
RIVER_ZONE = [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]
STREET_ZONE = [[0.0, 0.45], [1.0, 0.45], [1.0, 1.0], [0.0, 1.0]]
GROUPS = [
    {"id": "city", "name": "City streets", "kind": "street"},
    {"id": "jinsha", "name": "Jinsha river", "kind": "river"},
    {"id": "heng", "name": "Heng river", "kind": "river"},
]


@dataclass(frozen=True)
class SimCamera:
    """One simulated camera."""

    camera_id: str
    name: str
    group: str
    scene: str

    @property
    def mount_path(self) -> str:
        """Its RTSP path on the simulator."""
        return f"/{self.camera_id}"


def plan_fleet(n: int, scene_names: Sequence[str] | None = None) -> list[SimCamera]:
    """`n` cameras cycling through the scenes; river scenes alternate between the two rivers."""
    names = list(scene_names or SCENES)
    cameras = []
    river_count = 0
    for i in range(n):
        scene = names[i % len(names)]
        if SCENES[scene].kind == "river":
            group = ("jinsha", "heng")[river_count % 2]
            river_count += 1
        else:
            group = "city"
        cameras.append(SimCamera(f"sim-{i + 1:03d}", f"{scene} #{i + 1}", group, scene))
    return cameras


def mounts_for(cameras: Sequence[SimCamera], files: Mapping[str, SceneFiles]) -> list[Mount]:
    """The server mounts that play each camera's scene."""
    return [Mount(c.mount_path, files[c.scene].video) for c in cameras]


def scene_zone(kind: str) -> dict[str, object]:
    """The zone a simulated camera of this kind watches, with timers that fit 30-40 s scenes."""
    if kind == "river":
        return {
            "id": "ban",
            "name": "No-fishing, no-dredging water",
            "kind": "no_fishing",
            "severity": "high",
            "polygon": [list(p) for p in RIVER_ZONE],
            "rules": ["vessel_in_zone", "loitering", "dredging", "lights_at_night"],
            "loiter_s": 14,
            "dredging_s": 8,
        }
    return {
        "id": "street",
        "name": "Carriageway",
        "kind": "street",
        "severity": "medium",
        "polygon": [list(p) for p in STREET_ZONE],
        "rules": ["stationary_object", "crowding"],
        "stationary_s": 8,
    }


def fleet_config(
    cameras: Sequence[SimCamera], port: int, with_auth: bool, decode_mode: str = "keyframes"
) -> dict[str, object]:
    """A hub config for the fleet; credentials stay `${...}` placeholders."""
    userinfo = "${RIVERWATCH_SIM_USER}:${RIVERWATCH_SIM_PASSWORD}@" if with_auth else ""
    entries = []
    for cam in cameras:
        entries.append(
            {
                "id": cam.camera_id,
                "name": cam.name,
                "group": cam.group,
                "url": f"rtsp://{userinfo}127.0.0.1:{port}{cam.mount_path}",
                "zones": [scene_zone(SCENES[cam.scene].kind)],
            }
        )
    return {"groups": GROUPS, "defaults": {"decode_mode": decode_mode}, "cameras": entries}


def write_fleet_config(path: Path, config: Mapping[str, object]) -> None:
    """Write a fleet config as YAML."""
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
