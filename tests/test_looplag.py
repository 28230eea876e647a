"""The event loop's lag monitor: a loop kept busy is seen late; the window forgets."""

from __future__ import annotations

import asyncio
import time

import pytest

from riverwatch.looplag import LoopLag
from tests.conftest import eventually


def hog_the_loop(seconds: float) -> None:
    """What a long tick (or a loop starved of the GIL) does to every task."""
    time.sleep(seconds)


async def test_a_blocked_loop_is_seen_late() -> None:
    lag = LoopLag(interval_s=0.02, window_s=10.0, late_s=0.2)
    task = asyncio.create_task(lag.run())
    await eventually(lambda: lag.figures().samples >= 2, what="the monitor running")
    hog_the_loop(0.4)
    seen = lag.figures().samples
    await eventually(lambda: lag.figures().samples > seen, what="the wake-up after the hog")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    figures = lag.figures()
    assert figures.max_s >= 0.3  # woke at least 0.38 s late: asked for 0.02, slept 0.4
    assert figures.late >= 1


def test_the_window_keeps_only_recent_wake_ups() -> None:
    lag = LoopLag(interval_s=1.0, window_s=3.0, late_s=1.0)
    assert lag.figures().max_s == 0.0 and lag.figures().samples == 0
    for lag_s in (5.0, 0.1, 0.2, 0.3):
        lag.record(lag_s)
    figures = lag.figures()
    assert figures.max_s == pytest.approx(0.3)  # the 5 s fell out of a 3-sample window
    assert figures.last_s == pytest.approx(0.3)
    assert figures.late == 1 and figures.samples == 4  # but it was counted


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopLag(interval_s=0)
    with pytest.raises(ValueError, match="window_s"):
        LoopLag(interval_s=2.0, window_s=1.0)
