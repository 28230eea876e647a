"""Guards as `Annotated` dependencies: who is calling, and may they.

    @router.put("/{camera_id}/decode-mode")
    async def set_mode(user: Operator, trail: AuditDep, ...) -> ...:
        ...
        await trail.record("camera.decode_mode", f"camera:{camera_id}", {"mode": mode})

`CurrentUser` is any signed-in user (401 without a valid token); `require(*roles)` adds a
403 for other roles (admin always passes). Tests swap `get_security` or `current_session`
with `dependency_overrides`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from api.security.audit import AuditLog
from api.security.service import Security
from api.security.tokens import Session
from api.security.users import Role, User

_bearer = HTTPBearer(
    auto_error=False, description="a token from `POST /api/auth/login`", scheme_name="bearer"
)
_query_token = APIKeyQuery(
    name="token",
    auto_error=False,
    description="the same token as a query parameter, GET only (for <video>, <img>, SSE)",
    scheme_name="query_token",
)

Responses = dict[int | str, dict[str, Any]]
"""The `responses=` of a route: documented answers with examples."""


def ok(example: object, status: int = 200, description: str | None = None) -> Responses:
    """A documented success answer with a JSON example."""
    answer: dict[str, Any] = {"content": {"application/json": {"example": example}}}
    if description is not None:
        answer["description"] = description
    return {status: answer}


def error(
    status: int, description: str, example: str = "a message saying what was wrong"
) -> Responses:
    """A documented error answer (`{"detail": ...}`) with an example."""
    content = {"application/json": {"example": {"detail": example}}}
    return {status: {"description": description, "content": content}}


AUTH_RESPONSES: Responses = error(401, "no token, or an expired or revoked one") | error(
    403, "the user's role may not do this"
)


def get_security(request: Request) -> Security:
    """The security services the lifespan opened."""
    security: Security = request.state.security
    return security


SecurityDep = Annotated[Security, Depends(get_security)]


async def current_session(
    request: Request,
    security: SecurityDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    query_token: Annotated[str | None, Depends(_query_token)],
) -> Session:
    """The caller's session; 401 without a valid token."""
    token = bearer.credentials if bearer is not None else None
    if token is None and request.method == "GET":
        token = query_token
    if not token:
        raise _unauthorized("sign in: send `Authorization: Bearer <token>`")
    session = await security.tokens.resolve(token)
    if session is None:
        raise _unauthorized("the token is unknown, expired or revoked: sign in again")
    return session


SessionDep = Annotated[Session, Depends(current_session)]


async def metrics_access(
    request: Request,
    security: SecurityDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """`/metrics` for Prometheus (the static `RIVERWATCH_METRICS_TOKEN`, which never expires)
    or for a signed-in operator or admin; 401 or 403 for the rest."""
    token = bearer.credentials if bearer is not None else ""
    static = security.metrics_token
    if static and token and hmac.compare_digest(token.encode(), static.encode()):
        return
    session = await current_session(request, security, bearer, None)
    if session.user.role not in (Role.OPERATOR, Role.ADMIN):
        raise HTTPException(403, f"the {session.user.role} role may not read the metrics")


MetricsAccess = Annotated[None, Depends(metrics_access)]


async def current_user(session: SessionDep) -> User:
    """The signed-in user."""
    return session.user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> DependsParam:
    """A dependency passing users with one of `roles` (or admin), 403 for the rest."""
    allowed = frozenset(roles) | {Role.ADMIN}
    names = ", ".join(sorted(allowed))

    async def guard(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(403, f"the {user.role} role may not do this (needs: {names})")
        return user

    dependency: DependsParam = Depends(guard)
    return dependency


# The guards the routers use, one per row group of the table in `api.security.policy`.
Operator = Annotated[User, require(Role.OPERATOR)]
CameraReader = Annotated[User, require(Role.OPERATOR, Role.ENFORCEMENT, Role.REVIEWER)]
EventListener = Annotated[User, require(Role.OPERATOR, Role.ENFORCEMENT)]
TicketReader = Annotated[User, require(Role.ENFORCEMENT, Role.REVIEWER)]
TicketMover = TicketReader  # which target states each role may use: `policy.may_move_to`
Reviewer = Annotated[User, require(Role.REVIEWER)]
Officer = Annotated[User, require(Role.ENFORCEMENT)]  # phone alerts (Web Push)
SensorGateway = Annotated[User, require(Role.SENSOR_GATEWAY)]
Admin = Annotated[User, require()]


@dataclass(frozen=True)
class AuditTrail:
    """The audit log bound to this request's user and client address."""

    log: AuditLog
    user: User
    client: str

    async def record(
        self, action: str, target: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Record one change made by this request's user."""
        await self.log.record(
            self.user.username, self.user.role.value, action, target, detail, self.client
        )


async def audit_trail(request: Request, security: SecurityDep, user: CurrentUser) -> AuditTrail:
    """The request's audit trail."""
    return AuditTrail(security.audit, user, client_address(request))


AuditDep = Annotated[AuditTrail, Depends(audit_trail)]


def client_address(request: Request) -> str:
    """The peer address (uvicorn's proxy-headers setting decides whether to trust XFF)."""
    return request.client.host if request.client is not None else ""


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
