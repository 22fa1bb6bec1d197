-- The audit log: a transactional outbox that every state change writes into, and per tenant a
-- sequenced, hash-linked log (leaves, event payloads, head, signed checkpoints, retention
-- watermark) that the outbox drains into.
--
-- Append-only is enforced by the database, not only by the store's code. Triggers refuse:
-- any UPDATE, DELETE or TRUNCATE of leaves and checkpoints; any UPDATE or TRUNCATE of events;
-- the DELETE of an event at or above its tenant's retention watermark; lowering, deleting or
-- truncating watermarks; shrinking, deleting or truncating heads; rewriting an outbox row.
-- Triggers only bind a role that cannot disable them: the application should connect as a
-- role that neither owns these tables nor is a superuser. The grants for such a role are in
-- `src/postgres/app_role.sql` (also shown in the docs of `heddle_store::postgres`).

CREATE TABLE audit_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id uuid NOT NULL,
    canonical bytea NOT NULL,
    occurred_at timestamptz NOT NULL,
    action text NOT NULL,
    actor_kind text NOT NULL,
    actor_id text,
    outcome text NOT NULL,
    CONSTRAINT audit_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT audit_outbox_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE INDEX audit_outbox_tenant_id_id_idx ON audit_outbox (tenant_id, id);

-- One row per tenant with a log; the row appenders lock (SELECT … FOR UPDATE) to serialize.
CREATE TABLE audit_heads (
    tenant_id uuid NOT NULL,
    tree_size bigint NOT NULL,
    chain_hash bytea NOT NULL,
    -- The serialized Merkle frontier; opaque to the database.
    frontier bytea NOT NULL,
    CONSTRAINT audit_heads_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT audit_heads_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT audit_heads_tree_size_check CHECK (tree_size >= 0)
);

-- Never deleted: retention purges payloads, the leaf hashes keep the log verifiable.
CREATE TABLE audit_leaves (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL,
    leaf_hash bytea NOT NULL,
    chain_hash bytea NOT NULL,
    CONSTRAINT audit_leaves_pkey PRIMARY KEY (tenant_id, seq),
    CONSTRAINT audit_leaves_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT audit_leaves_seq_check CHECK (seq >= 0)
);

-- Event payloads with seq below `purged_below` may be (and have been) deleted.
CREATE TABLE audit_retention (
    tenant_id uuid NOT NULL,
    purged_below bigint NOT NULL,
    CONSTRAINT audit_retention_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT audit_retention_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT audit_retention_purged_below_check CHECK (purged_below >= 0)
);

-- Event payloads; retention may delete them below the tenant's watermark, nothing else.
CREATE TABLE audit_events (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL,
    canonical bytea NOT NULL,
    occurred_at timestamptz NOT NULL,
    action text NOT NULL,
    actor_kind text NOT NULL,
    actor_id text,
    outcome text NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (tenant_id, seq),
    CONSTRAINT audit_events_leaf_fkey
        FOREIGN KEY (tenant_id, seq) REFERENCES audit_leaves (tenant_id, seq)
);

-- The search filters; seq last so each filter reads in log order.
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_actor_id_idx ON audit_events (tenant_id, actor_id, seq);
CREATE INDEX audit_events_outcome_idx ON audit_events (tenant_id, outcome, seq);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (tenant_id, occurred_at);

CREATE TABLE audit_checkpoints (
    tenant_id uuid NOT NULL,
    tree_size bigint NOT NULL,
    root_hash bytea NOT NULL,
    chain_hash bytea NOT NULL,
    issued_at timestamptz NOT NULL,
    key_id text NOT NULL,
    signature bytea NOT NULL,
    -- Named after the column so a duplicate maps to a `tree_size` conflict.
    CONSTRAINT audit_checkpoints_tenant_id_tree_size_pkey PRIMARY KEY (tenant_id, tree_size),
    CONSTRAINT audit_checkpoints_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT audit_checkpoints_tree_size_check CHECK (tree_size >= 0)
);

-- Refuses the operation outright: leaves and checkpoints are never rewritten or removed,
-- events never rewritten, heads and watermarks never removed, outbox rows never rewritten.
CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

-- An event payload may be deleted only once retention moved the watermark past it.
-- search_path is pinned to the migration's, so a session cannot point the lookup elsewhere.
CREATE FUNCTION audit_events_delete_only_purged() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    watermark bigint;
BEGIN
    SELECT purged_below INTO watermark FROM audit_retention WHERE tenant_id = OLD.tenant_id;
    IF watermark IS NULL OR OLD.seq >= watermark THEN
        RAISE EXCEPTION 'audit_events is append-only: event % is not below the watermark %',
            OLD.seq, coalesce(watermark, 0)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END;
$$;

CREATE FUNCTION audit_heads_only_grow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id <> OLD.tenant_id OR NEW.tree_size <= OLD.tree_size THEN
        RAISE EXCEPTION 'audit_heads only grow: tree_size cannot go from % to %',
            OLD.tree_size, NEW.tree_size
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION audit_retention_only_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id <> OLD.tenant_id OR NEW.purged_below < OLD.purged_below THEN
        RAISE EXCEPTION 'audit_retention only moves forward: purged_below cannot go from % to %',
            OLD.purged_below, NEW.purged_below
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_outbox_no_update BEFORE UPDATE ON audit_outbox
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();

CREATE TRIGGER audit_heads_only_grow BEFORE UPDATE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_heads_only_grow();
CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_delete_only_purged BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_delete_only_purged();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE TRIGGER audit_retention_only_forward BEFORE UPDATE ON audit_retention
    FOR EACH ROW EXECUTE FUNCTION audit_retention_only_forward();
CREATE TRIGGER audit_retention_no_delete BEFORE DELETE ON audit_retention
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_retention_no_truncate BEFORE TRUNCATE ON audit_retention
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
