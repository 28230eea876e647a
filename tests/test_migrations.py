"""Schema migrations (hub/schema.py, hub/migrations/) on real SQLite files and the real
PostgreSQL cluster of tests/db_fixtures.py.

The database made before migrations is kept as DDL text (tests/legacy_schema/), produced by
the old `metadata.create_all`, so later changes to the code's tables cannot change it.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from api.security.users import UserStore
from hub.cli import schema_refusal
from hub.migrations import TARGET_METADATA
from hub.schema import (
    UPGRADE_COMMAND,
    SchemaError,
    SchemaState,
    SchemaStatus,
    ensure_schema,
    refusal,
    status,
    upgrade,
)
from riverwatch.settings import Settings
from riverwatch.sql import default_url, open_engine
from tests.db_fixtures import PostgresCluster

LEGACY = Path(__file__).parent / "legacy_schema"
HEAD = "0004_config_versions"
REPO = Path(__file__).resolve().parent.parent

# Rows in every kind of table, as a hub before migrations left them.
ROWS = [
    'INSERT INTO tickets (alert_id, source, camera_id, sensor_id, "group", zone_id, rule, '
    "severity, priority, state, version, created_at, due_at, escalation_level, started_at, "
    "observed_at, revision, frame_seq, score, x1, y1, x2, y2, note, snapshot, snapshot_sha256, "
    "clip, clip_sha256) VALUES "
    "('a-1', 'camera', 'heng-007', '', 'heng', 'ban', 'vessel_in_zone', 'high', 1, 'received', "
    "1, 100.0, 3700.0, 0, 99.0, 100.0, 0, 5, 0.8, 1, 2, 3, 4, '', '', '', '', ''), "
    "('a-2', 'sensor', '', 'turb-1', 'heng', '', 'threshold', 'medium', 2, 'assigned', "
    "2, 200.0, 3800.0, 0, 199.0, 200.0, 0, 0, 0.5, 0, 0, 0, 0, '', '', '', '', '')",
    "INSERT INTO transitions (ticket_id, from_state, to_state, actor, at, note) VALUES "
    "(1, NULL, 'received', 'hub', 100.0, ''), (2, 'received', 'assigned', 'li', 210.0, 'go')",
    "INSERT INTO applied_messages (message_id, alert_id, applied_at) VALUES ('m-1', 'a-1', 100.0)",
    "INSERT INTO users (username, role, password_hash, disabled, created_at, updated_at) VALUES "
    "('chief', 'admin', 'scrypt$x', false, 1.0, 1.0), "
    "('li', 'operator', 'scrypt$y', true, 2.0, 2.0)",
    "INSERT INTO api_tokens (token_sha256, user_id, created_at, expires_at) VALUES "
    "('ab12', 1, 1.0, 99999.0)",
    "INSERT INTO audit_log (at, username, role, action, target, detail, client) VALUES "
    "(5.0, 'chief', 'admin', 'user.create', 'li', '{}', '127.0.0.1')",
    "INSERT INTO sensor_readings (sensor_id, ts, value, unit, received_at) VALUES "
    "('turb-1', 10.0, 37.5, 'NTU', 11.0), ('turb-1', 20.0, 38.0, 'NTU', 21.0), "
    "('lvl-1', 10.0, 3.2, 'm', 11.0)",
]
COUNTED = ["tickets", "transitions", "applied_messages", "users", "api_tokens", "audit_log",
           "sensor_readings"]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield default_url(tmp_path / "data")
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = asyncio.run(cluster.create_database())
    try:
        yield cluster.url(name)
    finally:
        asyncio.run(cluster.drop_database(name))


@pytest.fixture
async def fresh(fresh_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(fresh_url, timeout_s=30.0)
    try:
        yield engine
    finally:
        await engine.dispose()


def _legacy_ddl(dialect: str) -> list[str]:
    text = (LEGACY / f"{dialect}.sql").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def _make_legacy(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for statement in _legacy_ddl(engine.dialect.name):
            await conn.exec_driver_sql(statement)
        for statement in ROWS:
            await conn.execute(sa.text(statement))


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            t: (await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one()
            for t in COUNTED
        }


def _schema_diff(conn: Connection) -> list[object]:
    """What autogenerate would change to make the database match the stages' tables."""
    return list(compare_metadata(MigrationContext.configure(conn), list(TARGET_METADATA)))


async def _diff(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as conn:
        return await conn.run_sync(_schema_diff)


async def test_a_new_database_is_migrated_to_exactly_the_stages_tables(
    fresh: AsyncEngine,
) -> None:
    before, after = await upgrade(fresh)
    assert (before.state, after.state) == (SchemaState.EMPTY, SchemaState.CURRENT)
    assert after.revisions == (HEAD,)
    assert await _diff(fresh) == []
    again = await upgrade(fresh)  # at head: nothing to do
    assert again[0].state is SchemaState.CURRENT and again[1].revisions == (HEAD,)


# What the revisions after the baseline add to the tables.
AFTER_BASELINE = {
    ("add_column", "tickets", "preroll_clip"),
    ("add_column", "tickets", "preroll_clip_sha256"),
    ("add_table", "push_subscriptions", ""),
    ("add_table", "config_versions", ""),
}


def _changes(diff: list[object]) -> set[tuple[str, str, str]]:
    """(operation, table, column) of each difference autogenerate found."""
    out = set()
    for d in diff:
        op = d[0]  # type: ignore[index]
        if op == "add_table":
            out.add((op, d[1].name, ""))  # type: ignore[index]
        elif op == "add_index":
            out.add((op, d[1].table.name, d[1].name))  # type: ignore[index]
        else:
            out.add((op, d[2], d[3].name))  # type: ignore[index]
    return out


async def test_the_old_schema_is_the_baseline(fresh: AsyncEngine) -> None:
    """The DDL the old create_all emitted differs from the code's tables only by what the
    later revisions add."""
    await _make_legacy(fresh)
    diff = await _diff(fresh)
    changes = _changes(diff)
    changes.discard(("add_index", "push_subscriptions", "ix_push_subscriptions_username"))
    assert changes == AFTER_BASELINE, diff


async def test_a_database_made_before_migrations_is_adopted_with_nothing_lost(
    fresh: AsyncEngine,
) -> None:
    await _make_legacy(fresh)
    counts = await _counts(fresh)
    assert counts == {"tickets": 2, "transitions": 2, "applied_messages": 1, "users": 2,
                      "api_tokens": 1, "audit_log": 1, "sensor_readings": 3}  # fmt: skip
    with pytest.raises(SchemaError, match=f"`{UPGRADE_COMMAND}` to adopt it"):
        await ensure_schema(fresh)  # the hub does not start on it
    before, after = await upgrade(fresh)
    assert (before.state, after.state) == (SchemaState.LEGACY, SchemaState.CURRENT)
    assert await _counts(fresh) == counts
    assert (await UserStore(fresh).get("chief")).role.value == "admin"
    assert await _diff(fresh) == []
    assert (await ensure_schema(fresh)).state is SchemaState.CURRENT


async def test_a_database_with_only_the_users_gets_the_other_tables(tmp_path: Path) -> None:
    """`riverwatch users add` before the first `run` left only the security tables."""
    engine = open_engine(default_url(tmp_path), timeout_s=30.0)
    try:
        async with engine.begin() as conn:
            for statement in _legacy_ddl("sqlite"):
                if any(t in statement for t in ("users", "api_tokens", "audit_log")):
                    await conn.exec_driver_sql(statement)
            await conn.execute(sa.text(ROWS[3]))
        before, after = await upgrade(engine)
        assert (before.state, after.state) == (SchemaState.LEGACY, SchemaState.CURRENT)
        assert (await _counts(engine))["users"] == 2
        assert await _diff(engine) == []
    finally:
        await engine.dispose()


async def test_a_table_lacking_a_column_is_refused_and_left_alone(tmp_path: Path) -> None:
    engine = open_engine(default_url(tmp_path), timeout_s=30.0)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(64) NOT NULL)"
            )
        with pytest.raises(SchemaError, match=r"lacks columns .*users\.disabled"):
            await upgrade(engine)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert tables == ["users"]  # no alembic_version, no other table
    finally:
        await engine.dispose()


async def test_an_unknown_revision_is_refused_at_start_and_by_upgrade(
    fresh: AsyncEngine,
) -> None:
    await upgrade(fresh)
    async with fresh.begin() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    found = await status(fresh)
    assert found.state is SchemaState.UNKNOWN and found.revisions == ("0099_future",)
    with pytest.raises(SchemaError, match="0099_future, which this riverwatch does not know"):
        await ensure_schema(fresh)
    with pytest.raises(SchemaError, match=UPGRADE_COMMAND):
        await upgrade(fresh)


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (SchemaStatus(SchemaState.LEGACY, (), HEAD), "no schema revision"),
        (SchemaStatus(SchemaState.BEHIND, ("0001",), "0002"), "0001, older than .* 0002"),
        (SchemaStatus(SchemaState.UNKNOWN, ("0099",), HEAD), "0099, which .* does not know"),
    ],
)
def test_every_refusal_names_the_command(found: SchemaStatus, expected: str) -> None:
    message = refusal(found, "sqlite+aiosqlite:///x")
    assert f"`{UPGRADE_COMMAND}`" in message
    assert message.startswith("the database sqlite+aiosqlite:///x ")
    assert re.search(expected, message), message


async def test_a_brand_new_database_is_made_at_start(fresh: AsyncEngine) -> None:
    found = await ensure_schema(fresh)
    assert found.state is SchemaState.CURRENT and found.revisions == (HEAD,)
    assert await _diff(fresh) == []


def test_the_command_line_refuses_a_legacy_database_naming_the_command(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    async def legacy() -> None:
        engine = open_engine(default_url(settings.data_dir))
        try:
            await _make_legacy(engine)
        finally:
            await engine.dispose()

    asyncio.run(legacy())
    message = schema_refusal(settings)
    assert message is not None and f"run `{UPGRADE_COMMAND}`" in message


async def test_hubs_starting_together_take_turns(fresh_url: str) -> None:
    """Three hubs (three engines, as three processes have) start on one empty database."""
    engines = [open_engine(fresh_url, timeout_s=30.0) for _ in range(3)]
    try:
        found = await asyncio.gather(*(ensure_schema(e) for e in engines))
        assert {f.state for f in found} == {SchemaState.CURRENT}
        upgraded = await asyncio.gather(*(upgrade(e) for e in engines))
        assert {after.revisions for _, after in upgraded} == {(HEAD,)}
        async with engines[0].connect() as conn:
            versions = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert versions.scalars().all() == [HEAD]
        assert await _diff(engines[0]) == []
    finally:
        for engine in engines:
            await engine.dispose()


def test_three_upgrade_processes_on_one_postgresql(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """`riverwatch db upgrade` three times at once: all succeed, the schema is at head (the
    old create_all raced here: UniqueViolationError on pg_type_typname_nsp_index)."""
    name = asyncio.run(postgres_cluster.create_database())
    try:
        env = {**os.environ, "RIVERWATCH_TICKET_DB_URL": postgres_cluster.url(name),
               "RIVERWATCH_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
        command = [sys.executable, "-m", "hub.cli", "db", "upgrade"]
        runs = [
            subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(3)
        ]
        results = [(run.wait(timeout=100), *run.communicate()) for run in runs]
        assert [code for code, _, _ in results] == [0, 0, 0], results
        assert all(f"now current ({HEAD}" in out for _, out, _ in results), results
        current = subprocess.run([*command[:-1], "current"], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=100)  # fmt: skip
        assert current.returncode == 0 and f"current ({HEAD}" in current.stdout
    finally:
        asyncio.run(postgres_cluster.drop_database(name))
