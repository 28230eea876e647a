"""Evidence from a live camera: the real RTSP simulator, the real ingest ring, real files.

Cameras whose clocks lie: `tests.rtsp_replay.RtspReplay` sends H.264 with constant or
backwards RTP timestamps, which FFmpeg's RTSP client turns into constant or backwards pts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from alerts.evidence import EvidencePolicy, EvidenceRecorder, EvidenceStore, select_clip, write_clip
from alerts.evidence.clip import contiguous_runs
from alerts.evidence.snapshot import render_snapshot
from ingest import CameraSpec, IngestSupervisor
from riverwatch.annexb import to_annexb
from riverwatch.ring import PacketRing, RingPacket, keyframe_run
from riverwatch.secrets import Redactor, redact_url
from riverwatch.settings import Settings
from riverwatch.types import Alert, CameraState, DecodeMode
from simulator.server import RtspSimulator
from tests.conftest import eventually
from tests.evidence_fixtures import mp4_samples, probe, slice_units
from tests.rtsp_replay import RtspReplay, encode_pictures

BOX = (40, 30, 100, 70)  # analysis pixels (the settings fixture analyses at 160x96)
GOP_S = 1.0  # the test scenes' GOP


@contextlib.asynccontextmanager
async def live_camera(rtsp: RtspSimulator, settings: Settings) -> AsyncIterator[PacketRing]:
    url = rtsp.url("/boat", with_credentials=True)
    spec = CameraSpec("boat", lambda: url, redact_url(url), DecodeMode.KEYFRAMES, detect_fps=5.0)
    async with IngestSupervisor([spec], settings, Redactor()) as ingest:
        await eventually(
            lambda: ingest.camera_health("boat").state is CameraState.STREAMING, what="streaming"
        )
        ring = ingest.ring("boat")
        await eventually(lambda: seconds_held(ring) >= 5.0, what="five seconds in the ring")
        yield ring


def seconds_held(ring: PacketRing) -> float:
    packets = ring.snapshot()
    return packets[-1].received_at - packets[0].received_at if packets else 0.0


def alert_now(at: float) -> Alert:
    return Alert(
        alert_id="00c0ffee00c0ffee00c0ffee",
        camera_id="boat",
        zone_id="ban",
        rule="vessel_in_zone",
        severity="high",
        started_at=at,
        observed_at=at,
        frame_seq=1,
        score=0.9,
        box_xyxy=BOX,
    )


def recorder_for(settings: Settings, **overrides: float) -> EvidenceRecorder:
    store = EvidenceStore(settings.data_dir, max_age_s=3600, max_total_bytes=10**9)
    values: dict[str, object] = {
        "pre_roll_s": 3.0,
        "post_roll_s": 3.0,
        "analysis_wh": (settings.analysis_width, settings.analysis_height),
        "poll_s": 1.0,
        "jpeg_quality": 95,
    }
    values.update(overrides)
    return EvidenceRecorder(store, EvidencePolicy(**values))  # type: ignore[arg-type]


def is_contiguous_part(part: Sequence[bytes], whole: Sequence[bytes]) -> bool:
    """True when `part` appears in `whole` in order with nothing between."""
    if not part:
        return False
    starts = [i for i, item in enumerate(whole) if item == part[0]]
    return any(list(whole[i : i + len(part)]) == list(part) for i in starts)


def ring_pictures(ring: PacketRing) -> list[bytes]:
    """The ring's pictures as the MP4 holds them: slices only, one entry per packet."""
    return [to_annexb(slice_units(p.data)) for p in ring.snapshot()]


async def test_live_camera_snapshot_and_clip(rtsp: RtspSimulator, settings: Settings) -> None:
    recorder = recorder_for(settings)
    async with live_camera(rtsp, settings) as ring:
        alert = alert_now(time.time())
        evidence = await recorder.capture(alert, ring)
        pictures = ring_pictures(ring)  # the ring still holds the whole clip (15 s)
    assert evidence.problems == ()
    assert evidence.snapshot is not None and evidence.clip is not None

    image = cv2.imread(str(settings.data_dir / evidence.snapshot.path), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (180, 320, 3)  # the camera's, not 160x96
    sx, sy = 320 / settings.analysis_width, 180 / settings.analysis_height
    x0, y0, x1, y1 = (
        round(BOX[0] * sx),
        round(BOX[1] * sy),
        round(BOX[2] * sx),
        round(BOX[3] * sy),
    )
    mid_x, mid_y = (x0 + x1) // 2, (y0 + y1) // 2
    for x, y in [(mid_x, y0), (mid_x, y1), (x0, mid_y), (x1, mid_y)]:
        b, g, r = (int(v) for v in image[y, x])
        assert r > 180 and g < 90 and b < 90, (x, y, (b, g, r))
    assert np.ptp(image[y0 + 5 : y1 - 5, x0 + 5 : x1 - 5]) > 10  # the river inside, not paint

    clip_path = settings.data_dir / evidence.clip.path
    decoded, duration, width, height, codec = probe(clip_path)
    assert (width, height, codec) == (320, 180, "h264")
    # 3 s before the alert from the keyframe at or before it, 3 s after: 6 s plus up to a GOP.
    assert 6.0 - GOP_S <= duration <= 6.0 + 2 * GOP_S, duration
    samples = mp4_samples(clip_path)
    assert decoded == len(samples) >= 5 * 15 - 15
    assert is_contiguous_part(samples, pictures)  # the camera's own bytes: nothing re-encoded
    assert evidence.clip.path.startswith("evidence/") and evidence.clip.path.endswith(".mp4")


async def test_clip_ends_at_a_reconnect_and_stays_playable(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    recorder = recorder_for(settings, pre_roll_s=2.0, post_roll_s=60.0, poll_s=0.5)
    async with live_camera(rtsp, settings) as ring:
        first_generation = ring.generation
        alert = alert_now(time.time())
        capture = asyncio.create_task(recorder.capture(alert, ring))
        await asyncio.sleep(1.5)
        await asyncio.to_thread(rtsp.stop)
        stopped_at = time.time()
        await asyncio.to_thread(rtsp.start)
        await eventually(lambda: ring.generation > first_generation, what="a new session")
        evidence = await asyncio.wait_for(capture, timeout=20)  # not the 60 s post-roll
        pictures = ring_pictures(ring)
    assert evidence.clip is not None, evidence.problems
    clip_path = settings.data_dir / evidence.clip.path
    decoded, duration, *_ = probe(clip_path)
    samples = mp4_samples(clip_path)
    assert decoded == len(samples)
    assert duration <= stopped_at - alert.started_at + 2.0 + GOP_S + 0.5
    assert is_contiguous_part(samples, pictures)  # one session's run, in order


# ---- cameras with constant or backwards RTP timestamps ---------------------------------------

FPS, GOP = 15, 15
STAMPS = {
    "real": lambda n: n * 90_000 // FPS,
    "constant": lambda n: 1234,
    "backwards": lambda n: 2**31 - n * 6000,
    "wrapping": lambda n: 2**32 - 3 * 90_000 + n * 6000,  # the RTP clock wraps 3 s in
}


def pictures_in(packets: Sequence[RingPacket]) -> int:
    """How many pictures ingest numbered in `packets`."""
    return len({(p.generation, p.picture) for p in packets})


async def caught_up(ring: PacketRing, replay: RtspReplay, at_least: int) -> list[RingPacket]:
    """The ring's packets at a moment when it holds every picture the server sent but the last.

    Read in one step of the event loop, which the server shares: it cannot send in between,
    so equal counts mean every picture sent became one ring picture, none split or merged.
    (FFmpeg's parser hands a picture out once the next one begins: the newest waits.)
    """
    held: list[RingPacket] = []

    def equal() -> bool:
        held[:] = ring.snapshot()
        return pictures_in(held) == replay.sent - 1 >= at_least

    await eventually(equal, what=f"the ring to hold the {at_least}+ pictures sent, one each")
    return held


def clip_frame_times(path: Path) -> list[float]:
    """Presentation times (s) of every decoded frame of an MP4, in decoding output order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * f.time_base) for f in container.decode(stream)]


@pytest.mark.parametrize("kind", ["real", "constant", "backwards", "wrapping"])
async def test_clip_from_a_camera_whose_clock_lies_plays_every_picture(
    settings: Settings, tmp_path: Path, kind: str
) -> None:
    async with RtspReplay(encode_pictures(4 * GOP, FPS, GOP), FPS, STAMPS[kind]) as replay:
        spec = CameraSpec(kind, lambda: replay.url, replay.url, DecodeMode.KEYFRAMES, 5.0)
        async with IngestSupervisor([spec], settings, Redactor()) as ingest:
            ring = ingest.ring(kind)
            packets = await caught_up(ring, replay, at_least=4 * GOP)
            stream = ring.stream
        assert replay.connections == 1 and stream is not None
    assert len({p.generation for p in packets}) == 1

    chosen = select_clip(packets, packets[0].received_at, packets[-1].received_at, time.time())
    path = tmp_path / "clip.mp4"
    info = write_clip(chosen, stream, path)
    times = clip_frame_times(path)
    # Every picture the camera sent is one frame, shown in the order it was sent.
    assert len(times) == info.frames == pictures_in(chosen) == pictures_in(packets)
    assert all(b > a for a, b in zip(times, times[1:], strict=False)), times
    decoded, duration, width, height, _ = probe(path)
    assert (decoded, width, height) == (len(times), 320, 180)
    span = chosen[-1].arrival_s - chosen[0].arrival_s
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if kind in ("real", "wrapping"):
        # Trusted pts keep the camera's own timing, whatever the arrival jitter (FFmpeg
        # unwraps the 32-bit RTP clock).
        assert steps == pytest.approx([1 / FPS] * len(steps), abs=1e-4)
    else:
        # Timed by arrival: the clip lasts as long as the pictures took to come. FFmpeg reads
        # the first second of a session ahead while it probes, which may arrive in a burst.
        assert span <= duration <= span + 0.5, (duration, span)
        assert duration >= (len(times) - 2 * FPS) / FPS, duration


@pytest.mark.parametrize("kind", ["constant", "backwards"])
async def test_snapshot_keyframe_is_one_picture_whatever_the_pts(
    settings: Settings, kind: str
) -> None:
    async with RtspReplay(encode_pictures(4 * GOP, FPS, GOP), FPS, STAMPS[kind]) as replay:
        spec = CameraSpec(kind, lambda: replay.url, replay.url, DecodeMode.KEYFRAMES, 5.0)
        async with IngestSupervisor([spec], settings, Redactor()) as ingest:
            ring = ingest.ring(kind)
            packets = await caught_up(ring, replay, at_least=2 * GOP + 2)
    index, run = keyframe_run(packets)
    keyframes = [i for i, p in enumerate(packets) if p.is_keyframe]
    assert index == keyframes[-1] > 0  # the newest keyframe, not the ring's first
    assert pictures_in(run) == 1 and len(run) == 1  # the camera sends it as one packet


async def test_a_camera_clock_jumping_ahead_cuts_the_clip_there_and_both_sides_play(
    settings: Settings, tmp_path: Path
) -> None:
    """An NTP resync moves the camera's clock an hour on, 3 s into the stream: the pictures
    on each side of the jump are a clip that plays at the camera's own pace."""
    jump = 3 * FPS
    stamps = lambda n: n * 6000 + (3600 * 90_000 if n >= jump else 0)  # noqa: E731
    async with RtspReplay(encode_pictures(4 * GOP, FPS, GOP), FPS, stamps) as replay:
        spec = CameraSpec("jump", lambda: replay.url, replay.url, DecodeMode.KEYFRAMES, 5.0)
        async with IngestSupervisor([spec], settings, Redactor()) as ingest:
            ring = ingest.ring("jump")
            packets = await caught_up(ring, replay, at_least=jump + 2 * GOP)
            stream = ring.stream
    assert stream is not None and replay.connections == 1
    runs = contiguous_runs(packets)
    assert len(runs) >= 2  # cut at the jump (and at each loop of the replay's pictures)
    for n, run in enumerate(runs[:2]):
        chosen = select_clip(run, run[0].received_at, run[-1].received_at, run[0].received_at)
        path = tmp_path / f"side-{n}.mp4"
        write_clip(chosen, stream, path)
        times = clip_frame_times(path)
        steps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(times) == pictures_in(chosen) >= 2 and probe(path)[2:4] == (320, 180)
        assert steps == pytest.approx([1 / FPS] * len(steps), abs=1e-4), (n, steps)


@pytest.mark.parametrize(("in_sdp", "in_band"), [(True, False), (False, True)])
async def test_parameter_sets_only_in_the_sdp_or_only_in_band_give_playable_evidence(
    settings: Settings, tmp_path: Path, in_sdp: bool, in_band: bool
) -> None:
    pictures = encode_pictures(4 * GOP, FPS, GOP)
    async with RtspReplay(pictures, FPS, None, in_sdp, in_band) as replay:
        spec = CameraSpec("sets", lambda: replay.url, replay.url, DecodeMode.KEYFRAMES, 5.0)
        async with IngestSupervisor([spec], settings, Redactor()) as ingest:
            ring = ingest.ring("sets")
            packets = await caught_up(ring, replay, at_least=2 * GOP + 2)
            stream = ring.stream
    assert stream is not None
    chosen = select_clip(packets, packets[0].received_at, packets[-1].received_at, time.time())
    path = tmp_path / "clip.mp4"
    write_clip(chosen, stream, path)
    decoded, _, width, height, _ = probe(path)
    assert (width, height) == (320, 180) and decoded == pictures_in(chosen)
    snapshot = render_snapshot(packets, stream, time.time(), [BOX], (160, 96))
    assert (snapshot.width, snapshot.height) == (320, 180)


async def test_a_resolution_change_mid_stream_keeps_analysis_and_each_side_clips(
    settings: Settings, tmp_path: Path
) -> None:
    """The camera changes its picture size without closing the session (new SPS in band): it
    stays analysed at both sizes, and a clip on either side of the change plays at its size."""
    small = encode_pictures(2 * GOP, FPS, GOP)
    large = encode_pictures(2 * GOP, FPS, GOP, shape_hw=(360, 640))
    async with RtspReplay(small + large, FPS) as replay:
        spec = CameraSpec("resize", lambda: replay.url, replay.url, DecodeMode.KEYFRAMES, 5.0)
        async with IngestSupervisor([spec], settings, Redactor()) as ingest:
            ring = ingest.ring("resize")
            widths: set[int | None] = set()

            def both_sizes_analysed() -> bool:
                widths.add(ingest.camera_health("resize").width)
                return {320, 640} <= widths

            await eventually(both_sizes_analysed, what="frames at both sizes")
            packets = await caught_up(ring, replay, at_least=5 * GOP)
            stream = ring.stream
            health = ingest.camera_health("resize")
    assert stream is not None and health.reconnects == 0 and health.decode_errors == 0
    sizes = set()
    for n, run in enumerate(contiguous_runs(packets, codec="h264")):
        chosen = select_clip(run, run[0].received_at, run[-1].received_at, run[0].received_at)
        path = tmp_path / f"run-{n}.mp4"
        write_clip(chosen, stream, path)
        decoded, _, width, height, _ = probe(path)
        assert decoded == pictures_in(chosen), n
        sizes.add((width, height))
    assert sizes == {(320, 180), (640, 360)}
