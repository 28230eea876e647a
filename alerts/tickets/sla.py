"""The one-hour intervention rule: SLA per rule and severity, escalation levels, a runner.

A ticket is due `SlaPolicy.sla_s(severity, rule)` after it was received. If it is still
`received` at its due time it is escalated to level 1; still untouched one
`escalation_period_s` later, to level 2; and so on up to `max_level`. Each escalation is
recorded (table `escalations`, unique per ticket and level), raises the ticket's priority by
one per level, and is handed to a notifier after its transaction commits.

Escalating is idempotent: the update is guarded by the level the scanner read, so running the
scanner twice, or two scanners at once, escalates each level once. A scanner that ran late
jumps straight to the level due now (the skipped levels are not recorded).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tickets.loop import TicketState
from alerts.tickets.models import escalations, tickets
from alerts.tickets.records import Escalation
from riverwatch.sql import reader
from riverwatch.supervise import Supervisor
from riverwatch.types import Severity

log = logging.getLogger(__name__)

Notifier = Callable[[Escalation], Awaitable[None]]


@dataclass(frozen=True)
class SlaPolicy:
    """How long a ticket may wait to be picked up, and how escalation proceeds.

    >>> SlaPolicy(by_rule={"dredging": 1800}).sla_s(Severity.HIGH, "dredging")
    1800
    """

    default_s: float = 3600.0
    by_severity: Mapping[Severity, float] = field(default_factory=dict)
    by_rule: Mapping[str, float] = field(default_factory=dict)
    escalation_period_s: float = 3600.0
    max_level: int = 3

    def __post_init__(self) -> None:
        values = [self.default_s, self.escalation_period_s, *self.by_severity.values()]
        if any(not v > 0 for v in [*values, *self.by_rule.values()]):
            raise ValueError("SLA durations and the escalation period must be positive")
        if self.max_level < 1:
            raise ValueError("max_level must be at least 1")

    def sla_s(self, severity: Severity, rule: str) -> float:
        """The SLA for a ticket: the rule's if set, else the severity's, else the default."""
        if rule in self.by_rule:
            return self.by_rule[rule]
        return self.by_severity.get(severity, self.default_s)

    def base_priority(self, severity: Severity) -> int:
        """Priority of a new ticket (higher is more urgent): the severity's rank."""
        return severity.rank

    def level_due(self, due_at: float, now: float) -> int:
        """The escalation level a still-untouched ticket should have at `now` (0: none)."""
        if now < due_at:
            return 0
        level = 1 + math.floor((now - due_at) / self.escalation_period_s)
        return min(level, self.max_level)


@dataclass(frozen=True, slots=True)
class _Candidate:
    ticket_id: int
    alert_id: str
    camera_id: str
    rule: str
    due_at: float
    level: int


class Escalator:
    """Finds overdue tickets, escalates them once per level and notifies after commit."""

    def __init__(
        self,
        engine: AsyncEngine,
        policy: SlaPolicy,
        notifier: Notifier,
        batch: int = 500,
        notify_timeout_s: float = 10.0,
    ) -> None:
        if batch < 1 or notify_timeout_s <= 0:
            raise ValueError("batch and notify_timeout_s must be positive")
        self._engine = engine
        self._reader = reader(engine)
        self._notify_timeout_s = notify_timeout_s
        self._policy = policy
        self._notifier = notifier
        self._batch = batch
        self.notify_failures = 0

    async def escalate_due(self, now: float) -> list[Escalation]:
        """Escalate every overdue `received` ticket (up to `batch`); return what was escalated."""
        done: list[Escalation] = []
        for candidate in await self._candidates(now):
            target = self._policy.level_due(candidate.due_at, now)
            if target > candidate.level:
                escalation = await self._escalate(candidate, target, now)
                if escalation is not None:
                    done.append(escalation)
        for escalation in done:
            await self._notify(escalation)
        return done

    async def _candidates(self, now: float) -> list[_Candidate]:
        query = (
            sa.select(
                tickets.c.id,
                tickets.c.alert_id,
                tickets.c.camera_id,
                tickets.c.rule,
                tickets.c.due_at,
                tickets.c.escalation_level,
            )
            .where(
                tickets.c.state == TicketState.RECEIVED.value,
                tickets.c.due_at <= now,
                tickets.c.escalation_level < self._policy.max_level,
            )
            .order_by(tickets.c.due_at)
            .limit(self._batch)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_Candidate(*row) for row in rows]

    async def _escalate(self, c: _Candidate, level: int, now: float) -> Escalation | None:
        # Guarded by the state and level we read: a ticket picked up meanwhile, or escalated
        # by another scanner, matches no row and is left alone.
        update = (
            tickets.update()
            .where(
                tickets.c.id == c.ticket_id,
                tickets.c.state == TicketState.RECEIVED.value,
                tickets.c.escalation_level == c.level,
            )
            .values(
                escalation_level=level,
                escalated_at=now,
                priority=tickets.c.priority + (level - c.level),
            )
            .returning(tickets.c.priority)
        )
        async with self._engine.begin() as conn:
            priority = (await conn.execute(update)).scalar_one_or_none()
            if priority is None:
                return None
            await conn.execute(
                escalations.insert().values(
                    ticket_id=c.ticket_id, level=level, at=now, due_at=c.due_at, priority=priority
                )
            )
        log.warning("ticket %d (%s) escalated to level %d", c.ticket_id, c.alert_id, level)
        return Escalation(
            c.ticket_id, c.alert_id, c.camera_id, c.rule, level, priority, c.due_at, now
        )

    async def _notify(self, escalation: Escalation) -> None:
        # The escalation is already recorded; a failed or hung notification must not undo it
        # or stop the others. The notifier should only enqueue (the webhook sender owns its
        # retries and dead letters); the timeout bounds one that does more.
        try:
            async with asyncio.timeout(self._notify_timeout_s):
                await self._notifier(escalation)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.notify_failures += 1
            log.exception("notifying escalation of ticket %d failed", escalation.ticket_id)


class EscalationRunner:
    """Runs `escalate_due(clock())` every `period_s` until stopped.

    >>> async with EscalationRunner(escalator, period_s=30):   # doctest: +SKIP
    ...     await hub_stopped.wait()
    """

    def __init__(
        self,
        escalator: Escalator,
        period_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        supervisor: Supervisor | None = None,
    ) -> None:
        if period_s <= 0:
            raise ValueError("period_s must be positive")
        self._escalator = escalator
        self._period_s = period_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._supervisor = supervisor or Supervisor()
        self.scans = 0
        self.failures = 0
        self.escalated = 0

    async def run(self) -> None:
        """Scan forever; a database failure is logged and retried on the next period."""
        while True:
            try:
                self.escalated += len(await self._escalator.escalate_due(self._clock()))
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                self.failures += 1
                log.warning(
                    "SLA scan failed (%s); retrying in %.0f s", type(exc).__name__, self._period_s
                )
            self.scans += 1
            await asyncio.sleep(self._period_s)

    def start(self) -> None:
        """Start the scanning task (once)."""
        if self._task is None:
            self._task = self._supervisor.spawn("tickets:sla-escalation", self.run)

    async def stop(self) -> None:
        """Cancel the scanning task and wait for it to end."""
        if self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        # asyncio.wait, not `await task`: a cancellation of stop() itself must propagate.
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error("SLA runner had ended with an error", exc_info=task.exception())

    async def __aenter__(self) -> EscalationRunner:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
