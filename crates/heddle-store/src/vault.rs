//! Storage for the vault: per-tenant data keys wrapped by the master key, and the tenants'
//! audit checkpoint signing keys (private half sealed under the tenant's data key).
//!
//! Nothing here is plaintext key material: wrapped keys and sealed private keys are opaque
//! ciphertext to the store.

use async_trait::async_trait;
use heddle_types::TenantId;
use time::OffsetDateTime;

use crate::StoreResult;

/// One version of a tenant's data key for a scope (`tenant`, or `subject:<id>` for a data
/// subject's own key). `wrapped` is `None` once the key was destroyed (crypto-shredding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDataKey {
    pub tenant_id: TenantId,
    pub scope: String,
    pub version: u32,
    pub wrapped: Option<Vec<u8>>,
    /// Which master key wrapped it (`MasterKey::key_id`).
    pub master_key_id: String,
    pub created_at: OffsetDateTime,
    pub destroyed_at: Option<OffsetDateTime>,
}

/// A tenant's checkpoint signing key. The public key stays readable forever so old
/// checkpoints verify after the private key is shredded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub tenant_id: TenantId,
    pub key_id: String,
    pub public_key: Vec<u8>,
    /// The private key sealed under the tenant data key `data_key_version`.
    pub sealed_private_key: Option<Vec<u8>>,
    pub data_key_version: u32,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait VaultStore: Send + Sync + std::fmt::Debug {
    /// The newest version of a scope's data key, destroyed or not.
    async fn current_data_key(
        &self,
        tenant_id: TenantId,
        scope: &str,
    ) -> StoreResult<Option<StoredDataKey>>;

    async fn get_data_key(
        &self,
        tenant_id: TenantId,
        scope: &str,
        version: u32,
    ) -> StoreResult<Option<StoredDataKey>>;

    /// Inserts a new version; `Conflict` when another process inserted that version first
    /// (the caller then reads the winner).
    async fn insert_data_key(&self, key: StoredDataKey) -> StoreResult<()>;

    /// Every live (not destroyed) data key, for master-key rotation.
    async fn list_live_data_keys(&self) -> StoreResult<Vec<StoredDataKey>>;

    /// Replaces `wrapped` and `master_key_id` of the given keys in one transaction (master
    /// key rotation). A key destroyed meanwhile stays destroyed.
    async fn rewrap_data_keys(&self, keys: Vec<StoredDataKey>) -> StoreResult<u64>;

    /// Crypto-shredding: forgets the wrapped material of every version of a scope's key.
    async fn destroy_data_keys(
        &self,
        tenant_id: TenantId,
        scope: &str,
        at: OffsetDateTime,
        audit: crate::NewAuditEvent,
    ) -> StoreResult<u64>;

    /// The tenant's newest signing key, if one was made.
    async fn current_signing_key(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Option<StoredSigningKey>>;

    /// Adds a signing key. Two processes racing to make a tenant's first key may both
    /// succeed; both keys are genuine and exports list every key.
    async fn insert_signing_key(&self, key: StoredSigningKey) -> StoreResult<()>;

    /// All signing keys a tenant ever had (public parts), oldest first.
    async fn list_signing_keys(&self, tenant_id: TenantId) -> StoreResult<Vec<StoredSigningKey>>;
}
