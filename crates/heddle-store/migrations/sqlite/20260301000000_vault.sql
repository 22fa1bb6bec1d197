-- The vault: per-tenant data keys wrapped by the master key, and the tenants' audit
-- checkpoint signing keys (public half in clear, private half sealed under a data key).

CREATE TABLE vault_data_keys (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    -- `tenant`, or `subject:<id>` for a data subject's own key.
    scope TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    -- NULL once destroyed (crypto-shredding).
    wrapped BLOB,
    master_key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    destroyed_at INTEGER,
    PRIMARY KEY (tenant_id, scope, version),
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
) STRICT;

-- Shredding is final, and key rows are never removed (their absence would look like a
-- key that never existed).
CREATE TRIGGER vault_data_keys_stay_destroyed BEFORE UPDATE ON vault_data_keys
WHEN OLD.destroyed_at IS NOT NULL AND (NEW.wrapped IS NOT NULL OR NEW.destroyed_at IS NULL)
BEGIN
    SELECT RAISE(ABORT, 'a destroyed data key cannot be restored');
END;

CREATE TRIGGER vault_data_keys_no_delete BEFORE DELETE ON vault_data_keys
BEGIN
    SELECT RAISE(ABORT, 'vault_data_keys rows are never deleted; destroy the key instead');
END;

CREATE TABLE audit_signing_keys (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    key_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sealed_private_key BLOB,
    data_key_version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
) STRICT;

-- Old checkpoints must stay verifiable: public keys are never changed or removed.
CREATE TRIGGER audit_signing_keys_public_fixed BEFORE UPDATE ON audit_signing_keys
WHEN NEW.public_key IS NOT OLD.public_key OR NEW.key_id IS NOT OLD.key_id
    OR NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'audit signing public keys are append-only');
END;

CREATE TRIGGER audit_signing_keys_no_delete BEFORE DELETE ON audit_signing_keys
BEGIN
    SELECT RAISE(ABORT, 'audit signing public keys are append-only');
END;
