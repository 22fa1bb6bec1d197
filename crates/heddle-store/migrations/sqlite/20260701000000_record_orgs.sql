-- Each tenant's record org (access configuration for its records) as one versioned JSON
-- document; see `src/record_orgs.rs`.

CREATE TABLE record_orgs (
    tenant_id BLOB PRIMARY KEY NOT NULL REFERENCES tenants (id),
    version INTEGER NOT NULL CHECK (version >= 1),
    config TEXT NOT NULL CHECK (json_valid(config) AND json_type(config) = 'object'),
    updated_at INTEGER NOT NULL
) STRICT;
