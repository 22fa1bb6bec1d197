//! Configuration snapshots on SQLite.

use async_trait::async_trait;
use heddle_types::{Environment, TenantId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::types::{Json, JsonValue};

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, from_micros, to_micros};
use crate::config_snapshots::{
    ConfigSnapshot, ConfigSnapshotStore, ConfigSnapshotSummary, NewConfigSnapshot,
    parse_environment,
};
use crate::db_error::{is_foreign_key_violation, not_found, version_conflict};
use crate::{NewAuditEvent, StoreError, StoreResult};

fn snapshot_from_row(tenant_id: TenantId, row: &SqliteRow) -> StoreResult<ConfigSnapshot> {
    let Json(documents): Json<JsonValue> = row.try_get("documents")?;
    Ok(ConfigSnapshot {
        tenant_id,
        environment: parse_environment(row.try_get("environment")?)?,
        version: row.try_get("version")?,
        content_hash: row.try_get("content_hash")?,
        documents,
        applied_by: row.try_get("applied_by")?,
        created_at: from_micros(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl ConfigSnapshotStore for SqliteStore {
    async fn put_config_snapshot(
        &self,
        snapshot: NewConfigSnapshot,
        expected_version: Option<i64>,
        audit: NewAuditEvent,
    ) -> StoreResult<ConfigSnapshot> {
        // IMMEDIATE: reading the latest version and inserting the next cannot interleave
        // with another writer.
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT max(version) FROM config_snapshots WHERE tenant_id = $1 AND environment = $2",
        )
        .bind(snapshot.tenant_id.as_uuid())
        .bind(snapshot.environment.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if latest != expected_version {
            return Err(version_conflict("configuration", expected_version));
        }
        let version = latest.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO config_snapshots (tenant_id, environment, version, content_hash, \
             documents, applied_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(snapshot.tenant_id.as_uuid())
        .bind(snapshot.environment.as_str())
        .bind(version)
        .bind(&snapshot.content_hash)
        .bind(Json(&snapshot.documents))
        .bind(&snapshot.applied_by)
        .bind(to_micros(snapshot.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                not_found("tenant", snapshot.tenant_id)
            } else {
                StoreError::from(err)
            }
        })?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(ConfigSnapshot {
            tenant_id: snapshot.tenant_id,
            environment: snapshot.environment,
            version,
            content_hash: snapshot.content_hash,
            documents: snapshot.documents,
            applied_by: snapshot.applied_by,
            created_at: snapshot.created_at,
        })
    }

    async fn get_config_snapshot(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        version: Option<i64>,
    ) -> StoreResult<Option<ConfigSnapshot>> {
        // A null version selects the latest.
        let row = sqlx::query(
            "SELECT environment, version, content_hash, documents, applied_by, created_at \
             FROM config_snapshots WHERE tenant_id = $1 AND environment = $2 \
             AND ($3 IS NULL OR version = $3) ORDER BY version DESC LIMIT 1",
        )
        .bind(tenant_id.as_uuid())
        .bind(environment.as_str())
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| snapshot_from_row(tenant_id, &row))
            .transpose()
    }

    async fn list_config_snapshots(
        &self,
        tenant_id: TenantId,
        environment: Environment,
    ) -> StoreResult<Vec<ConfigSnapshotSummary>> {
        let rows = sqlx::query(
            "SELECT version, content_hash, applied_by, created_at FROM config_snapshots \
             WHERE tenant_id = $1 AND environment = $2 ORDER BY version DESC",
        )
        .bind(tenant_id.as_uuid())
        .bind(environment.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ConfigSnapshotSummary {
                    version: row.try_get("version")?,
                    content_hash: row.try_get("content_hash")?,
                    applied_by: row.try_get("applied_by")?,
                    created_at: from_micros(row.try_get("created_at")?)?,
                })
            })
            .collect()
    }
}
