"""Long-lived tasks that cannot die in silence: each is logged, counted, restarted, and shown.

Every part of the hub that runs a loop for its whole life (the alert consumer, the publisher's
writer and delivery, the SLA scanner, the sensor tasks, the notification workers, the detection
loop) starts it through a `Supervisor` instead of `asyncio.create_task`:

    supervisor = Supervisor()
    task = supervisor.spawn("alerts:consumer", consumer.run)
    ...
    supervisor.snapshot()   # (TaskStatus(name="alerts:consumer", state=RUNNING, ...), ...)
    await supervisor.close()

A loop that raises is logged with its traceback, counted, and started again after a capped
exponential backoff with jitter (`riverwatch.backoff`); after `failed_after` crashes in a row it
shows `failed` (readiness then answers 503) and is still retried at the longest delay, as a
camera is. A run that lasted `healthy_after_s` forgives the earlier crashes. A loop that returns
has finished (`stopped`): its owner asked it to. One-shot tasks (`restart=False`: one piece of
evidence) are logged and counted the same way but never run twice.

The returned task is the owner's: cancelling it and waiting for it stops the loop, as before.
Only `Exception` is caught; cancellation and `KeyboardInterrupt`/`SystemExit` go through.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from riverwatch.backoff import backoff_delay

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Coroutine[Any, Any, None]]
"""Makes a fresh coroutine for each run (a coroutine object cannot be awaited twice)."""

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_MAX_ERROR_CHARS = 200


class TaskState(enum.StrEnum):
    """Where a supervised task is: running, waiting to restart, crashing repeatedly, ended."""

    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How a crashed task comes back."""

    base_s: float = 0.5
    max_s: float = 30.0
    failed_after: int = 3  # crashes in a row that make the task show `failed`
    healthy_after_s: float = 60.0  # a run this long resets the count of crashes in a row

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s < self.base_s or self.failed_after < 1:
            raise ValueError("need 0 < base_s <= max_s and failed_after >= 1")


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One supervised task as readiness and metrics show it; `last_error` holds no URL."""

    name: str
    state: TaskState
    restarts: int  # times it was started again after a crash
    crashes: int  # times it raised, since start
    crashes_in_a_row: int
    last_error: str | None


def describe_error(exc: BaseException) -> str:
    """`Type: message`, one line, URLs (which may carry credentials) cut out, bounded.

    >>> describe_error(OSError("cannot open rtsp://u:pw@cam/1 now"))
    'OSError: cannot open <url> now'
    """
    text = " ".join(_URL.sub("<url>", str(exc)).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"


def crashes_in_a_row(before: int, ran_s: float, policy: RestartPolicy) -> int:
    """The count after one more crash: a run that lasted `healthy_after_s` starts it afresh."""
    return 1 if ran_s >= policy.healthy_after_s else before + 1


def state_after_crash(in_a_row: int, policy: RestartPolicy) -> TaskState:
    """`failed` once the task has crashed `failed_after` times in a row, else `restarting`."""
    return TaskState.FAILED if in_a_row >= policy.failed_after else TaskState.RESTARTING


class _Slot:
    """The mutable record behind one name's `TaskStatus`."""

    __slots__ = ("crashes", "in_a_row", "last_error", "live", "restarts", "state")

    def __init__(self) -> None:
        self.state = TaskState.RUNNING
        self.restarts = 0
        self.crashes = 0
        self.in_a_row = 0
        self.live = 0  # tasks under this name not yet ended (one-shots may share a name)
        self.last_error: str | None = None

    def status(self, name: str) -> TaskStatus:
        return TaskStatus(
            name, self.state, self.restarts, self.crashes, self.in_a_row, self.last_error
        )


class Supervisor:
    """Starts tasks that are restarted when they crash, and keeps their status.

    Several parts may share one supervisor (the hub hands its own to each), so that one
    snapshot shows every task; each part still cancels and awaits the tasks it spawned.
    """

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        *,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy or RestartPolicy()
        self._rand = rand
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, name: str, factory: TaskFactory, *, restart: bool = True) -> asyncio.Task[None]:
        """Run `factory()` in a task named `name`, again after each crash unless `restart` is
        False. Two restarting tasks never share a name; one-shot tasks may share theirs."""
        slot = self._slots.setdefault(name, _Slot())
        if restart and slot.live:
            raise ValueError(f"a task named {name!r} is already supervised")
        if restart:
            coro = self._keep_running(name, slot, factory)
        else:
            coro = self._run_once(name, slot, factory)
        slot.live += 1
        slot.state = TaskState.RUNNING
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(partial(self._ended, slot))
        return task

    def snapshot(self) -> tuple[TaskStatus, ...]:
        """Every task's status, by name."""
        return tuple(slot.status(name) for name, slot in sorted(self._slots.items()))

    async def close(self) -> None:
        """Cancel every task still running and wait for it (the last owner's safety net)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _ended(self, slot: _Slot, task: asyncio.Task[None]) -> None:
        # Here, not in the coroutine: a task cancelled before its first step never runs it.
        self._tasks.discard(task)
        slot.live -= 1
        if not slot.live:
            slot.state = TaskState.STOPPED

    async def _keep_running(self, name: str, slot: _Slot, factory: TaskFactory) -> None:
        while True:
            slot.state = TaskState.RUNNING
            started = self._clock()
            try:
                await factory()
                return
            except Exception as exc:  # the task's boundary: count, log, back off, run again
                delay = self._crashed(name, slot, exc, self._clock() - started)
            await asyncio.sleep(delay)
            slot.restarts += 1

    async def _run_once(self, name: str, slot: _Slot, factory: TaskFactory) -> None:
        try:
            await factory()
        except Exception as exc:  # one piece of work failed: seen and counted, never retried
            slot.crashes += 1
            slot.last_error = describe_error(exc)
            log.error("task %s crashed (%s)", name, slot.last_error, exc_info=exc)

    def _crashed(self, name: str, slot: _Slot, exc: Exception, ran_s: float) -> float:
        slot.crashes += 1
        slot.in_a_row = crashes_in_a_row(slot.in_a_row, ran_s, self._policy)
        slot.last_error = describe_error(exc)
        slot.state = state_after_crash(slot.in_a_row, self._policy)
        p = self._policy
        delay = backoff_delay(slot.in_a_row - 1, p.base_s, p.max_s, rand=self._rand)
        log.error(
            "task %s crashed (%d in a row, %s); restarting in %.1f s",
            name,
            slot.in_a_row,
            slot.last_error,
            delay,
            exc_info=exc,
        )
        return delay
