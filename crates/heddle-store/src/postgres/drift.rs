//! Drift baselines on PostgreSQL.

use async_trait::async_trait;
use heddle_types::{Environment, TenantId};
use sqlx::Row;
use sqlx::types::{Json, JsonValue};
use time::OffsetDateTime;

use super::PgStore;
use crate::db_error::{is_foreign_key_violation, not_found, version_conflict};
use crate::drift::{DriftState, DriftStore};
use crate::{StoreError, StoreResult};

#[async_trait]
impl DriftStore for PgStore {
    async fn get_drift_state(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        agent: &str,
    ) -> StoreResult<Option<DriftState>> {
        let row = sqlx::query(
            "SELECT state, version, updated_at FROM drift_baselines \
             WHERE tenant_id = $1 AND environment = $2 AND agent = $3",
        )
        .bind(tenant_id.as_uuid())
        .bind(environment.as_str())
        .bind(agent)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let Json(state): Json<JsonValue> = row.try_get("state")?;
            Ok(DriftState {
                state,
                version: row.try_get("version")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    async fn put_drift_state(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        agent: &str,
        state: &JsonValue,
        expected_version: Option<i64>,
        now: OffsetDateTime,
    ) -> StoreResult<i64> {
        // A compare-and-set in one statement, so no transaction: the update only matches the
        // version the caller read, and the insert only happens when there was none (of two
        // racing first inserts, the second finds the row and inserts nothing).
        let written: Result<Option<i64>, sqlx::Error> = match expected_version {
            Some(expected) => {
                sqlx::query_scalar(
                    "UPDATE drift_baselines SET state = $5, version = version + 1, \
                     updated_at = $6 WHERE tenant_id = $1 AND environment = $2 \
                     AND agent = $3 AND version = $4 RETURNING version",
                )
                .bind(tenant_id.as_uuid())
                .bind(environment.as_str())
                .bind(agent)
                .bind(expected)
                .bind(Json(state))
                .bind(now)
                .fetch_optional(&self.pool)
                .await
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO drift_baselines (tenant_id, environment, agent, state, \
                     version, updated_at) VALUES ($1, $2, $3, $4, 1, $5) \
                     ON CONFLICT (tenant_id, environment, agent) DO NOTHING RETURNING version",
                )
                .bind(tenant_id.as_uuid())
                .bind(environment.as_str())
                .bind(agent)
                .bind(Json(state))
                .bind(now)
                .fetch_optional(&self.pool)
                .await
            }
        };
        match written {
            Ok(Some(version)) => Ok(version),
            Ok(None) => Err(version_conflict("drift baseline", expected_version)),
            Err(err) if is_foreign_key_violation(&err) => Err(not_found("tenant", tenant_id)),
            Err(err) => Err(StoreError::from(err)),
        }
    }
}
