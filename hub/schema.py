"""The hub database's schema, under Alembic: migrate it, read its revision, check it at start.

A database is in one of five states (`SchemaState`):

- EMPTY: none of the hub's tables and no revision: brand new;
- LEGACY: the hub's tables but no `alembic_version`: made by riverwatch before migrations,
  whose start-up ran `metadata.create_all`;
- BEHIND: at a revision older than this riverwatch's head;
- CURRENT: at head;
- UNKNOWN: at a revision this riverwatch's scripts do not hold (a newer release migrated it).

`upgrade(engine)` (`riverwatch db upgrade`) brings EMPTY, LEGACY and BEHIND to head. A LEGACY
database is adopted first: every baseline table it has must have every baseline column, the
baseline tables it lacks are created (as the old start-up would have), and it is stamped at the
baseline; then it is upgraded like any other, its rows untouched.

`ensure_schema(engine)` runs when the hub starts: CURRENT goes on, EMPTY is brought to head
(nothing to lose, and the old start-up created its tables too: the demo, the single box and a
fresh PostgreSQL under docker compose start with no extra step), anything else raises
`SchemaError` naming `riverwatch db upgrade`. Changing a database that holds data is a
deliberate step (back up first), never a side effect of a start.

Both run under one lock per database, so hubs starting together (and a `db upgrade` beside
them) take turns: on PostgreSQL a transaction-scoped advisory lock, on SQLite the write lock
that `riverwatch.sql.open_engine`'s `BEGIN IMMEDIATE` takes. Each one reads the state again
once it holds the lock, and migrates in that same transaction, so a second hub finds the first
one's work done. Engines come from `riverwatch.sql.open_engine`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.migrations import SCRIPT_LOCATION
from hub.migrations.baseline import BASELINE_REVISION, baseline_metadata
from riverwatch.settings import Settings
from riverwatch.sql import default_url, safe_url

log = logging.getLogger(__name__)

UPGRADE_COMMAND = "riverwatch db upgrade"
# One key for the hub's migrations in any database it shares ("rivrwtch" as eight bytes).
LOCK_KEY = int.from_bytes(b"rivrwtch", "big") >> 1
LOCK_POLL_S = 0.2
LOCK_WAIT_S = 600.0

T = TypeVar("T")


class SchemaError(Exception):
    """The database's schema cannot be used or migrated as it is; the message says why and
    what to run. It names the database with its password masked."""


class SchemaState(enum.Enum):
    """Where a database stands against this riverwatch's migrations (see the module doc)."""

    EMPTY = "empty"
    LEGACY = "legacy"
    BEHIND = "behind"
    CURRENT = "current"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SchemaStatus:
    """A database's state, the revisions its `alembic_version` holds, and the scripts' head."""

    state: SchemaState
    revisions: tuple[str, ...]
    head: str

    def describe(self) -> str:
        """One line for people: the state and the revisions."""
        at = ", ".join(self.revisions) or "no revision"
        return f"{self.state.value} ({at}; head {self.head})"


def database_url(settings: Settings) -> str:
    """The hub's database: `RIVERWATCH_TICKET_DB_URL`, else SQLite under the data dir."""
    if settings.ticket_db_url is not None:
        return settings.ticket_db_url.get_secret_value()
    return default_url(settings.data_dir)


async def status(engine: AsyncEngine, lock_wait_s: float = LOCK_WAIT_S) -> SchemaStatus:
    """The database's schema state (read under the lock: never a half-migrated one)."""
    return await _under_lock(engine, _status, lock_wait_s)


async def upgrade(
    engine: AsyncEngine, lock_wait_s: float = LOCK_WAIT_S
) -> tuple[SchemaStatus, SchemaStatus]:
    """Bring the database to head (adopting a LEGACY one); the status before and after.
    Raises SchemaError for an UNKNOWN revision or a LEGACY table that lacks columns."""
    before, after = await _under_lock(engine, _upgrade, lock_wait_s)
    if before.state is not SchemaState.CURRENT:
        log.info(
            "schema: %s upgraded from %s to %s",
            safe_url(engine.url),
            before.describe(),
            after.describe(),
        )
    return before, after


async def ensure_schema(engine: AsyncEngine, lock_wait_s: float = LOCK_WAIT_S) -> SchemaStatus:
    """At start: go on at head, migrate a brand-new database, else raise SchemaError that
    names `riverwatch db upgrade`."""
    found = await _under_lock(engine, _ensure, lock_wait_s)
    if found.state is not SchemaState.CURRENT:
        raise SchemaError(refusal(found, safe_url(engine.url)))
    return found


def refusal(found: SchemaStatus, where: str) -> str:
    """Why the hub will not start on this database, and the command to run."""
    at = ", ".join(found.revisions)
    if found.state is SchemaState.LEGACY:
        why = "has the hub's tables but no schema revision (made before migrations)"
        todo = f"run `{UPGRADE_COMMAND}` to adopt it (nothing is lost)"
    elif found.state is SchemaState.UNKNOWN:
        why = f"is at schema revision {at}, which this riverwatch does not know"
        todo = f"run the newer riverwatch that made it, or install it and run `{UPGRADE_COMMAND}`"
    else:
        why = f"is at schema revision {at or 'none'}, older than this riverwatch's {found.head}"
        todo = f"back it up, then run `{UPGRADE_COMMAND}`"
    return f"the database {where} {why}: {todo}"


async def _under_lock(
    engine: AsyncEngine, work: Callable[[Connection], T], lock_wait_s: float
) -> T:
    """`work` in one transaction that holds the migration lock; committed if it returns."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await _advisory_lock(conn, lock_wait_s)
        return await conn.run_sync(work)


async def _advisory_lock(conn: AsyncConnection, wait_s: float) -> None:
    """Take the transaction-scoped advisory lock, polling: a blocking `pg_advisory_xact_lock`
    would be cut by the driver's command timeout while another hub migrates. Released at
    commit or rollback, so it cannot stay behind in a pooled connection."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    query = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
    while not (await conn.execute(query, {"key": LOCK_KEY})).scalar_one():
        if loop.time() > deadline:
            raise SchemaError(
                f"the database {safe_url(conn.engine.url)}: another process held the "
                f"migration lock for {wait_s:g} s"
            )
        await asyncio.sleep(LOCK_POLL_S)


def _config(connection: Connection) -> Config:
    """Alembic's configuration, made in code: the scripts in the package, our connection."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def _status(connection: Connection) -> SchemaStatus:
    script = ScriptDirectory.from_config(_config(connection))
    head = script.get_current_head()
    assert head is not None, "the migration scripts have no head"
    known = {s.revision for s in script.walk_revisions()}
    revisions = tuple(MigrationContext.configure(connection).get_current_heads())
    if not revisions:
        tables = set(sa.inspect(connection).get_table_names())
        ours = tables & set(baseline_metadata().tables)
        state = SchemaState.LEGACY if ours else SchemaState.EMPTY
    elif not set(revisions) <= known:
        state = SchemaState.UNKNOWN
    else:
        state = SchemaState.CURRENT if revisions == (head,) else SchemaState.BEHIND
    return SchemaStatus(state, revisions, head)


def _upgrade(connection: Connection) -> tuple[SchemaStatus, SchemaStatus]:
    before = _status(connection)
    if before.state is SchemaState.UNKNOWN:
        raise SchemaError(refusal(before, safe_url(connection.engine.url)))
    if before.state is SchemaState.LEGACY:
        _adopt(connection)
    if before.state is not SchemaState.CURRENT:
        command.upgrade(_config(connection), "head")
    return before, _status(connection)


def _ensure(connection: Connection) -> SchemaStatus:
    found = _status(connection)
    if found.state is SchemaState.EMPTY:
        log.info("schema: %s is empty; creating it at %s", safe_url(connection.engine.url),
                 found.head)  # fmt: skip
        command.upgrade(_config(connection), "head")
        return _status(connection)
    return found


def _adopt(connection: Connection) -> None:
    """Stamp a database made by the old `create_all` at the baseline, after checking it."""
    baseline = baseline_metadata()
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    lacking = [
        f"{table.name}.{column}"
        for table in baseline.sorted_tables
        if table.name in present
        for column in sorted(
            set(table.columns.keys()) - {c["name"] for c in inspector.get_columns(table.name)}
        )
    ]
    if lacking:
        raise SchemaError(
            f"the database {safe_url(connection.engine.url)} has the hub's tables without a "
            f"schema revision, but lacks columns the first revision has: {', '.join(lacking)}; "
            "it was not made by riverwatch's create_all, so it is left as it is"
        )
    missing = [t for t in baseline.sorted_tables if t.name not in present]
    if missing:
        # The old start-up made each stage's tables when that stage first ran.
        log.info("schema: adding %s", ", ".join(t.name for t in missing))
        baseline.create_all(connection, tables=missing, checkfirst=False)
    command.stamp(_config(connection), BASELINE_REVISION)
    log.info("schema: adopted %s at %s", safe_url(connection.engine.url), BASELINE_REVISION)
