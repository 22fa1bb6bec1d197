//! SIEM sinks on PostgreSQL.

use async_trait::async_trait;
use heddle_types::TenantId;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::PgStore;
use super::audit::insert_outbox_event;
use crate::audit_batch::{from_db_int, to_db_int};
use crate::db_error::{UniqueColumn, conflict_or_database, not_found};
use crate::{
    NewAuditEvent, NewSiemSink, SiemDeliveryUpdate, SiemStore, StoreError, StoreResult,
    StoredSiemSink,
};

macro_rules! sink_columns {
    () => {
        "id, tenant_id, name, kind, summary, sealed_config, data_key_version, cursor, paused, \
         attempts, last_error, last_error_at, last_delivered_at, next_attempt_at, created_at"
    };
}

fn small(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} `{value}` out of range")))
}

fn sink_from_row(row: &PgRow) -> StoreResult<StoredSiemSink> {
    Ok(StoredSiemSink {
        id: row.try_get("id")?,
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        summary: row.try_get("summary")?,
        sealed_config: row.try_get("sealed_config")?,
        data_key_version: small(
            row.try_get::<i32, _>("data_key_version")?.into(),
            "key version",
        )?,
        cursor: from_db_int(row.try_get("cursor")?)?,
        paused: row.try_get("paused")?,
        attempts: small(row.try_get::<i32, _>("attempts")?.into(), "attempts")?,
        last_error: row.try_get("last_error")?,
        last_error_at: row.try_get("last_error_at")?,
        last_delivered_at: row.try_get("last_delivered_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl SiemStore for PgStore {
    async fn create_siem_sink(
        &self,
        sink: NewSiemSink,
        audit: NewAuditEvent,
    ) -> StoreResult<StoredSiemSink> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO siem_sinks (id, tenant_id, name, kind, summary, sealed_config, \
             data_key_version, cursor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(sink.id)
        .bind(sink.tenant_id.as_uuid())
        .bind(&sink.name)
        .bind(&sink.kind)
        .bind(&sink.summary)
        .bind(&sink.sealed_config)
        .bind(
            i32::try_from(sink.data_key_version)
                .map_err(|_| StoreError::Corrupt("key version out of range".into()))?,
        )
        .bind(to_db_int(sink.cursor)?)
        .bind(sink.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            conflict_or_database(
                err,
                "siem sink",
                &sink.id.to_string(),
                &[UniqueColumn {
                    column: "name",
                    value: &sink.name,
                }],
            )
        })?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        self.get_siem_sink(sink.tenant_id, sink.id).await
    }

    async fn get_siem_sink(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<StoredSiemSink> {
        let row = sqlx::query(concat!(
            "SELECT ",
            sink_columns!(),
            " FROM siem_sinks WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("siem sink", id))?;
        sink_from_row(&row)
    }

    async fn list_siem_sinks(&self, tenant_id: TenantId) -> StoreResult<Vec<StoredSiemSink>> {
        sqlx::query(concat!(
            "SELECT ",
            sink_columns!(),
            " FROM siem_sinks WHERE tenant_id = $1 ORDER BY name"
        ))
        .bind(tenant_id.as_uuid())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sink_from_row)
        .collect()
    }

    async fn delete_siem_sink(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM siem_sinks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_uuid())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(not_found("siem sink", id));
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn resume_siem_sink(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        audit: NewAuditEvent,
    ) -> StoreResult<StoredSiemSink> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE siem_sinks SET paused = FALSE, attempts = 0, next_attempt_at = NULL \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id.as_uuid())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(not_found("siem sink", id));
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        self.get_siem_sink(tenant_id, id).await
    }

    async fn due_siem_sinks(&self, now: OffsetDateTime) -> StoreResult<Vec<StoredSiemSink>> {
        sqlx::query(concat!(
            "SELECT ",
            sink_columns!(),
            " FROM siem_sinks WHERE NOT paused \
             AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY id"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sink_from_row)
        .collect()
    }

    async fn lease_siem_sink(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        let taken = sqlx::query(
            "UPDATE siem_sinks SET lease_until = $1 \
             WHERE id = $2 AND (lease_until IS NULL OR lease_until <= $3)",
        )
        .bind(until)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn record_siem_delivery(&self, id: Uuid, update: SiemDeliveryUpdate) -> StoreResult<()> {
        sqlx::query(
            "UPDATE siem_sinks SET cursor = GREATEST(cursor, $1), attempts = $2, \
             last_error = COALESCE($3, last_error), \
             last_error_at = CASE WHEN $3::text IS NULL THEN last_error_at ELSE $4 END, \
             last_delivered_at = CASE WHEN $5 THEN $4 ELSE last_delivered_at END, \
             next_attempt_at = $6, paused = $7, lease_until = NULL WHERE id = $8",
        )
        .bind(to_db_int(update.cursor)?)
        .bind(i32::try_from(update.attempts).unwrap_or(i32::MAX))
        .bind(update.last_error.as_deref())
        .bind(update.at)
        .bind(update.delivered)
        .bind(update.next_attempt_at)
        .bind(update.paused)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
