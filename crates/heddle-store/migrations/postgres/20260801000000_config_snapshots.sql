-- Applied agent configurations (agents, capabilities, model bindings) as immutable, numbered
-- snapshots per tenant and environment, so every execution can name the version it ran. See
-- `src/config_snapshots.rs`.

CREATE TABLE config_snapshots (
    tenant_id uuid NOT NULL,
    environment text NOT NULL,
    version bigint NOT NULL,
    content_hash text NOT NULL,
    documents jsonb NOT NULL,
    applied_by text,
    created_at timestamptz NOT NULL,
    CONSTRAINT config_snapshots_pkey PRIMARY KEY (tenant_id, environment, version),
    CONSTRAINT config_snapshots_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT config_snapshots_environment_check
        CHECK (environment IN ('dev', 'staging', 'prod')),
    CONSTRAINT config_snapshots_version_check CHECK (version >= 1),
    CONSTRAINT config_snapshots_content_hash_check CHECK (length(content_hash) = 64),
    CONSTRAINT config_snapshots_documents_check CHECK (jsonb_typeof(documents) = 'object')
);

CREATE FUNCTION config_snapshots_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'config_snapshots are immutable: % is refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER config_snapshots_no_update BEFORE UPDATE ON config_snapshots
    FOR EACH ROW EXECUTE FUNCTION config_snapshots_refuse_change();
CREATE TRIGGER config_snapshots_no_delete BEFORE DELETE ON config_snapshots
    FOR EACH ROW EXECUTE FUNCTION config_snapshots_refuse_change();
CREATE TRIGGER config_snapshots_no_truncate BEFORE TRUNCATE ON config_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION config_snapshots_refuse_change();
