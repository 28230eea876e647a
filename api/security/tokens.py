"""Opaque bearer tokens: random, stored only as a SHA-256, expiring, revocable.

A token is 32 random bytes (`secrets.token_urlsafe`); the database keeps its SHA-256, so a
leaked table does not let anyone in (unlike a password, the token has enough entropy that a
fast hash is enough). A token stops working when it expires, when it is revoked (logout), or
when its user is disabled, demoted or given a new password (`revoke_user`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from api.security.tables import tokens, users
from api.security.users import Role, User
from riverwatch.sql import reader

MAX_TOKEN_CHARS = 128  # longer strings are refused without a database round trip


@dataclass(frozen=True)
class IssuedToken:
    """A token as handed to its user, once; only its hash is kept."""

    token: str
    expires_at: float


@dataclass(frozen=True)
class Session:
    """A valid token's user and expiry."""

    user: User
    expires_at: float


class TokenStore:
    """Issue, resolve and revoke tokens; `clock` is injectable so tests can age them."""

    def __init__(
        self, engine: AsyncEngine, ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._reader = reader(engine)  # a lookup on every request: never the write lock
        self._ttl_s = ttl_s
        self._clock = clock

    async def issue(self, user: User) -> IssuedToken:
        """A new token for `user`, valid for the store's time to live."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now + self._ttl_s
        async with self._engine.begin() as conn:
            # Expired rows are useless; dropping them here keeps the table bounded.
            await conn.execute(tokens.delete().where(tokens.c.expires_at < now - 86_400))
            await conn.execute(
                tokens.insert().values(
                    token_sha256=_digest(token), user_id=user.id, created_at=now,
                    expires_at=expires_at,
                )
            )  # fmt: skip
        return IssuedToken(token, expires_at)

    async def resolve(self, token: str) -> Session | None:
        """The session of a valid token, or None (unknown, expired, revoked, user disabled)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        query = (
            sa.select(
                users.c.id,
                users.c.username,
                users.c.role,
                users.c.disabled,
                users.c.created_at,
                tokens.c.expires_at,
            )  # fmt: skip
            .join(users, users.c.id == tokens.c.user_id)
            .where(
                tokens.c.token_sha256 == _digest(token),
                tokens.c.revoked_at.is_(None),
                tokens.c.expires_at > self._clock(),
                users.c.disabled.is_(False),
            )
        )
        async with self._reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        user = User(row.id, row.username, Role(row.role), row.disabled, row.created_at)
        return Session(user, row.expires_at)

    async def revoke(self, token: str) -> bool:
        """Revoke one token (logout); whether it was live."""
        return await self._revoke(tokens.c.token_sha256 == _digest(token[:MAX_TOKEN_CHARS]))

    async def revoke_user(self, user_id: int) -> bool:
        """Revoke every token of a user (disabled, new role, new password)."""
        return await self._revoke(tokens.c.user_id == user_id)

    async def _revoke(self, where: sa.ColumnElement[bool]) -> bool:
        async with self._engine.begin() as conn:
            done = await conn.execute(
                tokens.update()
                .where(where, tokens.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
        return done.rowcount > 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
