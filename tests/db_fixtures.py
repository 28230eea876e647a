"""Database fixtures: a private PostgreSQL 15 cluster per session, and an `engine` fixture
parametrised over SQLite and PostgreSQL.

`tests/conftest.py` makes `engine` and `postgres_cluster` available to every test. PostgreSQL
tests share one database, emptied (TRUNCATE ... RESTART IDENTITY) after each test. PostgreSQL
refuses to run as root, so initdb and pg_ctl run as the `postgres` system user, in a temporary
directory that user owns, listening on 127.0.0.1 on a free port with trust authentication (the
cluster is private to the test run and gone when it ends). Durability is switched off (fsync,
synchronous_commit): these tests are about concurrency and SQL, not crash safety.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tickets import default_url, open_engine
from hub.migrations import TARGET_METADATA
from hub.schema import upgrade
from tests.ports import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
SHARED_DB = "riverwatch"  # the `engine` fixture's database, emptied after every test


@dataclass(frozen=True)
class PostgresCluster:
    """A running private cluster with the database `riverwatch`; tests that need a database
    of their own can create and drop one."""

    port: int
    root: Path

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, database="postgres", timeout=30
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        return name

    async def drop_database(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres(*args: str) -> None:
    cmd = ["runuser", "-u", PG_USER, "--", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """initdb + pg_ctl start as the postgres user; stopped and deleted after the session."""
    root = Path(tempfile.mkdtemp(prefix="riverwatch-pg-"))
    os.chmod(root, 0o755)
    shutil.chown(root, PG_USER, PG_USER)
    data, sockets, log = root / "data", root / "sock", root / "postgres.log"
    _as_postgres("mkdir", "-p", str(sockets))
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust",
                 "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
    port = free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
    )
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                 "-w", "-t", "60", "start")  # fmt: skip
    try:
        _as_postgres(str(PG_BIN / "createdb"), "-h", str(sockets), "-p", str(port),
                     "-U", PG_USER, SHARED_DB)  # fmt: skip
        yield PostgresCluster(port=port, root=root)
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60",
                     "stop")  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The hub's database at head, made by the migrations: SQLite under tmp_path, or the
    session cluster's shared PostgreSQL database (migrated once), truncated after the test
    (cheaper than a new database per test on a busy machine)."""
    postgres = request.param == "postgresql"
    if postgres:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = cluster.url(SHARED_DB)
    else:
        url = default_url(tmp_path / "data")
    engine = open_engine(url, timeout_s=10.0)
    try:
        await upgrade(engine)
        yield engine
        if postgres:
            names = ", ".join(f'"{t.name}"' for m in TARGET_METADATA for t in m.sorted_tables)
            async with engine.begin() as conn:
                await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


async def drop_schema(engine: AsyncEngine) -> None:
    """Drop every table the migrations made, and their revision: the database is empty."""
    async with engine.begin() as conn:
        for metadata in TARGET_METADATA:
            await conn.run_sync(metadata.drop_all)
        await conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
