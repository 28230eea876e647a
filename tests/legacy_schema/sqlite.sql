-- The hub's schema as riverwatch made it before migrations (metadata.create_all of
-- alerts.tickets, api.security and ingest.sensors at e810403..873465f), sqlite dialect.
-- Kept as text so later changes to the code's tables cannot change it.

CREATE TABLE applied_messages (
	message_id VARCHAR(250) NOT NULL,
	alert_id VARCHAR(200) NOT NULL,
	applied_at DOUBLE NOT NULL,
	PRIMARY KEY (message_id)
);

CREATE TABLE tickets (
	id INTEGER NOT NULL,
	alert_id VARCHAR(200) NOT NULL,
	source VARCHAR(20) NOT NULL,
	camera_id VARCHAR(200) NOT NULL,
	sensor_id VARCHAR(200) NOT NULL,
	"group" VARCHAR(200) NOT NULL,
	zone_id VARCHAR(200) NOT NULL,
	rule VARCHAR(100) NOT NULL,
	severity VARCHAR(20) NOT NULL,
	priority INTEGER NOT NULL,
	state VARCHAR(20) NOT NULL,
	version INTEGER NOT NULL,
	created_at DOUBLE NOT NULL,
	due_at DOUBLE NOT NULL,
	first_response_at DOUBLE,
	assigned_at DOUBLE,
	assignee VARCHAR(100),
	closed_at DOUBLE,
	escalated_at DOUBLE,
	escalation_level INTEGER NOT NULL,
	started_at DOUBLE NOT NULL,
	observed_at DOUBLE NOT NULL,
	ended_at DOUBLE,
	revision INTEGER NOT NULL,
	frame_seq BIGINT NOT NULL,
	score DOUBLE NOT NULL,
	x1 INTEGER NOT NULL,
	y1 INTEGER NOT NULL,
	x2 INTEGER NOT NULL,
	y2 INTEGER NOT NULL,
	note TEXT NOT NULL,
	snapshot VARCHAR(500) NOT NULL,
	snapshot_sha256 VARCHAR(64) NOT NULL,
	clip VARCHAR(500) NOT NULL,
	clip_sha256 VARCHAR(64) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (alert_id)
);

CREATE INDEX ix_tickets_created_at ON tickets (created_at);

CREATE INDEX ix_tickets_started_at ON tickets (started_at);

CREATE INDEX ix_tickets_state ON tickets (state);

CREATE INDEX ix_tickets_state_due ON tickets (state, due_at);

CREATE TABLE escalations (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	level INTEGER NOT NULL,
	at DOUBLE NOT NULL,
	due_at DOUBLE NOT NULL,
	priority INTEGER NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_escalations_ticket_level UNIQUE (ticket_id, level),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);

CREATE TABLE ticket_track (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	at DOUBLE NOT NULL,
	x1 INTEGER NOT NULL,
	y1 INTEGER NOT NULL,
	x2 INTEGER NOT NULL,
	y2 INTEGER NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_ticket_track_at UNIQUE (ticket_id, at),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);

CREATE TABLE transitions (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	from_state VARCHAR(20),
	to_state VARCHAR(20) NOT NULL,
	actor VARCHAR(200) NOT NULL,
	at DOUBLE NOT NULL,
	note TEXT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);

CREATE INDEX ix_transitions_ticket_id ON transitions (ticket_id);

CREATE TABLE verdict_history (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	verdict VARCHAR(20) NOT NULL,
	actor VARCHAR(200) NOT NULL,
	at DOUBLE NOT NULL,
	note TEXT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);

CREATE INDEX ix_verdict_history_ticket_id ON verdict_history (ticket_id);

CREATE TABLE verdicts (
	ticket_id INTEGER NOT NULL,
	verdict VARCHAR(20) NOT NULL,
	actor VARCHAR(200) NOT NULL,
	at DOUBLE NOT NULL,
	note TEXT NOT NULL,
	PRIMARY KEY (ticket_id),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);

CREATE INDEX ix_verdicts_verdict ON verdicts (verdict);

CREATE TABLE attachments (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	transition_id INTEGER NOT NULL,
	filename VARCHAR(100) NOT NULL,
	original_name VARCHAR(200) NOT NULL,
	content_type VARCHAR(50) NOT NULL,
	size INTEGER NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	path VARCHAR(500) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id),
	FOREIGN KEY(transition_id) REFERENCES transitions (id)
);

CREATE INDEX ix_attachments_ticket_id ON attachments (ticket_id);

CREATE TABLE feedback (
	id INTEGER NOT NULL,
	ticket_id INTEGER NOT NULL,
	transition_id INTEGER NOT NULL,
	score INTEGER NOT NULL,
	note TEXT NOT NULL,
	at DOUBLE NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT ck_feedback_score CHECK (score BETWEEN 1 AND 5),
	FOREIGN KEY(ticket_id) REFERENCES tickets (id),
	FOREIGN KEY(transition_id) REFERENCES transitions (id)
);

CREATE INDEX ix_feedback_ticket_id ON feedback (ticket_id);

CREATE TABLE audit_log (
	id INTEGER NOT NULL,
	at DOUBLE NOT NULL,
	username VARCHAR(64) NOT NULL,
	role VARCHAR(32) NOT NULL,
	action VARCHAR(64) NOT NULL,
	target VARCHAR(200) NOT NULL,
	detail TEXT NOT NULL,
	client VARCHAR(64) NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_audit_log_action ON audit_log (action);

CREATE INDEX ix_audit_log_at ON audit_log (at);

CREATE INDEX ix_audit_log_username ON audit_log (username);

CREATE TABLE users (
	id INTEGER NOT NULL,
	username VARCHAR(64) NOT NULL,
	role VARCHAR(32) NOT NULL,
	password_hash VARCHAR(255) NOT NULL,
	disabled BOOLEAN NOT NULL,
	created_at DOUBLE NOT NULL,
	updated_at DOUBLE NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (username)
);

CREATE TABLE api_tokens (
	token_sha256 VARCHAR(64) NOT NULL,
	user_id INTEGER NOT NULL,
	created_at DOUBLE NOT NULL,
	expires_at DOUBLE NOT NULL,
	revoked_at DOUBLE,
	PRIMARY KEY (token_sha256),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE INDEX ix_api_tokens_expires_at ON api_tokens (expires_at);

CREATE INDEX ix_api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE sensor_readings (
	sensor_id VARCHAR(64) NOT NULL,
	ts DOUBLE NOT NULL,
	value DOUBLE NOT NULL,
	unit VARCHAR(16) NOT NULL,
	received_at DOUBLE NOT NULL,
	PRIMARY KEY (sensor_id, ts)
);

CREATE INDEX ix_sensor_readings_ts ON sensor_readings (ts);
