"""Incidents for replay: the filtered list, one incident with its track, timeline and evidence,
and reviewers' verdicts (which feed the false-alarm figures of `/api/stats/loop`).

An incident is a ticket seen from the reviewer's side; its id is the ticket id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from alerts.tickets import (
    AttachmentRecord,
    InvalidInput,
    Ticket,
    TicketNotFound,
    TicketQuery,
    TicketState,
    TrackPoint,
    TransitionRecord,
    Verdict,
    VerdictRecord,
)
from api.deps import HubDep, SamplesDep
from api.routes.events import frame_size
from api.routes.labels import label_verdict
from api.security.deps import AUTH_RESPONSES, AuditDep, Reviewer

router = APIRouter(prefix="/api/incidents", tags=["incidents"], responses=AUTH_RESPONSES)

_UNREACHABLE = "the ticket database is unreachable"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such incident"}}

# Ticket ids are 32-bit integers in the database; a larger one is bad input, not a DB error.
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the ticket id")]


class EvidenceLinks(BaseModel):
    """Where the snapshot (JPEG) and clip (MP4, range requests) are served; null until made."""

    snapshot: str | None = Field(examples=["/api/tickets/42/evidence/snapshot"])
    clip: str | None = Field(examples=["/api/tickets/42/evidence/clip"])
    preroll: str | None = Field(
        default=None,
        examples=["/api/tickets/42/evidence/preroll"],
        description="the sub-stream's pre-roll, when the clip is an on_alert main stream's",
    )

    @classmethod
    def of(cls, ticket: Ticket) -> EvidenceLinks:
        """The links of the evidence the ticket has."""
        base = f"/api/tickets/{ticket.id}/evidence"
        return cls(
            snapshot=f"{base}/snapshot" if ticket.snapshot else None,
            clip=f"{base}/clip" if ticket.clip else None,
            preroll=f"{base}/preroll" if ticket.preroll_clip else None,
        )


class VerdictOut(BaseModel):
    """A reviewer's verdict: who gave it, when (epoch seconds) and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"verdict": "confirmed", "actor": "zhao.min", "at": 1764030000.0, "note": ""}
            ]
        }
    )

    verdict: Verdict
    actor: str = Field(examples=["zhao.min"])
    at: float
    note: str

    @classmethod
    def of(cls, record: VerdictRecord) -> VerdictOut:
        """Build from the store's record."""
        return cls(verdict=record.verdict, actor=record.actor, at=record.at, note=record.note)


class IncidentSummary(BaseModel):
    """A row of the incident list."""

    ticket: Ticket
    evidence: EvidenceLinks
    verdict: VerdictOut | None


class IncidentPage(BaseModel):
    """One page of the incident list and how many incidents match in all."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"total": 0, "limit": 50, "offset": 0, "items": []}]}
    )

    total: int
    limit: int
    offset: int
    items: list[IncidentSummary]


class TrackPointOut(BaseModel):
    """Where the incident's box was at `at` (epoch seconds), in analysis pixels."""

    at: float
    box: tuple[int, int, int, int] = Field(examples=[[40, 60, 88, 92]])

    @classmethod
    def of(cls, point: TrackPoint) -> TrackPointOut:
        """Build from the store's point."""
        return cls(at=point.at, box=point.box_xyxy)


class IncidentDetail(BaseModel):
    """Everything the replay page shows of one incident (see `Ticket` for its fields)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "track": [{"at": 1764028800.5, "box": [40, 60, 88, 92]}],
                    "analysis_wh": [320, 180],
                    "verdict": None,
                    "verdicts": [],
                    "transitions": [],
                    "attachments": [],
                }
            ]
        }
    )

    ticket: Ticket
    evidence: EvidenceLinks
    transitions: list[TransitionRecord]
    track: list[TrackPointOut]
    analysis_wh: tuple[int, int] | None = Field(
        examples=[[320, 180]], description="the frame the track's boxes are in (width, height)"
    )
    verdict: VerdictOut | None
    verdicts: list[VerdictOut] = Field(description="every verdict given, oldest first")
    attachments: list[AttachmentRecord]


class VerdictIn(BaseModel):
    """Body of `POST /api/incidents/{id}/verdict`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"verdict": "false_alarm", "note": "a swan, not a boat"}]},
    )

    verdict: Verdict
    note: str = Field(default="", max_length=4000)


def get_actor(user: Reviewer) -> str:
    """Who is giving the verdict: the signed-in reviewer (never a name from the body)."""
    return user.username


ActorDep = Annotated[str, Depends(get_actor)]


@router.get(
    "",
    responses={
        422: {"description": "a bad filter or page"},
        503: {"description": _UNREACHABLE},
    },
)
async def list_incidents(
    _: Reviewer,
    hub: HubDep,
    camera: str | None = Query(default=None, min_length=1, max_length=200),
    group: str | None = Query(default=None, min_length=1, max_length=200),
    rule: str | None = Query(default=None, min_length=1, max_length=100),
    state: TicketState | None = None,
    since: float | None = Query(default=None, ge=0, description="started at or after (epoch s)"),
    until: float | None = Query(default=None, ge=0, description="started before (epoch s)"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> IncidentPage:
    """Incidents matching every filter given, the newest incident first, with their evidence
    links and current verdicts."""
    try:
        query = TicketQuery(camera, group, rule, state, since, until, limit, offset)
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    store = hub.tickets()
    try:
        page = await store.search(query)
        verdicts = await store.verdicts_of([t.id for t in page.tickets])
    except SQLAlchemyError:
        raise HTTPException(503, _UNREACHABLE) from None
    items = [
        IncidentSummary(
            ticket=t,
            evidence=EvidenceLinks.of(t),
            verdict=VerdictOut.of(verdicts[t.id]) if t.id in verdicts else None,
        )
        for t in page.tickets
    ]
    return IncidentPage(total=page.total, limit=limit, offset=offset, items=items)


@router.get("/{incident_id}", responses={**_NOT_FOUND, 503: {"description": _UNREACHABLE}})
async def get_incident(_: Reviewer, hub: HubDep, incident_id: IncidentId) -> IncidentDetail:
    """One incident: the ticket, its transitions, its track over time, its evidence links,
    its field photos and its verdicts."""
    store = hub.tickets()
    try:
        ticket = await store.get(incident_id)
        history = await store.verdict_history(incident_id)
        current = await store.verdict(incident_id)
        return IncidentDetail(
            ticket=ticket,
            evidence=EvidenceLinks.of(ticket),
            transitions=await store.history(incident_id),
            track=[TrackPointOut.of(p) for p in await store.track(incident_id)],
            analysis_wh=frame_size(hub),
            verdict=VerdictOut.of(current) if current is not None else None,
            verdicts=[VerdictOut.of(v) for v in history],
            attachments=await store.attachments(incident_id),
        )
    except TicketNotFound:
        raise HTTPException(404, f"no incident {incident_id}") from None
    except SQLAlchemyError:
        raise HTTPException(503, _UNREACHABLE) from None


@router.post(
    "/{incident_id}/verdict",
    responses={
        **_NOT_FOUND,
        401: {"description": "not signed in"},
        422: {"description": "bad input"},
        503: {"description": _UNREACHABLE},
    },
)
async def give_verdict(
    hub: HubDep,
    samples: SamplesDep,
    trail: AuditDep,
    incident_id: IncidentId,
    body: VerdictIn,
    actor: ActorDep,
) -> VerdictOut:
    """Confirm the incident or mark it a false alarm; a later verdict replaces this one (both
    are kept). The ticket does not move in the loop. The incident's detected box on its
    snapshot becomes a `boat` (confirmed) or `not_boat` (false alarm) label, replacing the
    labels of an earlier verdict."""
    try:
        record = await hub.tickets().set_verdict(incident_id, body.verdict, actor, body.note)
        labelled = await label_verdict(hub, samples, incident_id, record.verdict, actor)
    except TicketNotFound:
        raise HTTPException(404, f"no incident {incident_id}") from None
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    except SQLAlchemyError:
        raise HTTPException(503, _UNREACHABLE) from None
    detail = {"verdict": record.verdict.value, "labels": labelled}
    await trail.record("incident.verdict", f"ticket:{incident_id}", detail)
    return VerdictOut.of(record)
