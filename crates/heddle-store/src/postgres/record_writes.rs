//! User-mode record writes on PostgreSQL. Each runs in one transaction that locks what the
//! pure check reads: the record written `FOR UPDATE`, its controlled-by-parent chain `FOR
//! SHARE` (a concurrent writer cannot re-parent, change or delete a parent the check relied
//! on until this write commits). A write with an idempotency key first takes a
//! transaction-scoped advisory lock on the key, so attempts with the same key run one after
//! the other and the later one finds the key the earlier one committed.

use std::collections::BTreeMap;

use heddle_records::access::MAX_PARENT_DEPTH;
use heddle_records::{
    Org, OrgUser, Record, RecordId, UserId, check_create, check_delete, check_update,
};
use heddle_types::TenantId;
use sqlx::types::{Json, JsonValue};
use sqlx::{PgExecutor, Postgres, Transaction};
use time::OffsetDateTime;

use super::PgStore;
use super::audit::insert_outbox_event;

use crate::db_error::{is_foreign_key_violation, not_found};
use crate::records::{
    EffectAction, RecordWriteError, effect_result, merge_fields, parent_id, refused,
};
use crate::{NewAuditEvent, StoreError, StoreResult};

/// `id, object, owner_id, fields` of a records row.
type RecordRow = (String, String, String, Json<BTreeMap<String, JsonValue>>);

type Tx = Transaction<'static, Postgres>;

/// How a read inside a write transaction locks the row.
#[derive(Debug, Clone, Copy)]
enum Lock {
    /// The record being written.
    Update,
    /// A parent the check reads.
    Share,
}

async fn select_record(
    tx: &mut Tx,
    tenant_id: TenantId,
    id: &RecordId,
    lock: Lock,
) -> Result<Option<Record>, RecordWriteError> {
    let sql = match lock {
        Lock::Update => {
            "SELECT id, object, owner_id, fields FROM records WHERE tenant_id = $1 AND id = $2 \
             FOR UPDATE"
        }
        Lock::Share => {
            "SELECT id, object, owner_id, fields FROM records WHERE tenant_id = $1 AND id = $2 \
             FOR SHARE"
        }
    };
    let row: Option<RecordRow> = sqlx::query_as(sql)
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
        let Some(parent) = select_record(tx, tenant_id, &id, Lock::Share).await? else {
            return Ok(());
        };
        next = parent_id(org, &parent);
        lookup.push(parent);
    }
    Ok(())
}

/// The result stored with the effect applied under `key`, if one was.
pub(super) async fn select_effect<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: TenantId,
    key: &str,
) -> StoreResult<Option<JsonValue>> {
    let result: Option<Json<JsonValue>> = sqlx::query_scalar(
        "SELECT result FROM action_effects WHERE tenant_id = $1 AND idempotency_key = $2",
    )
    .bind(tenant_id.as_uuid())
    .bind(key)
    .fetch_optional(executor)
    .await?;
    Ok(result.map(|Json(result)| result))
}

/// Serializes the attempts with `key` (an advisory lock held until the transaction ends),
/// then fails with [`RecordWriteError::AlreadyApplied`] when an effect was applied under it.
/// A write without a key always proceeds. The lookup runs after the lock is granted, so it
/// sees what an attempt that held the lock before committed.
async fn ensure_not_applied(
    tx: &mut Tx,
    tenant_id: TenantId,
    key: Option<&str>,
) -> Result<(), RecordWriteError> {
    let Some(key) = key else {
        return Ok(());
    };
    // A hash collision between two keys only makes them wait for each other.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text || ':' || $2, 0))")
        .bind(tenant_id.as_uuid())
        .bind(key)
        .execute(&mut **tx)
        .await?;
    match select_effect(&mut **tx, tenant_id, key).await? {
        Some(result) => Err(RecordWriteError::AlreadyApplied { result }),
        None => Ok(()),
    }
}

/// Commits the write, storing its effect under `key` first when given: both or neither.
async fn commit_with_effect(
    mut tx: Tx,
    tenant_id: TenantId,
    key: Option<&str>,
    result: JsonValue,
    at: OffsetDateTime,
) -> Result<(), RecordWriteError> {
    if let Some(key) = key {
        // The advisory lock keeps a second attempt out; should the key exist anyway, the
        // write is undone rather than applied twice.
        let inserted = sqlx::query(
            "INSERT INTO action_effects (tenant_id, idempotency_key, result, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        )
        .bind(tenant_id.as_uuid())
        .bind(key)
        .bind(Json(&result))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            let stored = select_effect(&mut *tx, tenant_id, key).await?;
            tx.rollback().await?;
            return Err(RecordWriteError::AlreadyApplied {
                result: stored.unwrap_or(result),
            });
        }
    }
    tx.commit().await?;
    Ok(())
}

impl PgStore {
    #[expect(clippy::too_many_arguments, reason = "the trait method's arguments")]
    pub(super) async fn write_create_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        mut record: Record,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Record, RecordWriteError> {
        let mut tx = self.pool.begin().await?;
        ensure_not_applied(&mut tx, tenant_id, idempotency_key).await?;
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
        .bind(at)
        .bind(at)
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
        let effect = effect_result(EffectAction::Create, &record.id, &record.object);
        commit_with_effect(tx, tenant_id, idempotency_key, effect, at).await?;
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
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Record, RecordWriteError> {
        let mut tx = self.pool.begin().await?;
        ensure_not_applied(&mut tx, tenant_id, idempotency_key).await?;
        let Some(current) = select_record(&mut tx, tenant_id, id, Lock::Update).await? else {
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
        .bind(at)
        .bind(tenant_id.as_uuid())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        let effect = effect_result(EffectAction::Update, &updated.id, &updated.object);
        commit_with_effect(tx, tenant_id, idempotency_key, effect, at).await?;
        Ok(updated)
    }

    #[expect(clippy::too_many_arguments, reason = "the trait method's arguments")]
    pub(super) async fn write_delete_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<(), RecordWriteError> {
        let mut tx = self.pool.begin().await?;
        ensure_not_applied(&mut tx, tenant_id, idempotency_key).await?;
        let Some(current) = select_record(&mut tx, tenant_id, id, Lock::Update).await? else {
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
        let effect = effect_result(EffectAction::Delete, &current.id, &current.object);
        commit_with_effect(tx, tenant_id, idempotency_key, effect, at).await?;
        Ok(())
    }
}
