"""The published figures on SQLite and a real PostgreSQL, over a hand-built set of tickets
whose figures are worked out by hand below."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tickets import GroupFigures, SlaPolicy, TicketState, TicketStore, loop_figures
from riverwatch.types import Alert

S = TicketState
T = 2_000_000.0  # the period is [T, T + DAY)
DAY = 86_400.0
POLICY = SlaPolicy(default_s=3600.0, by_rule={"no_dredging": 1800.0})


@dataclass
class Clock:
    now: float = T

    def __call__(self) -> float:
        return self.now


# name, camera, rule, received at (offset from T), moves as (offset from T, state, score).
TICKETS: list[tuple[str, str, str, float, list[tuple[float, S, int | None]]]] = [
    # A: assigned after 600 s (within SLA), verified inside the period, feedback 5.
    ("A", "cam1", "no_fishing", 0, [(600, S.ASSIGNED, None), (700, S.HANDLED, None),
                                    (800, S.FEEDBACK, 5), (5000, S.VERIFIED, None)]),
    # B: assigned after 4000 s (SLA missed), verified, feedback 3.
    ("B", "cam1", "no_fishing", 100, [(4100, S.ASSIGNED, None), (4200, S.HANDLED, None),
                                      (4300, S.FEEDBACK, 3), (6000, S.VERIFIED, None)]),
    # C: 30-min SLA rule, assigned after 1200 s, still open.
    ("C", "cam2", "no_dredging", 200, [(1400, S.ASSIGNED, None)]),
    # D: marked a false alarm after 300 s: a first response within SLA, closed.
    ("D", "cam2", "no_fishing", 300, [(600, S.FALSE_ALARM, None)]),
    # E: never picked up.
    ("E", "cam2", "no_dredging", 400, []),
    # F: rejected after two hours: closed, SLA missed.
    ("F", "cam1", "no_fishing", 500, [(7700, S.REJECTED, None)]),
    # I: assigned after 60 s; its feedback and verification fall after the period ends.
    ("I", "cam1", "no_fishing", 1000, [(1060, S.ASSIGNED, None), (2000, S.HANDLED, None),
                                       (DAY + 100, S.FEEDBACK, 1), (DAY + 200, S.VERIFIED, None)]),
    # G and H are outside the period (received before it, and exactly at its end).
    ("G", "cam1", "no_fishing", -100, [(-50, S.FALSE_ALARM, None)]),
    ("H", "cam2", "no_fishing", DAY, [(DAY + 10, S.FALSE_ALARM, None)]),
]  # fmt: skip


async def build(engine: AsyncEngine, data_dir: Path) -> None:
    clock = Clock()
    store = TicketStore(engine, data_dir, POLICY, clock=clock)
    for name, camera, rule, received, moves in TICKETS:
        clock.now = T + received
        alert = Alert(name, camera, "z", rule, "high", 1.0, 1.0, 1, 0.5, (0, 0, 1, 1))
        ticket = await store.apply(alert)
        assert ticket is not None
        for at, to, score in moves:
            clock.now = T + at
            ticket = await store.transition(ticket.id, to, "staff", satisfaction=score)


async def test_the_figures_match_the_hand_count(engine: AsyncEngine, tmp_path: Path) -> None:
    await build(engine, tmp_path / "data")
    figures = await loop_figures(engine, T, T + DAY)
    # Received: A B C D E F I (G before, H at the excluded end) = 7.
    assert figures.received == 7
    # Closed before the end: A B (verified), D (false alarm), F (rejected) = 4 of 7.
    assert (figures.closed, figures.closure_rate) == (4, pytest.approx(4 / 7))
    # First response within SLA: A (600 <= 3600), C (1200 <= 1800), D (300), I (60) = 4 of 7.
    # Every ticket is answered or past due by the end, so all 7 are judged.
    assert (figures.sla_met, figures.sla_due, figures.sla_compliance) == (
        4,
        7,
        pytest.approx(4 / 7),
    )
    # Received -> assigned: I 60, A 600, C 1200, B 4000; median of four = (600 + 1200) / 2.
    assert figures.interventions == 4
    assert figures.median_time_to_intervention_s == pytest.approx(900.0)
    # Follow-up calls inside the period: A 5, B 3 (I's comes after): 1 of 2 satisfied, mean 4.
    assert (figures.feedback_count, figures.satisfied) == (2, 1)
    assert figures.satisfaction_rate == pytest.approx(0.5)
    assert figures.satisfaction_mean == pytest.approx(4.0)
    # False alarms: D = 1 of 7.
    assert (figures.false_alarms, figures.false_alarm_rate) == (1, pytest.approx(1 / 7))
    assert figures.per_camera == (
        GroupFigures("cam1", received=4, closed=3, false_alarms=0, false_alarm_rate=0.0),
        GroupFigures("cam2", received=3, closed=1, false_alarms=1, false_alarm_rate=1 / 3),
    )
    assert figures.per_rule == (
        GroupFigures("no_dredging", received=2, closed=0, false_alarms=0, false_alarm_rate=0.0),
        GroupFigures("no_fishing", received=5, closed=4, false_alarms=1, false_alarm_rate=0.2),
    )


async def test_a_later_window_sees_what_happened_since(engine: AsyncEngine, tmp_path: Path) -> None:
    await build(engine, tmp_path / "data")
    # Ending the window after I's follow-up and verification: I closes, its score of 1 counts.
    figures = await loop_figures(engine, T, T + DAY - 1 + 1_000)
    # H (received at T + DAY) now falls inside too: 8 received, false alarms D and H.
    assert (figures.received, figures.closed, figures.false_alarms) == (8, 6, 2)
    # Feedback 5, 3, 1: one of three satisfied, mean 3.
    assert (figures.feedback_count, figures.satisfied) == (3, 1)
    assert figures.satisfaction_mean == pytest.approx(3.0)
    # H's first response came 10 s after it was received: within SLA.
    assert figures.sla_met == 5


async def test_an_empty_period_has_counts_of_zero_and_no_rates(engine: AsyncEngine) -> None:
    figures = await loop_figures(engine, T, T + DAY)
    assert (figures.received, figures.closed, figures.feedback_count) == (0, 0, 0)
    assert figures.closure_rate is None and figures.sla_compliance is None
    assert figures.median_time_to_intervention_s is None and figures.satisfaction_mean is None
    assert figures.per_camera == () and figures.per_rule == ()
    with pytest.raises(ValueError):
        await loop_figures(engine, T, T)


async def test_tickets_not_yet_due_are_not_counted_against_the_sla(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = TicketStore(engine, tmp_path / "data", POLICY, clock=Clock())
    for name in ("fresh-1", "fresh-2"):  # received at T, due at T + 3600, not picked up
        alert = Alert(name, "cam1", "z", "no_fishing", "high", 1.0, 1.0, 1, 0.5, (0, 0, 1, 1))
        assert await store.apply(alert) is not None
    # (period end, due, compliance): before the deadline none is due, so no compliance
    # (not 0 %); after it both are overdue and missed.
    cases = [(T + 600, 0, None), (T + 3600, 0, None), (T + 3601, 2, 0.0)]
    seen = []
    for until, _, _ in cases:
        figures = await loop_figures(engine, T, until)
        seen.append((until, figures.sla_due, figures.sla_compliance))
    assert seen == cases
