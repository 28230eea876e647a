"""How late the event loop runs: the one figure that shows a hub short of CPU (or of the GIL).

Every task of the hub shares one event loop: the detection ticks, the API, the Redis and
database clients. When 250 cameras' ingest threads keep the GIL busy, or a tick runs long, a
timer set for now runs later. Redis calls then time out and database locks are held longer,
long before any one part fails. `LoopLag` wakes every `interval_s` and records how late it
woke:

    lag = LoopLag()
    supervisor.spawn("hub:loop-lag", lag.run)
    lag.figures()   # LagFigures(last_s=0.002, max_s=0.41, late=3, samples=1200)

`max_s` is the worst lag in the last `window_s`; `late` counts wake-ups later than `late_s`
since start (the Redis timeout's order of magnitude), as a counter for `/metrics`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LagFigures:
    """The loop's lag: the last wake-up's, the worst in the window, and how often it ran late."""

    last_s: float
    max_s: float
    late: int
    samples: int


class LoopLag:
    """Measures the event loop's scheduling lag from inside it (run it as a supervised task)."""

    def __init__(self, interval_s: float = 0.25, window_s: float = 60.0, late_s: float = 1.0):
        if interval_s <= 0 or window_s < interval_s or late_s <= 0:
            raise ValueError("interval_s and late_s must be positive, window_s >= interval_s")
        self._interval_s = interval_s
        self._late_s = late_s
        self._recent: deque[float] = deque(maxlen=max(1, round(window_s / interval_s)))
        self._late = 0
        self._samples = 0

    async def run(self) -> None:
        """Sleep `interval_s` again and again, recording how much later than asked it woke."""
        while True:
            asked = time.monotonic() + self._interval_s
            await asyncio.sleep(self._interval_s)
            self.record(max(0.0, time.monotonic() - asked))

    def record(self, lag_s: float) -> None:
        """One wake-up `lag_s` late."""
        self._recent.append(lag_s)
        self._samples += 1
        self._late += lag_s > self._late_s

    def figures(self) -> LagFigures:
        """A copy of the figures (zeros before the first wake-up)."""
        recent = self._recent
        return LagFigures(
            last_s=recent[-1] if recent else 0.0,
            max_s=max(recent, default=0.0),
            late=self._late,
            samples=self._samples,
        )
