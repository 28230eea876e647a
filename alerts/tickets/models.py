"""The ticket schema (SQLAlchemy Core tables), shared by SQLite and PostgreSQL.

Times are Unix epoch seconds in double-precision columns, like every time in `Alert`: the
same arithmetic (`assigned_at - created_at`) then works on both backends without
dialect-specific interval functions. The tables are made and changed by the hub's Alembic
migrations (`hub/migrations/`, `riverwatch db upgrade`): a change here needs a new revision
there, and the test that compares the migrated database with this metadata says so.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(200), nullable=False, unique=True),
    sa.Column("source", sa.String(20), nullable=False, default="camera"),
    sa.Column("camera_id", sa.String(200), nullable=False, default=""),
    sa.Column("sensor_id", sa.String(200), nullable=False, default=""),
    sa.Column("group", sa.String(200), nullable=False, default=""),
    sa.Column("zone_id", sa.String(200), nullable=False, default=""),
    sa.Column("rule", sa.String(100), nullable=False, default=""),
    sa.Column("severity", sa.String(20), nullable=False, default=""),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    # Optimistic concurrency: every state change is `... WHERE version = :seen`.
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", sa.Double, nullable=False, index=True),
    sa.Column("due_at", sa.Double, nullable=False),
    sa.Column("first_response_at", sa.Double),
    sa.Column("assigned_at", sa.Double),
    sa.Column("assignee", sa.String(100)),  # the team member the ticket was given to
    sa.Column("closed_at", sa.Double),
    sa.Column("escalated_at", sa.Double),
    sa.Column("escalation_level", sa.Integer, nullable=False, default=0),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("observed_at", sa.Double, nullable=False),
    sa.Column("ended_at", sa.Double),
    # Highest update revision applied, so a late, older update cannot roll the box back.
    sa.Column("revision", sa.Integer, nullable=False, default=0),
    sa.Column("frame_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("score", sa.Double, nullable=False, default=0.0),
    sa.Column("x1", sa.Integer, nullable=False, default=0),
    sa.Column("y1", sa.Integer, nullable=False, default=0),
    sa.Column("x2", sa.Integer, nullable=False, default=0),
    sa.Column("y2", sa.Integer, nullable=False, default=0),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("snapshot", sa.String(500), nullable=False, default=""),
    sa.Column("snapshot_sha256", sa.String(64), nullable=False, default=""),
    sa.Column("clip", sa.String(500), nullable=False, default=""),
    sa.Column("clip_sha256", sa.String(64), nullable=False, default=""),
    sa.Column("preroll_clip", sa.String(500), nullable=False, default="", server_default=""),
    sa.Column("preroll_clip_sha256", sa.String(64), nullable=False, default="", server_default=""),
    sa.Index("ix_tickets_state_due", "state", "due_at"),
    # The replay list filters and orders by when the incident started.
    sa.Index("ix_tickets_started_at", "started_at"),
)

# One row per stream message ever applied: the primary key is the idempotency guard.
applied_messages = sa.Table(
    "applied_messages",
    metadata,
    sa.Column("message_id", sa.String(250), primary_key=True),
    sa.Column("alert_id", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Double, nullable=False),
)

transitions = sa.Table(
    "transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
    sa.Column("from_state", sa.String(20)),  # NULL for the ticket's creation
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
    sa.Column("transition_id", sa.ForeignKey("transitions.id"), nullable=False),
    sa.Column("filename", sa.String(100), nullable=False),  # generated, never the user's
    sa.Column("original_name", sa.String(200), nullable=False, default=""),  # display only
    sa.Column("content_type", sa.String(50), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),  # relative to the data directory
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
    sa.Column("transition_id", sa.ForeignKey("transitions.id"), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("at", sa.Double, nullable=False),
    sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_feedback_score"),
)

escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("due_at", sa.Double, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    # A level is escalated once per ticket, whoever runs the scanner.
    sa.UniqueConstraint("ticket_id", "level", name="uq_escalations_ticket_level"),
)

# The incident's path over time, from the `track` of its messages: one row per observation
# time (centiseconds, as the queue carries them), so a redelivered or overlapping message adds
# nothing. Bounded per ticket by `track.MAX_TRACK_POINTS` (the oldest go first).
ticket_track = sa.Table(
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

# A reviewer's current verdict on a ticket (at most one); every verdict ever given is kept in
# `verdict_history`, so a changed mind is visible and the figures of a past period can use
# what was known by its end.
verdicts = sa.Table(
    "verdicts",
    metadata,
    sa.Column("ticket_id", sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("verdict", sa.String(20), nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

verdict_history = sa.Table(
    "verdict_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.ForeignKey("tickets.id"), nullable=False, index=True),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)
