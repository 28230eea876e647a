"""Sign in, sign out, and who am I.

`POST /api/auth/login` answers 401 for a wrong name or password (the same answer for both),
429 with `Retry-After` after too many failures for that name or from that address. A token
lasts one shift (12 h by default) and is revoked by `POST /api/auth/logout`.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from api.security.deps import AUTH_RESPONSES, AuditDep, SecurityDep, SessionDep, client_address
from api.security.passwords import MAX_LENGTH
from api.security.users import Role

router = APIRouter(prefix="/api/auth", tags=["auth"])

_ERROR = {"application/json": {"example": {"detail": "wrong username or password"}}}


class LoginIn(BaseModel):
    """A username and password."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "li.wei", "password": "a long passphrase"}]},
    )

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class LoginOut(BaseModel):
    """A bearer token, its expiry (epoch s) and who it is for."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "kq3V...",
                    "expires_at": 1767268800.0,
                    "username": "li.wei",
                    "role": "enforcement",
                }  # fmt: skip
            ]
        }
    )

    token: str
    expires_at: float
    username: str
    role: Role


class MeOut(BaseModel):
    """The signed-in user and when the token expires."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "li.wei", "role": "enforcement", "expires_at": 1767268800.0}]
        }
    )

    username: str
    role: Role
    expires_at: float


@router.post(
    "/login",
    summary="Sign in",
    responses={
        401: {"description": "wrong username or password", "content": _ERROR},
        429: {
            "description": "too many failed attempts; wait `Retry-After` seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": _ERROR,
        },
    },
)
async def login(body: LoginIn, request: Request, security: SecurityDep) -> LoginOut:
    """Exchange a username and password for a bearer token."""
    client = client_address(request)
    wait = await security.limiter.retry_after(body.username, client)
    if wait is not None:
        raise HTTPException(
            429, f"too many failed sign-ins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )  # fmt: skip
    user = await security.users.authenticate(body.username, body.password)
    if user is None:
        await security.limiter.failed(body.username, client)
        await security.audit.record(body.username, "", "auth.login_failed", f"user:{body.username}",
                                    client=client)  # fmt: skip
        raise HTTPException(
            401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    await security.limiter.succeeded(body.username)
    issued = await security.tokens.issue(user)
    await security.audit.record(user.username, user.role.value, "auth.login",
                                f"user:{user.username}", client=client)  # fmt: skip
    return LoginOut(token=issued.token, expires_at=issued.expires_at, username=user.username,
                    role=user.role)  # fmt: skip


@router.post("/logout", status_code=204, summary="Sign out", responses=AUTH_RESPONSES)
async def logout(request: Request, security: SecurityDep, trail: AuditDep) -> None:
    """Revoke the token this request carries."""
    header = request.headers.get("authorization", "")
    await security.tokens.revoke(header.partition(" ")[2].strip())
    await trail.record("auth.logout", f"user:{trail.user.username}")


@router.get("/me", summary="Who am I", responses=AUTH_RESPONSES)
async def me(session: SessionDep) -> MeOut:
    """The signed-in user, their role and the token's expiry."""
    return MeOut(username=session.user.username, role=session.user.role,
                 expires_at=session.expires_at)  # fmt: skip
