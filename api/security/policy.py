"""Who may call what. `admin` may call everything; anonymous callers get 401 except where
marked *open*. A role not listed gets 403.

| Method | Path                                      | Roles (besides admin)                      |
|--------|-------------------------------------------|--------------------------------------------|
| GET    | /healthz, /readyz                         | open                                       |
| GET    | /openapi.json, /docs, /redoc              | open (the API's shape, no data)            |
| POST   | /api/auth/login                           | open (rate-limited)                        |
| POST   | /api/auth/logout                          | any signed-in user                         |
| GET    | /api/auth/me                              | any signed-in user                         |
| GET    | /api/cameras, /api/cameras/{id}           | operator, enforcement, reviewer            |
| PUT    | /api/cameras/{id}/decode-mode             | operator                                   |
| GET    | /api/alerts                               | operator                                   |
| POST   | /api/live/{camera_id}/offer               | operator                                   |
| GET    | /api/live/{camera_id}/snapshot.jpg        | operator                                   |
| GET    | /api/live/stats                           | operator                                   |
| GET    | /api/events                               | operator, enforcement (the inbox is live)  |
| GET    | /api/suppressions                         | operator                                   |
| POST   | /api/suppressions                         | operator                                   |
| DELETE | /api/suppressions/{id}                    | operator                                   |
| GET    | /api/sensors/{id}/readings                | operator                                   |
| POST   | /api/sensors/readings                     | sensor-gateway                             |
| GET    | /api/tickets, /api/tickets/{id}           | enforcement, reviewer                      |
| POST   | /api/tickets/{id}/transitions             | enforcement, reviewer: by target state ↓   |
|        |   to assigned, handled, feedback          | enforcement                                |
|        |   to false_alarm, verified, rejected      | reviewer                                   |
| GET    | /api/tickets/{id}/evidence/{kind}         | enforcement, reviewer                      |
| GET    | /api/stats/loop                           | reviewer                                   |
| GET    | /api/audit                                | reviewer                                   |
| GET    | /api/users                                | (admin only)                               |
| POST   | /api/users                                | (admin only)                               |
| PUT    | /api/users/{username}/role                | (admin only)                               |
| PUT    | /api/users/{username}/disabled            | (admin only)                               |
| PUT    | /api/users/{username}/password            | (admin only)                               |

Cameras are readable by enforcement and reviewers too: the inbox and the replay page name a
ticket's camera and filter by group. GET routes also take `?token=` (for `<video>`, `<img>`
and EventSource, which cannot send headers). Guards are the `require(...)` dependencies of
`api.security.deps`; `tests/test_api_roles.py` checks every row against the running app.
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts.tickets import TicketState
from api.security.users import Role

S = TicketState

# Who may move a ticket into each state (admin always may).
TRANSITION_ROLES: Mapping[TicketState, frozenset[Role]] = {
    S.ASSIGNED: frozenset({Role.ENFORCEMENT}),
    S.HANDLED: frozenset({Role.ENFORCEMENT}),
    S.FEEDBACK: frozenset({Role.ENFORCEMENT}),
    S.FALSE_ALARM: frozenset({Role.REVIEWER}),
    S.VERIFIED: frozenset({Role.REVIEWER}),
    S.REJECTED: frozenset({Role.REVIEWER}),
    S.RECEIVED: frozenset(),
}


def may_move_to(role: Role, to: TicketState) -> bool:
    """Whether `role` may move a ticket into state `to`."""
    return role is Role.ADMIN or role in TRANSITION_ROLES[to]
