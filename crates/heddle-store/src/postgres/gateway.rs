//! Gateway executions and budget windows on PostgreSQL. The conditional upsert of a
//! reservation locks the window's row while it checks the caps, so concurrent reservations
//! are decided one after the other; a released reservation is deleted once (`DELETE …
//! RETURNING` of a row another transaction deleted returns nothing).

use async_trait::async_trait;
use heddle_types::{ExecutionId, SessionId, TenantId};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use super::PgStore;
use super::audit::insert_outbox_event;
use super::sessions::insert_step;
use crate::config_snapshots::parse_environment;
use crate::db_error::{is_foreign_key_violation, not_found};
use crate::gateway::{
    BudgetHold, BudgetSettlement, BudgetSpent, CloseGatewayExecution, GatewayStore, GatewayWrite,
    GatewayWritten, HoldOutcome, OpenGatewayExecution, StaleGatewayExecution, exceeds_alone,
};
use crate::sessions::turn_not_running;
use crate::{SessionChannel, StoreResult, TurnStatus};

async fn spent(
    executor: impl sqlx::PgExecutor<'_>,
    tenant_id: TenantId,
    scope: &str,
    window_start: OffsetDateTime,
) -> StoreResult<BudgetSpent> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT tokens, cost_micros FROM budget_counters \
         WHERE tenant_id = $1 AND scope = $2 AND window_start = $3",
    )
    .bind(tenant_id.as_uuid())
    .bind(scope)
    .bind(window_start)
    .fetch_optional(executor)
    .await?;
    Ok(
        row.map_or_else(BudgetSpent::default, |(tokens, cost_micros)| BudgetSpent {
            tokens,
            cost_micros,
        }),
    )
}

/// Releases the window's expired reservations, then adds the hold where it fits.
async fn hold_budget(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: TenantId,
    hold: &BudgetHold,
    now: OffsetDateTime,
) -> StoreResult<HoldOutcome> {
    let window = hold.window_start;
    let released: Vec<(i64, i64)> = sqlx::query_as(
        "DELETE FROM budget_reservations WHERE tenant_id = $1 AND scope = $2 \
         AND window_start = $3 AND expires_at <= $4 RETURNING tokens, cost_micros",
    )
    .bind(tenant_id.as_uuid())
    .bind(&hold.scope)
    .bind(window)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    if !released.is_empty() {
        let (tokens, cost) = released.iter().fold((0i64, 0i64), |(t, c), (rt, rc)| {
            (t.saturating_add(*rt), c.saturating_add(*rc))
        });
        sqlx::query(
            "UPDATE budget_counters SET tokens = GREATEST(0, tokens - $4), \
             cost_micros = GREATEST(0, cost_micros - $5) \
             WHERE tenant_id = $1 AND scope = $2 AND window_start = $3",
        )
        .bind(tenant_id.as_uuid())
        .bind(&hold.scope)
        .bind(window)
        .bind(tokens)
        .bind(cost)
        .execute(&mut **tx)
        .await?;
    }
    if exceeds_alone(hold) {
        return Ok(HoldOutcome::Refused(
            spent(&mut **tx, tenant_id, &hold.scope, hold.window_start).await?,
        ));
    }
    // The insert of a first reservation cannot pass the caps (checked above); an update
    // happens only where the sum stays within them, else no row comes back.
    let granted: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO budget_counters (tenant_id, scope, window_start, tokens, cost_micros) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, scope, window_start) DO UPDATE SET \
         tokens = budget_counters.tokens + excluded.tokens, \
         cost_micros = budget_counters.cost_micros + excluded.cost_micros \
         WHERE ($6::bigint IS NULL OR budget_counters.tokens + excluded.tokens <= $6) \
         AND ($7::bigint IS NULL OR budget_counters.cost_micros + excluded.cost_micros <= $7) \
         RETURNING tokens, cost_micros",
    )
    .bind(tenant_id.as_uuid())
    .bind(&hold.scope)
    .bind(window)
    .bind(hold.tokens)
    .bind(hold.cost_micros)
    .bind(hold.limit_tokens)
    .bind(hold.limit_cost_micros)
    .fetch_optional(&mut **tx)
    .await?;
    if granted.is_none() {
        return Ok(HoldOutcome::Refused(
            spent(&mut **tx, tenant_id, &hold.scope, hold.window_start).await?,
        ));
    }
    sqlx::query(
        "INSERT INTO budget_reservations (tenant_id, id, scope, window_start, tokens, \
         cost_micros, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant_id.as_uuid())
    .bind(hold.id)
    .bind(&hold.scope)
    .bind(window)
    .bind(hold.tokens)
    .bind(hold.cost_micros)
    .bind(hold.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(HoldOutcome::Held)
}

async fn settle_budget(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: TenantId,
    settle: &BudgetSettlement,
) -> StoreResult<()> {
    let reserved: Option<(i64, i64)> = sqlx::query_as(
        "DELETE FROM budget_reservations WHERE tenant_id = $1 AND id = $2 \
         RETURNING tokens, cost_micros",
    )
    .bind(tenant_id.as_uuid())
    .bind(settle.id)
    .fetch_optional(&mut **tx)
    .await?;
    // Released meanwhile (expired): the estimate is no longer counted, the usage is added.
    let (reserved_tokens, reserved_cost) = reserved.unwrap_or((0, 0));
    sqlx::query(
        "INSERT INTO budget_counters (tenant_id, scope, window_start, tokens, cost_micros) \
         VALUES ($1, $2, $3, GREATEST(0, $4), GREATEST(0, $5)) \
         ON CONFLICT (tenant_id, scope, window_start) DO UPDATE SET \
         tokens = GREATEST(0, budget_counters.tokens + $4 - $6), \
         cost_micros = GREATEST(0, budget_counters.cost_micros + $5 - $7)",
    )
    .bind(tenant_id.as_uuid())
    .bind(&settle.scope)
    .bind(settle.window_start)
    .bind(settle.tokens)
    .bind(settle.cost_micros)
    .bind(reserved_tokens)
    .bind(reserved_cost)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The open of a request's record, inside `tx`.
async fn open_in(
    tx: &mut Transaction<'_, Postgres>,
    open: &OpenGatewayExecution,
) -> StoreResult<HoldOutcome> {
    let session = &open.session;
    let at = session.created_at;
    sqlx::query(
        "INSERT INTO sessions (tenant_id, id, environment, agent, config_version, \
         principal_kind, principal_id, verified_customer_id, session_record_id, last_turn, \
         created_at, updated_at, channel) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, 1, $8, $8, $9)",
    )
    .bind(session.tenant_id.as_uuid())
    .bind(session.id.as_uuid())
    .bind(session.environment.as_str())
    .bind(&session.agent)
    .bind(session.config_version)
    .bind(&session.principal_kind)
    .bind(&session.principal_id)
    .bind(at)
    .bind(SessionChannel::Gateway.as_str())
    .execute(&mut **tx)
    .await
    .map_err(|err| {
        if is_foreign_key_violation(&err) {
            not_found("tenant", session.tenant_id)
        } else {
            crate::db_error::conflict_or_database(err, "session", &session.id.to_string(), &[])
        }
    })?;
    sqlx::query(
        "INSERT INTO turns (tenant_id, session_id, turn, execution_id, status, started_at) \
         VALUES ($1, $2, 1, $3, 'running', $4)",
    )
    .bind(session.tenant_id.as_uuid())
    .bind(session.id.as_uuid())
    .bind(open.execution_id.as_uuid())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    insert_outbox_event(&mut **tx, &open.session_audit).await?;
    insert_outbox_event(&mut **tx, &open.turn_audit).await?;
    for audited in &open.steps {
        insert_step(
            tx,
            session.tenant_id,
            session.id,
            1,
            session.environment.as_str(),
            &session.agent,
            true,
            &audited.step,
        )
        .await?;
        insert_outbox_event(&mut **tx, &audited.audit).await?;
    }
    match &open.hold {
        Some(hold) => hold_budget(tx, session.tenant_id, hold, at).await,
        None => Ok(HoldOutcome::Held),
    }
}

/// The close of a request's record, inside `tx`.
async fn close_in(
    tx: &mut Transaction<'_, Postgres>,
    close: &CloseGatewayExecution,
) -> StoreResult<()> {
    if close.status == TurnStatus::Running {
        return Err(turn_not_running(1));
    }
    for audited in &close.steps {
        insert_step(
            tx,
            close.tenant_id,
            close.session_id,
            1,
            close.environment.as_str(),
            &close.route,
            true,
            &audited.step,
        )
        .await?;
        insert_outbox_event(&mut **tx, &audited.audit).await?;
    }
    let finished = sqlx::query(
        "UPDATE turns SET status = $3, finished_at = $4, status_reason = $5 \
         WHERE tenant_id = $1 AND session_id = $2 AND turn = 1 AND status = 'running'",
    )
    .bind(close.tenant_id.as_uuid())
    .bind(close.session_id.as_uuid())
    .bind(close.status.as_str())
    .bind(close.at)
    .bind(&close.reason)
    .execute(&mut **tx)
    .await?;
    if finished.rows_affected() != 1 {
        return Err(turn_not_running(1));
    }
    insert_outbox_event(&mut **tx, &close.audit).await?;
    if let Some(settle) = &close.settle {
        settle_budget(tx, close.tenant_id, settle).await?;
    }
    Ok(())
}

async fn write_in(
    tx: &mut Transaction<'_, Postgres>,
    write: &GatewayWrite,
) -> StoreResult<GatewayWritten> {
    match write {
        GatewayWrite::Open(open) => open_in(tx, open).await.map(GatewayWritten::Opened),
        GatewayWrite::Close(close) => close_in(tx, close).await.map(|()| GatewayWritten::Closed),
    }
}

#[async_trait]
impl GatewayStore for PgStore {
    async fn open_gateway_execution(&self, open: OpenGatewayExecution) -> StoreResult<HoldOutcome> {
        let mut tx = self.pool.begin().await?;
        let outcome = open_in(&mut tx, &open).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn close_gateway_execution(&self, close: CloseGatewayExecution) -> StoreResult<()> {
        if close.status == TurnStatus::Running {
            return Err(turn_not_running(1));
        }
        let mut tx = self.pool.begin().await?;
        close_in(&mut tx, &close).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn write_gateway_records(
        &self,
        writes: Vec<GatewayWrite>,
    ) -> StoreResult<Vec<StoreResult<GatewayWritten>>> {
        let mut tx = self.pool.begin().await?;
        let mut results = Vec::with_capacity(writes.len());
        for write in &writes {
            let mut savepoint = sqlx::Acquire::begin(&mut tx).await?;
            match write_in(&mut savepoint, write).await {
                Ok(written) => {
                    savepoint.commit().await?;
                    results.push(Ok(written));
                }
                Err(error) => {
                    savepoint.rollback().await?;
                    results.push(Err(error));
                }
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn stale_gateway_executions(
        &self,
        started_before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<StaleGatewayExecution>> {
        let rows: Vec<(
            uuid::Uuid,
            uuid::Uuid,
            uuid::Uuid,
            String,
            String,
            OffsetDateTime,
        )> = sqlx::query_as(
            "SELECT t.tenant_id, t.session_id, t.execution_id, s.environment, s.agent, \
             t.started_at FROM turns t JOIN sessions s \
             ON s.tenant_id = t.tenant_id AND s.id = t.session_id \
             WHERE t.status = 'running' AND t.started_at < $1 AND s.channel = $2 \
             ORDER BY t.started_at LIMIT $3",
        )
        .bind(started_before)
        .bind(SessionChannel::Gateway.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(tenant, session, execution, environment, route, started)| {
                    Ok(StaleGatewayExecution {
                        tenant_id: TenantId::from_uuid(tenant),
                        session_id: SessionId::from_uuid(session),
                        execution_id: ExecutionId::from_uuid(execution),
                        environment: parse_environment(&environment)?,
                        route,
                        started_at: started,
                    })
                },
            )
            .collect()
    }

    async fn budget_spent(
        &self,
        tenant_id: TenantId,
        scope: &str,
        window_start: OffsetDateTime,
    ) -> StoreResult<BudgetSpent> {
        spent(&self.pool, tenant_id, scope, window_start).await
    }
}
