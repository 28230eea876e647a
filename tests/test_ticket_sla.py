"""The one-hour intervention rule on SQLite and a real PostgreSQL, with an injected clock:
escalation levels, idempotent scans, racing scanners, notifier failures, the runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tickets import (
    Escalation,
    EscalationRunner,
    Escalator,
    SlaPolicy,
    TicketState,
    TicketStore,
    open_engine,
)
from alerts.tickets.models import escalations
from riverwatch.types import Alert
from tests.conftest import eventually

T0 = 1_000_000.0
HOUR = 3600.0
POLICY = SlaPolicy(
    default_s=HOUR, by_rule={"no_dredging": 1800.0}, escalation_period_s=HOUR, max_level=3
)


def alert(alert_id: str, rule: str = "no_fishing", severity: str = "medium") -> Alert:
    return Alert(alert_id, "cam-1", "zone-a", rule, severity, 1.0, 1.0, 1, 0.9, (0, 0, 1, 1))


class Recorder:
    """A notifier that keeps what it was told (and can be made to fail)."""

    def __init__(self, fail_for: set[str] | None = None, hang_for: set[str] | None = None) -> None:
        self.seen: list[Escalation] = []
        self._fail_for = fail_for or set()
        self._hang_for = hang_for or set()

    async def __call__(self, escalation: Escalation) -> None:
        self.seen.append(escalation)
        if escalation.alert_id in self._fail_for:
            raise ConnectionError("webhook receiver down")
        if escalation.alert_id in self._hang_for:
            await asyncio.Event().wait()


async def open_ticket(engine: AsyncEngine, tmp_path: Path, alert_id: str, **kw: str) -> int:
    store = TicketStore(engine, tmp_path / "data", POLICY, clock=lambda: T0)
    ticket = await store.apply(alert(alert_id, **kw))
    assert ticket is not None
    return ticket.id


async def escalation_rows(engine: AsyncEngine) -> list[tuple[int, int, float, int]]:
    query = sa.select(
        escalations.c.ticket_id, escalations.c.level, escalations.c.at, escalations.c.priority
    ).order_by(escalations.c.id)
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(query)).all()]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rule", "severity", "expected"),
    [("no_fishing", "high", 3600.0), ("no_dredging", "low", 1800.0), ("x", "critical", 600.0)],
)
def test_sla_comes_from_the_rule_then_the_severity_then_the_default(
    rule: str, severity: str, expected: float
) -> None:
    policy = SlaPolicy(by_rule={"no_dredging": 1800.0}, by_severity={"critical": 600.0})
    assert policy.sla_s(severity, rule) == expected


@pytest.mark.parametrize(
    ("elapsed", "level"),
    [(-1.0, 0), (0.0, 1), (HOUR - 1, 1), (HOUR, 2), (2 * HOUR, 3), (50 * HOUR, 3)],
)
def test_level_due_steps_once_per_period_up_to_the_cap(elapsed: float, level: int) -> None:
    assert POLICY.level_due(T0, T0 + elapsed) == level


@pytest.mark.parametrize("bad", [{"default_s": 0}, {"escalation_period_s": -1}, {"max_level": 0}])
def test_a_nonsensical_policy_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SlaPolicy(**bad)  # type: ignore[arg-type]


async def test_an_untouched_ticket_is_escalated_once_per_level(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ticket_id = await open_ticket(engine, tmp_path, "a")
    notifier = Recorder()
    escalator = Escalator(engine, POLICY, notifier)
    due = T0 + HOUR
    # (scan time, levels escalated by that scan): the sequence in, the escalations out.
    scans = [
        (due - 1, []),
        (due, [1]),
        (due, []),
        (due + 10, []),
        (due + HOUR - 1, []),
        (due + HOUR, [2]),
        (due + HOUR + 5, []),
        (due + 2 * HOUR, [3]),
        (due + 10 * HOUR, []),  # capped at max_level
    ]
    for now, levels in scans:
        done = await escalator.escalate_due(now)
        assert [e.level for e in done] == levels, now
    assert [(e.ticket_id, e.level, e.priority, e.at) for e in notifier.seen] == [
        (ticket_id, 1, 3, due),
        (ticket_id, 2, 4, due + HOUR),
        (ticket_id, 3, 5, due + 2 * HOUR),
    ]
    assert await escalation_rows(engine) == [
        (ticket_id, 1, due, 3),
        (ticket_id, 2, due + HOUR, 4),
        (ticket_id, 3, due + 2 * HOUR, 5),
    ]
    ticket = await TicketStore(engine, tmp_path / "data", POLICY).get(ticket_id)
    assert (ticket.escalation_level, ticket.priority, ticket.escalated_at) == (3, 5, due + 2 * HOUR)


async def test_a_late_scan_jumps_to_the_level_due_now(engine: AsyncEngine, tmp_path: Path) -> None:
    ticket_id = await open_ticket(engine, tmp_path, "a")
    escalator = Escalator(engine, POLICY, Recorder())
    done = await escalator.escalate_due(T0 + HOUR + 1.5 * HOUR)
    assert [(e.ticket_id, e.level, e.priority) for e in done] == [(ticket_id, 2, 4)]
    assert [r[1] for r in await escalation_rows(engine)] == [2]


async def test_picked_up_tickets_and_per_rule_slas(engine: AsyncEngine, tmp_path: Path) -> None:
    fishing = await open_ticket(engine, tmp_path, "fishing")
    dredging = await open_ticket(engine, tmp_path, "dredging", rule="no_dredging")
    taken = await open_ticket(engine, tmp_path, "taken")
    store = TicketStore(engine, tmp_path / "data", POLICY, clock=lambda: T0 + 60)
    await store.transition(taken, TicketState.ASSIGNED, "officer")
    escalator = Escalator(engine, POLICY, Recorder())
    assert [e.ticket_id for e in await escalator.escalate_due(T0 + 1800)] == [dredging]
    assert [e.ticket_id for e in await escalator.escalate_due(T0 + HOUR)] == [fishing]
    later = await escalator.escalate_due(T0 + 1800 + HOUR)
    assert [(e.ticket_id, e.level) for e in later] == [(dredging, 2)]
    assert taken not in {row[0] for row in await escalation_rows(engine)}


async def test_racing_scanners_escalate_each_level_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ids = [await open_ticket(engine, tmp_path, f"t{i}") for i in range(5)]
    notifiers = [Recorder() for _ in range(3)]
    scanners = [Escalator(engine, POLICY, n) for n in notifiers]
    results = await asyncio.gather(*(s.escalate_due(T0 + HOUR) for s in scanners))
    escalated = sorted(e.ticket_id for done in results for e in done)
    assert escalated == ids
    assert sorted(e.ticket_id for n in notifiers for e in n.seen) == ids
    assert sorted(r[0] for r in await escalation_rows(engine)) == ids


async def test_a_failing_notifier_neither_undoes_nor_stops_escalation(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ids = [await open_ticket(engine, tmp_path, name) for name in ("a", "b", "c")]
    notifier = Recorder(fail_for={"a"})
    escalator = Escalator(engine, POLICY, notifier)
    done = await escalator.escalate_due(T0 + HOUR)
    assert sorted(e.ticket_id for e in done) == ids
    assert sorted(e.alert_id for e in notifier.seen) == ["a", "b", "c"]
    assert escalator.notify_failures == 1
    assert len(await escalation_rows(engine)) == 3
    assert await escalator.escalate_due(T0 + HOUR + 1) == []  # recorded: not redone


async def test_a_hung_notifier_is_cut_off_by_its_timeout(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    for name in ("a", "b"):
        await open_ticket(engine, tmp_path, name)
    notifier = Recorder(hang_for={"a"})
    escalator = Escalator(engine, POLICY, notifier, notify_timeout_s=0.2)
    done = await asyncio.wait_for(escalator.escalate_due(T0 + HOUR), timeout=30)
    assert (
        sorted(e.alert_id for e in done) == ["a", "b"] == sorted(e.alert_id for e in notifier.seen)
    )
    assert escalator.notify_failures == 1


async def test_the_runner_scans_on_its_period_and_stops_cleanly(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ticket_id = await open_ticket(engine, tmp_path, "a")
    now = [T0]
    notifier = Recorder()
    runner = EscalationRunner(
        Escalator(engine, POLICY, notifier), period_s=0.05, clock=lambda: now[0]
    )
    async with runner:
        await eventually(lambda: runner.scans >= 2, 30, "two idle scans")
        assert notifier.seen == []
        now[0] = T0 + HOUR  # the clock jumps: no sleeping through an hour
        await eventually(lambda: len(notifier.seen) == 1, 30, "the escalation")
        scans = runner.scans
        await eventually(lambda: runner.scans >= scans + 2, 30, "more scans")
    assert [(e.ticket_id, e.level) for e in notifier.seen] == [(ticket_id, 1)]
    assert runner.escalated == 1 and runner.failures == 0
    stopped_at = runner.scans
    await asyncio.sleep(0.2)
    assert runner.scans == stopped_at  # the task is gone, not merely idle


async def test_the_runner_survives_a_database_failure(tmp_path: Path) -> None:
    # A PostgreSQL URL where nothing listens: every scan fails, the runner keeps going.
    broken = open_engine("postgresql+asyncpg://u:secret@127.0.0.1:9/none", timeout_s=1.0)
    runner = EscalationRunner(Escalator(broken, POLICY, Recorder()), period_s=0.05)
    try:
        async with runner:
            await eventually(lambda: runner.failures >= 2, 30, "two failed scans")
    finally:
        await broken.dispose()
    assert runner.escalated == 0
