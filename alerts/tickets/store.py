"""The ticket store: alerts from the queue become tickets; people move them through the loop.

`apply(alert)` is idempotent on `alert.message_id`: one transaction inserts the message id
into `applied_messages` with ON CONFLICT DO NOTHING and stops there if the id was already
applied, so a redelivered message (a retry, a reclaimed stream entry, two consumers racing)
changes nothing. Messages of one incident may arrive in any order: whichever comes first
creates the ticket (again ON CONFLICT DO NOTHING on `alert_id`), the others update it, and a
late, older update never rolls the observation back (guarded by `observed_at`).

`transition()` applies the pure policy of `loop.py` and writes with an optimistic version
check, so of two users moving the same ticket from the same state, one wins and the other
gets `StaleTicket`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.tickets.attachments import AttachmentStore, StoredFile
from alerts.tickets.errors import InvalidInput, StaleTicket, TicketNotFound
from alerts.tickets.loop import CLOSED_STATES, TicketState, check_transition, is_first_response
from alerts.tickets.models import applied_messages, attachments, feedback, tickets, transitions
from alerts.tickets.records import AttachmentRecord, Photo, Ticket, TransitionRecord
from alerts.tickets.review import (
    Verdict,
    VerdictRecord,
    current_verdicts,
    record_verdict,
    verdicts_given,
)
from alerts.tickets.search import TicketPage, TicketQuery, search
from alerts.tickets.sla import SlaPolicy
from alerts.tickets.stats import LoopFigures, loop_figures
from alerts.tickets.track import MAX_TRACK_POINTS, TrackPoint, append_track, read_track
from riverwatch.sql import reader
from riverwatch.types import Alert, AlertPhase

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "riverwatch"
MAX_NOTE_CHARS = 4000
MAX_ACTOR_CHARS = 200


# The first message to arrive opens the ticket; the timeline says so in words. Message ids
# are for machines (`applied_messages` keeps them) and stay out of what people read.
_OPENED_BY: Mapping[AlertPhase, str] = {
    AlertPhase.OPEN: "opened by the alert",
    AlertPhase.UPDATE: "opened by an update of the alert",
    AlertPhase.EVIDENCE: "opened by the alert's evidence",
    AlertPhase.CLOSE: "opened when the alert closed",
}


class TicketStore:
    """Tickets in a relational database (SQLite or PostgreSQL) behind one small API.

    >>> engine = open_engine(default_url(data_dir))  # riverwatch db upgrade  # doctest: +SKIP
    >>> store = TicketStore(engine, data_dir, SlaPolicy())                        # doctest: +SKIP
    >>> ticket = await store.apply(alert)              # None if already applied  # doctest: +SKIP
    >>> await store.transition(ticket.id, TicketState.ASSIGNED, "li.wei", "on my way")
    """

    def __init__(
        self,
        engine: AsyncEngine,
        data_dir: Path,
        policy: SlaPolicy | None = None,
        clock: Callable[[], float] = time.time,
        attachment_store: AttachmentStore | None = None,
        track_limit: int = MAX_TRACK_POINTS,
    ) -> None:
        self._engine = engine
        self._track_limit = track_limit
        self._reader = reader(engine)
        self._policy = policy or SlaPolicy()
        self._clock = clock
        self._files = attachment_store or AttachmentStore(data_dir)
        self.applied = 0
        self.duplicates = 0

    # ---- alerts from the queue -------------------------------------------------------------

    async def apply(self, alert: Alert) -> Ticket | None:
        """Apply one queue message; return the ticket, or None if it was applied before."""
        now = self._clock()
        async with self._engine.begin() as conn:
            claim = {"message_id": alert.message_id, "alert_id": alert.alert_id, "applied_at": now}
            if not await _insert_ignore(conn, applied_messages, claim, "message_id"):
                self.duplicates += 1
                return None
            ticket_id = await self._ensure_ticket(conn, alert, now)
            await conn.execute(_observation_update(ticket_id, alert))
            phase_values = _phase_values(alert)
            if phase_values:
                await conn.execute(
                    tickets.update().where(tickets.c.id == ticket_id).values(**phase_values)
                )
            await append_track(conn, ticket_id, alert.track, self._track_limit)
            row = await _ticket_row(conn, ticket_id)
        self.applied += 1
        return Ticket.from_row(row)

    async def _ensure_ticket(self, conn: AsyncConnection, alert: Alert, now: float) -> int:
        """The ticket's id, creating it from this message if it is the first one to arrive."""
        values = self._new_ticket_values(alert, now)
        if await _insert_ignore(conn, tickets, values, "alert_id"):
            ticket_id = (
                await conn.execute(
                    sa.select(tickets.c.id).where(tickets.c.alert_id == alert.alert_id)
                )
            ).scalar_one()
            await conn.execute(
                transitions.insert().values(
                    ticket_id=ticket_id,
                    from_state=None,
                    to_state=TicketState.RECEIVED.value,
                    actor=SYSTEM_ACTOR,
                    at=now,
                    note=_OPENED_BY[alert.phase],
                )
            )
            log.info("ticket %d opened for alert %s", ticket_id, alert.alert_id)
            return int(ticket_id)
        query = sa.select(tickets.c.id).where(tickets.c.alert_id == alert.alert_id)
        return int((await conn.execute(query)).scalar_one())

    def _new_ticket_values(self, alert: Alert, now: float) -> dict[str, Any]:
        x1, y1, x2, y2 = alert.box_xyxy
        return {
            "alert_id": alert.alert_id,
            "source": alert.source,
            "camera_id": alert.camera_id,
            "sensor_id": alert.sensor_id,
            "group": alert.group,
            "zone_id": alert.zone_id,
            "rule": alert.rule,
            "severity": alert.severity,
            "priority": self._policy.base_priority(alert.severity),
            "state": TicketState.RECEIVED.value,
            "version": 1,
            "created_at": now,
            "due_at": now + self._policy.sla_s(alert.severity, alert.rule),
            "escalation_level": 0,
            "started_at": alert.started_at,
            "observed_at": alert.observed_at,
            "revision": alert.revision,
            "frame_seq": alert.frame_seq,
            "score": alert.score,
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
            "note": alert.note,
        }

    # ---- the closed loop -------------------------------------------------------------------

    async def transition(
        self,
        ticket_id: int,
        to: TicketState,
        actor: str,
        note: str = "",
        attachments: Sequence[Photo] = (),
        expected_version: int | None = None,
        satisfaction: int | None = None,
        assignee: str | None = None,
    ) -> Ticket:
        """Move a ticket in the loop, recording who, when, a note and field photos; a move to
        `assigned` gives the ticket to `assignee` (the actor when not named).

        Raises TicketNotFound, IllegalTransition, StaleTicket (someone moved it first, or
        `expected_version` is not the current one), AttachmentRejected or InvalidInput;
        in each case nothing is written.
        """
        _check_inputs(actor, note, satisfaction)
        _check_assignee(to, assignee)
        photos = tuple(attachments)
        self._files.check(photos)
        current = await self.get(ticket_id)
        version = current.version if expected_version is None else expected_version
        if version != current.version:
            raise StaleTicket(f"ticket {ticket_id} is at version {current.version}, not {version}")
        check_transition(current.state, to, satisfaction)
        stored = await self._files.write(ticket_id, photos) if photos else []
        try:
            async with self._engine.begin() as conn:
                await self._move(conn, current, version, to, assignee or actor)
                transition_id = await _record_transition(
                    conn, ticket_id, current.state, to, actor, note, self._clock()
                )
                await _record_attachments(conn, ticket_id, transition_id, stored)
                if satisfaction is not None:
                    await conn.execute(
                        feedback.insert().values(
                            ticket_id=ticket_id,
                            transition_id=transition_id,
                            score=satisfaction,
                            note=note,
                            at=self._clock(),
                        )
                    )
                row = await _ticket_row(conn, ticket_id)
        except BaseException:
            await self._files.remove(stored)
            raise
        log.info("ticket %d: %s -> %s by %s", ticket_id, current.state, to, actor)
        return Ticket.from_row(row)

    async def _move(
        self, conn: AsyncConnection, current: Ticket, version: int, to: TicketState, assignee: str
    ) -> None:
        now = self._clock()
        values: dict[str, Any] = {"state": to.value, "version": version + 1}
        if is_first_response(current.state):
            values["first_response_at"] = now
        if to is TicketState.ASSIGNED:
            values["assignee"] = assignee
            if current.assigned_at is None:
                values["assigned_at"] = now
        if to in CLOSED_STATES:
            values["closed_at"] = now
        update = (
            tickets.update()
            .where(tickets.c.id == current.id, tickets.c.version == version)
            .values(**values)
            .returning(tickets.c.id)
        )
        if (await conn.execute(update)).first() is None:
            raise StaleTicket(f"ticket {current.id} was moved by someone else; reload it")

    # ---- review ------------------------------------------------------------------------------

    async def set_verdict(
        self, ticket_id: int, verdict: Verdict, actor: str, note: str = ""
    ) -> VerdictRecord:
        """Record a reviewer's verdict; it replaces the ticket's current one, and the old one
        stays in the history. Raises TicketNotFound or InvalidInput; the ticket does not move."""
        _check_inputs(actor, note, None)
        record = VerdictRecord(ticket_id, Verdict(verdict), actor, self._clock(), note)
        async with self._engine.begin() as conn:
            await _ticket_row(conn, ticket_id)
            await record_verdict(conn, record)
        log.info("ticket %d: verdict %s by %s", ticket_id, record.verdict, actor)
        return record

    async def verdict(self, ticket_id: int) -> VerdictRecord | None:
        """The ticket's current verdict, if a reviewer has given one."""
        return (await self.verdicts_of([ticket_id])).get(ticket_id)

    async def verdicts_of(self, ticket_ids: Sequence[int]) -> dict[int, VerdictRecord]:
        """The current verdicts of these tickets, by ticket id (tickets without one left out)."""
        async with self._reader.connect() as conn:
            return await current_verdicts(conn, ticket_ids)

    async def verdict_history(self, ticket_id: int) -> list[VerdictRecord]:
        """Every verdict given on the ticket, oldest first."""
        async with self._reader.connect() as conn:
            return await verdicts_given(conn, ticket_id)

    async def track(self, ticket_id: int) -> list[TrackPoint]:
        """The incident's boxes over time, oldest first (analysis pixels)."""
        async with self._reader.connect() as conn:
            return await read_track(conn, ticket_id)

    async def search(self, query: TicketQuery) -> TicketPage:
        """A page of tickets matching the filters, newest incident first."""
        async with self._reader.connect() as conn:
            return await search(conn, query)

    # ---- reading -----------------------------------------------------------------------------

    async def figures(self, since: float, until: float) -> LoopFigures:
        """The loop's published figures for tickets received in [since, until)."""
        return await loop_figures(self._engine, since, until)

    async def get(self, ticket_id: int) -> Ticket:
        """The ticket with this id (TicketNotFound if none)."""
        async with self._reader.connect() as conn:
            return Ticket.from_row(await _ticket_row(conn, ticket_id))

    async def get_by_alert(self, alert_id: str) -> Ticket | None:
        """The ticket of an incident, if any message of it has been applied."""
        query = sa.select(tickets).where(tickets.c.alert_id == alert_id)
        async with self._reader.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else Ticket.from_row(row)

    async def list_tickets(
        self, state: TicketState | None = None, limit: int = 100
    ) -> list[Ticket]:
        """Tickets, most urgent first (priority, then oldest), optionally in one state."""
        query = sa.select(tickets).order_by(tickets.c.priority.desc(), tickets.c.created_at)
        if state is not None:
            query = query.where(tickets.c.state == state.value)
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query.limit(max(1, min(limit, 1000))))).mappings().all()
        return [Ticket.from_row(row) for row in rows]

    async def history(self, ticket_id: int) -> list[TransitionRecord]:
        """Every recorded move of a ticket, oldest first, creation included."""
        query = (
            sa.select(transitions)
            .where(transitions.c.ticket_id == ticket_id)
            .order_by(transitions.c.id)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_transition_record(row) for row in rows]

    async def attachments(self, ticket_id: int) -> list[AttachmentRecord]:
        """A ticket's stored field photos, oldest first."""
        query = (
            sa.select(attachments)
            .where(attachments.c.ticket_id == ticket_id)
            .order_by(attachments.c.id)
        )
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AttachmentRecord(**row) for row in rows]


# ---- helpers ---------------------------------------------------------------------------------


async def _insert_ignore(
    conn: AsyncConnection, table: sa.Table, values: Mapping[str, Any], key: str
) -> bool:
    """Insert unless a row with the same `key` exists; True if this call inserted it.

    PostgreSQL and SQLite do it in one statement (ON CONFLICT DO NOTHING), which neither
    raises nor aborts the transaction; under PostgreSQL's READ COMMITTED a racing insert
    waits for the other transaction and then does nothing. Other backends fall back to a
    savepoint and a caught IntegrityError.
    """
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        statement = (
            insert.values(**values)
            .on_conflict_do_nothing(index_elements=[key])
            .returning(table.c[key])
        )
        return (await conn.execute(statement)).first() is not None
    try:
        async with conn.begin_nested():
            await conn.execute(table.insert().values(**values))
    except IntegrityError:
        return False
    return True


def _observation_update(ticket_id: int, alert: Alert) -> sa.Update:
    """Box, score and time of the observation, unless a later one is already stored."""
    x1, y1, x2, y2 = alert.box_xyxy
    return (
        tickets.update()
        .where(tickets.c.id == ticket_id, tickets.c.observed_at <= alert.observed_at)
        .values(
            observed_at=alert.observed_at,
            frame_seq=alert.frame_seq,
            score=alert.score,
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            revision=sa.case(
                (tickets.c.revision < alert.revision, alert.revision), else_=tickets.c.revision
            ),
        )
    )


def _phase_values(alert: Alert) -> dict[str, Any]:
    """What an evidence or close message sets beyond the observation."""
    if alert.phase is AlertPhase.EVIDENCE:
        values = {
            "snapshot": alert.snapshot,
            "snapshot_sha256": alert.snapshot_sha256,
            "clip": alert.clip,
            "clip_sha256": alert.clip_sha256,
            "preroll_clip": alert.preroll_clip,
            "preroll_clip_sha256": alert.preroll_clip_sha256,
        }
        # An evidence message without a clip (disk full) must not erase one already stored.
        return {k: v for k, v in values.items() if v}
    if alert.phase is AlertPhase.CLOSE:
        return {"ended_at": alert.ended_at if alert.ended_at is not None else alert.observed_at}
    return {}


async def _ticket_row(conn: AsyncConnection, ticket_id: int) -> sa.RowMapping:
    query = sa.select(tickets).where(tickets.c.id == ticket_id)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    return row


async def _record_transition(
    conn: AsyncConnection,
    ticket_id: int,
    from_state: TicketState,
    to: TicketState,
    actor: str,
    note: str,
    at: float,
) -> int:
    insert = (
        transitions.insert()
        .values(
            ticket_id=ticket_id,
            from_state=from_state.value,
            to_state=to.value,
            actor=actor,
            at=at,
            note=note,
        )
        .returning(transitions.c.id)
    )
    return int((await conn.execute(insert)).scalar_one())


async def _record_attachments(
    conn: AsyncConnection, ticket_id: int, transition_id: int, stored: list[StoredFile]
) -> None:
    for item in stored:
        await conn.execute(
            attachments.insert().values(
                ticket_id=ticket_id,
                transition_id=transition_id,
                filename=item.filename,
                original_name=item.original_name,
                content_type=item.content_type,
                size=item.size,
                sha256=item.sha256,
                path=item.path,
            )
        )


def _check_inputs(actor: str, note: str, satisfaction: int | None) -> None:
    if not actor.strip() or len(actor) > MAX_ACTOR_CHARS:
        raise InvalidInput(f"an actor name of 1 to {MAX_ACTOR_CHARS} characters is required")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"a note may have at most {MAX_NOTE_CHARS} characters")
    if satisfaction is not None and (type(satisfaction) is not int or not 1 <= satisfaction <= 5):
        raise InvalidInput("satisfaction is a whole number from 1 to 5")


def _check_assignee(to: TicketState, assignee: str | None) -> None:
    if assignee is None:
        return
    if to is not TicketState.ASSIGNED:
        raise InvalidInput("only a move to `assigned` names an assignee")
    if not assignee.strip() or len(assignee) > MAX_ACTOR_CHARS:
        raise InvalidInput(f"an assignee name of 1 to {MAX_ACTOR_CHARS} characters is required")


def _transition_record(row: sa.RowMapping) -> TransitionRecord:
    from_state = row["from_state"]
    return TransitionRecord(
        id=row["id"],
        ticket_id=row["ticket_id"],
        from_state=None if from_state is None else TicketState(from_state),
        to_state=TicketState(row["to_state"]),
        actor=row["actor"],
        at=row["at"],
        note=row["note"],
    )
