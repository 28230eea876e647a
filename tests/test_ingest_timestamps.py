"""Streams whose timestamps lie, and cameras that stream but analyse nothing.

Real streams: `tests.rtsp_replay.RtspReplay` is a small RTSP server on the test's event loop
that sends H.264 over RTP with the RTP timestamps the test chooses (GStreamer's server
re-stamps every buffer, so it cannot send a constant or backwards clock); FFmpeg's own RTSP
client in the hub turns those into constant or backwards pts. A raw .h264 file written with
PyAV gives packets with no pts at all. Rates are compared as ratios of counts (frames analysed
per picture sent), never as counts in a wall-clock window.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from api.metrics import camera_metrics
from ingest import CameraSpec, IngestSupervisor, NoFrames, StreamEnded
from ingest.camera import CameraSource
from ingest.policy import frameless_for, frameless_limit_s, next_attempt, state_after_error
from ingest.session import (
    Controls,
    Counters,
    Decoders,
    Pictures,
    SessionLimits,
    StreamSession,
    stream_decoders,
)
from riverwatch.batch import FrameBatch
from riverwatch.ring import PacketRing
from riverwatch.secrets import Redactor
from riverwatch.settings import Settings
from riverwatch.types import CameraInfo, CameraState, DecodeMode
from tests.conftest import eventually
from tests.rtsp_replay import RtspReplay, encode_pictures, encode_with_pts

FPS, GOP = 15, 15  # one keyframe a second

# ---- the pure picture grouping: (pts, key) in, new-picture flags out --------------------------

K, P = True, False


@pytest.mark.parametrize(
    ("packets", "starts", "gops", "usable"),
    [
        pytest.param(
            [(0, K), (1, P), (2, P), (3, K), (4, P)],
            [1, 1, 1, 1, 1],
            [1, 0, 0, 1, 0],
            True,
            id="increasing",
        ),
        pytest.param(
            [(0, K), (0, K), (0, K), (1, P), (1, P), (2, P)],
            [1, 0, 0, 1, 0, 1],
            [1, 0, 0, 0, 0, 0],
            True,
            id="slices share a pts",
        ),
        pytest.param(
            [(7, K), (7, K), (7, P), (7, P), (7, P), (7, K), (7, P)],
            [1, 0, 1, 1, 1, 1, 1],
            [1, 0, 0, 0, 0, 1, 0],
            False,
            id="constant: keyframe slices still join, every other packet is a picture",
        ),
        pytest.param(
            [(9, K), (8, P), (7, P), (6, K), (5, P)],
            [1, 1, 1, 1, 1],
            [1, 0, 0, 1, 0],
            True,
            id="backwards",
        ),
        pytest.param(
            [(None, K), (None, P), (None, P), (None, K), (None, P)],
            [1, 1, 1, 1, 1],
            [1, 0, 0, 1, 0],
            False,
            id="missing",
        ),
        pytest.param(
            [(5, P)] * (Pictures.MAX_SLICES + 3),
            [1] + [0] * (Pictures.MAX_SLICES - 1) + [1, 1, 1],
            [0] * (Pictures.MAX_SLICES + 3),
            False,
            id="constant from mid-GOP: more packets per pts than slices",
        ),
    ],
)
def test_pictures_are_grouped_by_arrival_whatever_the_pts(
    packets: list[tuple[int | None, bool]], starts: list[int], gops: list[int], usable: bool
) -> None:
    pictures = Pictures()
    seen_starts, seen_gops = [], []
    for pts, key in packets:
        seen_starts.append(int(pictures.admit(pts, key)))
        seen_gops.append(int(pictures.new_gop))
    assert seen_starts == starts
    assert seen_gops == gops
    assert pictures.pts_usable is usable


@pytest.mark.parametrize(
    ("gop_s", "limit_s"), [(1.0, 3.0), (0.2, 3.0), (4.0, 12.0), (None, 30.0), (500.0, 300.0)]
)
def test_frameless_limit_is_three_gops_within_bounds(gop_s: float | None, limit_s: float) -> None:
    assert frameless_limit_s(gop_s) == limit_s


@pytest.mark.parametrize(
    ("now", "since", "last_frame_at", "gop_s", "waited"),
    [
        (10.0, 5.0, 0.0, 1.0, 5.0),  # streaming 5 s, never a frame, GOP 1 s: over the limit
        (10.0, 5.0, 8.0, 1.0, 0.0),  # a frame 2 s ago
        (10.0, 8.0, 1.0, 1.0, 0.0),  # an old session's frame; this one is only 2 s old
        (10.0, 5.0, 0.0, None, 0.0),  # GOP unknown: 30 s are allowed
    ],
)
def test_frameless_for(
    now: float, since: float, last_frame_at: float, gop_s: float | None, waited: float
) -> None:
    assert frameless_for(now, since, last_frame_at, gop_s) == waited


def test_no_frames_has_its_own_state_and_backs_off_even_after_a_long_session() -> None:
    assert state_after_error(NoFrames("x")) is CameraState.NO_FRAMES
    assert next_attempt(2, NoFrames("x"), streamed_s=120.0, max_attempt=6) == 3
    assert next_attempt(2, StreamEnded("x"), streamed_s=120.0, max_attempt=6) == 0


# ---- real RTSP streams with constant and backwards RTP timestamps ----------------------------


@pytest.fixture(scope="module")
def pictures() -> list[list[bytes]]:
    """Four GOPs of a bar crossing the picture, as NAL units per picture."""
    return encode_pictures(4 * GOP, FPS, GOP)


STAMPS: dict[str, Callable[[int], int]] = {
    "real": lambda n: n * 90_000 // FPS,
    "constant": lambda n: 1234,
    "backwards": lambda n: 2**31 - n * 6000,
    # The 32-bit RTP clock wraps 3 s into the stream.
    "wrapping": lambda n: 2**32 - 3 * 90_000 + n * 6000,
    # The camera's clock jumps an hour ahead 3 s in (an NTP resync), then runs on.
    "jumping": lambda n: n * 6000 + (3600 * 90_000 if n >= 3 * FPS else 0),
}
# Where the camera puts SPS and PPS: (in the SDP, in band).
SETS = {"sets-in-band-only": (False, True), "sets-in-sdp-only": (True, False)}


@pytest.fixture
async def servers(pictures: list[list[bytes]]) -> AsyncIterator[dict[str, RtspReplay]]:
    """One replay server per timestamp kind, and per placement of the parameter sets."""
    replays = {name: RtspReplay(pictures, FPS, stamp) for name, stamp in STAMPS.items()}
    replays |= {name: RtspReplay(pictures, FPS, None, *where) for name, where in SETS.items()}
    for replay in replays.values():
        await replay.__aenter__()
    yield replays
    for replay in replays.values():
        await replay.__aexit__()


def spec(camera_id: str, url: str, mode: DecodeMode) -> CameraSpec:
    return CameraSpec(camera_id, lambda: url, url, mode, detect_fps=5.0)


async def analysed_per_picture(
    ingest: IngestSupervisor, servers: dict[str, RtspReplay], pictures: int
) -> dict[str, float]:
    """Frames analysed per picture sent, over `pictures` pictures after each camera's first."""

    def analysed(name: str) -> int:
        return ingest.camera_health(name).analysed_frames

    await eventually(lambda: all(analysed(name) >= 1 for name in servers), what="first frames")
    start = {name: (analysed(name), replay.sent) for name, replay in servers.items()}
    await eventually(
        lambda: all(r.sent - start[n][1] >= pictures for n, r in servers.items()),
        what=f"{pictures} pictures more",
    )
    return {
        name: (analysed(name) - start[name][0]) / (replay.sent - start[name][1])
        for name, replay in servers.items()
    }


@pytest.mark.parametrize(
    ("mode", "low", "high"),
    [
        (DecodeMode.KEYFRAMES, 2 / 45, 5 / 45),  # one frame per 15-picture GOP: 3 in 45
        (DecodeMode.FULL, 0.15, 0.55),  # detect fps 5 of 15: a third of the pictures
    ],
)
async def test_streams_with_lying_clocks_or_parameter_sets_anywhere_are_analysed(
    servers: dict[str, RtspReplay],
    settings: Settings,
    mode: DecodeMode,
    low: float,
    high: float,
) -> None:
    specs = [spec(name, replay.url, mode) for name, replay in servers.items()]
    async with IngestSupervisor(specs, settings, Redactor()) as ingest:
        rates = await analysed_per_picture(ingest, servers, pictures=3 * GOP)
        for name in servers:
            health = ingest.camera_health(name)
            assert low <= rates[name] <= high, (name, rates)
            assert health.state is CameraState.STREAMING, (name, health)
            assert health.no_frame_reopens == 0 and health.reconnects == 0, (name, health)
            assert health.width == 320 and health.height == 180


# ---- a file without any pts (raw H.264), through the session itself --------------------------


def raw_h264(path: Path, count: int) -> Path:
    """An Annex B elementary stream: FFmpeg's demuxer gives its packets no pts or dts."""
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.gop_size = GOP
        stream.codec_context.options = {"bframes": "0", "x264-params": "scenecut=0"}
        for index in range(count):
            rgb = np.full((96, 160, 3), 40, np.uint8)
            rgb[:, (index * 3) % 140 :][:, :20] = 200
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(
    ("mode", "low", "high"),
    [(DecodeMode.KEYFRAMES, 2 / 45, 5 / 45), (DecodeMode.FULL, 0.15, 0.55)],
)
async def test_file_without_pts_is_paced_and_analysed(
    tmp_path: Path, mode: DecodeMode, low: float, high: float
) -> None:
    path = raw_h264(tmp_path / "nopts.h264", 4 * GOP)
    with av.open(str(path)) as probe:
        assert all(p.pts is None for p in probe.demux(video=0) if p.size)  # truly missing
    batch = FrameBatch(["raw"], (48, 80))
    controls, counters = Controls(mode=mode, detect_fps=5.0), Counters()
    session = StreamSession(
        "raw",
        str(path),
        0,
        batch,
        PacketRing(5.0, 10_000_000),
        controls,
        counters,
        SessionLimits(3.0, 3.0, 25),
        Redactor(),
    )
    thread = threading.Thread(target=lambda: _run_quietly(session), daemon=True)
    thread.start()
    try:
        await eventually(lambda: counters.analysed >= 1, what="a first frame")
        start = (counters.analysed, counters.packets)
        await eventually(lambda: counters.packets - start[1] >= 3 * GOP, what="45 packets")
        # Played at its own rate: read as fast as it decodes, full rate would sample ~1 in 50.
        rate = (counters.analysed - start[0]) / (counters.packets - start[1])
        assert low <= rate <= high, rate
        assert counters.gop_s is not None and 0.5 <= counters.gop_s <= 2.0, counters.gop_s
    finally:
        controls.stop.set()
        await asyncio.to_thread(thread.join, 10)
    assert not thread.is_alive()


def _run_quietly(session: StreamSession) -> None:
    try:
        session.run()
    except StreamEnded:
        pass  # asked to stop: the session says so by ending


# ---- a camera that receives packets but never yields a frame ---------------------------------


class _Silent:
    """A decoder that takes every packet and never gives a frame (a wedged hardware decoder,
    or a stream the decoder silently cannot make a picture of)."""

    def decode(self, packet: Any = None) -> Iterable[Any]:
        return []

    def flush_buffers(self) -> None:
        return None


class SwitchableDecoders:
    """The seam: silent decoders while `silent` is set, the real ones after."""

    def __init__(self) -> None:
        self.silent = True

    def __call__(self, stream: Any) -> Decoders:
        if self.silent:
            return Decoders(_Silent(), _Silent())
        return stream_decoders(stream)


async def test_camera_with_packets_but_no_frames_is_marked_counted_and_reopened(
    pictures: list[list[bytes]], settings: Settings
) -> None:
    decoders = SwitchableDecoders()
    batch = FrameBatch(["mute"], settings.analysis_shape_hw)
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-ingest")
    async with RtspReplay(pictures, FPS) as replay:
        source = CameraSource(
            spec("mute", replay.url, DecodeMode.KEYFRAMES),
            batch,
            PacketRing(5.0, 10_000_000),
            settings,
            executor,
            Redactor(),
            decoders=decoders,
        )
        task = asyncio.create_task(source.run())
        seen_after: set[CameraState] = set()

        def reopened_twice() -> bool:
            health = source.health()
            if health.no_frame_reopens:
                seen_after.add(health.state)
            return health.no_frame_reopens >= 2

        try:
            await eventually(reopened_twice, what="two frameless sessions reopened")
            health = source.health()
            assert health.state is CameraState.NO_FRAMES, health
            # The GOP is timed by arrival: about 1 s, a little more on a busy machine.
            assert "no frame analysed" in health.reason, health
            assert re.search(r"GOP (0\.9|1\.[0-4]) s", health.reason), health
            assert health.analysed_frames == 0 and health.input_fps > 0
            assert replay.connections >= 2
            await eventually(lambda: replay.connections >= 3, what="the second reopening")
            # Reopening never showed the camera as streaming again.
            assert seen_after <= {CameraState.NO_FRAMES}, seen_after
            assert _state_gauge(source) == {"no_frames": 1.0}

            decoders.silent = False  # the camera (or its decoder) recovers
            await eventually(
                lambda: source.health().state is CameraState.STREAMING, what="streaming again"
            )
            assert source.health().reason == "frames analysed again"
            assert source.health().analysed_frames >= 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            executor.shutdown(wait=True)


def _state_gauge(source: CameraSource) -> dict[str, float]:
    """The camera's `riverwatch_camera_state` series that are set, as /metrics exports them."""
    info = CameraInfo("mute", "Mute", "river", "rtsp://host/cam", source.health())
    family = next(m for m in camera_metrics([info]) if m.name == "riverwatch_camera_state")
    return {s.labels["state"]: s.value for s in family.samples if s.value}


# ---- B-frames at full rate -------------------------------------------------------------------


class _Recording:
    """The real full-rate decoder, noting the pts of every frame it gives."""

    def __init__(self, inner: Any, seen: list[int]) -> None:
        self._inner, self._seen = inner, seen

    def decode(self, packet: Any = None) -> Iterable[Any]:
        frames = list(self._inner.decode(packet))
        self._seen += [f.pts for f in frames if f.pts is not None]  # a session's first has none
        return frames

    def flush_buffers(self) -> None:
        self._inner.flush_buffers()


async def test_b_frames_at_full_rate_are_analysed_once_each_in_presentation_order(
    settings: Settings,
) -> None:
    """A camera with two B-frames between references, stamped by presentation time as
    cameras do: at full rate every picture is analysed once, none twice, in display order."""
    coded = encode_with_pts(4 * GOP, FPS, GOP, bframes=2)
    assert any(b < a for (_, a), (_, b) in zip(coded, coded[1:], strict=False))  # reordered
    loop = len(coded)
    stamps = [pts * 6000 for _, pts in coded]

    def stamp(n: int) -> int:  # presentation time, running on across loops
        return stamps[n % loop] + (n // loop) * loop * 6000

    seen: list[int] = []

    def recording(stream: Any) -> Decoders:
        real = stream_decoders(stream)
        return Decoders(_Recording(real.full, seen), real.keyframes)

    batch = FrameBatch(["bframes"], settings.analysis_shape_hw)
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-ingest")
    async with RtspReplay([p for p, _ in coded], FPS, stamp) as replay:
        camera = spec("bframes", replay.url, DecodeMode.FULL)
        full_rate = CameraSpec(camera.camera_id, camera.url, camera.display_url,
                               DecodeMode.FULL, detect_fps=float(FPS))  # fmt: skip
        source = CameraSource(full_rate, batch, PacketRing(5.0, 10_000_000), settings, executor,
                              Redactor(), decoders=recording)  # fmt: skip
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: len(seen) >= 3 * GOP, what="three GOPs decoded")
            health = source.health()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            executor.shutdown(wait=False)
    window = seen[: 3 * GOP]
    assert window == sorted(window) and len(set(window)) == len(window), window
    steps = {b - a for a, b in zip(window, window[1:], strict=False)}
    assert len(steps) == 1, steps  # no picture skipped either: one step between all of them
    assert health.decode_errors == 0 and health.reconnects == 0
    # Sampled at the camera's own rate, each decoded picture is analysed once.
    assert health.analysed_frames <= len(seen)
