"""The figures the city publishes, computed by SQL from the tickets of a period.

The cohort of a period [since, until) is every ticket received (created) in it; every figure
counts what had happened to that cohort by `until`, so a past period's figures do not change
as its tickets are worked on later:

- closed: reached verified, rejected or false_alarm before `until`; closure rate = closed /
  received.
- SLA compliance: first response (leaving `received`, for any state) no later than `due_at`,
  divided by the tickets due: answered before `until`, or past `due_at` by then. A ticket not
  yet picked up counts as not compliant once it is overdue; before that it is not counted
  at all, so a fresh ticket does not read as a missed one (None when none is due yet).
- median time to intervention: received -> first assigned, over the cohort's assigned tickets.
  The median is taken in Python over the fetched durations (one float per ticket), so both
  backends give the same answer; PostgreSQL's percentile_cont is not used.
- satisfaction: follow-up calls (feedback rows) of the cohort before `until`; the share with a
  score of 4 or 5, and the mean score.
- false alarms: a reviewer's verdict decides when one was given before `until` (the latest
  such verdict: `false_alarm` counts, `confirmed` does not, even for a ticket the field team
  closed as a false alarm, since the reviewer replayed the evidence); a ticket without a
  verdict counts if it was moved to the false_alarm state before `until`. A false alarm need
  not be closed. False-alarm rate = false alarms / received, overall, per camera, per rule.
  (Sensor-only tickets have an empty camera id and are grouped under "".)
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.tickets.loop import TicketState
from alerts.tickets.models import feedback, tickets
from alerts.tickets.review import Verdict, verdict_as_of
from riverwatch.sql import reader

SATISFIED_SCORE = 4


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """Counts for one camera or one rule."""

    key: str
    received: int
    closed: int
    false_alarms: int
    false_alarm_rate: float | None


@dataclass(frozen=True, slots=True)
class LoopFigures:
    """The loop's published figures for [since, until); rates are None when undefined."""

    since: float
    until: float
    received: int
    closed: int
    closure_rate: float | None
    sla_met: int
    sla_due: int  # answered, or overdue, by `until`: the tickets compliance is judged on
    sla_compliance: float | None
    interventions: int
    median_time_to_intervention_s: float | None
    feedback_count: int
    satisfied: int
    satisfaction_rate: float | None
    satisfaction_mean: float | None
    false_alarms: int
    false_alarm_rate: float | None
    per_camera: tuple[GroupFigures, ...]
    per_rule: tuple[GroupFigures, ...]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


class _Cohort:
    """The SQL conditions of one period, built once."""

    def __init__(self, since: float, until: float) -> None:
        c = tickets.c
        self.member = sa.and_(c.created_at >= since, c.created_at < until)
        self.closed = sa.and_(c.closed_at.is_not(None), c.closed_at < until)
        closed_as_false_alarm = sa.and_(self.closed, c.state == TicketState.FALSE_ALARM.value)
        judged = sa.func.coalesce(
            verdict_as_of(c.id, until),
            sa.case((closed_as_false_alarm, Verdict.FALSE_ALARM.value), else_=""),
        )
        self.false_alarm = judged == Verdict.FALSE_ALARM.value
        self.sla_met = sa.and_(
            c.first_response_at.is_not(None),
            c.first_response_at < until,
            c.first_response_at <= c.due_at,
        )
        answered = sa.and_(c.first_response_at.is_not(None), c.first_response_at < until)
        self.sla_due = sa.or_(answered, c.due_at < until)
        self.assigned = sa.and_(c.assigned_at.is_not(None), c.assigned_at < until)
        self.until = until


async def loop_figures(engine: AsyncEngine, since: float, until: float) -> LoopFigures:
    """Compute the published figures for tickets received in [since, until)."""
    if not until > since:
        raise ValueError("until must be after since")
    cohort = _Cohort(since, until)
    async with reader(engine).connect() as conn:
        received, closed, sla_met, sla_due, false_alarms = await _totals(conn, cohort)
        durations = await _intervention_durations(conn, cohort)
        fb_count, satisfied, fb_mean = await _satisfaction(conn, cohort)
        per_camera = await _per_group(conn, cohort, tickets.c.camera_id)
        per_rule = await _per_group(conn, cohort, tickets.c.rule)
    return LoopFigures(
        since=since,
        until=until,
        received=received,
        closed=closed,
        closure_rate=_ratio(closed, received),
        sla_met=sla_met,
        sla_due=sla_due,
        sla_compliance=_ratio(sla_met, sla_due),
        interventions=len(durations),
        median_time_to_intervention_s=statistics.median(durations) if durations else None,
        feedback_count=fb_count,
        satisfied=satisfied,
        satisfaction_rate=_ratio(satisfied, fb_count),
        satisfaction_mean=fb_mean,
        false_alarms=false_alarms,
        false_alarm_rate=_ratio(false_alarms, received),
        per_camera=per_camera,
        per_rule=per_rule,
    )


async def _totals(conn: AsyncConnection, cohort: _Cohort) -> tuple[int, int, int, int, int]:
    """Received, closed, SLA met, SLA due and false alarms, in one query."""
    query = sa.select(
        sa.func.count(),
        _count_if(cohort.closed),
        _count_if(cohort.sla_met),
        _count_if(cohort.sla_due),
        _count_if(cohort.false_alarm),
    ).where(cohort.member)
    row = (await conn.execute(query)).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])


async def _intervention_durations(conn: AsyncConnection, cohort: _Cohort) -> list[float]:
    duration = tickets.c.assigned_at - tickets.c.created_at
    query = sa.select(duration).where(cohort.member, cohort.assigned)
    return [float(v) for v in (await conn.execute(query)).scalars()]


async def _satisfaction(conn: AsyncConnection, cohort: _Cohort) -> tuple[int, int, float | None]:
    query = (
        sa.select(
            sa.func.count(),
            _count_if(feedback.c.score >= SATISFIED_SCORE),
            sa.func.avg(feedback.c.score),
        )
        .select_from(feedback.join(tickets, feedback.c.ticket_id == tickets.c.id))
        .where(cohort.member, feedback.c.at < cohort.until)
    )
    count, satisfied, mean = (await conn.execute(query)).one()
    return int(count), int(satisfied), None if mean is None else float(mean)


async def _per_group(
    conn: AsyncConnection, cohort: _Cohort, key: sa.Column[str]
) -> tuple[GroupFigures, ...]:
    query = (
        sa.select(key, sa.func.count(), _count_if(cohort.closed), _count_if(cohort.false_alarm))
        .where(cohort.member)
        .group_by(key)
        .order_by(key)
    )
    rows = (await conn.execute(query)).all()
    return tuple(
        GroupFigures(str(k), int(n), int(closed), int(fa), _ratio(int(fa), int(n)))
        for k, n, closed, fa in rows
    )
