"""Users (admin only): list, create, change role, disable or re-enable, reset a password.

A change of role, a disable or a new password revokes the user's tokens, so it takes effect at
once. The last enabled admin cannot be demoted or disabled (409).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.security.deps import AUTH_RESPONSES, Admin, AuditDep, SecurityDep, error, ok
from api.security.errors import BadUsername, LastAdmin, UnknownUser, UserExists, WeakPassword
from api.security.passwords import MAX_LENGTH
from api.security.users import USERNAME_PATTERN, Role, User

router = APIRouter(prefix="/api/users", tags=["users"], responses=AUTH_RESPONSES)

_USER_EXAMPLE: dict[str, JsonValue] = {
    "username": "li.wei", "role": "enforcement", "disabled": False, "created_at": 1767225600.0
}  # fmt: skip
_NOT_FOUND = error(404, "no such user")
_LAST_ADMIN = error(409, "it would leave no enabled admin")
Username = Annotated[str, Path(min_length=1, max_length=64)]


class UserOut(BaseModel):
    """A user, without any secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [_USER_EXAMPLE]})

    username: str
    role: Role
    disabled: bool
    created_at: float

    @classmethod
    def of(cls, user: User) -> UserOut:
        """From the store's user."""
        return cls(username=user.username, role=user.role, disabled=user.disabled,
                   created_at=user.created_at)  # fmt: skip


class UserIn(BaseModel):
    """A new user; the password needs at least 12 characters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"username": "li.wei", "password": "a long passphrase", "role": "enforcement"}
            ]
        },
    )

    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=12, max_length=MAX_LENGTH)
    role: Role


class RoleIn(BaseModel):
    """A new role."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "reviewer"}]}
    )

    role: Role


class DisabledIn(BaseModel):
    """Disable (true) or re-enable (false)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"disabled": True}]})

    disabled: bool


class PasswordIn(BaseModel):
    """A new password, at least 12 characters."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"password": "another long passphrase"}]}
    )

    password: str = Field(min_length=12, max_length=MAX_LENGTH)


@router.get("", summary="List users")
async def list_users(_: Admin, security: SecurityDep) -> list[UserOut]:
    """Every user, by name."""
    return [UserOut.of(u) for u in await security.users.list_users()]


@router.post(
    "",
    status_code=201,
    summary="Create a user",
    responses=ok(_USER_EXAMPLE, 201) | error(409, "the username is taken"),
)
async def create_user(body: UserIn, _: Admin, security: SecurityDep, trail: AuditDep) -> UserOut:
    """Add a user with a role and an initial password."""
    try:
        user = await security.users.create(body.username, body.password, body.role)
    except UserExists as exc:
        raise HTTPException(409, str(exc)) from None
    except (BadUsername, WeakPassword) as exc:
        raise HTTPException(422, str(exc)) from None
    await trail.record("user.create", f"user:{user.username}", {"role": user.role.value})
    return UserOut.of(user)


@router.put("/{username}/role", summary="Change a user's role", responses=_NOT_FOUND | _LAST_ADMIN)
async def set_role(
    username: Username, body: RoleIn, _: Admin, security: SecurityDep, trail: AuditDep
) -> UserOut:
    """Give a user another role; their tokens are revoked."""
    try:
        before = await security.users.get(username)
        user = await security.users.set_role(username, body.role)
    except UnknownUser as exc:
        raise HTTPException(404, str(exc)) from None
    except LastAdmin as exc:
        raise HTTPException(409, str(exc)) from None
    await security.tokens.revoke_user(user.id)
    detail = {"from": before.role.value, "to": user.role.value}
    await trail.record("user.role", f"user:{user.username}", detail)
    return UserOut.of(user)


@router.put(
    "/{username}/disabled",
    summary="Disable or re-enable a user",
    responses=_NOT_FOUND | _LAST_ADMIN,
)
async def set_disabled(
    username: Username, body: DisabledIn, _: Admin, security: SecurityDep, trail: AuditDep
) -> UserOut:
    """A disabled user cannot sign in and their tokens are revoked."""
    try:
        user = await security.users.set_disabled(username, body.disabled)
    except UnknownUser as exc:
        raise HTTPException(404, str(exc)) from None
    except LastAdmin as exc:
        raise HTTPException(409, str(exc)) from None
    if body.disabled:
        await security.tokens.revoke_user(user.id)
    action = "user.disable" if body.disabled else "user.enable"
    await trail.record(action, f"user:{user.username}")
    return UserOut.of(user)


@router.put("/{username}/password", summary="Reset a user's password", responses=_NOT_FOUND)
async def reset_password(
    username: Username, body: PasswordIn, _: Admin, security: SecurityDep, trail: AuditDep
) -> UserOut:
    """Set a new password (tell the user out of band); their tokens are revoked."""
    try:
        user = await security.users.set_password(username, body.password)
    except UnknownUser as exc:
        raise HTTPException(404, str(exc)) from None
    except WeakPassword as exc:
        raise HTTPException(422, str(exc)) from None
    await security.tokens.revoke_user(user.id)
    await trail.record("user.password_reset", f"user:{user.username}")
    return UserOut.of(user)
