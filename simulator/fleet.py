"""A fleet of simulated cameras: which scene and profile each plays, the mounts that serve them
and the hub config that reads them.

A `classic` camera is one mount, `/sim-001`; a profiled camera (`simulator.profiles`) is two,
`/sim-001/main` and `/sim-001/sub`, and its config entry has `url` (main) and `sub_url` (sub).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from simulator.profiles import CITY_MIX, CLASSIC, PINNED_SCENES, PROFILES, camera_profiles
from simulator.scenes import SCENES, SceneFiles, ensure_scenes
from simulator.server import Mount, MountSource
from simulator.streams import StreamSpec, ensure_streams, scenes_needed

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
    profile: str = CLASSIC

    @property
    def mount_path(self) -> str:
        """Its RTSP path on the simulator (a profiled camera's main stream)."""
        if self.profile == CLASSIC:
            return f"/{self.camera_id}"
        return f"/{self.camera_id}/main"

    @property
    def sub_path(self) -> str | None:
        """Its sub-stream's RTSP path, if it has one."""
        return None if self.profile == CLASSIC else f"/{self.camera_id}/sub"


def plan_fleet(
    n: int, scene_names: Sequence[str] | None = None, profile: str = CLASSIC
) -> list[SimCamera]:
    """`n` cameras cycling through the scenes; river scenes alternate between the two rivers.

    In the city mix the odd kinds of camera play their pinned scene instead.
    """
    names = list(scene_names or SCENES)
    cameras = []
    river_count = 0
    for i, kind in enumerate(camera_profiles(profile, n)):
        scene = names[i % len(names)]
        if profile == CITY_MIX and scene_names is None:
            scene = PINNED_SCENES.get(kind, scene)
        if SCENES[scene].kind == "river":
            group = ("jinsha", "heng")[river_count % 2]
            river_count += 1
        else:
            group = "city"
        cameras.append(SimCamera(f"sim-{i + 1:03d}", f"{scene} #{i + 1}", group, scene, kind))
    return cameras


def fleet_mounts(
    cameras: Sequence[SimCamera], cache_dir: Path, duration_s: int | None = None
) -> list[Mount]:
    """The mounts that serve every camera, encoding (or reusing from `cache_dir`) their files."""
    classic = [c for c in cameras if c.profile == CLASSIC]
    files = ensure_scenes(cache_dir, {c.scene for c in classic}) if classic else {}
    pairs: list[tuple[str, StreamSpec]] = []
    for cam in cameras:
        if cam.profile != CLASSIC:
            p = PROFILES[cam.profile]
            pairs += [(cam.scene, spec) for spec in (*p.main, p.sub)]
    encoded = {
        (scene, spec): path
        for scene, specs in scenes_needed(pairs).items()
        for spec, path in ensure_streams(cache_dir, scene, specs, duration_s).items()
    }
    mounts: list[Mount] = []
    for cam in cameras:
        if cam.profile == CLASSIC:
            mounts.append(Mount(cam.mount_path, files[cam.scene].video))
            continue
        p = PROFILES[cam.profile]
        main = [MountSource(encoded[cam.scene, s], s.codec, s.audio) for s in p.main]
        sub = encoded[cam.scene, p.sub]
        constant = p.constant_timestamps
        first = main[0]
        mounts.append(
            Mount(cam.mount_path, first.file, first.video, first.audio, tuple(main[1:]), constant)
        )
        mounts.append(Mount(f"/{cam.camera_id}/sub", sub, p.sub.codec, False, (), constant))
    return mounts


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
        entry: dict[str, object] = {
            "id": cam.camera_id,
            "name": cam.name,
            "group": cam.group,
            "url": f"rtsp://{userinfo}127.0.0.1:{port}{cam.mount_path}",
        }
        if cam.sub_path is not None:
            entry["sub_url"] = f"rtsp://{userinfo}127.0.0.1:{port}{cam.sub_path}"
        entry["zones"] = [scene_zone(SCENES[cam.scene].kind)]
        entries.append(entry)
    return {"groups": GROUPS, "defaults": {"decode_mode": decode_mode}, "cameras": entries}


def write_fleet_config(path: Path, config: Mapping[str, object]) -> None:
    """Write a fleet config as YAML."""
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
