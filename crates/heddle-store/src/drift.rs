//! Drift baselines: per tenant, environment and agent, the runtime's baseline of the agent's
//! answers (an embedding summary it compares new answers against over time). The store keeps
//! the document opaque; the runtime gives it meaning.
//!
//! Versions start at 1 and grow by one per write; a writer names the version it read, so two
//! processes folding answers into the same baseline cannot silently overwrite each other: the
//! loser gets [`crate::StoreError::Conflict`] and re-reads.
//!
//! Writes carry no audit event, like [`crate::ApiKeyStore::touch_api_key`]: the baseline is
//! bookkeeping derived from answers the audit log already records, rewritten as they arrive.

use async_trait::async_trait;
use heddle_types::{Environment, TenantId};
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use crate::StoreResult;

/// An agent's drift baseline as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftState {
    pub state: JsonValue,
    pub version: i64,
    pub updated_at: OffsetDateTime,
}

#[async_trait]
pub trait DriftStore: Send + Sync + std::fmt::Debug {
    /// The agent's baseline in the environment, `None` when none was ever put.
    async fn get_drift_state(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        agent: &str,
    ) -> StoreResult<Option<DriftState>>;

    /// Replaces the agent's baseline and returns its new version. `expected_version` is the
    /// version the caller read (`None`: there must be none yet); when another writer got
    /// there first this fails with [`crate::StoreError::Conflict`] and changes nothing. Fails
    /// with [`crate::StoreError::NotFound`] when the tenant does not exist.
    async fn put_drift_state(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        agent: &str,
        state: &JsonValue,
        expected_version: Option<i64>,
        now: OffsetDateTime,
    ) -> StoreResult<i64>;
}
