"""What the ticket store hands out: frozen dataclasses, never database rows or dicts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import RowMapping

from alerts.tickets.loop import TicketState
from riverwatch.types import Severity


@dataclass(frozen=True, slots=True)
class Ticket:
    """One incident's ticket: the alert's facts, its place in the loop and its SLA clock.

    Times are Unix epoch seconds. `version` changes with every state change; pass it back as
    `expected_version` to move the ticket only if nobody else has since.
    """

    id: int
    alert_id: str
    source: str
    camera_id: str
    sensor_id: str
    group: str
    zone_id: str
    rule: str
    severity: Severity
    priority: int
    state: TicketState
    version: int
    created_at: float
    due_at: float
    first_response_at: float | None
    assigned_at: float | None
    assignee: str | None
    closed_at: float | None
    escalated_at: float | None
    escalation_level: int
    started_at: float
    observed_at: float
    ended_at: float | None
    revision: int
    frame_seq: int
    score: float
    box_xyxy: tuple[int, int, int, int]
    note: str
    snapshot: str
    snapshot_sha256: str
    clip: str
    clip_sha256: str
    preroll_clip: str = ""  # an on_alert camera's sub-stream pre-roll, before the main clip
    preroll_clip_sha256: str = ""

    @classmethod
    def from_row(cls, row: RowMapping) -> Ticket:
        """Build from a `tickets` row mapping."""
        plain = {name: row[name] for name in _PLAIN_TICKET_FIELDS}
        box = (int(row["x1"]), int(row["y1"]), int(row["x2"]), int(row["y2"]))
        return cls(
            state=TicketState(row["state"]),
            severity=Severity(row["severity"]),
            box_xyxy=box,
            **plain,
        )


_PLAIN_TICKET_FIELDS = tuple(
    f.name for f in dataclasses.fields(Ticket) if f.name not in ("state", "severity", "box_xyxy")
)


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One recorded move in the loop: who, when, from where to where, and why."""

    id: int
    ticket_id: int
    from_state: TicketState | None  # None for the ticket's creation
    to_state: TicketState
    actor: str
    at: float
    note: str


@dataclass(frozen=True, slots=True)
class Photo:
    """A field photo handed in with a transition; `filename` is kept for display only."""

    content: bytes
    content_type: str
    filename: str = ""


@dataclass(frozen=True, slots=True)
class AttachmentRecord:
    """A stored attachment; `path` is relative to the data directory."""

    id: int
    ticket_id: int
    transition_id: int
    filename: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    path: str


@dataclass(frozen=True, slots=True)
class Escalation:
    """A ticket nobody picked up within its SLA, escalated to `level` (1, 2, ...)."""

    ticket_id: int
    alert_id: str
    camera_id: str
    rule: str
    level: int
    priority: int
    due_at: float
    at: float
