//! Each tenant's record org: the access configuration (users, roles, profiles, permission
//! sets, sharing rules, custom objects) its records are judged by, as one versioned JSON
//! document. The store keeps the document opaque; `heddle-records` gives it meaning.
//!
//! Versions start at 1 and grow by one per change; a writer names the version it read, so two
//! administrators applying at once cannot silently overwrite each other.

use async_trait::async_trait;
use heddle_types::TenantId;
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use crate::{NewAuditEvent, StoreResult};

/// A tenant's record org as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecordOrg {
    pub tenant_id: TenantId,
    pub version: i64,
    pub config: JsonValue,
    pub updated_at: OffsetDateTime,
}

#[async_trait]
pub trait RecordOrgStore: Send + Sync + std::fmt::Debug {
    /// The tenant's record org, `None` when none was ever put.
    async fn get_record_org(&self, tenant_id: TenantId) -> StoreResult<Option<StoredRecordOrg>>;

    /// Replaces the tenant's record org. `expected_version` is the version the caller read
    /// (`None` when it read none); when another writer got there first this fails with
    /// [`crate::StoreError::Conflict`] and changes nothing. Fails with
    /// [`crate::StoreError::NotFound`] when the tenant does not exist.
    async fn put_record_org(
        &self,
        tenant_id: TenantId,
        config: JsonValue,
        expected_version: Option<i64>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<StoredRecordOrg>;
}
