"""Alembic migrations for every table the hub's database holds: tickets, users and audit,
sensor readings, Web Push subscriptions, configuration versions.

The scripts live here (`env.py`, `versions/`) and are run by `hub.schema` with a connection
it already holds, inside its transaction and lock; no `alembic.ini` is read. `TARGET_METADATA`
collects each stage's own `MetaData` (each stage exports it from its package), so
autogenerate and the tests compare the migrated database with what the code expects.
"""

from __future__ import annotations

from pathlib import Path

from alerts.notify.push import metadata as push_metadata
from alerts.tickets import metadata as tickets_metadata
from api.security import metadata as security_metadata
from hub.config_store import metadata as config_metadata
from ingest.sensors import metadata as sensors_metadata

SCRIPT_LOCATION = Path(__file__).resolve().parent

TARGET_METADATA = (
    tickets_metadata,
    security_metadata,
    sensors_metadata,
    push_metadata,
    config_metadata,
)
