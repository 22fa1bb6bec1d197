//! Applied agent configurations — agents, capabilities and model bindings — as immutable,
//! numbered snapshots per tenant and environment. Executions name the version they ran; a
//! snapshot is never changed or deleted (triggers refuse it on both engines), so that name
//! always resolves to what ran.
//!
//! The documents are opaque JSON here; `heddle-agents` gives them meaning. Versions start at 1
//! and grow by one; a writer names the version it read, so two concurrent applies cannot both
//! become version N.

use async_trait::async_trait;
use heddle_types::{Environment, TenantId};
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use crate::{NewAuditEvent, StoreResult};

/// A configuration to store as the next version.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConfigSnapshot {
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// Hex SHA-256 of the canonical documents, computed by the caller.
    pub content_hash: String,
    pub documents: JsonValue,
    /// Who applied it (a user or key id, or none for the local operator).
    pub applied_by: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A stored configuration version.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSnapshot {
    pub tenant_id: TenantId,
    pub environment: Environment,
    pub version: i64,
    pub content_hash: String,
    pub documents: JsonValue,
    pub applied_by: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A version without its documents, for listing history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSnapshotSummary {
    pub version: i64,
    pub content_hash: String,
    pub applied_by: Option<String>,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait ConfigSnapshotStore: Send + Sync + std::fmt::Debug {
    /// Stores `snapshot` as the next version of its environment. `expected_version` is the
    /// latest version the caller read (`None` when there was none); when another apply got
    /// there first this fails with [`crate::StoreError::Conflict`] and stores nothing. Fails
    /// with [`crate::StoreError::NotFound`] when the tenant does not exist.
    async fn put_config_snapshot(
        &self,
        snapshot: NewConfigSnapshot,
        expected_version: Option<i64>,
        audit: NewAuditEvent,
    ) -> StoreResult<ConfigSnapshot>;

    /// One version, or the latest when `version` is `None`; `None` when there is none.
    async fn get_config_snapshot(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        version: Option<i64>,
    ) -> StoreResult<Option<ConfigSnapshot>>;

    /// Every version of an environment, newest first, without documents.
    async fn list_config_snapshots(
        &self,
        tenant_id: TenantId,
        environment: Environment,
    ) -> StoreResult<Vec<ConfigSnapshotSummary>>;
}

pub(crate) fn parse_environment(value: &str) -> StoreResult<Environment> {
    value
        .parse()
        .map_err(|err: heddle_types::EnvironmentParseError| {
            crate::StoreError::Corrupt(err.to_string())
        })
}
