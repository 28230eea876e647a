"""Pure policy functions for the camera state machine: no I/O, no clocks, easy to table-test."""

from __future__ import annotations

from collections import deque

from ingest.errors import (
    DecodeFailed,
    IngestError,
    NoFrames,
    StreamEnded,
    StreamStalled,
    StreamUnusable,
)
from riverwatch.types import CameraState

# A GOP this long is assumed until `GopClock` knows it (cameras send 1 to 10 s).
UNKNOWN_GOP_S = 10.0
# Bounds on the frameless wait: short GOPs still get a few seconds (the first keyframe must
# arrive and decode), and a minutes-long "smart codec" GOP does not hide a dead decoder for ever.
FRAMELESS_MIN_S = 3.0
FRAMELESS_MAX_S = 300.0
# Keyframe intervals a camera's GOP is judged over: its longest of these is its GOP, known
# once there are `KNOWN_AFTER` of them.
RECENT_GOPS = 8
KNOWN_AFTER = 3


class GopClock:
    """A camera's GOP: the longest of its last `RECENT_GOPS` keyframe intervals, by arrival,
    once `KNOWN_AFTER` of them have been timed.

    Not the last one: a "smart codec" camera sends a keyframe on a scene change and then
    none for ten seconds, and a looped stream cuts one GOP short. Not the first ones alone: a
    server sends its first second or two in a burst as a session opens, so the first interval
    is short (2.2 s for a 4 s GOP, measured on the simulator). Judged by one short interval,
    a camera would look like a 1 or 2 s one, be reopened as frameless (three GOPs) in the
    middle of its next long GOP, and its long-GOP warning would come and go.

    >>> clock = GopClock()
    >>> for t in (0.0, 2.2, 11.2, 17.2):
    ...     clock.keyframe(t)
    >>> clock.gop_s
    9.0
    """

    def __init__(self) -> None:
        self._intervals: deque[float] = deque(maxlen=RECENT_GOPS)
        self._last: float | None = None

    def keyframe(self, mono: float) -> None:
        """A new GOP started at monotonic time `mono`."""
        if self._last is not None:
            self._intervals.append(mono - self._last)
        self._last = mono

    @property
    def gop_s(self) -> float | None:
        """The longest recent interval; None until `KNOWN_AFTER` have been timed."""
        return max(self._intervals) if len(self._intervals) >= KNOWN_AFTER else None


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
