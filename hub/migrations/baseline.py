"""The schema of the first revision, frozen: today's tables exactly as `metadata.create_all`
made them before migrations (same names, types, constraints and indexes).

This is a copy, not an import of the stages' tables: they change with later revisions, and
the first revision must go on building what it built the day it was written. Python-side
defaults (`default=`) are left out: they are not part of the DDL. A database made by the old
`create_all` code is recognised against these tables (`hub.schema` adopts it).
"""

from __future__ import annotations

import sqlalchemy as sa

BASELINE_REVISION = "0001_baseline"


def baseline_metadata() -> sa.MetaData:
    """A new MetaData holding the baseline's tables: tickets, users and audit, readings."""
    metadata = sa.MetaData()
    _tickets(metadata)
    _security(metadata)
    _sensors(metadata)
    return metadata


def _tickets(metadata: sa.MetaData) -> None:
    """alerts.tickets.models as of the baseline."""
    sa.Table(
        "tickets",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(200), nullable=False, unique=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("camera_id", sa.String(200), nullable=False),
        sa.Column("sensor_id", sa.String(200), nullable=False),
        sa.Column("group", sa.String(200), nullable=False),
        sa.Column("zone_id", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False, index=True),
        sa.Column("due_at", sa.Double, nullable=False),
        sa.Column("first_response_at", sa.Double),
        sa.Column("assigned_at", sa.Double),
        sa.Column("assignee", sa.String(100)),
        sa.Column("closed_at", sa.Double),
        sa.Column("escalated_at", sa.Double),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("observed_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("frame_seq", sa.BigInteger, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("x1", sa.Integer, nullable=False),
        sa.Column("y1", sa.Integer, nullable=False),
        sa.Column("x2", sa.Integer, nullable=False),
        sa.Column("y2", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("snapshot", sa.String(500), nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), nullable=False),
        sa.Column("clip", sa.String(500), nullable=False),
        sa.Column("clip_sha256", sa.String(64), nullable=False),
        sa.Index("ix_tickets_state_due", "state", "due_at"),
        sa.Index("ix_tickets_started_at", "started_at"),
    )

    sa.Table(
        "applied_messages",
        metadata,
        sa.Column("message_id", sa.String(250), primary_key=True),
        sa.Column("alert_id", sa.String(200), nullable=False),
        sa.Column("applied_at", sa.Double, nullable=False),
    )

    sa.Table(
        "transitions",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
        sa.Column("from_state", sa.String(20)),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )

    sa.Table(
        "attachments",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
        sa.Column("transition_id", sa.ForeignKey("transitions.id"), nullable=False),
        sa.Column("filename", sa.String(100), nullable=False),
        sa.Column("original_name", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
    )

    sa.Table(
        "feedback",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
        sa.Column("transition_id", sa.ForeignKey("transitions.id"), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_feedback_score"),
    )

    sa.Table(
        "escalations",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("due_at", sa.Double, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.UniqueConstraint("ticket_id", "level", name="uq_escalations_ticket_level"),
    )

    sa.Table(
        "ticket_track",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("x1", sa.Integer, nullable=False),
        sa.Column("y1", sa.Integer, nullable=False),
        sa.Column("x2", sa.Integer, nullable=False),
        sa.Column("y2", sa.Integer, nullable=False),
        sa.UniqueConstraint("ticket_id", "at", name="uq_ticket_track_at"),
    )

    sa.Table(
        "verdicts",
        metadata,
        sa.Column("ticket_id", sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("verdict", sa.String(20), nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )

    sa.Table(
        "verdict_history",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )


def _security(metadata: sa.MetaData) -> None:
    """api.security.tables as of the baseline."""
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )

    sa.Table(
        "api_tokens",
        metadata,
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False, index=True),
        sa.Column("revoked_at", sa.Double),
    )

    sa.Table(
        "audit_log",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False, index=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False, index=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
    )


def _sensors(metadata: sa.MetaData) -> None:
    """ingest.sensors.store as of the baseline."""
    sa.Table(
        "sensor_readings",
        metadata,
        sa.Column("sensor_id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.Double, primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Index("ix_sensor_readings_ts", "ts"),
    )
