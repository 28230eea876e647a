"""The security schema: users, bearer tokens and the audit log (SQLAlchemy Core tables).

The tables have their own `MetaData` (the ticket schema does not know them), made and changed
by the hub's Alembic migrations (`hub/migrations/`, `riverwatch db upgrade`). Times are epoch
seconds in double columns, as in the ticket schema, so the same arithmetic works on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# Only a SHA-256 of each token is stored: a copy of the database yields no usable token.
tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False, index=True),
    sa.Column("revoked_at", sa.Double),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Double, nullable=False, index=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Column("client", sa.String(64), nullable=False, default=""),
)
