"""Sensor readings in a relational database (SQLAlchemy Core, async; SQLite or PostgreSQL).

The table `sensor_readings` lives in this module's own `MetaData`, so the sensors package owns
its schema whatever else shares the engine; the hub's Alembic migrations make and change it.
A reading is keyed by (sensor_id, ts): a reading sent twice (an MQTT redelivery, an HTTP
retry) is stored once. Every call has a timeout and raises
`SensorStoreError` on a database failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, Double, Index, MetaData, String, Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.sensors.errors import SensorStoreError
from ingest.sensors.reading import Reading
from riverwatch.sql import reader

metadata = MetaData()

sensor_readings = Table(
    "sensor_readings",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("ts", Double, primary_key=True),
    Column("value", Double, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("received_at", Double, nullable=False),
    Index("ix_sensor_readings_ts", "ts"),
)


class SensorStore:
    """Readings stored with retention by age.

    >>> # store = SensorStore(create_async_engine("sqlite+aiosqlite:///data/hub.db"))
    >>> # await store.insert(readings, received_at=time.time())
    """

    def __init__(self, engine: AsyncEngine, timeout_s: float = 5.0) -> None:
        self._engine = engine
        self._reader = reader(engine)  # reads take no write lock on SQLite
        self._timeout_s = timeout_s

    async def insert(self, readings: Sequence[Reading], received_at: float) -> None:
        """Store readings in one transaction; ones already stored are skipped."""
        if not readings:
            return
        rows = [
            {
                "sensor_id": r.sensor_id,
                "ts": r.ts,
                "value": r.value,
                "unit": r.unit,
                "received_at": received_at,
            }
            for r in readings
        ]
        with _store_errors("store readings"):
            async with asyncio.timeout(self._timeout_s), self._engine.begin() as conn:
                await conn.execute(self._insert_ignoring_duplicates(), rows)

    async def recent(self, sensor_id: str, since: float, limit: int = 1000) -> list[Reading]:
        """One sensor's readings at or after `since`, oldest first, at most `limit`."""
        query = (
            select(sensor_readings.c.ts, sensor_readings.c.value, sensor_readings.c.unit)
            .where(sensor_readings.c.sensor_id == sensor_id, sensor_readings.c.ts >= since)
            .order_by(sensor_readings.c.ts)
            .limit(limit)
        )
        with _store_errors("read readings"):
            async with asyncio.timeout(self._timeout_s), self._reader.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [Reading(sensor_id, row.ts, row.value, row.unit) for row in rows]

    async def since(self, since: float, limit: int = 100_000) -> list[Reading]:
        """Every sensor's readings at or after `since`, oldest first (to warm rule history)."""
        table = sensor_readings
        query = (
            select(table.c.sensor_id, table.c.ts, table.c.value, table.c.unit)
            .where(table.c.ts >= since)
            .order_by(table.c.ts)
            .limit(limit)
        )
        with _store_errors("read readings"):
            async with asyncio.timeout(self._timeout_s), self._reader.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [Reading(row.sensor_id, row.ts, row.value, row.unit) for row in rows]

    async def purge(self, before: float) -> int:
        """Delete readings older than `before`; returns how many went."""
        with _store_errors("purge old readings"):
            async with asyncio.timeout(self._timeout_s), self._engine.begin() as conn:
                result = await conn.execute(
                    delete(sensor_readings).where(sensor_readings.c.ts < before)
                )
        return max(result.rowcount, 0)

    def _insert_ignoring_duplicates(self) -> Any:
        dialect = self._engine.dialect.name
        if dialect == "sqlite":
            return sqlite.insert(sensor_readings).on_conflict_do_nothing()
        if dialect == "postgresql":
            return postgresql.insert(sensor_readings).on_conflict_do_nothing()
        return insert(sensor_readings)


@contextmanager
def _store_errors(doing: str) -> Iterator[None]:
    # Driver errors can quote connection URLs; keep only their class name.
    try:
        yield
    except TimeoutError:
        raise SensorStoreError(f"could not {doing}: the database did not answer in time") from None
    except (SQLAlchemyError, OSError) as exc:
        raise SensorStoreError(f"could not {doing}: {type(exc).__name__}") from exc
