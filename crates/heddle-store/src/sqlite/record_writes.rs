//! User-mode record writes on SQLite. Each runs in one `BEGIN IMMEDIATE` transaction: the
//! write lock is taken up front, so the record and the parent chain the pure check reads
//! cannot change before the write commits.

use std::collections::BTreeMap;

use heddle_records::access::MAX_PARENT_DEPTH;
use heddle_records::{
    Org, OrgUser, Record, RecordId, UserId, check_create, check_delete, check_update,
};
use heddle_types::TenantId;
use sqlx::types::{Json, JsonValue};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, to_micros};

use crate::db_error::{is_foreign_key_violation, not_found};
use crate::records::{RecordWriteError, merge_fields, parent_id, refused};
use crate::{NewAuditEvent, StoreError};

/// `id, object, owner_id, fields` of a records row.
type RecordRow = (String, String, String, Json<BTreeMap<String, JsonValue>>);

type Tx = Transaction<'static, Sqlite>;

async fn select_record(
    tx: &mut Tx,
    tenant_id: TenantId,
    id: &RecordId,
) -> Result<Option<Record>, RecordWriteError> {
    let row: Option<RecordRow> = sqlx::query_as(
        "SELECT id, object, owner_id, fields FROM records WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id.as_uuid())
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, object, owner_id, Json(fields))) = row else {
        return Ok(None);
    };
    Ok(Some(Record {
        id: RecordId::parse(&id).map_err(|err| StoreError::Corrupt(err.to_string()))?,
        object,
        owner_id: UserId::new(owner_id),
        fields,
    }))
}

/// Adds to `lookup` the controlled-by-parent ancestors of `start` the pure checks may read:
/// up to one more than [`MAX_PARENT_DEPTH`], because a new parent is itself evaluated from
/// depth zero. Stops at a missing record; a cycle ends at the depth bound.
async fn load_parent_chain(
    tx: &mut Tx,
    tenant_id: TenantId,
    org: &Org,
    start: &Record,
    lookup: &mut Vec<Record>,
) -> Result<(), RecordWriteError> {
    let mut next = parent_id(org, start);
    for _ in 0..=MAX_PARENT_DEPTH {
        let Some(id) = next else {
            return Ok(());
        };
        if let Some(known) = lookup.iter().find(|r| r.id == id) {
            next = parent_id(org, known);
            continue;
        }
        let Some(parent) = select_record(tx, tenant_id, &id).await? else {
            return Ok(());
        };
        next = parent_id(org, &parent);
        lookup.push(parent);
    }
    Ok(())
}

impl SqliteStore {
    pub(super) async fn write_create_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        mut record: Record,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> Result<Record, RecordWriteError> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let mut lookup = Vec::new();
        load_parent_chain(&mut tx, tenant_id, org, &record, &mut lookup).await?;
        check_create(org, user, &record, &lookup).map_err(refused)?;
        record.fields = merge_fields(BTreeMap::new(), record.fields);
        // `DO NOTHING`: an existing id is reported as a conflict without aborting anything.
        let inserted = sqlx::query(
            "INSERT INTO records (tenant_id, id, object, owner_id, fields, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, id) DO NOTHING",
        )
        .bind(tenant_id.as_uuid())
        .bind(record.id.as_str())
        .bind(&record.object)
        .bind(&record.owner_id.0)
        .bind(Json(&record.fields))
        .bind(to_micros(at))
        .bind(to_micros(at))
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                not_found("tenant", tenant_id)
            } else {
                StoreError::Database(err)
            }
        })?;
        if inserted.rows_affected() == 0 {
            return Err(RecordWriteError::Conflict { id: record.id });
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    #[allow(clippy::too_many_arguments, reason = "the trait method's arguments")]
    pub(super) async fn write_update_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
        changes: BTreeMap<String, JsonValue>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> Result<Record, RecordWriteError> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let Some(current) = select_record(&mut tx, tenant_id, id).await? else {
            return Err(RecordWriteError::NotFound { id: id.clone() });
        };
        let mut lookup = vec![current.clone()];
        load_parent_chain(&mut tx, tenant_id, org, &current, &mut lookup).await?;
        // A changed parent reference is checked too: load the new parent's chain.
        let mut proposed = current.clone();
        proposed.fields.extend(changes.clone());
        load_parent_chain(&mut tx, tenant_id, org, &proposed, &mut lookup).await?;
        check_update(org, user, &current, &changes, &lookup).map_err(refused)?;
        let updated = Record {
            fields: merge_fields(current.fields.clone(), changes),
            ..current
        };
        sqlx::query(
            "UPDATE records SET fields = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(Json(&updated.fields))
        .bind(to_micros(at))
        .bind(tenant_id.as_uuid())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub(super) async fn write_delete_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
        audit: NewAuditEvent,
    ) -> Result<(), RecordWriteError> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let Some(current) = select_record(&mut tx, tenant_id, id).await? else {
            return Err(RecordWriteError::NotFound { id: id.clone() });
        };
        let mut lookup = vec![current.clone()];
        load_parent_chain(&mut tx, tenant_id, org, &current, &mut lookup).await?;
        check_delete(org, user, &current, &lookup).map_err(refused)?;
        sqlx::query("DELETE FROM records WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_uuid())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
