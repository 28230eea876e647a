"""Ticket store on SQLite and a real PostgreSQL: idempotent apply, out-of-order messages, the
closed loop with actors and notes, illegal and concurrent transitions, field photos."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tickets import (
    AttachmentRejected,
    IllegalTransition,
    InvalidInput,
    Photo,
    SlaPolicy,
    StaleTicket,
    Ticket,
    TicketNotFound,
    TicketState,
    TicketStore,
    TransitionRejected,
)
from alerts.tickets.models import applied_messages, attachments, tickets, transitions
from riverwatch.types import Alert, AlertPhase

S = TicketState
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


@dataclass
class Clock:
    """An injected wall clock the test moves by hand."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def alert(
    alert_id: str = "cam-1:zone-a:7",
    phase: AlertPhase = AlertPhase.OPEN,
    revision: int = 0,
    observed_at: float = 100.0,
    box: tuple[int, int, int, int] = (10, 20, 30, 40),
    **extra: object,
) -> Alert:
    fields: dict[str, object] = {
        "alert_id": alert_id,
        "camera_id": "cam-1",
        "zone_id": "zone-a",
        "rule": "no_fishing",
        "severity": "high",
        "started_at": 100.0,
        "observed_at": observed_at,
        "frame_seq": int(observed_at * 10),
        "score": observed_at / 1000,
        "box_xyxy": box,
        "phase": phase,
        "revision": revision,
        "group": "river",
    }
    fields.update(extra)
    return Alert(**fields)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(engine: AsyncEngine, data_dir: Path, clock: Clock) -> TicketStore:
    return TicketStore(engine, data_dir, SlaPolicy(default_s=3600), clock=clock)


async def count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


# ---- applying queue messages -------------------------------------------------------------------


async def test_open_creates_a_received_ticket_due_after_its_sla(
    store: TicketStore, clock: Clock
) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    assert ticket.state is S.RECEIVED and ticket.version == 1
    assert ticket.created_at == clock.now and ticket.due_at == clock.now + 3600
    assert ticket.priority == 3  # high
    assert (ticket.camera_id, ticket.zone_id, ticket.rule, ticket.group) == (
        "cam-1",
        "zone-a",
        "no_fishing",
        "river",
    )
    assert ticket.box_xyxy == (10, 20, 30, 40)
    history = await store.history(ticket.id)
    assert [(h.from_state, h.to_state, h.actor) for h in history] == [
        (None, S.RECEIVED, "riverwatch")
    ]


async def test_the_same_message_twice_is_applied_once(
    store: TicketStore, engine: AsyncEngine
) -> None:
    first = await store.apply(alert())
    again = await store.apply(alert())
    assert first is not None and again is None
    assert await count(engine, tickets) == 1
    assert await count(engine, applied_messages) == 1
    assert await count(engine, transitions) == 1
    assert (store.applied, store.duplicates) == (1, 1)


async def test_two_consumers_applying_the_same_messages_at_once_apply_each_once(
    engine: AsyncEngine, data_dir: Path, clock: Clock
) -> None:
    # Two stores on one engine use separate pooled connections: a real race in the database.
    one, two = (TicketStore(engine, data_dir, clock=clock) for _ in range(2))
    messages = [
        alert(f"a{i}", phase, rev, observed_at=100.0 + rev)
        for i in range(6)
        for phase, rev in ((AlertPhase.OPEN, 0), (AlertPhase.UPDATE, 1))
    ]
    results = await asyncio.gather(*(store.apply(m) for m in messages for store in (one, two)))
    applied = [r for r in results if r is not None]
    assert len(applied) == len(messages)
    assert one.duplicates + two.duplicates == len(messages)
    assert await count(engine, tickets) == 6
    assert await count(engine, applied_messages) == len(messages)
    for i in range(6):
        ticket = await one.get_by_alert(f"a{i}")
        assert ticket is not None and ticket.observed_at == 101.0 and ticket.revision == 1


def _incident(alert_id: str) -> list[Alert]:
    return [
        alert(alert_id, AlertPhase.OPEN, 0, observed_at=100.0, box=(1, 1, 5, 5)),
        alert(alert_id, AlertPhase.UPDATE, 1, observed_at=110.0, box=(2, 2, 6, 6)),
        alert(alert_id, AlertPhase.UPDATE, 2, observed_at=120.0, box=(3, 3, 7, 7)),
        alert(
            alert_id,
            AlertPhase.EVIDENCE,
            3,
            observed_at=120.0,
            box=(3, 3, 7, 7),
            snapshot="evidence/cam-1/s.jpg",
            snapshot_sha256="a" * 64,
            clip="evidence/cam-1/c.mp4",
            clip_sha256="b" * 64,
        ),
        alert(alert_id, AlertPhase.CLOSE, 4, observed_at=130.0, box=(3, 3, 7, 7), ended_at=131.0),
    ]


async def test_messages_in_any_order_give_the_same_ticket(store: TicketStore) -> None:
    # Sequence in, ticket out: every order of an incident's five messages ends the same.
    finals = []
    for n, order in enumerate(itertools.permutations(range(5))):
        if n % 4:  # 30 of the 120 orders keep the test quick; they cover every first message
            continue
        messages = _incident(f"incident-{n}")
        for index in order:
            assert await store.apply(messages[index]) is not None
        ticket = await store.get_by_alert(f"incident-{n}")
        assert ticket is not None
        finals.append(_facts(ticket))
    assert len(finals) == 30
    assert all(f == finals[0] for f in finals)
    assert finals[0] == (
        S.RECEIVED,
        (3, 3, 7, 7),
        130.0,
        4,
        131.0,
        "evidence/cam-1/s.jpg",
        "a" * 64,
        "evidence/cam-1/c.mp4",
        "b" * 64,
        "no_fishing",
    )


def _facts(t: Ticket) -> tuple[object, ...]:
    return (
        t.state,
        t.box_xyxy,
        t.observed_at,
        t.revision,
        t.ended_at,
        t.snapshot,
        t.snapshot_sha256,
        t.clip,
        t.clip_sha256,
        t.rule,
    )


async def test_an_update_before_its_open_creates_the_ticket(store: TicketStore) -> None:
    update = alert("late-open", AlertPhase.UPDATE, 1, observed_at=150.0, box=(5, 5, 9, 9))
    created = await store.apply(update)
    assert created is not None and created.state is S.RECEIVED and created.box_xyxy == (5, 5, 9, 9)
    opened = await store.apply(alert("late-open", observed_at=100.0))
    assert opened is not None and opened.id == created.id
    assert opened.box_xyxy == (5, 5, 9, 9) and opened.observed_at == 150.0  # not rolled back


async def test_evidence_without_a_clip_keeps_the_clip_already_stored(store: TicketStore) -> None:
    full = _incident("e")[3]
    await store.apply(full)
    partial = alert("e", AlertPhase.EVIDENCE, 5, snapshot="evidence/cam-1/s2.jpg",
                    snapshot_sha256="c" * 64)  # fmt: skip
    ticket = await store.apply(partial)
    assert ticket is not None
    assert (ticket.snapshot, ticket.clip) == ("evidence/cam-1/s2.jpg", "evidence/cam-1/c.mp4")


# ---- the closed loop ----------------------------------------------------------------------------


async def test_the_full_loop_records_who_when_and_why(
    store: TicketStore, clock: Clock, data_dir: Path
) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    created = clock.now
    steps: list[tuple[float, S, str, str, dict[str, object]]] = [
        (600, S.ASSIGNED, "dispatcher.zhou", "boat team 2", {}),
        (
            1800,
            S.HANDLED,
            "officer.li",
            "nets seized",
            {"attachments": [Photo(JPEG, "image/jpeg")]},
        ),
        (3000, S.FEEDBACK, "caller.wang", "reporter satisfied", {"satisfaction": 5}),
        (3600, S.VERIFIED, "reviewer.chen", "clip and photo match", {}),
    ]
    for offset, to, actor, note, extra in steps:
        clock.now = created + offset
        ticket = await store.transition(ticket.id, to, actor, note, **extra)  # type: ignore[arg-type]
        assert ticket.state is to
    assert ticket.version == 5
    assert ticket.first_response_at == created + 600 == ticket.assigned_at
    assert ticket.closed_at == created + 3600
    history = await store.history(ticket.id)
    assert [(h.from_state, h.to_state, h.actor, h.note, h.at) for h in history] == [
        (None, S.RECEIVED, "riverwatch", "opened by the alert", created),
        (S.RECEIVED, S.ASSIGNED, "dispatcher.zhou", "boat team 2", created + 600),
        (S.ASSIGNED, S.HANDLED, "officer.li", "nets seized", created + 1800),
        (S.HANDLED, S.FEEDBACK, "caller.wang", "reporter satisfied", created + 3000),
        (S.FEEDBACK, S.VERIFIED, "reviewer.chen", "clip and photo match", created + 3600),
    ]
    photos = await store.attachments(ticket.id)
    assert len(photos) == 1 and photos[0].transition_id == history[2].id
    assert (data_dir / photos[0].path).read_bytes() == JPEG


@pytest.mark.parametrize(
    ("first", "note"),
    [
        (AlertPhase.OPEN, "opened by the alert"),
        (AlertPhase.UPDATE, "opened by an update of the alert"),
        (AlertPhase.EVIDENCE, "opened by the alert's evidence"),
        (AlertPhase.CLOSE, "opened when the alert closed"),
    ],
)
async def test_the_timeline_says_in_words_which_message_opened_the_ticket(
    store: TicketStore, first: AlertPhase, note: str
) -> None:
    # Messages can arrive out of order: whichever comes first opens the ticket.
    ticket = await store.apply(alert("5a11c0ffee5a11c0ffee5a11", phase=first, revision=3))
    assert ticket is not None
    (opened,) = await store.history(ticket.id)
    assert opened.note == note
    assert "5a11" not in opened.note and ":" not in opened.note


async def test_feedback_can_send_a_ticket_back_for_rework(store: TicketStore) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    for to, extra in [(S.ASSIGNED, {}), (S.HANDLED, {}), (S.FEEDBACK, {"satisfaction": 2})]:
        ticket = await store.transition(ticket.id, to, "u", **extra)  # type: ignore[arg-type]
    first_assigned = ticket.assigned_at
    ticket = await store.transition(ticket.id, S.ASSIGNED, "dispatcher", "reporter unhappy")
    assert ticket.state is S.ASSIGNED and ticket.assigned_at == first_assigned
    assert ticket.closed_at is None


ILLEGAL = [
    ([], S.HANDLED, {}),
    ([], S.FEEDBACK, {"satisfaction": 4}),
    ([], S.VERIFIED, {}),
    ([], S.RECEIVED, {}),
    ([S.ASSIGNED], S.VERIFIED, {}),
    ([S.ASSIGNED], S.ASSIGNED, {}),
    ([S.ASSIGNED, S.HANDLED], S.VERIFIED, {}),
    ([S.ASSIGNED, S.HANDLED], S.FEEDBACK, {}),  # feedback needs a score
    ([S.ASSIGNED], S.HANDLED, {"satisfaction": 4}),  # only feedback takes one
    ([S.FALSE_ALARM], S.ASSIGNED, {}),
    ([S.REJECTED], S.RECEIVED, {}),
]


@pytest.mark.parametrize(("path", "to", "extra"), ILLEGAL)
async def test_illegal_transitions_are_refused_and_change_nothing(
    store: TicketStore, path: list[S], to: S, extra: dict[str, int]
) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    for step in path:
        ticket = await store.transition(ticket.id, step, "u")
    before = (ticket, await store.history(ticket.id))
    with pytest.raises(IllegalTransition, match=f"to {to}|satisfaction"):
        await store.transition(ticket.id, to, "u", "nope", **extra)  # type: ignore[arg-type]
    assert (await store.get(ticket.id), await store.history(ticket.id)) == before


async def test_bad_inputs_and_unknown_tickets_are_refused(store: TicketStore) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    with pytest.raises(TicketNotFound):
        await store.transition(ticket.id + 99, S.ASSIGNED, "u")
    with pytest.raises(InvalidInput):
        await store.transition(ticket.id, S.ASSIGNED, "  ")
    with pytest.raises(InvalidInput):
        await store.transition(ticket.id, S.ASSIGNED, "u", "x" * 5000)
    for score in (0, 6):
        with pytest.raises(InvalidInput):
            await store.transition(ticket.id, S.FEEDBACK, "u", satisfaction=score)
    assert (await store.get(ticket.id)).version == 1


async def test_of_two_users_moving_the_same_ticket_one_wins(
    engine: AsyncEngine, data_dir: Path, clock: Clock
) -> None:
    one, two = (TicketStore(engine, data_dir, clock=clock) for _ in range(2))
    ticket = await one.apply(alert())
    assert ticket is not None
    ticket = await one.transition(ticket.id, S.ASSIGNED, "dispatcher")
    seen = ticket.version
    results = await asyncio.gather(
        one.transition(ticket.id, S.HANDLED, "officer.li", expected_version=seen),
        two.transition(ticket.id, S.FALSE_ALARM, "reviewer.chen", expected_version=seen),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Ticket)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], StaleTicket)
    final = await one.get(ticket.id)
    assert final.state is winners[0].state and final.version == seen + 1
    assert [h.to_state for h in await one.history(ticket.id)][-1] is final.state
    assert len(await one.history(ticket.id)) == 3


async def test_many_racing_users_move_a_ticket_once(
    engine: AsyncEngine, data_dir: Path, clock: Clock
) -> None:
    stores = [TicketStore(engine, data_dir, clock=clock) for _ in range(4)]
    ticket = await stores[0].apply(alert())
    assert ticket is not None
    results = await asyncio.gather(
        *(s.transition(ticket.id, S.ASSIGNED, f"user{i}") for i, s in enumerate(stores)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Ticket) for r in results) == 1
    assert all(isinstance(r, TransitionRejected) for r in results if not isinstance(r, Ticket))
    assert len(await stores[0].history(ticket.id)) == 2


async def test_a_stale_version_is_refused(store: TicketStore) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    await store.transition(ticket.id, S.ASSIGNED, "a")
    with pytest.raises(StaleTicket):
        await store.transition(ticket.id, S.HANDLED, "b", expected_version=ticket.version)


# ---- field photos -------------------------------------------------------------------------------


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_photos_are_stored_under_generated_names_with_checksums(
    store: TicketStore, data_dir: Path, tmp_path: Path
) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    hostile = ["../../../escaped.jpg", "/etc/passwd", "..\\..\\x.png", "a/../../b.jpg"]
    photos = [
        Photo(JPEG, "image/jpeg", hostile[0]),
        Photo(PNG, "IMAGE/PNG", hostile[1]),
        Photo(JPEG, "image/jpeg", hostile[2]),
        Photo(PNG, "image/png", hostile[3]),
    ]
    await store.transition(ticket.id, S.ASSIGNED, "officer", attachments=photos)
    stored = await store.attachments(ticket.id)
    assert [a.original_name for a in stored] == hostile
    root = (data_dir / "attachments" / str(ticket.id)).resolve()
    for record, photo in zip(stored, photos, strict=True):
        path = (data_dir / record.path).resolve()
        assert path.parent == root
        assert path.name == record.filename and record.filename not in hostile
        assert path.suffix == (".jpg" if photo.content is JPEG else ".png")
        assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert record.size == len(photo.content)
    assert len(_files_under(data_dir / "attachments")) == 4
    names = {p.name for p in _files_under(tmp_path)}
    assert not names & {"escaped.jpg", "b.jpg", "x.png", "passwd"}


REJECTED_PHOTOS = [
    (Photo(JPEG + bytes(10_000_000), "image/jpeg"), "bytes; at most"),
    (Photo(b"", "image/jpeg"), "empty"),
    (Photo(PNG, "image/jpeg"), "not one"),
    (Photo(b"<html><script>", "image/png"), "not one"),
    (Photo(JPEG, "text/html"), "only JPEG or PNG"),
    (Photo(JPEG, "image/gif"), "only JPEG or PNG"),
]


@pytest.mark.parametrize(("photo", "reason"), REJECTED_PHOTOS)
async def test_bad_photos_are_refused_before_anything_is_written(
    store: TicketStore, data_dir: Path, photo: Photo, reason: str
) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    with pytest.raises(AttachmentRejected, match=reason):
        await store.transition(
            ticket.id, S.ASSIGNED, "officer", attachments=[Photo(JPEG, "image/jpeg"), photo]
        )
    assert (await store.get(ticket.id)).state is S.RECEIVED
    assert _files_under(data_dir / "attachments") == []


async def test_too_many_photos_are_refused(store: TicketStore, data_dir: Path) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    with pytest.raises(AttachmentRejected, match="at most 10"):
        await store.transition(
            ticket.id, S.ASSIGNED, "o", attachments=[Photo(PNG, "image/png")] * 11
        )
    assert _files_under(data_dir / "attachments") == []


async def test_photos_of_a_losing_transition_are_removed(
    engine: AsyncEngine, store: TicketStore, data_dir: Path
) -> None:
    ticket = await store.apply(alert())
    assert ticket is not None
    moved = await store.transition(ticket.id, S.ASSIGNED, "a")
    racing = [
        store.transition(
            ticket.id,
            S.HANDLED,
            f"o{i}",
            attachments=[Photo(JPEG, "image/jpeg")],
            expected_version=moved.version,
        )  # fmt: skip
        for i in range(2)
    ]
    results = await asyncio.gather(*racing, return_exceptions=True)
    assert sum(isinstance(r, StaleTicket) for r in results) == 1
    assert await count(engine, attachments) == 1
    assert len(_files_under(data_dir / "attachments")) == 1
