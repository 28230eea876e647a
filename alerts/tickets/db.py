"""The ticket store's engine: the kernel's SQL helpers (`riverwatch.sql`), which this package
re-exports. The schema is not made here: the hub's Alembic migrations make and change it
(`hub/migrations/`, `riverwatch db upgrade`), from the tables in `models.py`.
"""

from __future__ import annotations

from riverwatch.sql import default_url, open_engine, safe_url

__all__ = ["default_url", "open_engine", "safe_url"]
