"""The first admin, and users added from the command line; never a default password.

Two ways in:
- the environment: `RIVERWATCH_ADMIN_USER` and `RIVERWATCH_ADMIN_PASSWORD` create that admin
  when the API starts and no enabled admin exists (otherwise they are ignored, so rotating the
  password is done in the app, not by editing the environment). A password under 12
  characters, or one variable without the other, refuses to start (`BootstrapError`);
- the command line: `riverwatch users add NAME --role ROLE` reads the password from a prompt
  (twice) or, when stdin is not a terminal, from its first line (`users_add_command`).
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Callable
from typing import TextIO

from pydantic import SecretStr

from api.security.errors import BootstrapError, SecurityError, UnknownUser, UserExists
from api.security.passwords import check_password
from api.security.users import Role, User, UserStore, check_username
from riverwatch.settings import Settings
from riverwatch.sql import default_url, open_engine

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REFUSED = 0, 2


def admin_from_settings(user: str | None, password: SecretStr | None) -> tuple[str, str] | None:
    """The first admin's name and password from settings, None if neither is set; raises
    BootstrapError (with a message naming the variable) if they cannot be used."""
    if user is None and password is None:
        return None
    if user is None or password is None:
        raise BootstrapError(
            "RIVERWATCH_ADMIN_USER and RIVERWATCH_ADMIN_PASSWORD must be set together"
        )
    try:
        check_username(user)
    except SecurityError as exc:
        raise BootstrapError(f"RIVERWATCH_ADMIN_USER: {exc}") from None
    try:
        check_password(password.get_secret_value())
    except SecurityError as exc:
        raise BootstrapError(f"RIVERWATCH_ADMIN_PASSWORD is unusable: {exc}") from None
    return user, password.get_secret_value()


async def ensure_admin(store: UserStore, username: str, password: str) -> User | None:
    """Create `username` as admin if no enabled admin exists; the new user, or None."""
    if await store.has_admin():
        log.info("security: an admin exists; RIVERWATCH_ADMIN_USER is not used")
        return None
    try:
        existing = await store.get(username)
    except UnknownUser:
        try:
            user = await store.create(username, password, Role.ADMIN)
        except UserExists:  # hubs starting together on one database: another one made it
            if await store.has_admin():
                log.info("security: another hub created the first admin %r", username)
                return None
            raise
        log.info("security: created the first admin %r from the environment", username)
        return user
    if existing.role is Role.ADMIN and not existing.disabled:  # made after our first look
        log.info("security: another hub created the first admin %r", username)
        return None
    raise BootstrapError(
        f"RIVERWATCH_ADMIN_USER {username!r} exists as {existing.role}"
        f"{' (disabled)' if existing.disabled else ''}; no enabled admin exists: "
        "use `riverwatch users add` with another name"
    )


async def add_user(settings: Settings, username: str, role: Role, password: str) -> User:
    """Create a user in the hub's database (the one `settings` names), whose schema the
    caller has brought to head (`riverwatch users add` does)."""
    url = (
        settings.ticket_db_url.get_secret_value()
        if settings.ticket_db_url is not None
        else default_url(settings.data_dir)
    )
    engine = open_engine(url, settings.ticket_db_timeout_s, pool_size=1)
    try:
        return await UserStore(engine).create(username, password, role)
    finally:
        await engine.dispose()


def read_password(stdin: TextIO, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The new password: asked twice at a terminal, else the first line of stdin."""
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = prompt("password: ")
    if prompt("again: ") != first:
        raise BootstrapError("the two passwords differ")
    return first


def users_add_command(
    settings: Settings,
    username: str,
    role: str,
    stdin: TextIO,
    out: Callable[[str], None],
    err: Callable[[str], None],
    prompt: Callable[[str], str] = getpass.getpass,
) -> int:
    """`riverwatch users add NAME --role ROLE`; the exit code. The password is never echoed."""
    if role not in {r.value for r in Role}:
        err(f"riverwatch: unknown role {role!r}; roles: {', '.join(r.value for r in Role)}")
        return EXIT_REFUSED
    try:
        check_username(username)
        password = read_password(stdin, prompt)
        check_password(password)
        user = asyncio.run(add_user(settings, username, Role(role), password))
    except SecurityError as exc:
        err(f"riverwatch: {exc}")
        return EXIT_REFUSED
    out(f"riverwatch: user {user.username!r} added with role {user.role}")
    return EXIT_OK
