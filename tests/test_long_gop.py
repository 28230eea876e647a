"""A camera whose keyframes come too far apart for its zones is flagged: the rule on its own,
and a 4 s GOP camera beside a 1 s one on the real RTSP simulator (health, /metrics)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.metrics import render
from hub.gop import gop_warnings
from hub.runtime import Hub
from riverwatch.config import ZoneConfig, parse_config
from riverwatch.settings import Settings
from riverwatch.types import DecodeMode
from simulator.scenes import SceneFiles, ensure_scenes
from simulator.server import Mount, RtspSimulator
from tests.conftest import SCENE_ARGS, eventually

ZONE = ZoneConfig(id="ban", polygon=[(0, 0.3), (1, 0.3), (1, 1)], max_delay_s=5.0)
CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
{cameras}
"""
CAMERA = """  - id: {id}
    name: {id}
    group: jinsha
    url: rtsp://127.0.0.1:{port}/{id}
    zones:
      - {{id: ban, kind: no_fishing, polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
"""


def test_the_warning_follows_keyframes_needed_against_the_zones_delay() -> None:
    assert gop_warnings(None, DecodeMode.KEYFRAMES, [ZONE]) == ()  # not measured yet
    assert gop_warnings(2.5, DecodeMode.KEYFRAMES, [ZONE]) == ()  # 2 x 2.5 s = 5 s: in time
    (warning,) = gop_warnings(4.0, DecodeMode.KEYFRAMES, [ZONE])
    assert warning.startswith("GOP 4.0 s: zone 'ban' wants detection within 5 s")
    assert "at most 2.5 s" in warning and "decode_mode: full" in warning
    patient = ZONE.model_copy(update={"id": "watch", "max_delay_s": 30.0})
    assert len(gop_warnings(8.0, DecodeMode.KEYFRAMES, [ZONE, patient])) == 1
    single = ZONE.model_copy(update={"min_observations": 1})
    assert gop_warnings(4.0, DecodeMode.KEYFRAMES, [single]) == ()


@pytest.fixture
def gop_cameras(
    scenes: dict[str, SceneFiles], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RtspSimulator]:
    cache = tmp_path_factory.mktemp("long-gop")
    slow = ensure_scenes(cache, ["river_calm"], **{**SCENE_ARGS, "gop_seconds": 4})
    mounts = [Mount("/quick", scenes["river_calm"].video), Mount("/slow", slow["river_calm"].video)]
    with RtspSimulator(mounts) as sim:
        yield sim


@pytest.mark.timeout(180)
async def test_a_long_gop_camera_is_flagged_in_health_and_metrics(
    gop_cameras: RtspSimulator, settings: Settings
) -> None:
    cameras = "".join(CAMERA.format(id=i, port=gop_cameras.port) for i in ("quick", "slow"))
    loaded = parse_config(CONFIG.format(cameras=cameras), "gop")
    async with Hub(settings, loaded) as hub:
        await eventually(
            lambda: all(hub.camera(c).health.gop_s is not None for c in ("quick", "slow")),
            timeout_s=90,
            what="both GOPs measured",
        )
        quick, slow = hub.camera("quick"), hub.camera("slow")
        metrics = (await render(hub)).decode()
    assert quick.health.gop_s is not None and 0.5 <= quick.health.gop_s <= 1.5
    assert slow.health.gop_s is not None and 3.0 <= slow.health.gop_s <= 5.0
    assert quick.warnings == ()
    (warning,) = slow.warnings
    assert "zone 'ban' wants detection within 5 s" in warning
    assert 'riverwatch_camera_warnings{camera="slow",group="jinsha"} 1.0' in metrics
    assert 'riverwatch_camera_warnings{camera="quick",group="jinsha"} 0.0' in metrics
    assert 'riverwatch_camera_gop_seconds{camera="slow",group="jinsha"}' in metrics
