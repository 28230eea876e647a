"""The task supervisor: a loop that raises is logged, counted and restarted with backoff; one
that keeps raising shows `failed` and is still retried; a one-shot task is never run twice;
cancellation ends every task promptly; error texts never carry a URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from riverwatch.supervise import (
    RestartPolicy,
    Supervisor,
    TaskState,
    TaskStatus,
    crashes_in_a_row,
    describe_error,
    state_after_crash,
)
from tests.conftest import eventually

FAST = RestartPolicy(base_s=0.01, max_s=0.05, failed_after=3, healthy_after_s=60.0)


@pytest.mark.parametrize(
    ("before", "ran_s", "after", "state"),
    [
        (0, 0.1, 1, TaskState.RESTARTING),
        (1, 0.1, 2, TaskState.RESTARTING),
        (2, 0.1, 3, TaskState.FAILED),
        (7, 0.1, 8, TaskState.FAILED),
        (7, 60.0, 1, TaskState.RESTARTING),  # a long healthy run forgives earlier crashes
    ],
)
def test_crash_count_and_state(before: int, ran_s: float, after: int, state: TaskState) -> None:
    assert crashes_in_a_row(before, ran_s, FAST) == after
    assert state_after_crash(after, FAST) is state


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (OSError("open rtsp://viewer:pw@10.0.0.5/ch1 now"), "OSError: open <url> now"),
        (ValueError(), "ValueError"),
        (RuntimeError("two\nlines"), "RuntimeError: two lines"),
    ],
)
def test_describe_error_is_one_line_without_urls(exc: Exception, text: str) -> None:
    assert describe_error(exc) == text
    assert len(describe_error(ValueError("x" * 1000))) == 200


class Flaky:
    """Raises `failures` times, then runs until cancelled; counts its starts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.starts = 0
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise RuntimeError(f"boom {self.starts} at http://user:pw@host/x")
        self.running.set()
        await asyncio.Event().wait()


def status(supervisor: Supervisor, name: str) -> TaskStatus:
    return {s.name: s for s in supervisor.snapshot()}[name]


async def test_a_crashing_loop_is_restarted_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(FAST, rand=lambda: 0.5)
    flaky = Flaky(failures=2)
    with caplog.at_level(logging.ERROR, logger="riverwatch.supervise"):
        task = supervisor.spawn("part:loop", flaky.run)
        await asyncio.wait_for(flaky.running.wait(), 10)
    assert flaky.starts == 3
    assert status(supervisor, "part:loop") == TaskStatus(
        "part:loop", TaskState.RUNNING, 2, 2, 2, "RuntimeError: boom 2 at <url>"
    )
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == 2 and all(r.exc_info for r in crashes)
    assert not any("pw@" in r.getMessage() for r in crashes)  # tracebacks: the log filter's
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()
    assert status(supervisor, "part:loop").state is TaskState.STOPPED


async def test_a_loop_that_keeps_crashing_shows_failed_and_is_still_retried() -> None:
    supervisor = Supervisor(FAST)
    flaky = Flaky(failures=10**9)
    supervisor.spawn("part:broken", flaky.run)
    await eventually(lambda: flaky.starts >= 6, timeout_s=10, what="six starts")
    await eventually(
        lambda: status(supervisor, "part:broken").state is TaskState.FAILED,
        timeout_s=10,
        what="the failed state",
    )
    assert status(supervisor, "part:broken").crashes_in_a_row >= 3
    await asyncio.wait_for(supervisor.close(), 5)
    assert status(supervisor, "part:broken").state is TaskState.STOPPED


async def test_a_loop_that_returns_is_not_restarted() -> None:
    supervisor = Supervisor(FAST)
    runs: list[int] = []

    async def once() -> None:
        runs.append(1)

    await asyncio.wait_for(supervisor.spawn("part:finite", once), 5)
    assert runs == [1]
    assert status(supervisor, "part:finite") == TaskStatus(
        "part:finite", TaskState.STOPPED, 0, 0, 0, None
    )


async def test_one_shot_tasks_are_counted_never_rerun_and_may_share_a_name() -> None:
    supervisor = Supervisor(FAST)
    runs: list[str] = []

    def job(fail: bool) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            runs.append("x")
            if fail:
                raise KeyError("no clip")

        return run

    tasks = [supervisor.spawn("evidence", job(fail), restart=False) for fail in (True, False, True)]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)  # the crash did not escape the task
    assert runs == ["x"] * 3
    assert status(supervisor, "evidence") == TaskStatus(
        "evidence", TaskState.STOPPED, 0, 2, 0, "KeyError: 'no clip'"
    )


async def test_two_live_loops_may_not_share_a_name_and_close_is_bounded() -> None:
    supervisor = Supervisor(FAST)
    supervisor.spawn("part:a", Flaky(0).run)
    with pytest.raises(ValueError, match="part:a"):
        supervisor.spawn("part:a", Flaky(0).run)
    cancelled_at_once = supervisor.spawn("part:b", Flaky(0).run)
    cancelled_at_once.cancel()  # before its first step: still recorded as stopped
    await asyncio.wait_for(supervisor.close(), 5)
    assert {s.state for s in supervisor.snapshot()} == {TaskState.STOPPED}
    supervisor.spawn("part:a", Flaky(0).run)  # a stopped name may run again
    await asyncio.wait_for(supervisor.close(), 5)
