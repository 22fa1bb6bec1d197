-- Business records (Salesforce-style): the object's fields as one jsonb object, so no column
-- name ever comes from an org's metadata. Ids are canonical 18-character record ids, compared
-- byte-wise (COLLATE "C") so that id order is the same on both engines; the sharing filter is
-- applied by the queries (see `src/records.rs`).

CREATE TABLE records (
    tenant_id uuid NOT NULL,
    id text COLLATE "C" NOT NULL,
    object text NOT NULL,
    owner_id text NOT NULL,
    fields jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT records_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT records_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT records_id_check CHECK (length(id) = 18),
    CONSTRAINT records_fields_check CHECK (jsonb_typeof(fields) = 'object')
);

CREATE INDEX records_tenant_id_object_id_idx ON records (tenant_id, object, id);
CREATE INDEX records_tenant_id_object_owner_id_idx ON records (tenant_id, object, owner_id);
