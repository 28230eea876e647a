"""The city's closed loop as a pure policy: states, the transition table, what a move sets.

    received ─► assigned ─► handled ─► feedback ─► verified
       │           │                      │
       │           ├─► rejected           └─► assigned   (the reporter is not satisfied: rework)
       ├─► rejected└─► false_alarm
       └─► false_alarm

`received` is where every ticket starts. `verified`, `rejected` and `false_alarm` are final
and count as closed. Leaving `received` for any state is the first response (the SLA clock
stops); entering `assigned` for the first time is the intervention the city measures.
Nothing here touches a database: the store asks `check_transition` before it writes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from alerts.tickets.errors import IllegalTransition


class TicketState(enum.StrEnum):
    """Where a ticket stands in the closed loop."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    HANDLED = "handled"
    FEEDBACK = "feedback"
    VERIFIED = "verified"
    REJECTED = "rejected"
    FALSE_ALARM = "false_alarm"


S = TicketState

TRANSITIONS: Mapping[TicketState, frozenset[TicketState]] = {
    S.RECEIVED: frozenset({S.ASSIGNED, S.REJECTED, S.FALSE_ALARM}),
    S.ASSIGNED: frozenset({S.HANDLED, S.REJECTED, S.FALSE_ALARM}),
    S.HANDLED: frozenset({S.FEEDBACK}),
    S.FEEDBACK: frozenset({S.VERIFIED, S.ASSIGNED}),
    S.VERIFIED: frozenset(),
    S.REJECTED: frozenset(),
    S.FALSE_ALARM: frozenset(),
}

CLOSED_STATES: frozenset[TicketState] = frozenset({S.VERIFIED, S.REJECTED, S.FALSE_ALARM})


def allowed_from(state: TicketState) -> frozenset[TicketState]:
    """The states a ticket in `state` may move to."""
    return TRANSITIONS[state]


def check_transition(current: TicketState, to: TicketState, satisfaction: int | None) -> None:
    """Raise IllegalTransition unless the loop allows `current -> to` with this data.

    Moving to `feedback` records the follow-up call, so it needs a satisfaction score; no
    other move takes one.
    """
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final state)"
        raise IllegalTransition(f"cannot move a ticket from {current} to {to}; allowed: {allowed}")
    if (to is S.FEEDBACK) != (satisfaction is not None):
        raise IllegalTransition(
            "moving to feedback needs a satisfaction score (1-5), and only that move takes one"
        )


def is_first_response(current: TicketState) -> bool:
    """Whether leaving `current` is someone picking the ticket up (stops the SLA clock)."""
    return current is S.RECEIVED
