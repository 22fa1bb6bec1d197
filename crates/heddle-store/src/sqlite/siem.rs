//! SIEM sinks on SQLite.

use async_trait::async_trait;
use heddle_types::TenantId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, from_micros, optional_from_micros, to_micros};
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

fn sink_from_row(row: &SqliteRow) -> StoreResult<StoredSiemSink> {
    Ok(StoredSiemSink {
        id: row.try_get("id")?,
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        summary: row.try_get("summary")?,
        sealed_config: row.try_get("sealed_config")?,
        data_key_version: small(row.try_get("data_key_version")?, "key version")?,
        cursor: from_db_int(row.try_get("cursor")?)?,
        paused: row.try_get::<i64, _>("paused")? != 0,
        attempts: small(row.try_get("attempts")?, "attempts")?,
        last_error: row.try_get("last_error")?,
        last_error_at: optional_from_micros(row.try_get("last_error_at")?)?,
        last_delivered_at: optional_from_micros(row.try_get("last_delivered_at")?)?,
        next_attempt_at: optional_from_micros(row.try_get("next_attempt_at")?)?,
        created_at: from_micros(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl SiemStore for SqliteStore {
    async fn create_siem_sink(
        &self,
        sink: NewSiemSink,
        audit: NewAuditEvent,
    ) -> StoreResult<StoredSiemSink> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
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
        .bind(i64::from(sink.data_key_version))
        .bind(to_db_int(sink.cursor)?)
        .bind(to_micros(sink.created_at))
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
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
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
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let changed = sqlx::query(
            "UPDATE siem_sinks SET paused = 0, attempts = 0, next_attempt_at = NULL \
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
            " FROM siem_sinks WHERE paused = 0 \
             AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY id"
        ))
        .bind(to_micros(now))
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
        .bind(to_micros(until))
        .bind(id)
        .bind(to_micros(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn record_siem_delivery(&self, id: Uuid, update: SiemDeliveryUpdate) -> StoreResult<()> {
        sqlx::query(
            "UPDATE siem_sinks SET cursor = MAX(cursor, $1), attempts = $2, \
             last_error = COALESCE($3, last_error), \
             last_error_at = CASE WHEN $3 IS NULL THEN last_error_at ELSE $4 END, \
             last_delivered_at = CASE WHEN $5 THEN $4 ELSE last_delivered_at END, \
             next_attempt_at = $6, paused = $7, lease_until = NULL WHERE id = $8",
        )
        .bind(to_db_int(update.cursor)?)
        .bind(i64::from(update.attempts))
        .bind(update.last_error.as_deref())
        .bind(to_micros(update.at))
        .bind(update.delivered)
        .bind(update.next_attempt_at.map(to_micros))
        .bind(update.paused)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
