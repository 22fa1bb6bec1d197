-- Agent sessions, their turns (one execution each) and the steps of every execution. See
-- `src/sessions.rs`. At most one turn per session runs at a time: a partial unique index, so
-- the rule holds across processes.

CREATE TABLE sessions (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    id BLOB NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
    agent TEXT NOT NULL,
    config_version INTEGER NOT NULL CHECK (config_version >= 1),
    principal_kind TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    verified_customer_id TEXT,
    last_turn INTEGER NOT NULL DEFAULT 0 CHECK (last_turn >= 0),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE turns (
    tenant_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    turn INTEGER NOT NULL CHECK (turn >= 1),
    execution_id BLOB NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'halted')),
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (tenant_id, session_id, turn),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id)
) STRICT;

CREATE UNIQUE INDEX turns_one_running_per_session ON turns (tenant_id, session_id)
    WHERE status = 'running';

CREATE TABLE execution_steps (
    tenant_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    turn INTEGER NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    kind TEXT NOT NULL,
    payload TEXT NOT NULL CHECK (json_valid(payload)),
    -- Whether the step entered the conversation: a late result of an older turn is recorded
    -- but not applied.
    applied INTEGER NOT NULL CHECK (applied IN (0, 1)),
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_micros INTEGER NOT NULL DEFAULT 0,
    latency_ms INTEGER,
    at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, session_id, turn, seq),
    FOREIGN KEY (tenant_id, session_id, turn) REFERENCES turns (tenant_id, session_id, turn)
) STRICT;
