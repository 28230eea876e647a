"""Baseline: the tables `metadata.create_all` made before migrations, exactly.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from hub.migrations.baseline import BASELINE_REVISION, baseline_metadata

revision = BASELINE_REVISION
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Create tickets and their history, users, tokens and audit, sensor readings."""
    # The frozen copy emits the same DDL the old create_all did, so a database made either
    # way is the same database.
    baseline_metadata().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    """Drop every baseline table (and its data)."""
    baseline_metadata().drop_all(op.get_bind(), checkfirst=False)
