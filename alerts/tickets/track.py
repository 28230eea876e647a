"""An incident's track over time: the boxes its queue messages carried, kept per ticket.

Every camera message carries the incident's last `TRACK_POINTS` boxes; consecutive messages
overlap, and a message may be redelivered. Points are keyed by (ticket, time rounded to the
centisecond, as the queue carries them): an insert that meets an existing key does nothing, so
the stored track is the union of what arrived, in time order. A long incident (a dredger that
works for hours) is bounded to `MAX_TRACK_POINTS` per ticket; the oldest points go first, since
a replay cares most about what the incident was doing when it was last seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.tickets.models import ticket_track

MAX_TRACK_POINTS = 2000

TrackTuple = tuple[float, int, int, int, int]


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """Where the incident's box was at `at` (epoch seconds), in analysis pixels."""

    at: float
    box_xyxy: tuple[int, int, int, int]


async def append_track(
    conn: AsyncConnection, ticket_id: int, points: Sequence[TrackTuple], limit: int
) -> int:
    """Add the points not stored yet, then trim the ticket's track to `limit`; the number
    of points added."""
    rows = {round(t, 2): (x1, y1, x2, y2) for t, x1, y1, x2, y2 in points}
    if not rows:
        return 0
    c = ticket_track.c
    known = await conn.execute(
        sa.select(c.at).where(c.ticket_id == ticket_id, c.at.in_(list(rows)))
    )
    for (at,) in known:
        rows.pop(at, None)
    if not rows:
        return 0
    values = [
        {"ticket_id": ticket_id, "at": at, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
        for at, (x1, y1, x2, y2) in sorted(rows.items())
    ]
    await conn.execute(_insert_new(conn, values))
    await _trim(conn, ticket_id, limit)
    return len(values)


def _insert_new(conn: AsyncConnection, values: list[dict[str, float | int]]) -> sa.Insert:
    """A multi-row insert; on PostgreSQL and SQLite a point a racing writer stored first is
    skipped rather than failing the whole message."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return pg_insert(ticket_track).values(values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(ticket_track).values(values).on_conflict_do_nothing()
    return ticket_track.insert().values(values)


async def _trim(conn: AsyncConnection, ticket_id: int, limit: int) -> None:
    c = ticket_track.c
    count = (
        await conn.execute(sa.select(sa.func.count()).where(c.ticket_id == ticket_id))
    ).scalar_one()
    excess = int(count) - limit
    if excess <= 0:
        return
    oldest = sa.select(c.id).where(c.ticket_id == ticket_id).order_by(c.at).limit(excess)
    await conn.execute(sa.delete(ticket_track).where(c.id.in_(oldest.scalar_subquery())))


async def read_track(conn: AsyncConnection, ticket_id: int) -> list[TrackPoint]:
    """The ticket's stored track, oldest first."""
    c = ticket_track.c
    query = sa.select(c.at, c.x1, c.y1, c.x2, c.y2).where(c.ticket_id == ticket_id).order_by(c.at)
    rows = (await conn.execute(query)).all()
    return [TrackPoint(float(at), (x1, y1, x2, y2)) for at, x1, y1, x2, y2 in rows]
