"""Labels for the crop verifier, given by reviewers: on the `/label` page (a detected box marked
boat or not, a missed boat drawn) and by verdicts (`label_verdict`, called by the verdict
route). Boxes are in the pixels of the incident's snapshot; the store is `alerts.labels`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from sqlalchemy.exc import SQLAlchemyError

from alerts.labels import (
    BadSample,
    Draft,
    Image,
    Label,
    Sample,
    SampleNotFound,
    SampleStore,
    Source,
    detected_boxes,
    verdict_drafts,
)
from alerts.tickets import Ticket, TicketNotFound, Verdict
from api.deps import HubDep, SamplesDep
from api.hubview import HubView
from api.routes.events import frame_size
from api.security.deps import AUTH_RESPONSES, AuditDep, Reviewer, error

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/labels", tags=["labels"], responses=AUTH_RESPONSES)

_UNREACHABLE = "the ticket database is unreachable"
TicketId = Annotated[int, Query(ge=1, le=2**31 - 1, description="the incident's ticket id")]
SampleId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="the label's id")]
BoxList = Annotated[list[int], Field(min_length=4, max_length=4, examples=[[120, 340, 410, 520]])]


_SAMPLE: JsonDict = {
    "id": "3f2a9c1d0b7e4a56",
    "ticket_id": 42,
    "box_xyxy": [120, 340, 410, 520],
    "label": "boat",
    "source": "page",
    "user": "zhao.min",
    "ts": 1767225600.0,
}


class SampleOut(BaseModel):
    """One labelled box, in the snapshot's pixels."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SAMPLE]})

    id: str
    ticket_id: int | None
    box_xyxy: tuple[int, int, int, int]
    label: Label
    source: Source
    user: str
    ts: float

    @classmethod
    def of(cls, sample: Sample) -> SampleOut:
        """Build from the store's sample."""
        return cls(id=sample.id, ticket_id=sample.ticket_id, box_xyxy=sample.box_xyxy,
                   label=sample.label, source=sample.source, user=sample.user,
                   ts=sample.ts)  # fmt: skip


class IncidentLabels(BaseModel):
    """What the labelling page shows of one incident."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticket_id": 42,
                    "camera_id": "heng-007",
                    "snapshot": "/api/tickets/42/evidence/snapshot",
                    "image_wh": [1920, 1080],
                    "detected": [[120, 340, 410, 520]],
                    "samples": [_SAMPLE],
                }
            ]
        }
    )

    ticket_id: int
    camera_id: str
    snapshot: str | None = Field(description="where the snapshot is served; null if none")
    image_wh: tuple[int, int] | None = Field(description="the snapshot's size (width, height)")
    detected: list[tuple[int, int, int, int]] = Field(description="detected boxes, image px")
    samples: list[SampleOut]


class LabelIn(BaseModel):
    """Body of `POST /api/labels`: a box on the incident's snapshot (image pixels, exclusive
    ends) and what it holds."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"ticket_id": 42, "box_xyxy": [120, 340, 410, 520], "label": "boat"}]
        },
    )

    ticket_id: int = Field(ge=1, le=2**31 - 1)
    box_xyxy: BoxList
    label: Label


class CountsOut(BaseModel):
    """How many labels stand, by label, by source and by both."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 3,
                    "by_label": {"boat": 2, "not_boat": 1},
                    "by_source": {"verdict": 1, "page": 2},
                    "by_label_source": {"boat": {"page": 2}, "not_boat": {"verdict": 1}},
                }
            ]
        }
    )

    total: int
    by_label: dict[str, int]
    by_source: dict[str, int]
    by_label_source: dict[str, dict[str, int]]


async def _ticket(hub: HubView, ticket_id: int) -> Ticket:
    try:
        return await hub.tickets().get(ticket_id)
    except TicketNotFound:
        raise HTTPException(404, f"no incident {ticket_id}") from None
    except SQLAlchemyError:
        raise HTTPException(503, _UNREACHABLE) from None


async def _image(hub: HubView, samples: SampleStore, ticket: Ticket) -> Image | None:
    """The incident's snapshot in the label store (copied on first use), or None."""
    if not ticket.snapshot:
        return None
    base = hub.data_dir.resolve()
    path = (base / ticket.snapshot).resolve()
    if not path.is_relative_to(base):
        return None
    try:
        # Real alert ids are 24 hex digits; a hash keeps any other id a safe file name.
        name = hashlib.sha256(ticket.alert_id.encode()).hexdigest()[:24]
        return await samples.adopt_image(path, name)
    except BadSample as exc:
        log.info("labels: ticket %d: no usable snapshot (%s)", ticket.id, exc)
        return None


async def label_verdict(
    hub: HubView, samples: SampleStore, ticket_id: int, verdict: Verdict, user: str
) -> int:
    """Make the incident's detected boxes `boat` (confirmed) or `not_boat` (false alarm)
    samples, replacing its earlier verdict samples; how many were made (0 without a snapshot
    or without the analysis frame size to scale by)."""
    ticket = await hub.tickets().get(ticket_id)
    image = await _image(hub, samples, ticket)
    analysis_wh = frame_size(hub)
    drafts: list[Draft] = []
    if image is not None and analysis_wh is not None:
        track = await hub.tickets().track(ticket_id)
        drafts = verdict_drafts(ticket, track, verdict, analysis_wh, image, user)

    def earlier(sample: Sample) -> bool:
        return sample.ticket_id == ticket_id and sample.source is Source.VERDICT

    made = await samples.replace(earlier, drafts, user)
    return len(made)


@router.get(
    "",
    responses={**error(404, "no such incident"), **error(503, _UNREACHABLE)},
)
async def incident_labels(
    _: Reviewer, hub: HubDep, samples: SamplesDep, ticket: TicketId
) -> IncidentLabels:
    """One incident's snapshot, its detected boxes and the labels given on it."""
    found = await _ticket(hub, ticket)
    image = await _image(hub, samples, found)
    analysis_wh = frame_size(hub)
    detected = []
    if image is not None and analysis_wh is not None:
        try:
            track = await hub.tickets().track(ticket)
        except SQLAlchemyError:
            raise HTTPException(503, _UNREACHABLE) from None
        detected = detected_boxes(found, track, analysis_wh, image)
    return IncidentLabels(
        ticket_id=found.id,
        camera_id=found.camera_id,
        snapshot=f"/api/tickets/{found.id}/evidence/snapshot" if image is not None else None,
        image_wh=image.wh if image is not None else None,
        detected=detected,
        samples=[SampleOut.of(s) for s in await samples.for_ticket(found.id)],
    )


@router.post(
    "",
    status_code=201,
    responses={
        **error(404, "no such incident"),
        **error(422, "a box outside the snapshot, an empty box, a bad label, no snapshot"),
        **error(503, _UNREACHABLE),
    },
)
async def add_label(
    user: Reviewer, hub: HubDep, samples: SamplesDep, trail: AuditDep, body: LabelIn
) -> SampleOut:
    """Label a box on the incident's snapshot (a detected one, or a missed boat drawn)."""
    ticket = await _ticket(hub, body.ticket_id)
    image = await _image(hub, samples, ticket)
    if image is None:
        raise HTTPException(422, f"incident {ticket.id} has no snapshot to label")
    x0, y0, x1, y1 = body.box_xyxy
    try:
        draft = Draft(ticket.camera_id, image, (x0, y0, x1, y1), body.label, Source.PAGE,
                      user.username, ticket.id, ticket.alert_id)  # fmt: skip
    except BadSample as exc:
        raise HTTPException(422, str(exc)) from None
    sample = await samples.add(draft)
    detail = {"ticket": ticket.id, "label": sample.label.value, "box": list(sample.box_xyxy)}
    await trail.record("label.add", f"label:{sample.id}", detail)
    return SampleOut.of(sample)


@router.get("/counts")
async def label_counts(_: Reviewer, samples: SamplesDep) -> CountsOut:
    """How many labels the site has, by label (boat, not_boat) and source (verdict, page)."""
    counts = await samples.counts()
    return CountsOut(total=counts.total, by_label=counts.by_label, by_source=counts.by_source,
                     by_label_source=counts.by_label_source)  # fmt: skip


@router.delete("/{label_id}", status_code=204, responses=error(404, "no such label"))
async def remove_label(
    user: Reviewer, samples: SamplesDep, trail: AuditDep, label_id: SampleId
) -> Response:
    """Remove a label (one from a verdict too: a later verdict makes that incident's again)."""
    try:
        removed = await samples.remove(label_id, user.username)
    except SampleNotFound:
        raise HTTPException(404, f"no label {label_id}") from None
    detail = {"ticket": removed.ticket_id, "label": removed.label.value}
    await trail.record("label.remove", f"label:{label_id}", detail)
    return Response(status_code=204)
