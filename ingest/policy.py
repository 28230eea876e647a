"""Pure policy functions for the camera state machine: no I/O, no clocks, easy to table-test."""

from __future__ import annotations

import random

from ingest.errors import DecodeFailed, IngestError, StreamEnded, StreamStalled, StreamUnusable
from riverwatch.types import CameraState


def backoff_delay(
    attempt: int, base_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    Attempt 0 waits between base/2 and base; each attempt doubles it up to `max_s`. The fixed
    half keeps a flapping camera from hammering its server; the random half spreads 250
    cameras that lost their link at the same moment so they do not reconnect in lockstep.
    """
    ceiling = min(max_s, base_s * 2.0 ** min(attempt, 30))
    jitter = rng.random() if rng is not None else random.random()
    return ceiling / 2 + jitter * ceiling / 2


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


def attempts_to_reach(max_s: float, base_s: float) -> int:
    """How many doublings of `base_s` reach `max_s` (the attempt that waits longest)."""
    attempt = 0
    while base_s * 2.0**attempt < max_s and attempt < 30:
        attempt += 1
    return attempt
