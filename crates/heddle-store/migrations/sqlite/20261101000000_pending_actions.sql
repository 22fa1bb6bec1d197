-- Human in the loop: tool calls paused until a person confirms or approves them, and the
-- ledger of effects applied under an idempotency key. See `src/pending_actions.rs`.

-- A pending action moves forward only (awaiting_confirmation → awaiting_approval → approved
-- → running → completed | failed, or to rejected | expired | discarded), each step one
-- conditional update. The CHECKs hold the invariants those updates maintain.
CREATE TABLE pending_actions (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    turn INTEGER NOT NULL CHECK (turn >= 1),
    execution_id BLOB NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
    agent TEXT NOT NULL,
    capability TEXT NOT NULL,
    call_id TEXT NOT NULL,
    arguments_sealed TEXT NOT NULL CHECK (json_valid(arguments_sealed)),
    arguments_display TEXT NOT NULL CHECK (json_valid(arguments_display)),
    arguments_hash TEXT NOT NULL CHECK (length(arguments_hash) = 64),
    mode TEXT NOT NULL
        CHECK (mode IN ('confirmation', 'approval', 'confirmation_then_approval')),
    reason TEXT,
    requested_by_kind TEXT NOT NULL,
    requested_by_id TEXT NOT NULL,
    approver_role TEXT,
    -- Cleared when the confirmation consumes it, so a token works once.
    confirmation_token_hash BLOB
        CHECK (confirmation_token_hash IS NULL OR length(confirmation_token_hash) = 32),
    on_stale TEXT NOT NULL CHECK (on_stale IN ('run', 'discard')),
    status TEXT NOT NULL CHECK (status IN ('awaiting_confirmation', 'awaiting_approval',
        'approved', 'running', 'completed', 'failed', 'rejected', 'expired', 'discarded')),
    decided_by TEXT,
    decided_at INTEGER,
    comment TEXT,
    confirmed_at INTEGER,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    result TEXT CHECK (result IS NULL OR json_valid(result)),
    completed_at INTEGER,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id),
    CHECK (status <> 'awaiting_confirmation' OR mode <> 'approval'),
    CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (status NOT IN ('completed', 'failed')
        OR (result IS NOT NULL AND completed_at IS NOT NULL))
) STRICT;

-- Listings newest first, by status or by session.
CREATE INDEX pending_actions_by_status ON pending_actions (tenant_id, status, id);
CREATE INDEX pending_actions_by_session ON pending_actions (tenant_id, session_id, id);
-- The resume/expiry sweep across tenants reads only actions that are not finished yet.
CREATE INDEX pending_actions_open ON pending_actions (created_at, id)
    WHERE status IN ('awaiting_confirmation', 'awaiting_approval', 'approved', 'running');

-- One row per effect applied under an idempotency key, committed in the effect's own
-- transaction: a second attempt finds the row and changes nothing. Append-only.
CREATE TABLE action_effects (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 512),
    result TEXT NOT NULL CHECK (json_valid(result)),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
) STRICT;

CREATE TRIGGER action_effects_no_update BEFORE UPDATE ON action_effects
BEGIN
    SELECT RAISE(ABORT, 'action_effects is append-only: an applied effect cannot change');
END;

CREATE TRIGGER action_effects_no_delete BEFORE DELETE ON action_effects
BEGIN
    SELECT RAISE(ABORT, 'action_effects is append-only: forgetting an effect would repeat it');
END;
