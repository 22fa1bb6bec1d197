//! The record org table on PostgreSQL.

use async_trait::async_trait;
use heddle_types::TenantId;
use sqlx::Row;
use sqlx::types::Json;
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use super::PgStore;
use super::audit::insert_outbox_event;
use crate::db_error::{is_foreign_key_violation, not_found, version_conflict};
use crate::record_orgs::{RecordOrgStore, StoredRecordOrg};
use crate::{NewAuditEvent, StoreError, StoreResult};

#[async_trait]
impl RecordOrgStore for PgStore {
    async fn get_record_org(&self, tenant_id: TenantId) -> StoreResult<Option<StoredRecordOrg>> {
        let row =
            sqlx::query("SELECT version, config, updated_at FROM record_orgs WHERE tenant_id = $1")
                .bind(tenant_id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            let Json(config): Json<JsonValue> = row.try_get("config")?;
            Ok(StoredRecordOrg {
                tenant_id,
                version: row.try_get("version")?,
                config,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    async fn put_record_org(
        &self,
        tenant_id: TenantId,
        config: JsonValue,
        expected_version: Option<i64>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<StoredRecordOrg> {
        let mut tx = self.pool.begin().await?;
        // A compare-and-set in one statement: the update only matches the version the caller
        // read, and the insert only happens when there was none (a concurrent first insert
        // hits the primary key and is reported as the same conflict).
        let written: Result<Option<i64>, sqlx::Error> =
            match expected_version {
                Some(expected) => sqlx::query_scalar(
                    "UPDATE record_orgs SET version = version + 1, config = $3, updated_at = $4 \
                     WHERE tenant_id = $1 AND version = $2 RETURNING version",
                )
                .bind(tenant_id.as_uuid())
                .bind(expected)
                .bind(Json(&config))
                .bind(at)
                .fetch_optional(&mut *tx)
                .await,
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO record_orgs (tenant_id, version, config, updated_at) \
                     VALUES ($1, 1, $2, $3) ON CONFLICT (tenant_id) DO NOTHING RETURNING version",
                    )
                    .bind(tenant_id.as_uuid())
                    .bind(Json(&config))
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await
                }
            };
        let version = match written {
            Ok(Some(version)) => version,
            Ok(None) => return Err(version_conflict("record org", expected_version)),
            Err(err) if is_foreign_key_violation(&err) => {
                return Err(not_found("tenant", tenant_id));
            }
            Err(err) => return Err(StoreError::from(err)),
        };
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(StoredRecordOrg {
            tenant_id,
            version,
            config,
            updated_at: at,
        })
    }
}
