//! Storage for vault secrets: metadata in clear, the value only as ciphertext the vault sealed.
//!
//! The store never sees a secret's value. Deleting a secret forgets its ciphertext and keeps
//! the metadata as history; a deleted secret is not found by any read here.

use std::fmt;

use async_trait::async_trait;
use heddle_types::{
    Environment, Page, PageRequest, Secret, SecretId, SecretKind, TenantId, UserId,
};
use time::OffsetDateTime;

use crate::{NewAuditEvent, StoreResult};

/// A secret's value as the vault sealed it, with the data key version needed to open it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub data_key_version: u32,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    /// Ciphertext is not secret, but it is noise in logs; its length is enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("data_key_version", &self.data_key_version)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: SecretId,
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// Unique per tenant and environment among live secrets.
    pub name: String,
    pub kind: SecretKind,
    /// Sealed for version 1.
    pub sealed: SealedSecret,
    pub masked: String,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
}

/// A new value for a secret.
#[derive(Debug, Clone)]
pub struct SecretRotation {
    /// The version the new value was sealed for: the current version plus one.
    pub version: u32,
    pub sealed: SealedSecret,
    pub masked: String,
    pub at: OffsetDateTime,
}

/// Optional narrowing of a secret list; `None` matches everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecretFilter {
    pub environment: Option<Environment>,
    pub kind: Option<SecretKind>,
}

#[async_trait]
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// Fails with [`crate::StoreError::Conflict`] (field `name`) when a live secret of that
    /// name exists in the tenant and environment, and with [`crate::StoreError::NotFound`]
    /// when the tenant is missing or `created_by` is not a user of it.
    async fn create_secret(&self, secret: NewSecret, audit: NewAuditEvent) -> StoreResult<Secret>;

    /// A live secret's metadata; a deleted secret, or another tenant's, is `NotFound`.
    async fn get_secret(&self, tenant_id: TenantId, id: SecretId) -> StoreResult<Secret>;

    /// A live secret's metadata and sealed value, for the one call that opens it.
    async fn get_sealed_secret(
        &self,
        tenant_id: TenantId,
        id: SecretId,
    ) -> StoreResult<(Secret, SealedSecret)>;

    /// Live secrets, oldest first, keyset-paginated by id.
    async fn list_secrets(
        &self,
        tenant_id: TenantId,
        filter: SecretFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Secret>>;

    /// Replaces the sealed value and bumps the version. `Conflict` (field `version`, value the
    /// current version) when `rotation.version` is not the current version plus one — another
    /// rotation won the race, and the value sealed for that version would not open.
    async fn rotate_secret(
        &self,
        tenant_id: TenantId,
        id: SecretId,
        rotation: SecretRotation,
        audit: NewAuditEvent,
    ) -> StoreResult<Secret>;

    /// Soft delete: forgets the sealed value and sets `deleted_at`. `NotFound` when the secret
    /// does not exist or was deleted already.
    async fn delete_secret(
        &self,
        tenant_id: TenantId,
        id: SecretId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Secret>;
}
