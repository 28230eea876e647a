"""Errors of the ticket store (a branch of the alerts package's tree):

AlertsError (alerts.errors)
 └── TicketsError
      ├── TicketNotFound        no ticket with that id
      ├── TransitionRejected    a state change was refused; the ticket is unchanged
      │    ├── IllegalTransition    the loop does not allow from -> to (or its data is missing)
      │    └── StaleTicket          someone else moved the ticket first (version check)
      ├── AttachmentRejected    a field photo was refused (size, type, magic bytes, count)
      └── InvalidInput          an actor, note or satisfaction score out of bounds

Database failures are not wrapped: they surface as `sqlalchemy.exc.SQLAlchemyError`, which
callers (the stream consumer, the SLA runner) treat as "retry later".
"""

from alerts.errors import AlertsError


class TicketsError(AlertsError):
    """Base of every ticket-store failure."""


class TicketNotFound(TicketsError):
    """No ticket has the given id."""


class TransitionRejected(TicketsError):
    """A state change was refused and nothing was written."""


class IllegalTransition(TransitionRejected):
    """The closed loop does not allow this move from the ticket's current state."""


class StaleTicket(TransitionRejected):
    """The ticket changed since the caller read it: another user moved it first."""


class AttachmentRejected(TicketsError):
    """An attachment is too large, not a JPEG/PNG, or does not match its declared type."""


class InvalidInput(TicketsError):
    """An actor name, note or satisfaction score is missing or out of bounds."""
