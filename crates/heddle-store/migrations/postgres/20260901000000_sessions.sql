-- Agent sessions, their turns (one execution each) and the steps of every execution. See
-- `src/sessions.rs`. At most one turn per session runs at a time: a partial unique index, so
-- the rule holds across processes.

CREATE TABLE sessions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    environment text NOT NULL,
    agent text NOT NULL,
    config_version bigint NOT NULL,
    principal_kind text NOT NULL,
    principal_id text NOT NULL,
    verified_customer_id text,
    last_turn bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT sessions_environment_check CHECK (environment IN ('dev', 'staging', 'prod')),
    CONSTRAINT sessions_config_version_check CHECK (config_version >= 1),
    CONSTRAINT sessions_last_turn_check CHECK (last_turn >= 0)
);

CREATE TABLE turns (
    tenant_id uuid NOT NULL,
    session_id uuid NOT NULL,
    turn bigint NOT NULL,
    execution_id uuid NOT NULL,
    status text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    CONSTRAINT turns_pkey PRIMARY KEY (tenant_id, session_id, turn),
    CONSTRAINT turns_execution_id_key UNIQUE (execution_id),
    CONSTRAINT turns_session_fkey FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, id),
    CONSTRAINT turns_turn_check CHECK (turn >= 1),
    CONSTRAINT turns_status_check CHECK (status IN ('running', 'completed', 'failed', 'halted'))
);

CREATE UNIQUE INDEX turns_one_running_per_session ON turns (tenant_id, session_id)
    WHERE status = 'running';

CREATE TABLE execution_steps (
    tenant_id uuid NOT NULL,
    session_id uuid NOT NULL,
    turn bigint NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    -- Whether the step entered the conversation: a late result of an older turn is recorded
    -- but not applied.
    applied boolean NOT NULL,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_micros bigint NOT NULL DEFAULT 0,
    latency_ms bigint,
    at timestamptz NOT NULL,
    CONSTRAINT execution_steps_pkey PRIMARY KEY (tenant_id, session_id, turn, seq),
    CONSTRAINT execution_steps_turn_fkey FOREIGN KEY (tenant_id, session_id, turn)
        REFERENCES turns (tenant_id, session_id, turn),
    CONSTRAINT execution_steps_seq_check CHECK (seq >= 1)
);
