"""Tickets: alerts from the queue become tickets that follow the city's closed loop.

Public surface: `TicketStore` (apply alerts, move tickets, read them), the loop's
`TicketState` and transition table, reviewers' `Verdict`s, the incident `TrackPoint`s and the
replay list's `TicketQuery`, `SlaPolicy` / `Escalator` / `EscalationRunner` (the
one-hour intervention rule), `loop_figures` (the published figures), the engine helpers
`open_engine` / `default_url`, the records it returns, the `TicketsError` tree, and its
tables' `metadata` (for the hub's migrations: the tables themselves stay private).
"""

from alerts.tickets.attachments import AttachmentStore
from alerts.tickets.db import default_url, open_engine, safe_url
from alerts.tickets.errors import (
    AttachmentRejected,
    IllegalTransition,
    InvalidInput,
    StaleTicket,
    TicketNotFound,
    TicketsError,
    TransitionRejected,
)
from alerts.tickets.loop import CLOSED_STATES, TRANSITIONS, TicketState, allowed_from
from alerts.tickets.models import metadata
from alerts.tickets.records import AttachmentRecord, Escalation, Photo, Ticket, TransitionRecord
from alerts.tickets.review import Verdict, VerdictRecord
from alerts.tickets.search import TicketPage, TicketQuery
from alerts.tickets.sla import EscalationRunner, Escalator, Notifier, SlaPolicy
from alerts.tickets.stats import GroupFigures, LoopFigures, loop_figures
from alerts.tickets.store import TicketStore
from alerts.tickets.track import MAX_TRACK_POINTS, TrackPoint

__all__ = [
    "CLOSED_STATES",
    "MAX_TRACK_POINTS",
    "TRANSITIONS",
    "AttachmentRecord",
    "AttachmentRejected",
    "AttachmentStore",
    "Escalation",
    "EscalationRunner",
    "Escalator",
    "GroupFigures",
    "IllegalTransition",
    "InvalidInput",
    "LoopFigures",
    "Notifier",
    "Photo",
    "SlaPolicy",
    "StaleTicket",
    "Ticket",
    "TicketNotFound",
    "TicketPage",
    "TicketQuery",
    "TicketState",
    "TicketStore",
    "TicketsError",
    "TrackPoint",
    "TransitionRecord",
    "TransitionRejected",
    "Verdict",
    "VerdictRecord",
    "allowed_from",
    "default_url",
    "loop_figures",
    "metadata",
    "open_engine",
    "safe_url",
]
