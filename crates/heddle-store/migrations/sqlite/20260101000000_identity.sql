-- Tenants, users, API keys, access tokens and tenant policies.
--
-- Ids are 16-byte UUID blobs: their byte order is the UUIDv7 creation order that keyset
-- pagination relies on. Timestamps are INTEGER microseconds since the Unix epoch (UTC):
-- lossless to the microsecond, like PostgreSQL's timestamptz, and they sort numerically.
-- Composite foreign keys (tenant_id, user_id) -> users (tenant_id, id) make the database
-- refuse a row that points at another tenant's user.

CREATE TABLE tenants (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    operator INTEGER NOT NULL CHECK (operator IN (0, 1)),
    -- Bumped in the same transaction as every change to the tenant's policies.
    policy_version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    -- Lowercased by the store before it is written.
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL
        CHECK (role IN ('admin', 'builder', 'operator', 'viewer', 'compliance_officer')),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    password_hash TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, email),
    -- Target of the composite foreign keys below.
    UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE api_keys (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    lookup TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,
    role TEXT NOT NULL
        CHECK (role IN ('admin', 'builder', 'operator', 'viewer', 'compliance_officer')),
    created_by BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    last_used_at INTEGER,
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;

CREATE INDEX api_keys_tenant_id_id_idx ON api_keys (tenant_id, id);

CREATE TABLE access_tokens (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    user_id BLOB NOT NULL,
    lookup TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
) STRICT;

CREATE INDEX access_tokens_tenant_id_user_id_idx ON access_tokens (tenant_id, user_id);

CREATE TABLE tenant_policies (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    cedar TEXT NOT NULL,
    created_by BLOB,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
