-- Tenants, users, API keys, access tokens and tenant policies.
--
-- Constraint names are explicit because the store maps unique violations to the field they
-- concern by constraint name. Composite foreign keys (tenant_id, user_id) -> users (tenant_id, id)
-- make the database refuse a row that points at another tenant's user.

CREATE TABLE tenants (
    id uuid NOT NULL,
    slug text NOT NULL,
    name text NOT NULL,
    operator boolean NOT NULL,
    -- Bumped in the same transaction as every change to the tenant's policies.
    policy_version bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    -- Lowercased by the store before it is written.
    email text NOT NULL,
    display_name text NOT NULL,
    role text NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    password_hash text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email),
    -- Target of the composite foreign keys below.
    CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT users_role_check
        CHECK (role IN ('admin', 'builder', 'operator', 'viewer', 'compliance_officer'))
);

CREATE TABLE api_keys (
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    lookup text NOT NULL,
    secret_hash bytea NOT NULL,
    role text NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT api_keys_created_by_fkey
        FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
    CONSTRAINT api_keys_lookup_key UNIQUE (lookup),
    CONSTRAINT api_keys_role_check
        CHECK (role IN ('admin', 'builder', 'operator', 'viewer', 'compliance_officer'))
);

CREATE INDEX api_keys_tenant_id_id_idx ON api_keys (tenant_id, id);

CREATE TABLE access_tokens (
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    lookup text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CONSTRAINT access_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT access_tokens_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT access_tokens_user_id_fkey
        FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    CONSTRAINT access_tokens_lookup_key UNIQUE (lookup)
);

CREATE INDEX access_tokens_tenant_id_user_id_idx ON access_tokens (tenant_id, user_id);

CREATE TABLE tenant_policies (
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    cedar text NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL,
    CONSTRAINT tenant_policies_pkey PRIMARY KEY (id),
    CONSTRAINT tenant_policies_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT tenant_policies_created_by_fkey
        FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    CONSTRAINT tenant_policies_tenant_id_name_key UNIQUE (tenant_id, name)
);
