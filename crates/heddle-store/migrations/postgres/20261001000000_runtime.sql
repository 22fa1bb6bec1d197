-- What the agent runtime needs on top of sessions: why a turn ended, spend per agent for
-- budgets, session listings by principal and agent, and customer verification challenges.
-- See `src/sessions.rs` and `src/verification.rs`.

ALTER TABLE turns ADD COLUMN status_reason text;

-- The record a conversation is about (the page the user is on), bound into capabilities.
ALTER TABLE sessions ADD COLUMN session_record_id text;

-- Steps carry their session's environment and agent (fixed for a session's life), so an
-- agent's spend since a given time is one index-only range scan instead of a probe per
-- session the agent ever had.
ALTER TABLE execution_steps ADD COLUMN environment text, ADD COLUMN agent text;
UPDATE execution_steps e SET environment = s.environment, agent = s.agent
    FROM sessions s WHERE s.tenant_id = e.tenant_id AND s.id = e.session_id;
ALTER TABLE execution_steps
    ALTER COLUMN environment SET NOT NULL,
    ALTER COLUMN agent SET NOT NULL;
CREATE INDEX execution_steps_agent_usage ON execution_steps (tenant_id, environment, agent, at)
    INCLUDE (input_tokens, output_tokens, cost_micros);

-- Session listings filtered by agent (and environment) or by principal, newest first.
CREATE INDEX sessions_by_agent ON sessions (tenant_id, agent, environment, id);
CREATE INDEX sessions_by_principal ON sessions (tenant_id, principal_kind, principal_id, id);

-- One-time codes proving which customer a session serves. `attempts <= max_attempts` backs
-- the conditional update that counts attempts; one open challenge per session.
CREATE TABLE verification_challenges (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    session_id uuid NOT NULL,
    code_hash bytea NOT NULL,
    -- NULL when the address matched no customer: such a challenge can never succeed.
    customer_id text,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    consumed_at timestamptz,
    CONSTRAINT verification_challenges_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT verification_challenges_session_fkey FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, id),
    CONSTRAINT verification_challenges_code_hash_check CHECK (octet_length(code_hash) = 32),
    CONSTRAINT verification_challenges_max_attempts_check CHECK (max_attempts >= 1),
    CONSTRAINT verification_challenges_attempts_check
        CHECK (attempts >= 0 AND attempts <= max_attempts)
);

CREATE UNIQUE INDEX verification_challenges_one_open_per_session
    ON verification_challenges (tenant_id, session_id) WHERE consumed_at IS NULL;
