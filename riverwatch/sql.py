"""SQL engines for the hub's database: SQLite under the data directory, PostgreSQL in production.

Tickets, users and audit, and sensor readings share one database; each stage owns its tables,
and this module the engine they all use. `open_engine(url)` gives an `AsyncEngine` with
timeouts on and, for SQLite, transactions that take the write lock at BEGIN (`BEGIN
IMMEDIATE`). SQLite has one writer at a time; a transaction that reads first and writes later
would otherwise fail with "database is locked" when two of them try to upgrade their locks at
once, instead of waiting its turn. `reader(engine)` marks transactions that only read.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

SQLITE_FILE = "riverwatch.sqlite3"
READ_ONLY = "riverwatch_read_only"
_WAL_RETRY_S = 0.05


def default_url(data_dir: Path) -> str:
    """The default database: one SQLite file under the hub's data directory."""
    return f"sqlite+aiosqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for log lines and errors."""
    return make_url(url).render_as_string(hide_password=True)


def open_engine(url: str | URL, timeout_s: float = 5.0, pool_size: int = 5) -> AsyncEngine:
    """An AsyncEngine for `url` (sqlite+aiosqlite or postgresql+asyncpg), timeouts on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            _use_wal(parsed.database, timeout_s)
        engine = create_async_engine(
            parsed, connect_args={"timeout": timeout_s}, pool_size=pool_size, pool_timeout=timeout_s
        )
        _take_over_sqlite_transactions(engine, timeout_s)
    else:
        engine = create_async_engine(
            parsed,
            connect_args={"timeout": timeout_s, "command_timeout": timeout_s},
            pool_size=pool_size,
            pool_timeout=timeout_s,
            pool_pre_ping=True,
        )
    log.info("database %s", safe_url(parsed))
    return engine


def _use_wal(path: str, timeout_s: float) -> None:
    """Put the database file in WAL mode once, before any connection of ours opens a transaction.

    The mode is kept in the file. Switched on connect instead, a hub's new connection (holding a
    shared lock, waiting for the exclusive one the switch needs) and another hub's migration
    (holding the write lock, waiting to commit) waited on each other until the busy timeout:
    hubs starting together on a new database failed with "database is locked". Two switches at
    once get SQLITE_BUSY at once, without waiting (SQLite sees the deadlock): retried here.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=timeout_s)) as db:
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_S)  # start-up only, and only while another hub switches it


def _take_over_sqlite_transactions(engine: AsyncEngine, timeout_s: float) -> None:
    """SQLAlchemy's recipe: the driver emits no BEGIN; we emit BEGIN IMMEDIATE ourselves."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The file is in WAL mode already (`_use_wal`): readers run beside the one writer.
        # Foreign keys are off by default.
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers (see `reader`) need no lock in WAL mode; writers queue at BEGIN.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) for transactions that only read: on SQLite they do not
    take the write lock. On PostgreSQL the option changes nothing."""
    return engine.execution_options(**{READ_ONLY: True})
