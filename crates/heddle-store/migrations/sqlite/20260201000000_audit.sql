-- The audit log: a transactional outbox that every state change writes into, and per tenant a
-- sequenced, hash-linked log (leaves, event payloads, head, signed checkpoints, retention
-- watermark) that the outbox drains into.
--
-- Append-only is enforced by the database, not only by the store's code. Triggers refuse:
-- any UPDATE or DELETE of a leaf or checkpoint; any UPDATE of an event; the DELETE of an event
-- at or above its tenant's retention watermark; lowering or deleting a watermark; shrinking
-- or deleting a head; rewriting an outbox row. SQLite's REPLACE conflict resolution deletes
-- the old row without firing delete triggers, so the INSERT triggers also refuse to replace an
-- existing row. (Whoever can write the file can still drop the triggers; the hash chain and the
-- signed checkpoints are what make such tampering evident.)

CREATE TABLE audit_outbox (
    -- AUTOINCREMENT: ids are never reused, so id order is commit order (writers are serialized).
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    canonical BLOB NOT NULL,
    occurred_at INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    outcome TEXT NOT NULL
) STRICT;

CREATE INDEX audit_outbox_tenant_id_id_idx ON audit_outbox (tenant_id, id);

CREATE TRIGGER audit_outbox_no_update BEFORE UPDATE ON audit_outbox
BEGIN
    SELECT RAISE(ABORT, 'audit_outbox rows cannot be updated: an event is stored as it happened');
END;

-- One row per tenant with a log; the single row the appender serializes on.
CREATE TABLE audit_heads (
    tenant_id BLOB NOT NULL PRIMARY KEY REFERENCES tenants (id),
    tree_size INTEGER NOT NULL CHECK (tree_size >= 0),
    chain_hash BLOB NOT NULL,
    -- The serialized Merkle frontier; opaque to the database.
    frontier BLOB NOT NULL
) STRICT;

CREATE TRIGGER audit_heads_only_grow BEFORE UPDATE ON audit_heads
WHEN NEW.tree_size <= OLD.tree_size OR NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'audit_heads only grow: tree_size must increase and tenant_id stay');
END;

CREATE TRIGGER audit_heads_no_replace BEFORE INSERT ON audit_heads
WHEN EXISTS (
    SELECT 1 FROM audit_heads WHERE tenant_id = NEW.tenant_id AND tree_size >= NEW.tree_size
)
BEGIN
    SELECT RAISE(ABORT, 'audit_heads only grow: a head of that size or larger exists');
END;

CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
BEGIN
    SELECT RAISE(ABORT, 'audit_heads rows are never deleted: the log would restart');
END;

-- Never deleted: retention purges payloads, the leaf hashes keep the log verifiable.
CREATE TABLE audit_leaves (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    seq INTEGER NOT NULL CHECK (seq >= 0),
    leaf_hash BLOB NOT NULL,
    chain_hash BLOB NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves
BEGIN
    SELECT RAISE(ABORT, 'audit_leaves is append-only: leaves cannot be updated');
END;

CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves
BEGIN
    SELECT RAISE(ABORT, 'audit_leaves is append-only: leaves cannot be deleted');
END;

CREATE TRIGGER audit_leaves_no_replace BEFORE INSERT ON audit_leaves
WHEN EXISTS (SELECT 1 FROM audit_leaves WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_leaves is append-only: a leaf with that seq exists');
END;

-- Event payloads with seq below `purged_below` may be (and have been) deleted.
CREATE TABLE audit_retention (
    tenant_id BLOB NOT NULL PRIMARY KEY REFERENCES tenants (id),
    purged_below INTEGER NOT NULL CHECK (purged_below >= 0)
) STRICT;

CREATE TRIGGER audit_retention_only_forward BEFORE UPDATE ON audit_retention
WHEN NEW.purged_below < OLD.purged_below OR NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'audit_retention only moves forward: purged_below cannot be lowered');
END;

CREATE TRIGGER audit_retention_no_replace BEFORE INSERT ON audit_retention
WHEN EXISTS (
    SELECT 1 FROM audit_retention
    WHERE tenant_id = NEW.tenant_id AND purged_below > NEW.purged_below
)
BEGIN
    SELECT RAISE(ABORT, 'audit_retention only moves forward: purged_below cannot be lowered');
END;

CREATE TRIGGER audit_retention_no_delete BEFORE DELETE ON audit_retention
BEGIN
    SELECT RAISE(ABORT, 'audit_retention rows are never deleted: purged events would reappear');
END;

-- Event payloads; retention may delete them below the tenant's watermark, nothing else.
CREATE TABLE audit_events (
    tenant_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    canonical BLOB NOT NULL,
    occurred_at INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    outcome TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    FOREIGN KEY (tenant_id, seq) REFERENCES audit_leaves (tenant_id, seq)
) STRICT;

-- The search filters; seq last so each filter reads in log order.
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_actor_id_idx ON audit_events (tenant_id, actor_id, seq);
CREATE INDEX audit_events_outcome_idx ON audit_events (tenant_id, outcome, seq);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (tenant_id, occurred_at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be updated');
END;

CREATE TRIGGER audit_events_delete_only_purged BEFORE DELETE ON audit_events
WHEN OLD.seq >= COALESCE(
    (SELECT purged_below FROM audit_retention WHERE tenant_id = OLD.tenant_id), 0
)
BEGIN
    SELECT RAISE(ABORT,
        'audit_events is append-only: only events below the retention watermark can be deleted');
END;

CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: an event with that seq exists');
END;

CREATE TABLE audit_checkpoints (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    tree_size INTEGER NOT NULL CHECK (tree_size >= 0),
    root_hash BLOB NOT NULL,
    chain_hash BLOB NOT NULL,
    issued_at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (tenant_id, tree_size)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: checkpoints cannot be updated');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: checkpoints cannot be deleted');
END;

CREATE TRIGGER audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints
WHEN EXISTS (
    SELECT 1 FROM audit_checkpoints WHERE tenant_id = NEW.tenant_id AND tree_size = NEW.tree_size
)
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: a checkpoint of that size exists');
END;
