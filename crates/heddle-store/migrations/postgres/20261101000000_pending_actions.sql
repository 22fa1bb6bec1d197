-- Human in the loop: tool calls paused until a person confirms or approves them, and the
-- ledger of effects applied under an idempotency key. See `src/pending_actions.rs`.

-- A pending action moves forward only (awaiting_confirmation → awaiting_approval → approved
-- → running → completed | failed, or to rejected | expired | discarded), each step one
-- conditional update. The CHECKs hold the invariants those updates maintain.
CREATE TABLE pending_actions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    session_id uuid NOT NULL,
    turn bigint NOT NULL,
    execution_id uuid NOT NULL,
    environment text NOT NULL,
    agent text NOT NULL,
    capability text NOT NULL,
    call_id text NOT NULL,
    arguments_sealed jsonb NOT NULL,
    arguments_display jsonb NOT NULL,
    arguments_hash text NOT NULL,
    mode text NOT NULL,
    reason text,
    requested_by_kind text NOT NULL,
    requested_by_id text NOT NULL,
    approver_role text,
    -- Cleared when the confirmation consumes it, so a token works once.
    confirmation_token_hash bytea,
    on_stale text NOT NULL,
    status text NOT NULL,
    decided_by text,
    decided_at timestamptz,
    comment text,
    confirmed_at timestamptz,
    lease_owner text,
    lease_expires_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    result jsonb,
    completed_at timestamptz,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT pending_actions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT pending_actions_session_fkey FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, id),
    CONSTRAINT pending_actions_turn_check CHECK (turn >= 1),
    CONSTRAINT pending_actions_environment_check
        CHECK (environment IN ('dev', 'staging', 'prod')),
    CONSTRAINT pending_actions_arguments_hash_check CHECK (length(arguments_hash) = 64),
    CONSTRAINT pending_actions_mode_check
        CHECK (mode IN ('confirmation', 'approval', 'confirmation_then_approval')),
    CONSTRAINT pending_actions_confirmation_token_hash_check
        CHECK (confirmation_token_hash IS NULL OR octet_length(confirmation_token_hash) = 32),
    CONSTRAINT pending_actions_on_stale_check CHECK (on_stale IN ('run', 'discard')),
    CONSTRAINT pending_actions_status_check CHECK (status IN ('awaiting_confirmation',
        'awaiting_approval', 'approved', 'running', 'completed', 'failed', 'rejected',
        'expired', 'discarded')),
    CONSTRAINT pending_actions_attempts_check CHECK (attempts >= 0),
    CONSTRAINT pending_actions_confirmation_mode_check
        CHECK (status <> 'awaiting_confirmation' OR mode <> 'approval'),
    CONSTRAINT pending_actions_running_lease_check
        CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT pending_actions_finished_result_check
        CHECK (status NOT IN ('completed', 'failed')
            OR (result IS NOT NULL AND completed_at IS NOT NULL))
);

-- Listings newest first, by status or by session.
CREATE INDEX pending_actions_by_status ON pending_actions (tenant_id, status, id);
CREATE INDEX pending_actions_by_session ON pending_actions (tenant_id, session_id, id);
-- The resume/expiry sweep across tenants reads only actions that are not finished yet.
CREATE INDEX pending_actions_open ON pending_actions (created_at, id)
    WHERE status IN ('awaiting_confirmation', 'awaiting_approval', 'approved', 'running');

-- One row per effect applied under an idempotency key, committed in the effect's own
-- transaction: a second attempt finds the row and changes nothing. Append-only.
CREATE TABLE action_effects (
    tenant_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    result jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT action_effects_pkey PRIMARY KEY (tenant_id, idempotency_key),
    CONSTRAINT action_effects_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT action_effects_idempotency_key_check
        CHECK (length(idempotency_key) BETWEEN 1 AND 512)
);

CREATE FUNCTION action_effects_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'action_effects is append-only: % is refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER action_effects_no_update BEFORE UPDATE ON action_effects
    FOR EACH ROW EXECUTE FUNCTION action_effects_refuse_change();
CREATE TRIGGER action_effects_no_delete BEFORE DELETE ON action_effects
    FOR EACH ROW EXECUTE FUNCTION action_effects_refuse_change();
CREATE TRIGGER action_effects_no_truncate BEFORE TRUNCATE ON action_effects
    FOR EACH STATEMENT EXECUTE FUNCTION action_effects_refuse_change();
