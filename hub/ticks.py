"""The detection loop's error boundary, as state: which ticks failed and when one last completed.

The hub's tick loop calls `completed()` or `failed(exc)` once per tick; readiness asks
`problem(streaming)`. A failed tick is skipped (the loop goes on), but `fail_after` failures in
a row, or no completed tick for `stale_after_s` while a camera streams (a step stuck in its
thread), make the hub unready with the reason. No clock is read but the injected one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from api.hubview import DetectFigures
from riverwatch.supervise import describe_error


@dataclass(frozen=True, slots=True)
class TickPolicy:
    """When the detection loop counts as broken."""

    fail_after: int = 3  # failed ticks in a row
    stale_after_s: float = 30.0  # seconds without a completed tick while a camera streams

    def __post_init__(self) -> None:
        if self.fail_after < 1 or self.stale_after_s <= 0:
            raise ValueError("fail_after must be >= 1 and stale_after_s positive")


class TickHealth:
    """Counts the detection loop's ticks and failures and says what is wrong, if anything.

    >>> health = TickHealth(TickPolicy(fail_after=2), clock=lambda: 0.0)
    >>> health.failed(ValueError("bad shape")); health.failed(ValueError("bad shape"))
    >>> health.problem(streaming=False)
    'detection: 2 ticks failed in a row (ValueError: bad shape)'
    """

    def __init__(self, policy: TickPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._since = clock()  # staleness counts from the start until the first tick
        self._last_completed: float | None = None
        self._errors = 0
        self._in_a_row = 0
        self._last_error: str | None = None
        self.ticks = 0  # completed ticks that saw frames
        self.last_tick_ms = 0.0

    def completed(self, observed: bool, took_ms: float) -> None:
        """A tick ran to its end; `observed` when it analysed frames."""
        self._last_completed = self._clock()
        self._in_a_row = 0
        if observed:
            self.ticks += 1
            self.last_tick_ms = took_ms

    def failed(self, exc: BaseException) -> int:
        """A tick raised; returns how many have failed in a row."""
        self._errors += 1
        self._in_a_row += 1
        self._last_error = describe_error(exc)
        return self._in_a_row

    def problem(self, streaming: bool) -> str | None:
        """Why detection is not working, or None."""
        if self._in_a_row >= self._policy.fail_after:
            return f"detection: {self._in_a_row} ticks failed in a row ({self._last_error})"
        since = self._last_completed if self._last_completed is not None else self._since
        idle_s = self._clock() - since
        if streaming and idle_s > self._policy.stale_after_s:
            return f"detection: no tick completed for {idle_s:.0f} s while cameras stream"
        return None

    def figures(self) -> DetectFigures:
        """A copy of the counters and the last completed tick's age."""
        age = None if self._last_completed is None else self._clock() - self._last_completed
        return DetectFigures(
            ticks=self.ticks,
            last_tick_ms=self.last_tick_ms,
            tick_errors=self._errors,
            errors_in_a_row=self._in_a_row,
            last_tick_age_s=age,
            last_error=self._last_error,
        )
