"""Tickets: the closed loop received -> assigned -> handled -> feedback -> verified.

Moves are multipart forms so field photos can travel with them; `expected_version` (from the
ticket as last read) makes a move fail with 409 if someone else moved the ticket first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse

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

router = APIRouter(prefix="/api/tickets", tags=["tickets"])

_MAX_PHOTOS = 10
_READ_LIMIT = 64 * 2**20  # a photo past the store's own limit is refused; this bounds memory
_EVIDENCE_TYPES = {"snapshot": "image/jpeg", "clip": "video/mp4"}


@router.get("")
async def list_tickets(
    hub: HubDep,
    state: TicketState | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[Ticket]:
    """Tickets, most urgent first, optionally in one state."""
    return await hub.tickets().list_tickets(state, limit)


@router.get("/{ticket_id}", responses={404: {"description": "no such ticket"}})
async def get_ticket(hub: HubDep, ticket_id: int) -> TicketDetail:
    """One ticket with its transitions and attachments."""
    store = hub.tickets()
    try:
        ticket = await store.get(ticket_id)
    except TicketNotFound:
        raise HTTPException(404, f"no ticket {ticket_id}") from None
    history: list[TransitionRecord] = await store.history(ticket_id)
    files: list[AttachmentRecord] = await store.attachments(ticket_id)
    return TicketDetail(ticket=ticket, history=history, attachments=files)


@router.post(
    "/{ticket_id}/transitions",
    responses={
        404: {"description": "no such ticket"},
        409: {"description": "not allowed from the ticket's state, or moved by someone else"},
        413: {"description": "a photo is too large"},
        415: {"description": "a photo is not JPEG or PNG"},
        422: {"description": "bad input"},
    },
)
async def move_ticket(
    hub: HubDep,
    ticket_id: int,
    to: Annotated[TicketState, Form()],
    actor: Annotated[str, Form(min_length=1, max_length=100)],
    note: Annotated[str, Form(max_length=4000)] = "",
    expected_version: Annotated[int | None, Form()] = None,
    satisfaction: Annotated[int | None, Form(ge=1, le=5)] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Ticket:
    """Move a ticket in the loop with a note and field photos."""
    if photos is not None and len(photos) > _MAX_PHOTOS:
        raise HTTPException(413, f"at most {_MAX_PHOTOS} photos per move")
    attachments = [
        Photo(await upload.read(_READ_LIMIT), upload.content_type or "", upload.filename or "")
        for upload in photos or []
    ]
    try:
        return await hub.tickets().transition(
            ticket_id, to, actor, note, attachments, expected_version, satisfaction
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


@router.get(
    "/{ticket_id}/evidence/{kind}",
    responses={404: {"description": "no such ticket or no such evidence yet"}},
    response_class=FileResponse,
)
async def evidence(hub: HubDep, ticket_id: int, kind: str) -> FileResponse:
    """The ticket's snapshot (JPEG) or clip (MP4, with HTTP range requests for scrubbing)."""
    if kind not in _EVIDENCE_TYPES:
        raise HTTPException(404, "evidence is `snapshot` or `clip`")
    try:
        ticket = await hub.tickets().get(ticket_id)
    except TicketNotFound:
        raise HTTPException(404, f"no ticket {ticket_id}") from None
    relative = ticket.snapshot if kind == "snapshot" else ticket.clip
    path = _inside(hub.data_dir, relative)
    if path is None:
        raise HTTPException(404, f"ticket {ticket_id} has no {kind} yet")
    return FileResponse(path, media_type=_EVIDENCE_TYPES[kind])


def _inside(root: Path, relative: str) -> Path | None:
    """The file `relative` names under `root`, or None if it is missing or would escape it."""
    if not relative:
        return None
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path
