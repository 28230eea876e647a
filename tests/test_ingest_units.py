"""Pure pieces of ingest: retry policy, the shared batch, the packet ring."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ingest.camera import CameraSpec, MainStreamSpec
from ingest.errors import StreamEnded, StreamOpenError, StreamStalled, StreamUnusable
from ingest.policy import (
    RECENT_GOPS,
    GopClock,
    frameless_for,
    next_attempt,
    state_after_error,
)
from ingest.supervisor import IngestSupervisor
from riverwatch.backoff import attempts_to_reach
from riverwatch.batch import BatchView, FrameBatch
from riverwatch.ring import PacketRing, RingPacket
from riverwatch.secrets import Redactor
from riverwatch.settings import Settings
from riverwatch.types import CameraState, DecodeMode, MainRing


@pytest.mark.parametrize(
    ("error", "state"),
    [
        (StreamUnusable("x"), CameraState.FAILED),
        (StreamStalled("x"), CameraState.STALLED),
        (StreamOpenError("x"), CameraState.BACKING_OFF),
        (StreamEnded("x"), CameraState.BACKING_OFF),
    ],
)
def test_state_after_error(error: Exception, state: CameraState) -> None:
    assert state_after_error(error) is state  # type: ignore[arg-type]


def test_attempts_reset_after_a_long_session_and_jump_for_unusable() -> None:
    longest = attempts_to_reach(60.0, 1.0)
    assert longest == 6
    assert next_attempt(4, StreamEnded("x"), streamed_s=120.0, max_attempt=longest) == 0
    assert next_attempt(4, StreamEnded("x"), streamed_s=2.0, max_attempt=longest) == 5
    assert next_attempt(0, StreamUnusable("x"), streamed_s=0.0, max_attempt=longest) == longest


def test_batch_marks_fresh_rows_and_counts_frames_the_reader_missed() -> None:
    batch = FrameBatch(["a", "b", "c"], (4, 6))
    view = BatchView.empty(3, (4, 6))
    frames = [np.full((4, 6), v, np.uint8) for v in (1, 2, 3)]
    steps = [  # (writes as (slot, frame index), fresh after read, seq after read)
        ([(0, 0)], [True, False, False], [1, 0, 0]),
        ([], [False, False, False], [1, 0, 0]),
        ([(1, 1), (1, 2), (2, 0)], [False, True, True], [1, 2, 1]),
    ]
    for writes, fresh, seq in steps:
        for slot, i in writes:
            batch.write(slot, frames[i], ts=1.0)
        batch.read_into(view)
        assert view.fresh_n.tolist() == fresh
        assert view.seq_n.tolist() == seq
    assert view.frames_nhw[1, 0, 0] == 3
    assert [batch.dropped(i) for i in range(3)] == [0, 1, 0]


def test_batch_reader_never_sees_a_row_half_written() -> None:
    """Writers race the reader (no lock): a fresh row is always one whole frame, a row caught
    being written is read at the next read, and every frame is either seen or counted."""
    shape, writes = (540, 960), 300  # big rows: numpy lets the GIL go while it copies them
    batch = FrameBatch(["a", "b"], shape)
    view = BatchView.empty(2, shape)
    frames = [np.full(shape, v, np.uint8) for v in range(256)]

    def writer(slot: int) -> None:
        for i in range(writes):
            batch.write(slot, frames[i % 256], ts=float(i))

    threads = [threading.Thread(target=writer, args=(slot,)) for slot in (0, 1)]
    for t in threads:
        t.start()
    seen = [0, 0]
    while any(t.is_alive() for t in threads):
        batch.read_into(view)
        for slot in np.flatnonzero(view.fresh_n):
            row = view.frames_nhw[slot]
            assert row.min() == row.max() == (int(view.seq_n[slot]) - 1) % 256  # one whole frame
            seen[slot] += 1
    for t in threads:
        t.join()
    batch.read_into(view)  # the last frame, even if it was being written at the last read
    assert view.seq_n.tolist() == [writes, writes]
    assert all(view.frames_nhw[slot].max() == (writes - 1) % 256 for slot in (0, 1))
    for slot in (0, 1):
        assert seen[slot] + int(view.fresh_n[slot]) + batch.dropped(slot) == writes


def packet(at: float, size: int = 100, key: bool = False) -> RingPacket:
    return RingPacket(b"x" * size, 0, 0, Fraction(1, 90000), key, at)


def test_ring_evicts_by_age_and_by_bytes() -> None:
    ring = PacketRing(max_seconds=2.0, max_bytes=1000)
    for i in range(10):
        ring.append(packet(at=i * 0.5))
    assert [p.received_at for p in ring.snapshot()] == [2.5, 3.0, 3.5, 4.0, 4.5]
    ring.append(packet(at=4.6, size=900))
    assert ring.size_bytes <= 1000 and len(ring) == 2
    assert [p.received_at for p in ring.snapshot(since=4.55)] == [4.6]


def test_a_camera_gop_is_its_longest_recent_keyframe_interval_once_a_few_are_timed() -> None:
    """A session's first interval is short (the server's opening burst), and a smart-codec
    camera's scene-change keyframe cuts one GOP short; judged by such an interval a camera
    would be reopened as frameless in the middle of its next long GOP. Arrivals as measured on
    the simulator's smart camera (GOPs 4, 9, 6, 10 s)."""
    clock = GopClock()
    clock.keyframe(0.0)
    clock.keyframe(2.2)
    assert clock.gop_s is None  # one burst-shortened interval: not yet known (limit 30 s)
    assert not frameless_for(10.0, since=0.0, last_frame_at=2.2, gop_s=clock.gop_s)
    for t in (11.2, 17.2):
        clock.keyframe(t)
    assert clock.gop_s == pytest.approx(9.0)
    assert not frameless_for(36.2, since=0.0, last_frame_at=17.2, gop_s=clock.gop_s)
    assert frameless_for(36.2, since=0.0, last_frame_at=17.2, gop_s=17.2 - 11.2)  # by the last
    for k in range(1, RECENT_GOPS + 1):  # a steady 2 s GOP since: the long one is forgotten
        clock.keyframe(17.2 + 2.0 * k)
    assert clock.gop_s == pytest.approx(2.0)


def test_frame_batch_rows_are_claimed_and_released_for_cameras_added_while_running() -> None:
    batch = FrameBatch(["a"], (4, 6), spare=1)
    assert batch.rows == 2 and batch.camera_ids == ["a", None]
    row = batch.claim("b")
    batch.write(row, np.full((4, 6), 9, np.uint8), ts=1.0)
    view = BatchView.empty(2, (4, 6))
    batch.read_into(view)
    assert view.fresh_n.tolist() == [False, True]
    with pytest.raises(ValueError, match="no free batch row"):
        batch.claim("c")
    assert batch.release("b") == row and batch.camera_ids == ["a", None]
    assert batch.claim("c") == row and batch.dropped(row) == 0  # a fresh start on that row


async def test_new_settings_without_a_sub_stream_leave_no_main_stream_behind(
    tmp_path: Path,
) -> None:
    def spec(main: MainStreamSpec | None) -> CameraSpec:
        url = "rtsp://127.0.0.1:9/x"
        return CameraSpec("cam", lambda: url, url, DecodeMode.KEYFRAMES, 5.0, main)

    recorded = MainStreamSpec(lambda: "rtsp://127.0.0.1:9/main", "main", MainRing.ALWAYS)
    settings = Settings(data_dir=tmp_path)
    async with IngestSupervisor([spec(recorded)], settings, Redactor(), start_all=False) as ingest:
        assert ingest.main_stream("cam") is not None
        await ingest.replace_camera(spec(None))
        assert ingest.main_stream("cam") is None
        await ingest.remove_camera("cam")
        assert ingest.camera_ids() == [] and ingest.batch.camera_ids == [None]
