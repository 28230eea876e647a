"""Tickets: the closed loop received -> assigned -> handled -> feedback -> verified.

Moves are multipart forms so field photos can travel with them; `expected_version` (from the
ticket as last read) makes a move fail with 409 if someone else moved the ticket first. The
move's actor is the signed-in user (the old `actor` form field is accepted and ignored);
which role may move a ticket into which state is `api.security.policy.TRANSITION_ROLES`.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, UploadFile
from fastapi.responses import FileResponse

from alerts.evidence import ObjectStoreError
from alerts.tickets import (
    AttachmentRecord,
    AttachmentRejected,
    IllegalTransition,
    InvalidInput,
    Photo,
    StaleTicket,
    Ticket,
    TicketNotFound,
    TicketState,
    TransitionRecord,
)
from api.deps import HubDep
from api.schemas import TicketDetail
from api.security import Role, Security
from api.security.deps import AUTH_RESPONSES, AuditDep, SecurityDep, TicketMover, TicketReader
from api.security.errors import UnknownUser
from api.security.policy import may_move_to

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/tickets", tags=["tickets"], responses=AUTH_RESPONSES)

_MAX_PHOTOS = 10
_READ_LIMIT = 64 * 2**20  # a photo past the store's own limit is refused; this bounds memory
_EVIDENCE_TYPES = {"snapshot": "image/jpeg", "clip": "video/mp4", "preroll": "video/mp4"}
# Ids past 64-bit range would overflow the database driver: refuse them as input.
TicketId = Annotated[int, Path(ge=1, le=2**62)]

TICKET_EXAMPLE = {
    "id": 12, "alert_id": "jinsha-001:ban:vessel_in_zone:1767225590", "source": "camera",
    "camera_id": "jinsha-001", "sensor_id": "", "group": "jinsha", "zone_id": "ban",
    "rule": "vessel_in_zone", "severity": "high", "priority": 2, "state": "assigned",
    "version": 2, "created_at": 1767225601.0, "due_at": 1767229201.0,
    "first_response_at": 1767225900.0, "assigned_at": 1767225900.0, "assignee": "li.wei",
    "closed_at": None,
    "escalated_at": None, "escalation_level": 0, "started_at": 1767225590.0,
    "observed_at": 1767225640.0, "ended_at": 1767225700.0, "revision": 3, "frame_seq": 1520,
    "score": 0.87, "box_xyxy": [112, 60, 168, 92], "note": "",
    "snapshot": "evidence/2026-01-01/jinsha-001-1767225590.jpg", "snapshot_sha256": "9f2c...",
    "clip": "evidence/2026-01-01/jinsha-001-1767225590.mp4", "clip_sha256": "41ab...",
    "preroll_clip": "", "preroll_clip_sha256": "",
}  # fmt: skip
_DETAIL_EXAMPLE = {
    "ticket": TICKET_EXAMPLE,
    "history": [
        {"id": 30, "ticket_id": 12, "from_state": None, "to_state": "received",
         "actor": "hub", "at": 1767225601.0, "note": ""},
        {"id": 31, "ticket_id": 12, "from_state": "received", "to_state": "assigned",
         "actor": "li.wei", "at": 1767225900.0, "note": "on my way"},
    ],
    "attachments": [
        {"id": 5, "ticket_id": 12, "transition_id": 31, "filename": "5.jpg",
         "original_name": "pier.jpg", "content_type": "image/jpeg", "size": 81234,
         "sha256": "c0ff...", "path": "attachments/12/5.jpg"},
    ],
}  # fmt: skip
_ERR = {"application/json": {"example": {"detail": "a message saying what was wrong"}}}


def _ok(example: object) -> dict[str, object]:
    return {"content": {"application/json": {"example": example}}}


@router.get("", summary="List tickets", responses={200: _ok([TICKET_EXAMPLE])})
async def list_tickets(
    _: TicketReader,
    hub: HubDep,
    state: TicketState | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[Ticket]:
    """Tickets, most urgent first, optionally in one state."""
    return await hub.tickets().list_tickets(state, limit)


@router.get(
    "/{ticket_id}",
    summary="One ticket with its history",
    responses={200: _ok(_DETAIL_EXAMPLE), 404: {"description": "no such ticket", "content": _ERR}},
)
async def get_ticket(_: TicketReader, hub: HubDep, ticket_id: TicketId) -> TicketDetail:
    """One ticket with its transitions and attachments."""
    store = hub.tickets()
    try:
        ticket = await store.get(ticket_id)
    except TicketNotFound:
        raise HTTPException(404, f"no ticket {ticket_id}") from None
    history: list[TransitionRecord] = await store.history(ticket_id)
    files: list[AttachmentRecord] = await store.attachments(ticket_id)
    return TicketDetail(ticket=ticket, history=history, attachments=files)


_MOVE_EXAMPLE = {"to": "handled", "note": "boat towed to the pier", "expected_version": "2"}


@router.post(
    "/{ticket_id}/transitions",
    summary="Move a ticket in the loop",
    openapi_extra={
        "requestBody": {"content": {"multipart/form-data": {"example": _MOVE_EXAMPLE}}}
    },
    responses={
        200: _ok(TICKET_EXAMPLE),
        403: {"description": "the user's role may not move a ticket into that state",
              "content": _ERR},
        404: {"description": "no such ticket", "content": _ERR},
        409: {"description": "not allowed from the ticket's state, or moved by someone else",
              "content": _ERR},
        413: {"description": "a photo is too large", "content": _ERR},
        415: {"description": "a photo is not JPEG or PNG", "content": _ERR},
        422: {"description": "bad input", "content": _ERR},
    },
)  # fmt: skip
async def move_ticket(
    user: TicketMover,
    hub: HubDep,
    trail: AuditDep,
    security: SecurityDep,
    ticket_id: TicketId,
    to: Annotated[TicketState, Form()],
    actor: Annotated[
        str | None, Form(max_length=100, deprecated=True, description="ignored: the signed-in user")
    ] = None,
    note: Annotated[str, Form(max_length=4000)] = "",
    expected_version: Annotated[int | None, Form()] = None,
    satisfaction: Annotated[int | None, Form(ge=1, le=5)] = None,
    assignee: Annotated[
        str | None,
        Form(max_length=64, description="with `to=assigned`: the team member (default: you)"),
    ] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Ticket:
    """Move a ticket in the loop with a note and field photos, as the signed-in user.
    Enforcement moves to assigned, handled and feedback; reviewers give the verdicts
    (verified, false_alarm, rejected); admins may do both."""
    if not may_move_to(user.role, to):
        raise HTTPException(403, f"the {user.role} role may not move a ticket to {to}")
    if photos is not None and len(photos) > _MAX_PHOTOS:
        raise HTTPException(413, f"at most {_MAX_PHOTOS} photos per move")
    if assignee:
        await _check_assignee(security, assignee)
    attachments = [
        Photo(await upload.read(_READ_LIMIT), upload.content_type or "", upload.filename or "")
        for upload in photos or []
    ]
    try:
        ticket = await hub.tickets().transition(
            ticket_id,
            to,
            user.username,
            note,
            attachments,
            expected_version,
            satisfaction,
            assignee or None,
        )
    except TicketNotFound:
        raise HTTPException(404, f"no ticket {ticket_id}") from None
    except (IllegalTransition, StaleTicket) as exc:
        raise HTTPException(409, str(exc)) from None
    except AttachmentRejected as exc:
        reason = str(exc)
        status = 413 if "at most" in reason else 422 if "empty" in reason else 415
        raise HTTPException(status, reason) from None
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    detail = {"to": to.value, "version": ticket.version, "photos": len(attachments)}
    if ticket.assignee and to is TicketState.ASSIGNED:
        detail["assignee"] = ticket.assignee
    await trail.record("ticket.transition", f"ticket:{ticket_id}", detail)
    return ticket


@router.get(
    "/{ticket_id}/evidence/{kind}",
    summary="A ticket's snapshot or clip",
    responses={
        200: {
            "description": "the file; clips answer HTTP range requests (206)",
            "content": {
                "image/jpeg": {"example": "(JPEG bytes)"},
                "video/mp4": {"example": "(MP4 bytes)"},
            },
        },
        404: {"description": "no such ticket or no such evidence yet", "content": _ERR},
        503: {"description": "the shared evidence store does not answer", "content": _ERR},
    },  # fmt: skip
    response_class=FileResponse,
)
async def evidence(
    _: TicketReader, hub: HubDep, ticket_id: TicketId, kind: Annotated[str, Path(max_length=16)]
) -> FileResponse:
    """The ticket's snapshot (JPEG), clip or pre-roll clip (MP4, with HTTP range requests for
    scrubbing; `preroll` exists for a camera whose main stream opened with the incident)."""
    if kind not in _EVIDENCE_TYPES:
        raise HTTPException(404, "evidence is `snapshot`, `clip` or `preroll`")
    try:
        ticket = await hub.tickets().get(ticket_id)
    except TicketNotFound:
        raise HTTPException(404, f"no ticket {ticket_id}") from None
    relative = {"snapshot": ticket.snapshot, "clip": ticket.clip}.get(kind, ticket.preroll_clip)
    try:
        path = await hub.stored_file(relative) if relative else None
    except ObjectStoreError as exc:
        log.warning("ticket %s %s: %s", ticket_id, kind, exc)
        raise HTTPException(503, f"ticket {ticket_id}'s {kind} is in the shared evidence store, "
                            "which does not answer now; try again") from None  # fmt: skip
    if path is None:
        raise HTTPException(404, f"ticket {ticket_id} has no {kind} yet")
    return FileResponse(path, media_type=_EVIDENCE_TYPES[kind])


@router.get(
    "/{ticket_id}/attachments/{attachment_id}",
    summary="A field photo of a ticket",
    responses={
        200: {
            "description": "the photo as it was handed in",
            "content": {"image/jpeg": {"example": "(JPEG bytes)"}, "image/png": {}},
        },
        404: {"description": "no such ticket or photo", "content": _ERR},
        503: {"description": "the shared store does not answer", "content": _ERR},
    },  # fmt: skip
    response_class=FileResponse,
)
async def attachment(
    _: TicketReader,
    hub: HubDep,
    ticket_id: TicketId,
    attachment_id: Annotated[int, Path(ge=1, le=2**62)],
) -> FileResponse:
    """One of the photos the field team attached to the ticket's moves."""
    try:
        records = await hub.tickets().attachments(ticket_id)
    except TicketNotFound:
        raise HTTPException(404, f"no ticket {ticket_id}") from None
    record = next((r for r in records if r.id == attachment_id), None)
    try:
        path = await hub.stored_file(record.path) if record is not None else None
    except ObjectStoreError as exc:
        log.warning("ticket %s photo %s: %s", ticket_id, attachment_id, exc)
        raise HTTPException(503, f"ticket {ticket_id}'s photo {attachment_id} is in the shared "
                            "store, which does not answer now; try again") from None  # fmt: skip
    if record is None or path is None:
        raise HTTPException(404, f"ticket {ticket_id} has no photo {attachment_id}")
    return FileResponse(path, media_type=record.content_type)


async def _check_assignee(security: Security, assignee: str) -> None:
    """An assignee is an enabled member of the enforcement team (or an admin)."""
    try:
        member = await security.users.get(assignee)
    except UnknownUser:
        raise HTTPException(422, f"no user named {assignee[:64]!r} to assign to") from None
    if member.disabled or member.role not in (Role.ENFORCEMENT, Role.ADMIN):
        raise HTTPException(422, f"{assignee!r} is not an active member of the enforcement team")
