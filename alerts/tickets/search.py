"""The incident list of the replay page: tickets filtered, newest incident first, in pages.

Time filters apply to when the incident started (`started_at`, as the detector saw it), which
is what a reviewer means by "incidents between two and four"; the published figures count by
when the ticket was received instead (see `stats.py`), a few seconds later.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.tickets.errors import InvalidInput
from alerts.tickets.loop import TicketState
from alerts.tickets.models import tickets
from alerts.tickets.records import Ticket

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """Filters (all optional, combined with AND) and a page; raises InvalidInput if bad.

    >>> TicketQuery(camera="jinsha-001", state=TicketState.RECEIVED, limit=20, offset=40)
    ... # doctest: +SKIP
    """

    camera: str | None = None
    group: str | None = None
    rule: str | None = None
    state: TicketState | None = None
    since: float | None = None  # started at or after
    until: float | None = None  # started before
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidInput(f"limit is 1 to {MAX_PAGE}")
        if self.offset < 0:
            raise InvalidInput("offset is 0 or more")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise InvalidInput("`until` must be after `since`")

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """The WHERE clauses of the filters that are set."""
        c = tickets.c
        wanted: list[sa.ColumnElement[bool]] = []
        exact = ((c.camera_id, self.camera), (c.group, self.group), (c.rule, self.rule))
        for column, value in exact:
            if value is not None:
                wanted.append(column == value)
        if self.state is not None:
            wanted.append(c.state == self.state.value)
        if self.since is not None:
            wanted.append(c.started_at >= self.since)
        if self.until is not None:
            wanted.append(c.started_at < self.until)
        return wanted


@dataclass(frozen=True, slots=True)
class TicketPage:
    """One page of matches and how many match in all."""

    total: int
    tickets: tuple[Ticket, ...]


async def search(conn: AsyncConnection, query: TicketQuery) -> TicketPage:
    """The page of tickets matching `query`, newest incident first (then newest ticket)."""
    where = query.conditions()
    total = await conn.execute(sa.select(sa.func.count()).select_from(tickets).where(*where))
    rows = (
        await conn.execute(
            sa.select(tickets)
            .where(*where)
            .order_by(tickets.c.started_at.desc(), tickets.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
    ).mappings()
    return TicketPage(int(total.scalar_one()), tuple(Ticket.from_row(row) for row in rows))
