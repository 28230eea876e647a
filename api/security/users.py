"""Users and their roles, stored in the hub's database.

A user has one role (`Role`); `admin` may do everything. Passwords are kept as scrypt hashes
(`passwords.py`); a disabled user cannot log in and their tokens stop working at once.
The store never lets the last enabled admin be demoted or disabled.
"""

from __future__ import annotations

import asyncio
import enum
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.security.errors import BadUsername, LastAdmin, UnknownUser, UserExists
from api.security.passwords import check_password, dummy_hash, hash_password, verify_password
from api.security.tables import users
from riverwatch.sql import reader

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_USERNAME = re.compile(USERNAME_PATTERN)


class Role(enum.StrEnum):
    """What a user may do (see `api.security.policy` for the table)."""

    OPERATOR = "operator"
    ENFORCEMENT = "enforcement"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    SENSOR_GATEWAY = "sensor-gateway"


@dataclass(frozen=True)
class User:
    """A user as the API sees it (never with the password hash)."""

    id: int
    username: str
    role: Role
    disabled: bool
    created_at: float


def check_username(username: str) -> None:
    """Raise BadUsername unless `username` is 1-64 of [A-Za-z0-9._-], starting alphanumeric."""
    if not _USERNAME.fullmatch(username):
        raise BadUsername("a username is 1-64 letters, digits, '.', '_' or '-'")


class UserStore:
    """Create, find, authenticate and change users.

    >>> store = UserStore(engine)                                # doctest: +SKIP
    >>> await store.create("li", "a long password", Role.ENFORCEMENT)  # doctest: +SKIP
    """

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._reader = reader(engine)  # lookups take no write lock on SQLite
        self._clock = clock

    async def create(self, username: str, password: str, role: Role) -> User:
        """A new enabled user; raises BadUsername, WeakPassword or UserExists."""
        check_username(username)
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        now = self._clock()
        values = {"username": username, "role": role.value, "password_hash": hashed,
                  "disabled": False, "created_at": now, "updated_at": now}  # fmt: skip
        try:
            async with self._engine.begin() as conn:
                await conn.execute(users.insert().values(**values))
        except IntegrityError:
            raise UserExists(f"a user named {username!r} exists") from None
        return await self.get(username)

    async def find(self, username: str) -> User | None:
        """The user with this name, or None."""
        async with self._reader.connect() as conn:
            row = (await conn.execute(_select().where(users.c.username == username))).first()
        return None if row is None else _user(row._mapping)

    async def get(self, username: str) -> User:
        """The user with this name; raises UnknownUser."""
        user = await self.find(username)
        if user is None:
            raise UnknownUser(f"no user named {username[:64]!r}")
        return user

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        async with self._reader.connect() as conn:
            rows = (await conn.execute(_select().order_by(users.c.username))).all()
        return [_user(r._mapping) for r in rows]

    async def authenticate(self, username: str, password: str) -> User | None:
        """The enabled user whose password this is, or None. Takes as long for a name that
        does not exist, so timing does not tell which names do."""
        async with self._reader.connect() as conn:
            query = sa.select(users.c.username, users.c.password_hash, users.c.disabled)
            row = (await conn.execute(query.where(users.c.username == username))).first()
        encoded = dummy_hash() if row is None else row.password_hash
        ok = await asyncio.to_thread(verify_password, password, encoded)
        if row is None or not ok or row.disabled:
            return None
        return await self.find(username)

    async def has_admin(self) -> bool:
        """Whether an enabled admin exists."""
        async with self._reader.connect() as conn:
            return await _enabled_admins(conn) > 0

    async def set_role(self, username: str, role: Role) -> User:
        """Change a user's role; the last enabled admin keeps theirs (LastAdmin)."""
        await self._update(username, {"role": role.value}, demotes=role is not Role.ADMIN)
        return await self.get(username)

    async def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable or re-enable a user; the last enabled admin cannot be disabled."""
        await self._update(username, {"disabled": disabled}, demotes=disabled)
        return await self.get(username)

    async def set_password(self, username: str, password: str) -> User:
        """Replace a user's password; raises WeakPassword or UnknownUser."""
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        await self._update(username, {"password_hash": hashed}, demotes=False)
        return await self.get(username)

    async def _update(self, username: str, values: dict[str, object], demotes: bool) -> None:
        async with self._engine.begin() as conn:
            row = (await conn.execute(_select().where(users.c.username == username))).first()
            if row is None:
                raise UnknownUser(f"no user named {username[:64]!r}")
            current = _user(row._mapping)
            if demotes and current.role is Role.ADMIN and not current.disabled:
                if await _enabled_admins(conn) <= 1:
                    raise LastAdmin(f"{username!r} is the last enabled admin")
            where = users.c.id == current.id
            await conn.execute(
                users.update().where(where).values(updated_at=self._clock(), **values)
            )


async def _enabled_admins(conn: AsyncConnection) -> int:
    query = sa.select(sa.func.count()).where(
        users.c.role == Role.ADMIN.value, users.c.disabled.is_(False)
    )
    return int((await conn.execute(query)).scalar_one())


def _select() -> sa.Select[tuple[int, str, str, bool, float]]:
    return sa.select(users.c.id, users.c.username, users.c.role, users.c.disabled,
                     users.c.created_at)  # fmt: skip


def _user(row: sa.RowMapping) -> User:
    return User(row["id"], row["username"], Role(row["role"]), bool(row["disabled"]),
                row["created_at"])  # fmt: skip
