//! The audit log's storage: a transactional outbox filled by every state change, and a
//! per-tenant sequenced, hash-linked log that the outbox drains into.
//!
//! The store does no audit cryptography: the caller hands in an [`AuditSequencer`] (pure code
//! from `heddle-audit`) that the store runs while it holds the tenant's head lock, so
//! sequence numbers, leaf hashes, the chain and the Merkle frontier are computed exactly once,
//! in order, per tenant.

use async_trait::async_trait;
use heddle_types::TenantId;
use time::OffsetDateTime;

use crate::StoreResult;

/// An audit event ready to store: its canonical bytes plus the columns queries filter on.
/// Every state-changing store method takes one and writes it in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub tenant_id: TenantId,
    /// Canonical JSON of the event; hashed byte for byte into the Merkle leaf.
    pub canonical: Vec<u8>,
    pub occurred_at: OffsetDateTime,
    pub action: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub outcome: String,
}

/// A tenant's log head: size, last chain value and the serialized Merkle frontier
/// (opaque to the store). An empty log has size 0, the genesis chain value and an empty
/// frontier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub tree_size: u64,
    pub chain_hash: Vec<u8>,
    pub frontier: Vec<u8>,
}

/// One sequenced leaf as the sequencer computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedLeaf {
    pub seq: u64,
    pub leaf_hash: Vec<u8>,
    pub chain_hash: Vec<u8>,
}

/// Pure sequencing, run by the store inside the tenant's append transaction.
pub trait AuditSequencer: Send + Sync {
    /// The head after appending `events` (canonical bytes, in order) to `head`, and one leaf
    /// per event with seq = `head.tree_size`, `head.tree_size + 1`, …
    ///
    /// `head` is `None` for a tenant whose log is still empty.
    fn sequence(
        &self,
        head: Option<&AuditHead>,
        events: &[&[u8]],
    ) -> Result<(AuditHead, Vec<SequencedLeaf>), String>;
}

/// A stored event. `canonical` is `None` when retention purged the payload (the leaf and
/// chain hashes stay so the log still verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    pub tenant_id: TenantId,
    pub seq: u64,
    pub leaf_hash: Vec<u8>,
    pub chain_hash: Vec<u8>,
    pub canonical: Option<Vec<u8>>,
    pub occurred_at: Option<OffsetDateTime>,
    pub action: Option<String>,
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    pub outcome: Option<String>,
}

/// Which events to list. All conditions combine with AND; results are in seq order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events with seq strictly greater than this.
    pub after_seq: Option<u64>,
    /// Only events with seq strictly less than this.
    pub before_seq: Option<u64>,
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub outcome: Option<String>,
    /// Only events that occurred at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Only events that occurred strictly before this instant.
    pub until: Option<OffsetDateTime>,
    /// Include leaves whose payload was purged (with `canonical: None`). Exports need them;
    /// searches do not.
    pub include_purged: bool,
    /// Most events to return; `0` means no limit.
    pub limit: u32,
}

/// A signed checkpoint of a tenant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tenant_id: TenantId,
    pub tree_size: u64,
    pub root_hash: Vec<u8>,
    pub chain_hash: Vec<u8>,
    pub issued_at: OffsetDateTime,
    pub key_id: String,
    pub signature: Vec<u8>,
}

#[async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// Appends events directly (runtime decisions, failed logins: events without a state
    /// change), all in **one transaction** — group commit: one fsync for the whole batch.
    /// For each tenant in the batch, in tenant-id order (no deadlocks between processes), it
    /// locks the head, sequences that tenant's pending outbox rows first and then its new
    /// events, writes leaves and events, deletes the drained outbox rows and advances the
    /// head. Returns the seq given to each of `events`, in input order.
    async fn append_audit(
        &self,
        events: Vec<NewAuditEvent>,
        sequencer: &dyn AuditSequencer,
    ) -> StoreResult<Vec<u64>>;

    /// Sequences pending outbox rows of up to `max_tenants` tenants (one transaction per
    /// tenant). Returns how many events were sequenced. Safe to run from every process.
    async fn drain_audit_outbox(
        &self,
        sequencer: &dyn AuditSequencer,
        max_tenants: u32,
    ) -> StoreResult<u64>;

    /// Sequences one tenant's pending outbox rows now (before a read of that tenant's log).
    async fn drain_audit_outbox_for(
        &self,
        tenant_id: TenantId,
        sequencer: &dyn AuditSequencer,
    ) -> StoreResult<u64>;

    /// Number of events waiting in the outbox (all tenants); for metrics and tests.
    async fn audit_outbox_len(&self) -> StoreResult<u64>;

    /// The tenant's head, or `None` if nothing was ever sequenced for it.
    async fn audit_head(&self, tenant_id: TenantId) -> StoreResult<Option<AuditHead>>;

    async fn list_audit_events(
        &self,
        tenant_id: TenantId,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<StoredAuditEvent>>;

    async fn get_audit_event(
        &self,
        tenant_id: TenantId,
        seq: u64,
    ) -> StoreResult<Option<StoredAuditEvent>>;

    /// Leaf hashes for seq `0..tree_size`, in order (for proofs).
    async fn audit_leaf_hashes(
        &self,
        tenant_id: TenantId,
        tree_size: u64,
    ) -> StoreResult<Vec<Vec<u8>>>;

    /// Fails with `Conflict` if a checkpoint of that size exists.
    async fn insert_audit_checkpoint(&self, checkpoint: StoredCheckpoint) -> StoreResult<()>;

    /// All of a tenant's checkpoints in tree-size order.
    async fn list_audit_checkpoints(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Vec<StoredCheckpoint>>;

    async fn latest_audit_checkpoint(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Option<StoredCheckpoint>>;

    /// Retention: raises the tenant's purge watermark to `below_seq` (never lowers it) and
    /// deletes event payloads with seq below it. Leaves, chain values and checkpoints stay.
    /// Returns how many payloads were deleted.
    async fn purge_audit_events(&self, tenant_id: TenantId, below_seq: u64) -> StoreResult<u64>;

    /// Every tenant that has a log head or pending outbox rows (for jobs that walk them all).
    async fn audit_tenants(&self) -> StoreResult<Vec<TenantId>>;
}
