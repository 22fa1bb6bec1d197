//! The secrets table on PostgreSQL.

use async_trait::async_trait;
use heddle_types::{Page, PageRequest, Secret, SecretId, TenantId, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use super::PgStore;
use super::audit::insert_outbox_event;
use crate::db_error::{UniqueColumn, conflict_or_database, is_foreign_key_violation, not_found};
use crate::paging::{fetch_limit, into_page};
use crate::secrets::{NewSecret, SealedSecret, SecretFilter, SecretRotation, SecretStore};
use crate::{NewAuditEvent, StoreError, StoreResult};

macro_rules! secret_columns {
    () => {
        "id, tenant_id, environment, name, kind, version, masked, created_by, created_at, \
         updated_at, deleted_at"
    };
}

fn secret_from_row(row: &PgRow) -> StoreResult<Secret> {
    Ok(Secret {
        id: SecretId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        environment: row.try_get::<&str, _>("environment")?.parse().map_err(
            |err: heddle_types::EnvironmentParseError| StoreError::Corrupt(err.to_string()),
        )?,
        name: row.try_get("name")?,
        kind: row.try_get::<&str, _>("kind")?.parse().map_err(
            |err: heddle_types::SecretKindParseError| StoreError::Corrupt(err.to_string()),
        )?,
        version: version_from_db(row.try_get("version")?)?,
        masked: row.try_get("masked")?,
        created_by: row
            .try_get::<Option<uuid::Uuid>, _>("created_by")?
            .map(UserId::from_uuid),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn sealed_from_row(row: &PgRow) -> StoreResult<SealedSecret> {
    let ciphertext: Option<Vec<u8>> = row.try_get("sealed")?;
    Ok(SealedSecret {
        data_key_version: version_from_db(row.try_get("data_key_version")?)?,
        // The CHECK constraint ties a missing value to `deleted_at`, which reads exclude.
        ciphertext: ciphertext
            .ok_or_else(|| StoreError::Corrupt("a live secret has no sealed value".to_owned()))?,
    })
}

fn version_to_db(value: u32) -> StoreResult<i32> {
    i32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("secret version `{value}` out of range")))
}

fn version_from_db(value: i32) -> StoreResult<u32> {
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("secret version `{value}` out of range")))
}

#[async_trait]
impl SecretStore for PgStore {
    async fn create_secret(&self, secret: NewSecret, audit: NewAuditEvent) -> StoreResult<Secret> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO secrets (id, tenant_id, environment, name, kind, version, sealed, \
             data_key_version, masked, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $10) RETURNING ",
            secret_columns!()
        ))
        .bind(secret.id.as_uuid())
        .bind(secret.tenant_id.as_uuid())
        .bind(secret.environment.as_str())
        .bind(&secret.name)
        .bind(secret.kind.as_str())
        .bind(&secret.sealed.ciphertext)
        .bind(version_to_db(secret.sealed.data_key_version)?)
        .bind(&secret.masked)
        .bind(secret.created_by.as_ref().map(UserId::as_uuid))
        .bind(secret.created_at)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(err) => {
                // Rolled back first: `missing_parent` needs a connection of its own.
                tx.rollback().await?;
                return Err(if is_foreign_key_violation(&err) {
                    self.missing_parent(secret.tenant_id, secret.created_by)
                        .await
                } else {
                    conflict_or_database(
                        err,
                        "secret",
                        &secret.id.to_string(),
                        &[UniqueColumn {
                            column: "name",
                            value: &secret.name,
                        }],
                    )
                });
            }
        };
        let created = secret_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_secret(&self, tenant_id: TenantId, id: SecretId) -> StoreResult<Secret> {
        let row = sqlx::query(concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("secret", id))?;
        secret_from_row(&row)
    }

    async fn get_sealed_secret(
        &self,
        tenant_id: TenantId,
        id: SecretId,
    ) -> StoreResult<(Secret, SealedSecret)> {
        let row = sqlx::query(concat!(
            "SELECT ",
            secret_columns!(),
            ", sealed, data_key_version FROM secrets \
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("secret", id))?;
        Ok((secret_from_row(&row)?, sealed_from_row(&row)?))
    }

    async fn list_secrets(
        &self,
        tenant_id: TenantId,
        filter: SecretFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Secret>> {
        // Absent filters bind NULL and match every row, so one statement serves every case.
        let rows = sqlx::query(concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets WHERE tenant_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR environment = $2) AND ($3 IS NULL OR kind = $3) \
             AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5"
        ))
        .bind(tenant_id.as_uuid())
        .bind(filter.environment.map(|environment| environment.as_str()))
        .bind(filter.kind.map(|kind| kind.as_str()))
        .bind(page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(secret_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(into_page(items, page, |secret: &Secret| {
            *secret.id.as_uuid()
        }))
    }

    async fn rotate_secret(
        &self,
        tenant_id: TenantId,
        id: SecretId,
        rotation: SecretRotation,
        audit: NewAuditEvent,
    ) -> StoreResult<Secret> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE secrets SET sealed = $1, data_key_version = $2, masked = $3, version = $4, \
             updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7 AND deleted_at IS NULL AND version = $4 - 1 \
             RETURNING ",
            secret_columns!()
        ))
        .bind(&rotation.sealed.ciphertext)
        .bind(version_to_db(rotation.sealed.data_key_version)?)
        .bind(&rotation.masked)
        .bind(version_to_db(rotation.version)?)
        .bind(rotation.at)
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let current = sqlx::query_scalar::<_, i32>(
                "SELECT version FROM secrets \
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
            )
            .bind(tenant_id.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Err(match current {
                None => not_found("secret", id),
                Some(version) => StoreError::Conflict {
                    entity: "secret",
                    field: "version",
                    value: version.to_string(),
                },
            });
        };
        let rotated = secret_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(rotated)
    }

    async fn delete_secret(
        &self,
        tenant_id: TenantId,
        id: SecretId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Secret> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE secrets SET sealed = NULL, deleted_at = $1, updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND deleted_at IS NULL RETURNING ",
            secret_columns!()
        ))
        .bind(at)
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(not_found("secret", id));
        };
        let deleted = secret_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(deleted)
    }
}
