-- Each tenant's record org (access configuration for its records) as one versioned JSON
-- document; see `src/record_orgs.rs`.

CREATE TABLE record_orgs (
    tenant_id uuid NOT NULL,
    version bigint NOT NULL,
    config jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT record_orgs_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT record_orgs_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT record_orgs_version_check CHECK (version >= 1),
    CONSTRAINT record_orgs_config_check CHECK (jsonb_typeof(config) = 'object')
);
