"""The whole hub on the demo's seven scenes over real RTSP: the right alert from each, none from
still water. Frames travel camera -> GStreamer RTSP server -> PyAV -> batch -> detection core ->
alerts -> embedded Redis, exactly as in `riverwatch demo`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from simulator.demo import demo_config_text
from simulator.fleet import fleet_config, mounts_for, plan_fleet
from simulator.scenes import SceneFiles, ensure_scenes
from simulator.server import RtspSimulator

DEMO_SCENES = 7
EXPECTED = {  # the alert each scene must raise (one loop of the scene is enough)
    "river_calm": set(),
    "river_boat_crossing": {"vessel_in_zone"},
    "river_loitering": {"vessel_in_zone", "loitering"},
    # Dredging is not required here: the simulator loops the scene, and a camera that learns
    # the parked dredger as background while it joins misses it until the long-term model
    # forgets it (ghost handling is an open problem; `riverwatch evaluate` measures it).
    "river_dredger": {"vessel_in_zone"},
    "river_rain": set(),
    "river_night": {"lights_at_night"},
    "street": {"stationary_object"},
}


@pytest.fixture(scope="module")
def demo_scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SceneFiles]:
    """The demo's scenes at the hub's analysis size, 1 s GOP so the test runs quickly."""
    cache = tmp_path_factory.mktemp("demo-scenes")
    return ensure_scenes(cache, EXPECTED, width=320, height=180, fps=15, gop_seconds=1)


@pytest.fixture
def demo_rtsp(demo_scenes: dict[str, SceneFiles]) -> Iterator[tuple[RtspSimulator, str]]:
    cameras = plan_fleet(DEMO_SCENES)
    with RtspSimulator(mounts_for(cameras, demo_scenes)) as sim:
        config = fleet_config(cameras, sim.port, with_auth=False)
        yield sim, demo_config_text(config)


@pytest.mark.timeout(420)
async def test_each_demo_scene_raises_its_alert_and_still_water_none(
    demo_rtsp: tuple[RtspSimulator, str], tmp_path: Path
) -> None:
    _, text = demo_rtsp
    loaded = parse_config(text, "demo")
    scene_of = {c.camera_id: c.scene for c in plan_fleet(DEMO_SCENES)}
    settings = Settings(data_dir=tmp_path / "data", tick_interval_s=0.2, alert_cooldown_s=600)
    raised: dict[str, set[str]] = {scene: set() for scene in EXPECTED}
    async with Hub(settings, loaded) as hub:
        for _ in range(360):  # up to 3 min: a minute of learning, then a loop of each scene
            await asyncio.sleep(0.5)
            for _, alert in await hub.recent_alerts(200):
                raised[scene_of[alert.camera_id]].add(alert.rule)
            if all(EXPECTED[s] <= raised[s] for s in EXPECTED):
                break
    missing = {s: EXPECTED[s] - raised[s] for s in EXPECTED if EXPECTED[s] - raised[s]}
    assert not missing, f"scenes that did not raise their alert: {missing}; raised: {raised}"
    assert raised["river_calm"] == set() and raised["river_rain"] == set(), raised
