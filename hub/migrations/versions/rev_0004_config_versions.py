"""Configuration versions: cameras, zones and groups changed in the browser, shared by hubs.

Revision ID: 0004_config_versions
Revises: 0003_push_subscriptions
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_config_versions"
down_revision: str | None = "0003_push_subscriptions"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Create `config_versions` (one row per version, numbered from 1)."""
    op.create_table(
        "config_versions",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("stamps", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    """Drop it (the hub runs its config file again)."""
    op.drop_table("config_versions")
