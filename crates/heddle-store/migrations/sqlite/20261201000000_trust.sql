-- What the trust layers need: guardrail violations (execution steps of kind `guardrail`)
-- listed across a tenant's sessions, and each agent's drift baseline. See `src/sessions.rs`
-- and `src/drift.rs`.

-- Steps of one kind newest first: `(tenant_id, kind, at)` and then the rest of the listing's
-- sort key, so a page is one backward index scan that stops at the limit, and the keyset
-- cursor is a range bound on the index rather than a filter after a sort.
CREATE INDEX execution_steps_by_kind ON execution_steps
    (tenant_id, kind, at, session_id, turn, seq);

-- One baseline per agent and environment: an opaque document the runtime owns, replaced by
-- compare-and-set on its version.
CREATE TABLE drift_baselines (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    environment TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
    agent TEXT NOT NULL,
    state TEXT NOT NULL CHECK (json_valid(state)),
    version INTEGER NOT NULL CHECK (version >= 1),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, environment, agent)
) STRICT;
