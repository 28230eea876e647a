"""Reviewers' verdicts on incidents: confirmed or a false alarm, with who, when and why.

A ticket has at most one current verdict (`verdicts`); a later verdict replaces it, and every
verdict ever given stays in `verdict_history`. The verdict is separate from the ticket's place
in the loop: a reviewer judges the detection after the fact, whatever the field team did with
the ticket, and giving one never moves the ticket. How verdicts count in the published
false-alarm figures is documented in `stats.py`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.tickets.models import verdict_history, verdicts


class Verdict(enum.StrEnum):
    """A reviewer's judgement of an incident's detection."""

    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """A verdict as given: by whom (`actor`), when (epoch seconds) and with what note."""

    ticket_id: int
    verdict: Verdict
    actor: str
    at: float
    note: str


async def record_verdict(conn: AsyncConnection, record: VerdictRecord) -> None:
    """Make `record` the ticket's current verdict and append it to the history."""
    values = {
        "ticket_id": record.ticket_id,
        "verdict": record.verdict.value,
        "actor": record.actor,
        "at": record.at,
        "note": record.note,
    }
    await conn.execute(verdict_history.insert().values(**values))
    changes = {k: v for k, v in values.items() if k != "ticket_id"}
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert(verdicts) if dialect == "postgresql" else sqlite_insert(verdicts)
        # One statement, so two reviewers at once both succeed and the later write wins.
        await conn.execute(
            insert.values(**values).on_conflict_do_update(
                index_elements=[verdicts.c.ticket_id], set_=changes
            )
        )
        return
    await conn.execute(sa.delete(verdicts).where(verdicts.c.ticket_id == record.ticket_id))
    await conn.execute(verdicts.insert().values(**values))


async def current_verdicts(
    conn: AsyncConnection, ticket_ids: Sequence[int]
) -> dict[int, VerdictRecord]:
    """The current verdict of each of these tickets that has one."""
    if not ticket_ids:
        return {}
    query = sa.select(verdicts).where(verdicts.c.ticket_id.in_(list(ticket_ids)))
    rows = (await conn.execute(query)).mappings().all()
    return {int(row["ticket_id"]): _record(row) for row in rows}


async def verdicts_given(conn: AsyncConnection, ticket_id: int) -> list[VerdictRecord]:
    """Every verdict given on a ticket, oldest first."""
    c = verdict_history.c
    query = sa.select(verdict_history).where(c.ticket_id == ticket_id).order_by(c.at, c.id)
    rows = (await conn.execute(query)).mappings().all()
    return [_record(row) for row in rows]


def verdict_as_of(ticket_id: sa.ColumnElement[int], until: float) -> sa.ScalarSelect[str]:
    """SQL for the verdict a ticket had just before `until` (NULL if none had been given)."""
    c = verdict_history.c
    return (
        sa.select(c.verdict)
        .where(c.ticket_id == ticket_id, c.at < until)
        .order_by(c.at.desc(), c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _record(row: sa.RowMapping) -> VerdictRecord:
    return VerdictRecord(
        ticket_id=int(row["ticket_id"]),
        verdict=Verdict(row["verdict"]),
        actor=row["actor"],
        at=float(row["at"]),
        note=row["note"],
    )
