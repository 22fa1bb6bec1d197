-- What the agent runtime needs on top of sessions: why a turn ended, spend per agent for
-- budgets, session listings by principal and agent, and customer verification challenges.
-- See `src/sessions.rs` and `src/verification.rs`.

ALTER TABLE turns ADD COLUMN status_reason TEXT;

-- The record a conversation is about (the page the user is on), bound into capabilities.
ALTER TABLE sessions ADD COLUMN session_record_id TEXT;

-- Steps carry their session's environment and agent (fixed for a session's life), so an
-- agent's spend since a given time is one range scan of a covering index instead of a probe
-- per session the agent ever had. SQLite adds a NOT NULL column only with a default; the
-- existing rows are filled in below and every insert sets both.
ALTER TABLE execution_steps ADD COLUMN environment TEXT NOT NULL DEFAULT '';
ALTER TABLE execution_steps ADD COLUMN agent TEXT NOT NULL DEFAULT '';
UPDATE execution_steps SET
    environment = (SELECT s.environment FROM sessions s
        WHERE s.tenant_id = execution_steps.tenant_id AND s.id = execution_steps.session_id),
    agent = (SELECT s.agent FROM sessions s
        WHERE s.tenant_id = execution_steps.tenant_id AND s.id = execution_steps.session_id);
CREATE INDEX execution_steps_agent_usage ON execution_steps
    (tenant_id, environment, agent, at, input_tokens, output_tokens, cost_micros);

-- Session listings filtered by agent (and environment) or by principal, newest first.
CREATE INDEX sessions_by_agent ON sessions (tenant_id, agent, environment, id);
CREATE INDEX sessions_by_principal ON sessions (tenant_id, principal_kind, principal_id, id);

-- One-time codes proving which customer a session serves. `attempts <= max_attempts` backs
-- the conditional update that counts attempts; one open challenge per session.
CREATE TABLE verification_challenges (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    code_hash BLOB NOT NULL CHECK (length(code_hash) = 32),
    -- NULL when the address matched no customer: such a challenge can never succeed.
    customer_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0 AND attempts <= max_attempts),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    consumed_at INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id)
) STRICT;

CREATE UNIQUE INDEX verification_challenges_one_open_per_session
    ON verification_challenges (tenant_id, session_id) WHERE consumed_at IS NULL;
