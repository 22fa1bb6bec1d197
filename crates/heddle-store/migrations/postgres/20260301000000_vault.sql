-- The vault: per-tenant data keys wrapped by the master key, and the tenants' audit
-- checkpoint signing keys (public half in clear, private half sealed under a data key).

CREATE TABLE vault_data_keys (
    tenant_id UUID NOT NULL REFERENCES tenants (id),
    -- `tenant`, or `subject:<id>` for a data subject's own key.
    scope TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    -- NULL once destroyed (crypto-shredding).
    wrapped BYTEA,
    master_key_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    destroyed_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, scope, version),
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);

-- Shredding is final, and key rows are never removed.
CREATE FUNCTION vault_data_keys_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'vault_data_keys rows are never deleted; destroy the key instead'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.destroyed_at IS NOT NULL AND (NEW.wrapped IS NOT NULL OR NEW.destroyed_at IS NULL) THEN
        RAISE EXCEPTION 'a destroyed data key cannot be restored'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER vault_data_keys_guard BEFORE UPDATE OR DELETE ON vault_data_keys
    FOR EACH ROW EXECUTE FUNCTION vault_data_keys_guard();

CREATE TABLE audit_signing_keys (
    tenant_id UUID NOT NULL REFERENCES tenants (id),
    key_id TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    sealed_private_key BYTEA,
    data_key_version INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);

-- Old checkpoints must stay verifiable: public keys are never changed or removed.
CREATE FUNCTION audit_signing_keys_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.public_key IS DISTINCT FROM OLD.public_key
        OR NEW.key_id IS DISTINCT FROM OLD.key_id OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'audit signing public keys are append-only'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_signing_keys_guard BEFORE UPDATE OR DELETE ON audit_signing_keys
    FOR EACH ROW EXECUTE FUNCTION audit_signing_keys_guard();

CREATE TRIGGER vault_tables_no_truncate BEFORE TRUNCATE ON vault_data_keys
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_signing_keys_no_truncate BEFORE TRUNCATE ON audit_signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
