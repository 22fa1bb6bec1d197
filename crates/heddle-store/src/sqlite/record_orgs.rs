//! The record org table on SQLite.

use async_trait::async_trait;
use heddle_types::TenantId;
use sqlx::Row;
use sqlx::types::Json;
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, from_micros, to_micros};
use crate::db_error::{is_foreign_key_violation, not_found, version_conflict};
use crate::record_orgs::{RecordOrgStore, StoredRecordOrg};
use crate::{NewAuditEvent, StoreError, StoreResult};

#[async_trait]
impl RecordOrgStore for SqliteStore {
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
                updated_at: from_micros(row.try_get("updated_at")?)?,
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
        // IMMEDIATE: the version read and the write below cannot interleave with another
        // writer's.
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM record_orgs WHERE tenant_id = $1")
                .bind(tenant_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        if current != expected_version {
            return Err(version_conflict("record org", expected_version));
        }
        let version = current.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO record_orgs (tenant_id, version, config, updated_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version, \
             config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(tenant_id.as_uuid())
        .bind(version)
        .bind(Json(&config))
        .bind(to_micros(at))
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                not_found("tenant", tenant_id)
            } else {
                StoreError::from(err)
            }
        })?;
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
