-- Secrets: metadata in clear, the value only as ciphertext sealed by the vault (AES-256-GCM
-- under the tenant's data key, bound to the tenant, the secret id and its version, so a
-- ciphertext copied to another row, version or tenant does not open).

CREATE TABLE secrets (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    environment TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
    name TEXT NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('api_key', 'oauth_client', 'database_credential', 'custom')),
    version INTEGER NOT NULL CHECK (version >= 1),
    -- The sealed value; NULL once deleted, so the ciphertext goes with the secret.
    sealed BLOB,
    -- Which version of the tenant's data key sealed it.
    data_key_version INTEGER NOT NULL CHECK (data_key_version >= 1),
    -- Display form: at most the last four characters of the secret.
    masked TEXT NOT NULL,
    created_by BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER,
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    CHECK ((sealed IS NULL) = (deleted_at IS NOT NULL))
) STRICT;

-- Names are unique among live secrets; a deleted secret's name may be used again.
CREATE UNIQUE INDEX secrets_tenant_id_environment_name_key
    ON secrets (tenant_id, environment, name) WHERE deleted_at IS NULL;

CREATE INDEX secrets_tenant_id_id_idx ON secrets (tenant_id, id);

-- Deleting is final: a deleted secret's row is history and cannot get a value back.
CREATE TRIGGER secrets_stay_deleted BEFORE UPDATE ON secrets
WHEN OLD.deleted_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a deleted secret cannot be changed');
END;
