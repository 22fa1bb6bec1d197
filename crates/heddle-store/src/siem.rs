//! SIEM sinks: where a tenant's audit events are forwarded, and how far each sink got.
//!
//! The sink's configuration, credentials included, is sealed by the vault before it gets
//! here; the store keeps only ciphertext plus a display summary. `cursor` is the number of
//! events delivered (the next seq to send), and only ever moves forward.

use async_trait::async_trait;
use heddle_types::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{NewAuditEvent, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSiemSink {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: String,
    /// Non-secret description for people (`webhook → https://siem.example.com/…`).
    pub summary: String,
    pub sealed_config: Vec<u8>,
    pub data_key_version: u32,
    /// The first seq to deliver (0 for the whole log).
    pub cursor: u64,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSiemSink {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: String,
    pub summary: String,
    pub sealed_config: Vec<u8>,
    pub data_key_version: u32,
    pub cursor: u64,
    pub paused: bool,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_error_at: Option<OffsetDateTime>,
    pub last_delivered_at: Option<OffsetDateTime>,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiemDeliveryUpdate {
    /// New cursor; the store never moves it backwards.
    pub cursor: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub at: OffsetDateTime,
    pub delivered: bool,
    pub next_attempt_at: Option<OffsetDateTime>,
    /// A permanent failure pauses the sink until someone fixes it.
    pub paused: bool,
}

#[async_trait]
pub trait SiemStore: Send + Sync + std::fmt::Debug {
    /// `Conflict` when the tenant has a sink of that name.
    async fn create_siem_sink(
        &self,
        sink: NewSiemSink,
        audit: NewAuditEvent,
    ) -> StoreResult<StoredSiemSink>;
    async fn get_siem_sink(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<StoredSiemSink>;
    async fn list_siem_sinks(&self, tenant_id: TenantId) -> StoreResult<Vec<StoredSiemSink>>;
    async fn delete_siem_sink(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        audit: NewAuditEvent,
    ) -> StoreResult<()>;
    /// Unpauses a sink and clears its error, so delivery is retried now.
    async fn resume_siem_sink(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        audit: NewAuditEvent,
    ) -> StoreResult<StoredSiemSink>;
    /// Sinks of every tenant that are not paused and due at `now`.
    async fn due_siem_sinks(&self, now: OffsetDateTime) -> StoreResult<Vec<StoredSiemSink>>;
    /// Takes the sink for one delivery round until `until`, unless another process holds it.
    async fn lease_siem_sink(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Records an attempt's outcome and releases the lease.
    async fn record_siem_delivery(&self, id: Uuid, update: SiemDeliveryUpdate) -> StoreResult<()>;
}
