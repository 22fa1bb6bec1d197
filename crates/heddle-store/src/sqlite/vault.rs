//! The vault's tables on SQLite.

use async_trait::async_trait;
use heddle_types::TenantId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, from_micros, optional_from_micros, to_micros};
use crate::db_error::{UniqueColumn, conflict_or_database};
use crate::{NewAuditEvent, StoreError, StoreResult, StoredDataKey, StoredSigningKey, VaultStore};

macro_rules! data_key_columns {
    () => {
        "tenant_id, scope, version, wrapped, master_key_id, created_at, destroyed_at"
    };
}

macro_rules! signing_key_columns {
    () => {
        "tenant_id, key_id, public_key, sealed_private_key, data_key_version, created_at"
    };
}

fn data_key_from_row(row: &SqliteRow) -> StoreResult<StoredDataKey> {
    Ok(StoredDataKey {
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        scope: row.try_get("scope")?,
        version: version_from_db(row.try_get("version")?)?,
        wrapped: row.try_get("wrapped")?,
        master_key_id: row.try_get("master_key_id")?,
        created_at: from_micros(row.try_get("created_at")?)?,
        destroyed_at: optional_from_micros(row.try_get("destroyed_at")?)?,
    })
}

fn signing_key_from_row(row: &SqliteRow) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        key_id: row.try_get("key_id")?,
        public_key: row.try_get("public_key")?,
        sealed_private_key: row.try_get("sealed_private_key")?,
        data_key_version: version_from_db(row.try_get("data_key_version")?)?,
        created_at: from_micros(row.try_get("created_at")?)?,
    })
}

fn version_from_db(value: i64) -> StoreResult<u32> {
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("key version `{value}` out of range")))
}

#[async_trait]
impl VaultStore for SqliteStore {
    async fn current_data_key(
        &self,
        tenant_id: TenantId,
        scope: &str,
    ) -> StoreResult<Option<StoredDataKey>> {
        let sql = concat!(
            "SELECT ",
            data_key_columns!(),
            " FROM vault_data_keys WHERE tenant_id = $1 AND scope = $2 \
             ORDER BY version DESC LIMIT 1"
        );
        sqlx::query(sql)
            .bind(tenant_id.as_uuid())
            .bind(scope)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(data_key_from_row)
            .transpose()
    }

    async fn get_data_key(
        &self,
        tenant_id: TenantId,
        scope: &str,
        version: u32,
    ) -> StoreResult<Option<StoredDataKey>> {
        let sql = concat!(
            "SELECT ",
            data_key_columns!(),
            " FROM vault_data_keys \
             WHERE tenant_id = $1 AND scope = $2 AND version = $3"
        );
        sqlx::query(sql)
            .bind(tenant_id.as_uuid())
            .bind(scope)
            .bind(i64::from(version))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(data_key_from_row)
            .transpose()
    }

    async fn insert_data_key(&self, key: StoredDataKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO vault_data_keys (tenant_id, scope, version, wrapped, master_key_id, \
             created_at, destroyed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.tenant_id.as_uuid())
        .bind(&key.scope)
        .bind(i64::from(key.version))
        .bind(key.wrapped.as_deref())
        .bind(&key.master_key_id)
        .bind(to_micros(key.created_at))
        .bind(key.destroyed_at.map(to_micros))
        .execute(&self.pool)
        .await
        .map_err(|err| {
            conflict_or_database(
                err,
                "data key",
                &key.version.to_string(),
                &[UniqueColumn {
                    column: "version",
                    value: &key.version.to_string(),
                }],
            )
        })?;
        Ok(())
    }

    async fn list_live_data_keys(&self) -> StoreResult<Vec<StoredDataKey>> {
        let sql = concat!(
            "SELECT ",
            data_key_columns!(),
            " FROM vault_data_keys WHERE wrapped IS NOT NULL \
             ORDER BY tenant_id, scope, version"
        );
        sqlx::query(sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(data_key_from_row)
            .collect()
    }

    async fn rewrap_data_keys(&self, keys: Vec<StoredDataKey>) -> StoreResult<u64> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let mut changed = 0;
        for key in &keys {
            changed += sqlx::query(
                "UPDATE vault_data_keys SET wrapped = $1, master_key_id = $2 \
                 WHERE tenant_id = $3 AND scope = $4 AND version = $5 AND wrapped IS NOT NULL",
            )
            .bind(key.wrapped.as_deref())
            .bind(&key.master_key_id)
            .bind(key.tenant_id.as_uuid())
            .bind(&key.scope)
            .bind(i64::from(key.version))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn destroy_data_keys(
        &self,
        tenant_id: TenantId,
        scope: &str,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let destroyed = sqlx::query(
            "UPDATE vault_data_keys SET wrapped = NULL, destroyed_at = $1 \
             WHERE tenant_id = $2 AND scope = $3 AND wrapped IS NOT NULL",
        )
        .bind(to_micros(at))
        .bind(tenant_id.as_uuid())
        .bind(scope)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(destroyed)
    }

    async fn current_signing_key(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Option<StoredSigningKey>> {
        let sql = concat!(
            "SELECT ",
            signing_key_columns!(),
            " FROM audit_signing_keys WHERE tenant_id = $1 \
             ORDER BY created_at DESC, key_id DESC LIMIT 1"
        );
        sqlx::query(sql)
            .bind(tenant_id.as_uuid())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(signing_key_from_row)
            .transpose()
    }

    async fn insert_signing_key(&self, key: StoredSigningKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_signing_keys (tenant_id, key_id, public_key, sealed_private_key, \
             data_key_version, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.tenant_id.as_uuid())
        .bind(&key.key_id)
        .bind(&key.public_key)
        .bind(key.sealed_private_key.as_deref())
        .bind(i64::from(key.data_key_version))
        .bind(to_micros(key.created_at))
        .execute(&self.pool)
        .await
        .map_err(|err| {
            conflict_or_database(
                err,
                "signing key",
                &key.key_id,
                &[UniqueColumn {
                    column: "key_id",
                    value: &key.key_id,
                }],
            )
        })?;
        Ok(())
    }

    async fn list_signing_keys(&self, tenant_id: TenantId) -> StoreResult<Vec<StoredSigningKey>> {
        let sql = concat!(
            "SELECT ",
            signing_key_columns!(),
            " FROM audit_signing_keys WHERE tenant_id = $1 \
             ORDER BY created_at, key_id"
        );
        sqlx::query(sql)
            .bind(tenant_id.as_uuid())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(signing_key_from_row)
            .collect()
    }
}
