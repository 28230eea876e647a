"""Stream roles on the real RTSP simulator: a camera with a main stream (640x360 here) and a
sub-stream (320x180) of the same scene. Analysis decodes the sub-stream; the incident's
snapshot and clip come from the main stream at its own resolution when its ring is kept
`always`; `on_alert` opens the main stream with the incident (its clip from there on, the
sub-stream's pre-roll as a second clip) and closes it after. Live view:
wall tiles get the sub-stream, the large tile (`stream=main`) the main stream."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from api.live import LiveService
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from riverwatch.types import CameraState, MainRing
from simulator.scenes import SceneFiles, ensure_scenes
from simulator.server import Mount, RtspSimulator
from tests.conftest import SCENE_ARGS, eventually
from tests.test_live import Viewer, live_http

MAIN_WH = (640, 360)
SUB_WH = (SCENE_ARGS["width"], SCENE_ARGS["height"])
CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - id: boat
    name: Boat crossing
    group: jinsha
    url: rtsp://127.0.0.1:{port}/boat-main
    sub_url: rtsp://127.0.0.1:{port}/boat-sub
    main_ring: {ring}
    zones:
      - {{id: ban, kind: no_fishing, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
"""


@pytest.fixture(scope="module")
def main_scene(tmp_path_factory: pytest.TempPathFactory) -> SceneFiles:
    """The boat scene at main-stream resolution (same story, same GOP as the sub-stream)."""
    cache = tmp_path_factory.mktemp("main-scenes")
    args = {**SCENE_ARGS, "width": MAIN_WH[0], "height": MAIN_WH[1]}
    return ensure_scenes(cache, ["river_boat_crossing"], **args)["river_boat_crossing"]


@pytest.fixture
def two_streams(scenes: dict[str, SceneFiles], main_scene: SceneFiles) -> Iterator[RtspSimulator]:
    mounts = [
        Mount("/boat-main", main_scene.video),
        Mount("/boat-sub", scenes["river_boat_crossing"].video),
    ]
    with RtspSimulator(mounts) as sim:
        yield sim


def _settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"evidence_pre_roll_s": 2.0, "evidence_post_roll_s": 2.0, "alert_cooldown_s": 600}
    )


def _evidence(data_dir: Path) -> tuple[Path, Path] | None:
    """The first incident's snapshot and clip, once both are written."""
    jpegs = sorted(data_dir.rglob("*.jpg"))
    clips = sorted(p for p in data_dir.rglob("*.mp4") if not p.name.endswith(".preroll.mp4"))
    return (jpegs[0], clips[0]) if jpegs and clips else None


def _evidence_sizes(data_dir: Path) -> tuple[tuple[int, int], tuple[int, int, int], Path]:
    """The first incident's snapshot (width, height), clip (width, height, frames), and the
    clip's path."""
    found = _evidence(data_dir)
    assert found is not None
    snapshot, clip = found
    picture = cv2.imread(str(snapshot))
    assert picture is not None
    return (picture.shape[1], picture.shape[0]), _clip_size(clip), clip


def _clip_size(path: Path) -> tuple[int, int, int]:
    """Width, height and decoded frame count of an MP4."""
    with av.open(io.BytesIO(path.read_bytes())) as container:
        frames = list(container.decode(video=0))
    return frames[0].width, frames[0].height, len(frames)


@pytest.mark.timeout(240)
async def test_analysis_reads_the_sub_stream_and_evidence_comes_from_the_main(
    two_streams: RtspSimulator, settings: Settings
) -> None:
    settings = _settings(settings)
    loaded = parse_config(CONFIG.format(port=two_streams.port, ring="always"), "roles")
    async with Hub(settings, loaded) as hub:
        await eventually(lambda: hub.camera("boat").health.analysed_frames > 0, what="analysis")
        camera = hub.camera("boat")
        assert camera.stream.endswith("/boat-sub") and camera.health.width == SUB_WH[0]
        main = camera.main
        assert main is not None and main.policy is MainRing.ALWAYS and main.running
        await eventually(lambda: _evidence(settings.data_dir) is not None, timeout_s=150,
                         what="an incident's snapshot and clip")  # fmt: skip
        main = hub.camera("boat").main
        assert main is not None and (main.width, main.height) == MAIN_WH
        assert main.stream.endswith("/boat-main") and main.health.decode_errors == 0
        assert main.health.analysed_frames == 0  # recorded, never decoded
    snapshot_wh, (width, height, frames), _ = _evidence_sizes(settings.data_dir)
    assert snapshot_wh == MAIN_WH
    assert (width, height) == MAIN_WH and frames >= 15 * 2  # pre- and post-roll at 15 fps


@pytest.mark.timeout(240)
async def test_on_alert_opens_the_main_stream_with_the_incident_and_closes_it_after(
    two_streams: RtspSimulator, settings: Settings
) -> None:
    settings = _settings(settings).model_copy(update={"alert_cooldown_s": 2.0})
    loaded = parse_config(CONFIG.format(port=two_streams.port, ring="on_alert"), "roles")
    async with Hub(settings, loaded) as hub:
        await eventually(lambda: hub.camera("boat").health.analysed_frames > 0, what="analysis")

        def main_state() -> tuple[bool, CameraState]:
            main = hub.camera("boat").main
            assert main is not None and main.policy is MainRing.ON_ALERT
            return main.running, main.health.state

        assert main_state()[0] is False  # nothing open yet: no main-stream bandwidth
        await eventually(lambda: main_state()[0], timeout_s=150, what="the main stream opening")
        await eventually(lambda: main_state()[1] is CameraState.STREAMING, what="main streaming")
        main = hub.camera("boat").main
        assert main is not None and (main.width, main.height) == MAIN_WH
        # The boat leaves, the incident closes, the main stream closes with it.
        await eventually(lambda: not main_state()[0], timeout_s=150, what="the main closing")
        assert main_state()[1] is CameraState.STOPPED

        async def ticket_has_both_clips() -> bool:
            tickets = await hub.tickets().list_tickets(None, 10)
            return any(t.clip and t.preroll_clip.endswith(".preroll.mp4") for t in tickets)

        await eventually(ticket_has_both_clips, what="the ticket's clip and pre-roll")
    # The snapshot and clip from the main stream, opened for the incident; the pre-roll
    # before its first keyframe from the sub-stream, as a second clip beside it.
    snapshot_wh, clip_size, clip = _evidence_sizes(settings.data_dir)
    assert snapshot_wh == MAIN_WH and clip_size[:2] == MAIN_WH
    preroll = clip.with_name(clip.name.replace(".mp4", ".preroll.mp4"))
    width, height, frames = _clip_size(preroll)
    assert (width, height) == SUB_WH and frames >= 15  # 2 s pre-roll at 15 fps, and more


@pytest.mark.timeout(240)
async def test_an_incident_over_the_on_alert_cap_takes_its_evidence_from_the_sub_stream(
    two_streams: RtspSimulator, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # An alert storm must not open a main stream per incident: with no room left (a cap of
    # 0), the incident's snapshot and clip come from the sub-stream, and the camera says why.
    settings = _settings(settings).model_copy(update={"alert_mains_max": 0})
    loaded = parse_config(CONFIG.format(port=two_streams.port, ring="on_alert"), "roles")
    async with Hub(settings, loaded) as hub:

        def refused() -> int:
            main = hub.camera("boat").main
            assert main is not None and not main.running  # never opened
            return main.refused

        await eventually(lambda: refused() > 0, timeout_s=150, what="an incident's opening")
        await eventually(lambda: _evidence(settings.data_dir) is not None, timeout_s=60,
                         what="the incident's snapshot and clip")  # fmt: skip
        assert refused() >= 1
    snapshot_wh, clip_size, _ = _evidence_sizes(settings.data_dir)
    assert snapshot_wh == SUB_WH and clip_size[:2] == SUB_WH
    assert not list(settings.data_dir.rglob("*.preroll.mp4"))  # one clip, all sub-stream
    assert "on_alert main streams were open already" in caplog.text


@pytest.mark.timeout(180)
async def test_the_large_tile_gets_the_main_stream_and_wall_tiles_the_sub(
    two_streams: RtspSimulator, settings: Settings
) -> None:
    loaded = parse_config(CONFIG.format(port=two_streams.port, ring="always"), "roles")
    async with (
        Hub(settings, loaded) as hub,
        LiveService(hub.ring, None, hub.main_ring) as live,
    ):
        async with live_http(hub, live) as http:

            def main_keyframe() -> bool:
                ring = hub.main_ring("boat")
                return ring is not None and ring.newest_keyframe()[0] >= 0

            await eventually(main_keyframe, what="a main-stream keyframe")
            await eventually(lambda: hub.ring("boat").newest_keyframe()[0] >= 0, what="sub")
            big, small = Viewer(), Viewer()
            answer = await big.connect(http, "boat", "?stream=main")
            assert answer.status_code == 200 and answer.json()["stream"] == "main", answer.text
            answer = await small.connect(http, "boat")
            assert answer.status_code == 200 and answer.json()["stream"] == "sub", answer.text
            await eventually(lambda: bool(big.sizes and small.sizes), what="frames on both")
            assert big.sizes[-1] == MAIN_WH and small.sizes[-1] == SUB_WH
            jpegs = [
                (await http.get("/api/live/boat/snapshot.jpg", params=q)).content
                for q in ({"stream": "main"}, {})
            ]
            bad = await http.get("/api/live/boat/snapshot.jpg", params={"stream": "4k"})
            await big.close()
            await small.close()
    shapes = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR).shape[:2] for j in jpegs]
    assert shapes == [(MAIN_WH[1], MAIN_WH[0]), (SUB_WH[1], SUB_WH[0])]
    assert bad.status_code == 422
