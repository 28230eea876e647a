"""City cameras on the real RTSP simulator's profiles: a proper camera's H.264 sub-stream is
analysed while its H.265 main stream (B-frames, AAC) gives the evidence, a 1280x720 snapshot
and an `hvc1` clip with its sound; a camera that comes back from a reconnect in another codec
is analysed on, its ring holding only the new codec; a long-GOP camera is flagged; live tiles
fall back from H.265 and say why."""

from __future__ import annotations

import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from alerts.evidence import EvidencePolicy, EvidenceRecorder, EvidenceStore
from api.live import LiveService
from hub.gop import gop_warnings
from hub.runtime import Hub
from ingest import CameraSpec, IngestSupervisor, MainStreamSpec
from riverwatch.config import ZoneConfig, parse_config
from riverwatch.secrets import Redactor, redact_url
from riverwatch.settings import Settings
from riverwatch.types import Alert, CameraState, DecodeMode, MainRing
from simulator.server import RtspSimulator
from tests.conftest import eventually
from tests.sim_profiles import PASSWORD, profile_sim
from tests.test_evidence_rtsp import seconds_held
from tests.test_live import Viewer, live_http

__all__ = ["profile_sim"]
pytestmark = pytest.mark.timeout(600)  # a fresh checkout encodes the profiles first


@pytest.fixture(scope="module")
def sim(profile_sim: RtspSimulator) -> RtspSimulator:
    return profile_sim


def _spec(sim: RtspSimulator, profile: str, main: MainRing | None = None) -> CameraSpec:
    sub = sim.url(f"/cam-{profile}/sub", True)
    url = sim.url(f"/cam-{profile}/main", True)
    roles = MainStreamSpec(lambda: url, redact_url(url), main) if main is not None else None
    analysed = sub if roles is not None else url
    return CameraSpec(profile, lambda: analysed, redact_url(analysed), DecodeMode.KEYFRAMES, 5.0,
                      roles)  # fmt: skip


def _alert(camera_id: str, at: float) -> Alert:
    return Alert(alert_id="0123456789abcdef01234567", camera_id=camera_id, zone_id="ban",
                 rule="vessel_in_zone", severity="high", started_at=at, observed_at=at,
                 frame_seq=1, score=0.9, box_xyxy=(40, 30, 100, 70))  # fmt: skip


async def test_sub_stream_analysed_and_h265_main_with_sound_gives_the_evidence(
    sim: RtspSimulator, settings: Settings, tmp_path: Path
) -> None:
    async with IngestSupervisor([_spec(sim, "hd", MainRing.ALWAYS)], settings,
                                Redactor([PASSWORD])) as ingest:  # fmt: skip
        main = ingest.main_stream("hd")
        assert main is not None
        await eventually(lambda: ingest.camera_health("hd").analysed_frames >= 2,
                         timeout_s=60, what="the sub-stream analysed")  # fmt: skip
        await eventually(lambda: seconds_held(main.ring) >= 4.0, timeout_s=60,
                         what="main pre-roll")  # fmt: skip
        health = ingest.camera_health("hd")
        assert (health.codec, health.width, health.height) == ("h264", 640, 360)
        assert main.ring.stream is not None and main.ring.stream.codec == "hevc"
        assert main.ring.audio is not None and len(main.ring.audio) > 0
        assert ingest.ring("hd").audio is None  # the analysed sub-stream keeps no sound
        store = EvidenceStore(tmp_path, max_age_s=3600, max_total_bytes=10**9)
        policy = EvidencePolicy(pre_roll_s=3.0, post_roll_s=2.0, analysis_wh=(160, 96), poll_s=0.5)
        evidence = await EvidenceRecorder(store, policy).capture(_alert("hd", time.time()),
                                                                 main.ring)  # fmt: skip
    assert evidence.snapshot is not None and evidence.clip is not None, evidence.problems
    assert evidence.problems == ()
    picture = cv2.imdecode(np.fromfile(tmp_path / evidence.snapshot.path, np.uint8),
                           cv2.IMREAD_COLOR)  # fmt: skip
    assert picture.shape == (720, 1280, 3)
    clip = tmp_path / evidence.clip.path
    assert b"hvc1" in clip.read_bytes()[:200_000]
    with av.open(str(clip)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("hevc", "aac")
        frames = list(container.decode(video))
    with av.open(str(clip)) as container:
        heard = sum(f.samples for f in container.decode(audio=0))
    assert (frames[0].width, frames[0].height) == (1280, 720) and len(frames) >= 15 * 3
    times = [float(f.pts * f.time_base) for f in frames]
    # B-frames in display order: played in decode order, a 5 s clip of this B-frame pyramid
    # would step back at nearly every B-frame (dozens of times). A step back of one frame now
    # and then remains (the simulator's loop splice is one place; another is not understood
    # yet, see the README), so a few are allowed.
    backs = [(a, b) for a, b in zip(times, times[1:], strict=False) if b < a]
    assert len(backs) <= 3 and all(a - b < 0.1 for a, b in backs), backs
    assert heard >= 16_000 * 2  # the seconds of sound beside them


async def test_a_camera_back_from_a_reconnect_in_another_codec_is_analysed_on(
    sim: RtspSimulator, settings: Settings
) -> None:
    async with IngestSupervisor([_spec(sim, "codec-switch")], settings,
                                Redactor([PASSWORD])) as ingest:  # fmt: skip
        ring = ingest.ring("codec-switch")

        def analysed_as(codec: str) -> bool:
            health = ingest.camera_health("codec-switch")
            return health.codec == codec and health.state is CameraState.STREAMING

        await eventually(lambda: analysed_as("h264"), timeout_s=60, what="H.264 first")
        first = ingest.camera_health("codec-switch").analysed_frames
        # The server switches a mount's codec once every client has left: ask again until
        # the camera comes back as H.265 (FFmpeg's TEARDOWN may race the next SETUP).
        for _ in range(4):
            ingest.reconnect("codec-switch")
            try:
                await eventually(lambda: analysed_as("hevc"), timeout_s=30, what="H.265")
                break
            except AssertionError:
                continue
        await eventually(
            lambda: ingest.camera_health("codec-switch").analysed_frames >= first + 2,
            timeout_s=60,
            what="H.265 keyframes analysed",
        )
        assert ring.stream is not None and ring.stream.codec == "hevc"
        assert {p.generation for p in ring.snapshot()} == {ring.generation}  # no H.264 left
        assert ingest.camera_health("codec-switch").last_error == "reconnect asked"


async def test_a_long_gop_camera_measures_its_gop_and_is_flagged(
    sim: RtspSimulator, settings: Settings
) -> None:
    async with IngestSupervisor([_spec(sim, "gop8")], settings, Redactor([PASSWORD])) as ingest:
        await eventually(lambda: ingest.camera_health("gop8").gop_s is not None, timeout_s=90,
                         what="two GOPs")  # fmt: skip
        gop_s = ingest.camera_health("gop8").gop_s
    assert gop_s is not None and 7.0 <= gop_s <= 9.0
    zone = ZoneConfig(id="ban", polygon=[(0, 0.3), (1, 0.3), (1, 1)])
    (warning,) = gop_warnings(gop_s, DecodeMode.KEYFRAMES, [zone])
    assert "zone 'ban' wants detection within 5 s" in warning


CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - {{id: only-main, name: H.265 only, group: jinsha, url: "{main}"}}
  - {{id: roles, name: Main and sub, group: jinsha, url: "{main}", sub_url: "{sub}"}}
"""


async def test_live_tiles_fall_back_from_h265_and_say_why(
    sim: RtspSimulator, settings: Settings
) -> None:
    """An H.265-only camera cannot go to a browser unchanged: its offer is refused with the
    reason (the tile shows snapshots, decoded here). A camera with an H.264 sub-stream gives
    the large tile that sub-stream when it asks for its H.265 main, and says why."""
    main, sub = sim.url("/cam-hd/main", True), sim.url("/cam-hd/sub", True)
    loaded = parse_config(CONFIG.format(main=main, sub=sub), "live")
    async with Hub(settings, loaded) as hub, LiveService(hub.ring, None, hub.main_ring) as live:
        async with live_http(hub, live) as http:

            def keyframes() -> bool:
                big = hub.main_ring("roles")
                rings = (hub.ring("only-main"), hub.ring("roles"), big)
                return all(r is not None and r.newest_keyframe()[1] for r in rings)

            await eventually(keyframes, timeout_s=60, what="a keyframe on every stream")
            viewer = Viewer()
            refused = await viewer.connect(http, "only-main")
            snapshot = await http.get("/api/live/only-main/snapshot.jpg")
            large = await viewer.connect(http, "roles", "?stream=main")
            await viewer.close()
    assert refused.status_code == 409
    assert "sends hevc; live view forwards H.264 only" in refused.json()["detail"]
    picture = cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR)
    assert snapshot.status_code == 200 and picture.shape == (720, 1280, 3)
    assert large.status_code == 200, large.text
    assert large.json()["stream"] == "sub" and "hevc" in large.json()["note"]
