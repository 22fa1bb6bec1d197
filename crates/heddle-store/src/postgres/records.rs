//! The records table on PostgreSQL: fields as `jsonb`, the sharing filter with bound arrays.

use std::collections::BTreeMap;

use async_trait::async_trait;
use heddle_records::{Org, OrgUser, Record, RecordId, UserId, strip_inaccessible};
use heddle_types::TenantId;
use sqlx::postgres::PgRow;
use sqlx::types::{Json, JsonValue};
use sqlx::{Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use super::PgStore;
use super::audit::insert_outbox_event;
use super::record_visibility::push_sharing_filter;

use crate::db_error::{conflict_or_database, is_foreign_key_violation, not_found};
use crate::records::{RecordQueryError, RecordStore, Seek, VisibleRecord};
use crate::{NewAuditEvent, StoreError, StoreResult};

/// Rows per INSERT statement (7 parameters each, well below PostgreSQL's 65,535).
const INSERT_CHUNK: usize = 500;

pub(super) fn record_from_row(row: &PgRow) -> StoreResult<Record> {
    let id: String = row.try_get("id")?;
    let Json(fields): Json<BTreeMap<String, JsonValue>> = row.try_get("fields")?;
    Ok(Record {
        id: RecordId::parse(&id).map_err(|err| StoreError::Corrupt(err.to_string()))?,
        object: row.try_get("object")?,
        owner_id: UserId::new(row.try_get::<String, _>("owner_id")?),
        fields,
    })
}

impl PgStore {
    async fn select_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        object: &str,
        seek: Seek<'_>,
    ) -> Result<Vec<VisibleRecord>, RecordQueryError> {
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT r.id, r.object, r.owner_id, r.fields FROM records r WHERE r.tenant_id = ",
        );
        query.push_bind(tenant_id.as_uuid());
        query.push(" AND r.object = ");
        query.push_bind(object.to_owned());
        let limit = match seek {
            Seek::Page { after, limit } => {
                if let Some(after) = after {
                    query.push(" AND r.id > ");
                    query.push_bind(after.as_str().to_owned());
                }
                limit
            }
            Seek::Only(id) => {
                query.push(" AND r.id = ");
                query.push_bind(id.as_str().to_owned());
                1
            }
        };
        if !push_sharing_filter(&mut query, org, user, object)? {
            return Ok(Vec::new());
        }
        query.push(" ORDER BY r.id LIMIT ");
        query.push_bind(i64::from(limit));
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        rows.iter()
            .map(|row| {
                let mut record = record_from_row(row)?;
                let (fields, removed_fields) = strip_inaccessible(org, user, &record);
                record.fields = fields;
                Ok(VisibleRecord {
                    record,
                    removed_fields,
                })
            })
            .collect()
    }
}

#[async_trait]
impl RecordStore for PgStore {
    // User-mode writes live in `record_writes.rs`.
    async fn create_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        record: Record,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Record, crate::RecordWriteError> {
        self.write_create_record(tenant_id, org, user, record, at, idempotency_key, audit)
            .await
    }

    async fn update_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
        changes: BTreeMap<String, JsonValue>,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Record, crate::RecordWriteError> {
        self.write_update_record(
            tenant_id,
            org,
            user,
            id,
            changes,
            at,
            idempotency_key,
            audit,
        )
        .await
    }

    async fn delete_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<(), crate::RecordWriteError> {
        self.write_delete_record(tenant_id, org, user, id, at, idempotency_key, audit)
            .await
    }

    async fn insert_records(
        &self,
        tenant_id: TenantId,
        records: Vec<Record>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in records.chunks(INSERT_CHUNK) {
            let mut query = QueryBuilder::<Postgres>::new(
                "INSERT INTO records (tenant_id, id, object, owner_id, fields, created_at, \
                 updated_at) ",
            );
            query.push_values(chunk, |mut row, record| {
                row.push_bind(tenant_id.as_uuid())
                    .push_bind(record.id.as_str().to_owned())
                    .push_bind(record.object.clone())
                    .push_bind(record.owner_id.0.clone())
                    .push_bind(Json(record.fields.clone()))
                    .push_bind(at)
                    .push_bind(at);
            });
            query.build().execute(&mut *tx).await.map_err(|err| {
                if is_foreign_key_violation(&err) {
                    not_found("tenant", tenant_id)
                } else {
                    conflict_or_database(err, "record", "in this batch", &[])
                }
            })?;
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn query_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        object: &str,
        limit: u32,
        after: Option<&RecordId>,
    ) -> Result<Vec<VisibleRecord>, RecordQueryError> {
        self.select_visible(tenant_id, org, user, object, Seek::Page { after, limit })
            .await
    }

    async fn query_records(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        query: &heddle_records::ValidQuery,
    ) -> Result<crate::QueryPage, RecordQueryError> {
        super::record_query::query_records(&self.pool, tenant_id, org, user, query).await
    }

    async fn get_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
    ) -> Result<Option<VisibleRecord>, RecordQueryError> {
        // The key prefix names the object, so one query suffices; a record stored under
        // another object than its prefix says is not found.
        let Some(object) = org.objects.iter().find(|o| o.key_prefix == id.key_prefix()) else {
            return Ok(None);
        };
        let object = object.api_name.clone();
        let mut found = self
            .select_visible(tenant_id, org, user, &object, Seek::Only(id))
            .await?;
        Ok(found.pop())
    }
}
