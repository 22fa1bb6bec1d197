//! Pending actions and the action-effect ledger on PostgreSQL. Every transition is one
//! conditional `UPDATE`: under read committed, a racing update waits for the row lock and
//! re-checks its `WHERE` against the row the winner committed, so exactly one of them applies
//! (across processes too) and the others match nothing.

use async_trait::async_trait;
use heddle_types::{ExecutionId, Page, PageRequest, SessionId, TenantId};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::{Json, JsonValue};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PgStore;
use super::audit::insert_outbox_event;
use crate::config_snapshots::parse_environment;
use crate::db_error::{conflict_or_database, is_foreign_key_violation, not_found};
use crate::paging::{fetch_limit, into_page};
use crate::pending_actions::{
    Decision, NewPendingAction, PendingAction, PendingActionStore, PendingFilter, decision_refused,
    finish_refused, lease_end, parse_mode, parse_on_stale, parse_status, pending_not_found,
};
use crate::{NewAuditEvent, StoreResult};

macro_rules! pending_columns {
    () => {
        "id, tenant_id, session_id, turn, execution_id, environment, agent, capability, \
         call_id, arguments_sealed, arguments_display, arguments_hash, mode, reason, \
         requested_by_kind, requested_by_id, approver_role, confirmation_token_hash, on_stale, \
         expires_at, created_at, status, decided_by, decided_at, comment, confirmed_at, \
         lease_owner, lease_expires_at, attempts, result, completed_at, updated_at"
    };
}

/// What every decision sets besides the status: the token is spent (any decision ends the
/// wait for it), who decided and why when given, and the time. `$3` is `at`, `$4`
/// `decided_by`, `$5` `comment`.
macro_rules! decided {
    () => {
        "confirmation_token_hash = NULL, decided_by = coalesce($4, decided_by), \
         comment = coalesce($5, comment), \
         decided_at = CASE WHEN $4::text IS NULL AND $5::text IS NULL THEN decided_at \
         ELSE $3 END, \
         updated_at = $3"
    };
}

fn pending_from_row(row: &PgRow) -> StoreResult<PendingAction> {
    let Json(arguments_sealed): Json<JsonValue> = row.try_get("arguments_sealed")?;
    let Json(arguments_display): Json<JsonValue> = row.try_get("arguments_display")?;
    let result: Option<Json<JsonValue>> = row.try_get("result")?;
    Ok(PendingAction {
        id: row.try_get("id")?,
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        session_id: SessionId::from_uuid(row.try_get("session_id")?),
        turn: row.try_get("turn")?,
        execution_id: ExecutionId::from_uuid(row.try_get("execution_id")?),
        environment: parse_environment(row.try_get("environment")?)?,
        agent: row.try_get("agent")?,
        capability: row.try_get("capability")?,
        call_id: row.try_get("call_id")?,
        arguments_sealed,
        arguments_display,
        arguments_hash: row.try_get("arguments_hash")?,
        mode: parse_mode(row.try_get("mode")?)?,
        reason: row.try_get("reason")?,
        requested_by_kind: row.try_get("requested_by_kind")?,
        requested_by_id: row.try_get("requested_by_id")?,
        approver_role: row.try_get("approver_role")?,
        confirmation_token_hash: row.try_get("confirmation_token_hash")?,
        on_stale: parse_on_stale(row.try_get("on_stale")?)?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        status: parse_status(row.try_get("status")?)?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        comment: row.try_get("comment")?,
        confirmed_at: row.try_get("confirmed_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        attempts: row.try_get("attempts")?,
        result: result.map(|Json(value)| value),
        completed_at: row.try_get("completed_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl PgStore {
    async fn select_pending<'e>(
        executor: impl sqlx::PgExecutor<'e>,
        tenant_id: TenantId,
        id: Uuid,
    ) -> StoreResult<Option<PendingAction>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            pending_columns!(),
            " FROM pending_actions WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id)
        .fetch_optional(executor)
        .await?;
        row.as_ref().map(pending_from_row).transpose()
    }
}

#[async_trait]
impl PendingActionStore for PgStore {
    async fn create_pending_action(
        &self,
        action: NewPendingAction,
        audit: NewAuditEvent,
    ) -> StoreResult<PendingAction> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "INSERT INTO pending_actions (tenant_id, id, session_id, turn, execution_id, \
             environment, agent, capability, call_id, arguments_sealed, arguments_display, \
             arguments_hash, mode, reason, requested_by_kind, requested_by_id, approver_role, \
             confirmation_token_hash, on_stale, status, attempts, expires_at, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19, $20, 0, $21, $22, $22) RETURNING ",
            pending_columns!()
        ))
        .bind(action.tenant_id.as_uuid())
        .bind(action.id)
        .bind(action.session_id.as_uuid())
        .bind(action.turn)
        .bind(action.execution_id.as_uuid())
        .bind(action.environment.as_str())
        .bind(&action.agent)
        .bind(&action.capability)
        .bind(&action.call_id)
        .bind(Json(&action.arguments_sealed))
        .bind(Json(&action.arguments_display))
        .bind(&action.arguments_hash)
        .bind(action.mode.as_str())
        .bind(&action.reason)
        .bind(&action.requested_by_kind)
        .bind(&action.requested_by_id)
        .bind(&action.approver_role)
        .bind(&action.confirmation_token_hash)
        .bind(action.on_stale.as_str())
        .bind(action.mode.initial_status().as_str())
        .bind(action.expires_at)
        .bind(action.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                not_found("session", action.session_id)
            } else {
                conflict_or_database(err, "pending_action", &action.id.to_string(), &[])
            }
        })?;
        let created = pending_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_pending_action(
        &self,
        tenant_id: TenantId,
        id: Uuid,
    ) -> StoreResult<PendingAction> {
        Self::select_pending(&self.pool, tenant_id, id)
            .await?
            .ok_or_else(|| pending_not_found(id))
    }

    async fn list_pending_actions(
        &self,
        tenant_id: TenantId,
        filter: PendingFilter,
        page: PageRequest,
    ) -> StoreResult<Page<PendingAction>> {
        let (kind, principal_id) = filter.requested_by.unzip();
        // Absent filters bind NULL and match every row; ids are time-ordered, so descending
        // is newest first and the cursor bounds from above.
        let rows = sqlx::query(concat!(
            "SELECT ",
            pending_columns!(),
            " FROM pending_actions WHERE tenant_id = $1 \
             AND ($2::text IS NULL OR status = $2) \
             AND ($3::uuid IS NULL OR session_id = $3) \
             AND ($4::text IS NULL OR capability = $4) \
             AND ($5::text IS NULL OR (requested_by_kind = $5 AND requested_by_id = $6)) \
             AND ($7::uuid IS NULL OR id < $7) ORDER BY id DESC LIMIT $8"
        ))
        .bind(tenant_id.as_uuid())
        .bind(filter.status.map(|status| status.as_str()))
        .bind(filter.session_id.map(|id| *id.as_uuid()))
        .bind(filter.capability)
        .bind(kind)
        .bind(principal_id)
        .bind(page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(pending_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(into_page(items, page, |action: &PendingAction| action.id))
    }

    async fn decide_pending_action(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        decision: Decision,
        token_hash: Option<&[u8]>,
        decided_by: Option<String>,
        comment: Option<String>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<PendingAction> {
        let sql = match decision {
            Decision::Confirm => concat!(
                "UPDATE pending_actions SET status = CASE WHEN mode = \
                 'confirmation_then_approval' THEN 'awaiting_approval' ELSE 'approved' END, \
                 confirmed_at = $3, ",
                decided!(),
                " WHERE tenant_id = $1 AND id = $2 AND status = 'awaiting_confirmation' \
                 AND expires_at > $3 AND confirmation_token_hash = $6 RETURNING ",
                pending_columns!()
            ),
            Decision::Approve => concat!(
                "UPDATE pending_actions SET status = 'approved', ",
                decided!(),
                " WHERE tenant_id = $1 AND id = $2 AND status = 'awaiting_approval' \
                 AND expires_at > $3 RETURNING ",
                pending_columns!()
            ),
            Decision::Reject => concat!(
                "UPDATE pending_actions SET status = 'rejected', ",
                decided!(),
                " WHERE tenant_id = $1 AND id = $2 \
                 AND status IN ('awaiting_confirmation', 'awaiting_approval') \
                 AND ($6::bytea IS NULL OR confirmation_token_hash = $6) RETURNING ",
                pending_columns!()
            ),
            Decision::Expire => concat!(
                "UPDATE pending_actions SET status = 'expired', ",
                decided!(),
                " WHERE tenant_id = $1 AND id = $2 \
                 AND status IN ('awaiting_confirmation', 'awaiting_approval') \
                 AND expires_at <= $3 RETURNING ",
                pending_columns!()
            ),
            Decision::Discard => concat!(
                "UPDATE pending_actions SET status = 'discarded', ",
                decided!(),
                " WHERE tenant_id = $1 AND id = $2 AND status = 'approved' RETURNING ",
                pending_columns!()
            ),
        };
        let mut tx = self.pool.begin().await?;
        let query = sqlx::query(sql)
            .bind(tenant_id.as_uuid())
            .bind(id)
            .bind(at)
            .bind(decided_by)
            .bind(comment);
        let query = if matches!(decision, Decision::Confirm | Decision::Reject) {
            query.bind(token_hash)
        } else {
            query
        };
        let Some(row) = query.fetch_optional(&mut *tx).await? else {
            let current = Self::select_pending(&mut *tx, tenant_id, id).await?;
            tx.rollback().await?;
            return Err(match current {
                None => pending_not_found(id),
                Some(current) => decision_refused(&current, decision, at),
            });
        };
        let decided = pending_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(decided)
    }

    async fn claim_pending_action(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        owner: &str,
        at: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<Option<PendingAction>> {
        // One statement: a racing claim waits for the winner's row lock, then re-checks the
        // condition against the committed row (now running, with a live lease) and matches
        // nothing.
        let row = sqlx::query(concat!(
            "UPDATE pending_actions SET status = 'running', lease_owner = $3, \
             lease_expires_at = $5, attempts = attempts + 1, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2 \
             AND (status = 'approved' OR (status = 'running' AND lease_expires_at < $4)) \
             RETURNING ",
            pending_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(id)
        .bind(owner)
        .bind(at)
        .bind(lease_end(at, lease))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => pending_from_row(&row).map(Some),
            None => {
                self.get_pending_action(tenant_id, id).await?;
                Ok(None)
            }
        }
    }

    async fn renew_pending_action_lease(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        owner: &str,
        at: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<Option<PendingAction>> {
        let row = sqlx::query(concat!(
            "UPDATE pending_actions SET lease_expires_at = $5, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND lease_owner = $3 \
             RETURNING ",
            pending_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(id)
        .bind(owner)
        .bind(at)
        .bind(lease_end(at, lease))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => pending_from_row(&row).map(Some),
            None => {
                self.get_pending_action(tenant_id, id).await?;
                Ok(None)
            }
        }
    }

    async fn finish_pending_action(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        owner: &str,
        succeeded: bool,
        result: JsonValue,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<PendingAction> {
        let status = if succeeded { "completed" } else { "failed" };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE pending_actions SET status = $4, result = $5, completed_at = $6, \
             updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND lease_owner = $3 \
             RETURNING ",
            pending_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(id)
        .bind(owner)
        .bind(status)
        .bind(Json(&result))
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let current = Self::select_pending(&mut *tx, tenant_id, id).await?;
            tx.rollback().await?;
            return Err(match current {
                None => pending_not_found(id),
                Some(current) => finish_refused(&current, owner),
            });
        };
        let finished = pending_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(finished)
    }

    async fn due_pending_actions(
        &self,
        at: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<PendingAction>> {
        // The first condition repeats `pending_actions_open`'s predicate, so the scan reads
        // only unfinished actions.
        let rows = sqlx::query(concat!(
            "SELECT ",
            pending_columns!(),
            " FROM pending_actions \
             WHERE status IN ('awaiting_confirmation', 'awaiting_approval', 'approved', \
             'running') \
             AND (status = 'approved' OR (status = 'running' AND lease_expires_at < $1) \
             OR (status IN ('awaiting_confirmation', 'awaiting_approval') \
             AND expires_at <= $1)) \
             ORDER BY created_at, id LIMIT $2"
        ))
        .bind(at)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pending_from_row).collect()
    }

    async fn get_action_effect(
        &self,
        tenant_id: TenantId,
        key: &str,
    ) -> StoreResult<Option<JsonValue>> {
        super::record_writes::select_effect(&self.pool, tenant_id, key).await
    }
}
