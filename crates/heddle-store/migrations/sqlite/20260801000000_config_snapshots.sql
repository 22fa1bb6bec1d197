-- Applied agent configurations (agents, capabilities, model bindings) as immutable, numbered
-- snapshots per tenant and environment, so every execution can name the version it ran. See
-- `src/config_snapshots.rs`.

CREATE TABLE config_snapshots (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    environment TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
    version INTEGER NOT NULL CHECK (version >= 1),
    content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
    documents TEXT NOT NULL CHECK (json_valid(documents) AND json_type(documents) = 'object'),
    applied_by TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, environment, version)
) STRICT;

CREATE TRIGGER config_snapshots_no_update BEFORE UPDATE ON config_snapshots
BEGIN
    SELECT RAISE(ABORT, 'config_snapshots are immutable: apply a new version instead');
END;

CREATE TRIGGER config_snapshots_no_delete BEFORE DELETE ON config_snapshots
BEGIN
    SELECT RAISE(ABORT, 'config_snapshots are immutable: executions refer to every version');
END;
