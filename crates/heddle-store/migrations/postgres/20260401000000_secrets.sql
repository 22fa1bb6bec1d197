-- Secrets: metadata in clear, the value only as ciphertext sealed by the vault (AES-256-GCM
-- under the tenant's data key, bound to the tenant, the secret id and its version, so a
-- ciphertext copied to another row, version or tenant does not open).

CREATE TABLE secrets (
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    environment text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    version integer NOT NULL,
    -- The sealed value; NULL once deleted, so the ciphertext goes with the secret.
    sealed bytea,
    -- Which version of the tenant's data key sealed it.
    data_key_version integer NOT NULL,
    -- Display form: at most the last four characters of the secret.
    masked text NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz,
    CONSTRAINT secrets_pkey PRIMARY KEY (id),
    CONSTRAINT secrets_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT secrets_created_by_fkey
        FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    CONSTRAINT secrets_environment_check CHECK (environment IN ('dev', 'staging', 'prod')),
    CONSTRAINT secrets_kind_check
        CHECK (kind IN ('api_key', 'oauth_client', 'database_credential', 'custom')),
    CONSTRAINT secrets_version_check CHECK (version >= 1),
    CONSTRAINT secrets_data_key_version_check CHECK (data_key_version >= 1),
    CONSTRAINT secrets_sealed_until_deleted_check CHECK ((sealed IS NULL) = (deleted_at IS NOT NULL))
);

-- Names are unique among live secrets; a deleted secret's name may be used again.
CREATE UNIQUE INDEX secrets_tenant_id_environment_name_key
    ON secrets (tenant_id, environment, name) WHERE deleted_at IS NULL;

CREATE INDEX secrets_tenant_id_id_idx ON secrets (tenant_id, id);

-- Deleting is final: a deleted secret's row is history and cannot get a value back.
CREATE FUNCTION secrets_stay_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'a deleted secret cannot be changed'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER secrets_stay_deleted BEFORE UPDATE ON secrets
    FOR EACH ROW EXECUTE FUNCTION secrets_stay_deleted();
