//! The audit log on PostgreSQL.
//!
//! Appends for one tenant are serialized by locking its `audit_heads` row
//! (`SELECT … FOR UPDATE`, inserting the row first if the tenant has none), in tenant-id order
//! when a batch spans tenants, so any number of processes can append and drain at once
//! without gaps, duplicates or deadlocks. Under READ COMMITTED every statement after the lock
//! sees what the previous holder committed, so outbox rows it drained are simply gone.
//! Leaves and events are inserted with one `UNNEST` statement per table whatever the batch
//! size: a fixed statement (prepared once per connection) with no bind-parameter limit.

use async_trait::async_trait;
use heddle_types::TenantId;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};

use super::PgStore;
use crate::audit_batch::{
    from_db_int, group_by_tenant, head_or_empty, sequence_checked, to_db_bound, to_db_int,
};
use crate::db_error::{UniqueColumn, conflict_or_database, is_foreign_key_violation, not_found};
use crate::{
    AuditFilter, AuditHead, AuditSequencer, AuditStore, NewAuditEvent, StoreError, StoreResult,
    StoredAuditEvent, StoredCheckpoint,
};

/// Writes a state change's event into the outbox; called inside the change's transaction.
pub(super) async fn insert_outbox_event<'e>(
    executor: impl PgExecutor<'e>,
    event: &NewAuditEvent,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_outbox (tenant_id, canonical, occurred_at, action, actor_kind, \
         actor_id, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.tenant_id.as_uuid())
    .bind(&event.canonical)
    .bind(event.occurred_at)
    .bind(&event.action)
    .bind(&event.actor_kind)
    .bind(event.actor_id.as_deref())
    .bind(&event.outcome)
    .execute(executor)
    .await
    .map_err(|err| tenant_missing_or_database(err, event.tenant_id))?;
    Ok(())
}

pub(super) fn tenant_missing_or_database(err: sqlx::Error, tenant_id: TenantId) -> StoreError {
    if is_foreign_key_violation(&err) {
        not_found("tenant", tenant_id)
    } else {
        StoreError::Database(err)
    }
}

macro_rules! event_select {
    () => {
        "SELECT l.tenant_id, l.seq, l.leaf_hash, l.chain_hash, e.canonical, e.occurred_at, \
         e.action, e.actor_kind, e.actor_id, e.outcome \
         FROM audit_leaves l LEFT JOIN audit_events e ON e.tenant_id = l.tenant_id AND e.seq = l.seq \
         WHERE l.tenant_id = "
    };
}

macro_rules! checkpoint_columns {
    () => {
        "tenant_id, tree_size, root_hash, chain_hash, issued_at, key_id, signature"
    };
}

fn event_from_row(row: &PgRow) -> StoreResult<StoredAuditEvent> {
    Ok(StoredAuditEvent {
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        seq: from_db_int(row.try_get("seq")?)?,
        leaf_hash: row.try_get("leaf_hash")?,
        chain_hash: row.try_get("chain_hash")?,
        canonical: row.try_get("canonical")?,
        occurred_at: row.try_get("occurred_at")?,
        action: row.try_get("action")?,
        actor_kind: row.try_get("actor_kind")?,
        actor_id: row.try_get("actor_id")?,
        outcome: row.try_get("outcome")?,
    })
}

fn checkpoint_from_row(row: &PgRow) -> StoreResult<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        tree_size: from_db_int(row.try_get("tree_size")?)?,
        root_hash: row.try_get("root_hash")?,
        chain_hash: row.try_get("chain_hash")?,
        issued_at: row.try_get("issued_at")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

fn head_from_row(row: &PgRow) -> StoreResult<Option<AuditHead>> {
    Ok(head_or_empty(AuditHead {
        tree_size: from_db_int(row.try_get("tree_size")?)?,
        chain_hash: row.try_get("chain_hash")?,
        frontier: row.try_get("frontier")?,
    }))
}

/// Locks the tenant's head row until the transaction ends, creating an empty one first if
/// the tenant has none, and returns the head (`None` for an empty log).
async fn lock_head(conn: &mut PgConnection, tenant_id: TenantId) -> StoreResult<Option<AuditHead>> {
    const SELECT_FOR_UPDATE: &str =
        "SELECT tree_size, chain_hash, frontier FROM audit_heads WHERE tenant_id = $1 FOR UPDATE";
    let row = sqlx::query(SELECT_FOR_UPDATE)
        .bind(tenant_id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        return head_from_row(&row);
    }
    // A racing creator's row makes this wait for its commit and then do nothing.
    sqlx::query(
        "INSERT INTO audit_heads (tenant_id, tree_size, chain_hash, frontier) \
         VALUES ($1, 0, '', '') ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant_id.as_uuid())
    .execute(&mut *conn)
    .await
    .map_err(|err| tenant_missing_or_database(err, tenant_id))?;
    let row = sqlx::query(SELECT_FOR_UPDATE)
        .bind(tenant_id.as_uuid())
        .fetch_one(&mut *conn)
        .await?;
    head_from_row(&row)
}

/// The tenant's pending outbox rows, oldest first, with their ids.
async fn read_outbox(
    conn: &mut PgConnection,
    tenant_id: TenantId,
) -> StoreResult<Vec<(i64, NewAuditEvent)>> {
    let rows = sqlx::query(
        "SELECT id, canonical, occurred_at, action, actor_kind, actor_id, outcome \
         FROM audit_outbox WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(tenant_id.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("id")?,
                NewAuditEvent {
                    tenant_id,
                    canonical: row.try_get("canonical")?,
                    occurred_at: row.try_get("occurred_at")?,
                    action: row.try_get("action")?,
                    actor_kind: row.try_get("actor_kind")?,
                    actor_id: row.try_get("actor_id")?,
                    outcome: row.try_get("outcome")?,
                },
            ))
        })
        .collect()
}

/// Sequences the tenant's pending outbox rows and then `new_events` into its log, inside the
/// caller's transaction and under the head lock it takes. Returns how many outbox rows it
/// drained and the seqs of `new_events`.
async fn sequence_tenant(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    new_events: &[NewAuditEvent],
    sequencer: &dyn AuditSequencer,
) -> StoreResult<(u64, Vec<u64>)> {
    let head = lock_head(conn, tenant_id).await?;
    let outbox = read_outbox(conn, tenant_id).await?;
    if outbox.is_empty() && new_events.is_empty() {
        return Ok((0, Vec::new()));
    }
    let events: Vec<&NewAuditEvent> = outbox
        .iter()
        .map(|(_, event)| event)
        .chain(new_events)
        .collect();
    let canonical: Vec<&[u8]> = events
        .iter()
        .map(|event| event.canonical.as_slice())
        .collect();
    let (new_head, leaves) = sequence_checked(sequencer, head.as_ref(), &canonical)?;
    let seqs = leaves
        .iter()
        .map(|leaf| to_db_int(leaf.seq))
        .collect::<StoreResult<Vec<i64>>>()?;

    sqlx::query(
        "INSERT INTO audit_leaves (tenant_id, seq, leaf_hash, chain_hash) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::bytea[], $4::bytea[])",
    )
    .bind(tenant_id.as_uuid())
    .bind(&seqs)
    .bind(
        leaves
            .iter()
            .map(|leaf| leaf.leaf_hash.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        leaves
            .iter()
            .map(|leaf| leaf.chain_hash.as_slice())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, seq, canonical, occurred_at, action, actor_kind, \
         actor_id, outcome) SELECT $1, * FROM UNNEST($2::bigint[], $3::bytea[], \
         $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])",
    )
    .bind(tenant_id.as_uuid())
    .bind(&seqs)
    .bind(&canonical)
    .bind(
        events
            .iter()
            .map(|event| event.occurred_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|event| event.action.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|event| event.actor_kind.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|event| event.actor_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|event| event.outcome.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    if !outbox.is_empty() {
        let drained_ids: Vec<i64> = outbox.iter().map(|(id, _)| *id).collect();
        sqlx::query("DELETE FROM audit_outbox WHERE id = ANY($1)")
            .bind(&drained_ids)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "UPDATE audit_heads SET tree_size = $2, chain_hash = $3, frontier = $4 \
         WHERE tenant_id = $1",
    )
    .bind(tenant_id.as_uuid())
    .bind(to_db_int(new_head.tree_size)?)
    .bind(&new_head.chain_hash)
    .bind(&new_head.frontier)
    .execute(&mut *conn)
    .await?;

    let drained = u64::try_from(outbox.len()).unwrap_or(u64::MAX);
    let new_seqs = leaves
        .iter()
        .skip(outbox.len())
        .map(|leaf| leaf.seq)
        .collect();
    Ok((drained, new_seqs))
}

impl PgStore {
    /// Sequences one tenant's pending outbox rows in a transaction of their own.
    async fn drain_tenant(
        &self,
        tenant_id: TenantId,
        sequencer: &dyn AuditSequencer,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let (count, _) = sequence_tenant(&mut tx, tenant_id, &[], sequencer).await?;
        if count == 0 {
            // Another process drained it while this one waited for the head lock.
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(count)
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(
        &self,
        events: Vec<NewAuditEvent>,
        sequencer: &dyn AuditSequencer,
    ) -> StoreResult<Vec<u64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut seqs = vec![0; events.len()];
        let mut tx = self.pool.begin().await?;
        for batch in group_by_tenant(events) {
            let (_, assigned) =
                sequence_tenant(&mut tx, batch.tenant_id, &batch.events, sequencer).await?;
            for (position, seq) in batch.positions.into_iter().zip(assigned) {
                if let Some(slot) = seqs.get_mut(position) {
                    *slot = seq;
                }
            }
        }
        tx.commit().await?;
        Ok(seqs)
    }

    async fn drain_audit_outbox(
        &self,
        sequencer: &dyn AuditSequencer,
        max_tenants: u32,
    ) -> StoreResult<u64> {
        let tenants: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM audit_outbox ORDER BY tenant_id LIMIT $1",
        )
        .bind(i64::from(max_tenants))
        .fetch_all(&self.pool)
        .await?;
        let mut drained = 0;
        let mut first_error = None;
        for tenant in tenants {
            // One tenant that cannot be sequenced must not hold up the tenants after it.
            match self
                .drain_tenant(TenantId::from_uuid(tenant), sequencer)
                .await
            {
                Ok(count) => drained += count,
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        Ok(drained)
    }

    async fn drain_audit_outbox_for(
        &self,
        tenant_id: TenantId,
        sequencer: &dyn AuditSequencer,
    ) -> StoreResult<u64> {
        self.drain_tenant(tenant_id, sequencer).await
    }

    async fn audit_outbox_len(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_outbox")
            .fetch_one(&self.pool)
            .await?;
        from_db_int(count)
    }

    async fn audit_head(&self, tenant_id: TenantId) -> StoreResult<Option<AuditHead>> {
        let row = sqlx::query(
            "SELECT tree_size, chain_hash, frontier FROM audit_heads WHERE tenant_id = $1",
        )
        .bind(tenant_id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => head_from_row(&row),
            None => Ok(None),
        }
    }

    async fn list_audit_events(
        &self,
        tenant_id: TenantId,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<StoredAuditEvent>> {
        let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(event_select!());
        query.push_bind(tenant_id.as_uuid());
        if let Some(after) = filter.after_seq {
            query.push(" AND l.seq > ").push_bind(to_db_bound(after));
        }
        if let Some(before) = filter.before_seq {
            query.push(" AND l.seq < ").push_bind(to_db_bound(before));
        }
        if let Some(action) = &filter.action {
            query.push(" AND e.action = ").push_bind(action);
        }
        if let Some(actor_id) = &filter.actor_id {
            query.push(" AND e.actor_id = ").push_bind(actor_id);
        }
        if let Some(outcome) = &filter.outcome {
            query.push(" AND e.outcome = ").push_bind(outcome);
        }
        if let Some(since) = filter.since {
            query.push(" AND e.occurred_at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            query.push(" AND e.occurred_at < ").push_bind(until);
        }
        if !filter.include_purged {
            query.push(" AND e.seq IS NOT NULL");
        }
        query.push(" ORDER BY l.seq");
        if filter.limit > 0 {
            query.push(" LIMIT ").push_bind(i64::from(filter.limit));
        }
        query
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    async fn get_audit_event(
        &self,
        tenant_id: TenantId,
        seq: u64,
    ) -> StoreResult<Option<StoredAuditEvent>> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        sqlx::query(concat!(event_select!(), "$1 AND l.seq = $2"))
            .bind(tenant_id.as_uuid())
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(event_from_row)
            .transpose()
    }

    /// [`StoreError::NotFound`] names the first missing seq when the log is shorter.
    async fn audit_leaf_hashes(
        &self,
        tenant_id: TenantId,
        tree_size: u64,
    ) -> StoreResult<Vec<Vec<u8>>> {
        let hashes: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT leaf_hash FROM audit_leaves WHERE tenant_id = $1 AND seq < $2 ORDER BY seq",
        )
        .bind(tenant_id.as_uuid())
        .bind(to_db_bound(tree_size))
        .fetch_all(&self.pool)
        .await?;
        let found = u64::try_from(hashes.len()).unwrap_or(u64::MAX);
        if found != tree_size {
            return Err(not_found("audit leaf", found));
        }
        Ok(hashes)
    }

    async fn insert_audit_checkpoint(&self, checkpoint: StoredCheckpoint) -> StoreResult<()> {
        let size = checkpoint.tree_size.to_string();
        sqlx::query(concat!(
            "INSERT INTO audit_checkpoints (",
            checkpoint_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(checkpoint.tenant_id.as_uuid())
        .bind(to_db_int(checkpoint.tree_size)?)
        .bind(&checkpoint.root_hash)
        .bind(&checkpoint.chain_hash)
        .bind(checkpoint.issued_at)
        .bind(&checkpoint.key_id)
        .bind(&checkpoint.signature)
        .execute(&self.pool)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                not_found("tenant", checkpoint.tenant_id)
            } else {
                conflict_or_database(
                    err,
                    "audit checkpoint",
                    &size,
                    &[UniqueColumn {
                        column: "tree_size",
                        value: &size,
                    }],
                )
            }
        })?;
        Ok(())
    }

    async fn list_audit_checkpoints(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Vec<StoredCheckpoint>> {
        sqlx::query(concat!(
            "SELECT ",
            checkpoint_columns!(),
            " FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY tree_size"
        ))
        .bind(tenant_id.as_uuid())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(checkpoint_from_row)
        .collect()
    }

    async fn latest_audit_checkpoint(
        &self,
        tenant_id: TenantId,
    ) -> StoreResult<Option<StoredCheckpoint>> {
        sqlx::query(concat!(
            "SELECT ",
            checkpoint_columns!(),
            " FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY tree_size DESC LIMIT 1"
        ))
        .bind(tenant_id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(checkpoint_from_row)
        .transpose()
    }

    /// The watermark never passes the head: events that do not exist yet cannot be purged
    /// (otherwise a large `below_seq` would let anyone delete future events). Heads only
    /// grow, so reading it without the head lock is safe.
    async fn purge_audit_events(&self, tenant_id: TenantId, below_seq: u64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let tree_size: Option<i64> =
            sqlx::query_scalar("SELECT tree_size FROM audit_heads WHERE tenant_id = $1")
                .bind(tenant_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(tree_size) = tree_size.filter(|size| *size > 0) else {
            tx.rollback().await?;
            return Ok(0);
        };
        let requested = to_db_bound(below_seq).min(tree_size);
        let watermark: i64 = sqlx::query_scalar(
            "INSERT INTO audit_retention (tenant_id, purged_below) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE \
             SET purged_below = GREATEST(audit_retention.purged_below, EXCLUDED.purged_below) \
             RETURNING purged_below",
        )
        .bind(tenant_id.as_uuid())
        .bind(requested)
        .fetch_one(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq < $2")
            .bind(tenant_id.as_uuid())
            .bind(watermark)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    async fn audit_tenants(&self) -> StoreResult<Vec<TenantId>> {
        let tenants: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT tenant_id FROM audit_heads UNION SELECT tenant_id FROM audit_outbox \
             ORDER BY tenant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(tenants.into_iter().map(TenantId::from_uuid).collect())
    }
}
