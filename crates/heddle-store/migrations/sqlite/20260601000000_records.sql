-- Business records (Salesforce-style): the object's fields as one JSON object, so no column
-- name ever comes from an org's metadata. Ids are canonical 18-character record ids; the
-- sharing filter is applied by the queries (see `src/records.rs`).

CREATE TABLE records (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL CHECK (length(id) = 18),
    object TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    fields TEXT NOT NULL CHECK (json_valid(fields) AND json_type(fields) = 'object'),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX records_tenant_id_object_id_idx ON records (tenant_id, object, id);
CREATE INDEX records_tenant_id_object_owner_id_idx ON records (tenant_id, object, owner_id);
