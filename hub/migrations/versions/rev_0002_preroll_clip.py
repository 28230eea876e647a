"""Tickets keep a second clip: an on_alert camera's sub-stream pre-roll before its main clip.

Revision ID: 0002_preroll_clip
Revises: 0001_baseline
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_preroll_clip"
down_revision: str | None = "0001_baseline"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Add `preroll_clip` and its checksum, empty for every ticket so far."""
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("preroll_clip", sa.String(500), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("preroll_clip_sha256", sa.String(64), nullable=False, server_default="")
        )


def downgrade() -> None:
    """Drop them (the pre-roll files stay on disk until retention removes them)."""
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("preroll_clip_sha256")
        batch.drop_column("preroll_clip")
