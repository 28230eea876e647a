"""The ticket store's schema: `create_schema(engine)` runs `metadata.create_all` (idempotent)
when the store starts. Engines come from `riverwatch.sql`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tickets.models import metadata


async def create_schema(engine: AsyncEngine) -> None:
    """Create the tables that do not exist yet (no migrations: see models.py)."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
