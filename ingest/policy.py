"""Pure policy functions for the camera state machine: no I/O, no clocks, easy to table-test."""

from __future__ import annotations

from ingest.errors import (
    DecodeFailed,
    IngestError,
    NoFrames,
    StreamEnded,
    StreamStalled,
    StreamUnusable,
)
from riverwatch.types import CameraState

# A GOP this long is assumed until two keyframes have been timed (cameras send 1 to 10 s).
UNKNOWN_GOP_S = 10.0
# Bounds on the frameless wait: short GOPs still get a few seconds (the first keyframe must
# arrive and decode), and a minutes-long "smart codec" GOP does not hide a dead decoder for ever.
FRAMELESS_MIN_S = 3.0
FRAMELESS_MAX_S = 300.0


def state_after_error(error: IngestError) -> CameraState:
    """The state a camera shows while it waits to retry after `error`."""
    if isinstance(error, StreamUnusable):
        return CameraState.FAILED
    if isinstance(error, StreamStalled):
        return CameraState.STALLED
    if isinstance(error, NoFrames):
        return CameraState.NO_FRAMES
    return CameraState.BACKING_OFF


def frameless_limit_s(gop_s: float | None) -> float:
    """How long packets may arrive without an analysed frame: three GOPs, within bounds.

    In keyframe mode a healthy camera yields one frame per GOP, so three GOPs without one is
    no accident of timing.
    """
    gop = UNKNOWN_GOP_S if gop_s is None else gop_s
    return min(max(3.0 * gop, FRAMELESS_MIN_S), FRAMELESS_MAX_S)


def frameless_for(now: float, since: float, last_frame_at: float, gop_s: float | None) -> float:
    """Seconds a streaming camera has gone without an analysed frame, if past its limit, else 0.

    `since` is when its session started streaming; a frame from an earlier session does not
    count, nor does the time before this session's first packet.
    """
    waited = now - max(since, last_frame_at)
    return waited if waited > frameless_limit_s(gop_s) else 0.0


def next_attempt(attempt: int, error: IngestError, streamed_s: float, max_attempt: int) -> int:
    """The backoff attempt number to use after `error`.

    A session that streamed for a while resets the count: a camera that drops once a day
    should not wait a minute to come back. An unusable stream jumps to the longest wait.
    """
    if isinstance(error, StreamUnusable):
        return max_attempt
    # Not after `NoFrames`: a session that yielded nothing streamed only in name, and a camera
    # that keeps yielding nothing should back off like any other failing one.
    if streamed_s >= 30.0 and isinstance(error, StreamEnded | StreamStalled | DecodeFailed):
        return 0
    return attempt + 1
