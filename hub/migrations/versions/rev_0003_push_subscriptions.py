"""Web Push subscriptions: officers' phones that get new incidents and escalations.

Revision ID: 0003_push_subscriptions
Revises: 0002_preroll_clip
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_push_subscriptions"
down_revision: str | None = "0002_preroll_clip"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Create `push_subscriptions` (one row per browser endpoint)."""
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(1000), nullable=False, unique=True),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_push_subscriptions_username", "push_subscriptions", ["username"], unique=False
    )


def downgrade() -> None:
    """Drop it (phones stop getting notifications until they subscribe again)."""
    op.drop_index("ix_push_subscriptions_username", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
