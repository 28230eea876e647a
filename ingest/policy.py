"""Pure policy functions for the camera state machine: no I/O, no clocks, easy to table-test."""

from __future__ import annotations

from ingest.errors import DecodeFailed, IngestError, StreamEnded, StreamStalled, StreamUnusable
from riverwatch.types import CameraState


def state_after_error(error: IngestError) -> CameraState:
    """The state a camera shows while it waits to retry after `error`."""
    if isinstance(error, StreamUnusable):
        return CameraState.FAILED
    if isinstance(error, StreamStalled):
        return CameraState.STALLED
    return CameraState.BACKING_OFF


def next_attempt(attempt: int, error: IngestError, streamed_s: float, max_attempt: int) -> int:
    """The backoff attempt number to use after `error`.

    A session that streamed for a while resets the count: a camera that drops once a day
    should not wait a minute to come back. An unusable stream jumps to the longest wait.
    """
    if isinstance(error, StreamUnusable):
        return max_attempt
    if streamed_s >= 30.0 and isinstance(error, StreamEnded | StreamStalled | DecodeFailed):
        return 0
    return attempt + 1
