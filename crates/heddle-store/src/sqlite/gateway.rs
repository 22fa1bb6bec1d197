//! Gateway executions and budget windows on SQLite. `BEGIN IMMEDIATE` serializes writers, so
//! the conditional upsert of a reservation sees every earlier one.

use async_trait::async_trait;
use heddle_types::{ExecutionId, SessionId, TenantId};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, Transaction};
use time::OffsetDateTime;

use super::audit::tenant_missing_or_database;
use super::{BEGIN_IMMEDIATE, SqliteStore, from_micros, to_micros};
use crate::config_snapshots::parse_environment;
use crate::db_error::{is_foreign_key_violation, not_found};
use crate::gateway::{
    BudgetHold, BudgetSettlement, BudgetSpent, CloseGatewayExecution, GatewayStore, GatewayWrite,
    GatewayWritten, HoldOutcome, OpenGatewayExecution, StaleGatewayExecution, exceeds_alone,
};
use crate::sessions::turn_not_running;
use crate::{AuditedStep, NewAuditEvent, SessionChannel, StoreResult, TurnStatus};

async fn spent(
    executor: impl sqlx::SqliteExecutor<'_>,
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
    .bind(to_micros(window_start))
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
    tx: &mut Transaction<'_, Sqlite>,
    tenant_id: TenantId,
    hold: &BudgetHold,
    now: OffsetDateTime,
) -> StoreResult<HoldOutcome> {
    let window = to_micros(hold.window_start);
    let released: Vec<(i64, i64)> = sqlx::query_as(
        "DELETE FROM budget_reservations WHERE tenant_id = $1 AND scope = $2 \
         AND window_start = $3 AND expires_at <= $4 RETURNING tokens, cost_micros",
    )
    .bind(tenant_id.as_uuid())
    .bind(&hold.scope)
    .bind(window)
    .bind(to_micros(now))
    .fetch_all(&mut **tx)
    .await?;
    if !released.is_empty() {
        let (tokens, cost) = released.iter().fold((0i64, 0i64), |(t, c), (rt, rc)| {
            (t.saturating_add(*rt), c.saturating_add(*rc))
        });
        sqlx::query(
            "UPDATE budget_counters SET tokens = max(0, tokens - $4), \
             cost_micros = max(0, cost_micros - $5) \
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
         WHERE ($6 IS NULL OR budget_counters.tokens + excluded.tokens <= $6) \
         AND ($7 IS NULL OR budget_counters.cost_micros + excluded.cost_micros <= $7) \
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
    .bind(to_micros(hold.expires_at))
    .execute(&mut **tx)
    .await?;
    Ok(HoldOutcome::Held)
}

async fn settle_budget(
    tx: &mut Transaction<'_, Sqlite>,
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
         VALUES ($1, $2, $3, max(0, $4), max(0, $5)) \
         ON CONFLICT (tenant_id, scope, window_start) DO UPDATE SET \
         tokens = max(0, budget_counters.tokens + $4 - $6), \
         cost_micros = max(0, budget_counters.cost_micros + $5 - $7)",
    )
    .bind(tenant_id.as_uuid())
    .bind(&settle.scope)
    .bind(to_micros(settle.window_start))
    .bind(settle.tokens)
    .bind(settle.cost_micros)
    .bind(reserved_tokens)
    .bind(reserved_cost)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Rows per multi-row insert: well under SQLite's limit of bound variables per statement.
const ROWS_PER_INSERT: usize = 500;

/// A request's steps, numbered from `first_seq` in its turn 1, and their audit events, each
/// kind of row in as few statements as possible: one statement costs a round trip to the
/// connection's thread, which dominated a request's write before.
async fn insert_steps(
    tx: &mut Transaction<'_, Sqlite>,
    session: (TenantId, SessionId),
    environment: &str,
    agent: &str,
    first_seq: i64,
    steps: &[AuditedStep],
) -> StoreResult<()> {
    let (tenant_id, session_id) = session;
    let mut seq = first_seq;
    for chunk in steps.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO execution_steps (tenant_id, session_id, turn, seq, kind, payload, \
             applied, input_tokens, output_tokens, cost_micros, latency_ms, at, environment, \
             agent) ",
        );
        insert.push_values(chunk, |mut row, audited| {
            let step = &audited.step;
            row.push_bind(tenant_id.as_uuid())
                .push_bind(session_id.as_uuid())
                .push_bind(1_i64)
                .push_bind(seq)
                .push_bind(&step.kind)
                .push_bind(Json(&step.payload))
                .push_bind(true)
                .push_bind(step.input_tokens)
                .push_bind(step.output_tokens)
                .push_bind(step.cost_micros)
                .push_bind(step.latency_ms)
                .push_bind(to_micros(step.at))
                .push_bind(environment)
                .push_bind(agent);
            seq += 1;
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Audit events into the outbox, many per statement.
async fn insert_outbox_events(
    tx: &mut Transaction<'_, Sqlite>,
    tenant_id: TenantId,
    events: &[&NewAuditEvent],
) -> StoreResult<()> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO audit_outbox (tenant_id, canonical, occurred_at, action, actor_kind, \
             actor_id, outcome) ",
        );
        insert.push_values(chunk, |mut row, event| {
            row.push_bind(event.tenant_id.as_uuid())
                .push_bind(&event.canonical)
                .push_bind(to_micros(event.occurred_at))
                .push_bind(&event.action)
                .push_bind(&event.actor_kind)
                .push_bind(event.actor_id.as_deref())
                .push_bind(&event.outcome);
        });
        insert
            .build()
            .execute(&mut **tx)
            .await
            .map_err(|err| tenant_missing_or_database(err, tenant_id))?;
    }
    Ok(())
}

/// The open of a request's record, inside `tx`.
async fn open_in(
    tx: &mut Transaction<'_, Sqlite>,
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
    .bind(to_micros(at))
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
    .bind(to_micros(at))
    .execute(&mut **tx)
    .await?;
    // A new session: its turn has no steps yet.
    insert_steps(
        tx,
        (session.tenant_id, session.id),
        session.environment.as_str(),
        &session.agent,
        1,
        &open.steps,
    )
    .await?;
    let events: Vec<&NewAuditEvent> = [&open.session_audit, &open.turn_audit]
        .into_iter()
        .chain(open.steps.iter().map(|audited| &audited.audit))
        .collect();
    insert_outbox_events(tx, session.tenant_id, &events).await?;
    match &open.hold {
        Some(hold) => hold_budget(tx, session.tenant_id, hold, at).await,
        None => Ok(HoldOutcome::Held),
    }
}

/// The close of a request's record, inside `tx`.
async fn close_in(
    tx: &mut Transaction<'_, Sqlite>,
    close: &CloseGatewayExecution,
) -> StoreResult<()> {
    if close.status == TurnStatus::Running {
        return Err(turn_not_running(1));
    }
    let finished = sqlx::query(
        "UPDATE turns SET status = $3, finished_at = $4, status_reason = $5 \
         WHERE tenant_id = $1 AND session_id = $2 AND turn = 1 AND status = 'running'",
    )
    .bind(close.tenant_id.as_uuid())
    .bind(close.session_id.as_uuid())
    .bind(close.status.as_str())
    .bind(to_micros(close.at))
    .bind(&close.reason)
    .execute(&mut **tx)
    .await?;
    if finished.rows_affected() != 1 {
        return Err(turn_not_running(1));
    }
    let next: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(seq), 0) + 1 FROM execution_steps \
         WHERE tenant_id = $1 AND session_id = $2 AND turn = 1",
    )
    .bind(close.tenant_id.as_uuid())
    .bind(close.session_id.as_uuid())
    .fetch_one(&mut **tx)
    .await?;
    insert_steps(
        tx,
        (close.tenant_id, close.session_id),
        close.environment.as_str(),
        &close.route,
        next,
        &close.steps,
    )
    .await?;
    let events: Vec<&NewAuditEvent> = close
        .steps
        .iter()
        .map(|audited| &audited.audit)
        .chain([&close.audit])
        .collect();
    insert_outbox_events(tx, close.tenant_id, &events).await?;
    if let Some(settle) = &close.settle {
        settle_budget(tx, close.tenant_id, settle).await?;
    }
    Ok(())
}

async fn write_in(
    tx: &mut Transaction<'_, Sqlite>,
    write: &GatewayWrite,
) -> StoreResult<GatewayWritten> {
    match write {
        GatewayWrite::Open(open) => open_in(tx, open).await.map(GatewayWritten::Opened),
        GatewayWrite::Close(close) => close_in(tx, close).await.map(|()| GatewayWritten::Closed),
    }
}

#[async_trait]
impl GatewayStore for SqliteStore {
    async fn open_gateway_execution(&self, open: OpenGatewayExecution) -> StoreResult<HoldOutcome> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let outcome = open_in(&mut tx, &open).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn close_gateway_execution(&self, close: CloseGatewayExecution) -> StoreResult<()> {
        if close.status == TurnStatus::Running {
            return Err(turn_not_running(1));
        }
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        close_in(&mut tx, &close).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn write_gateway_records(
        &self,
        writes: Vec<GatewayWrite>,
    ) -> StoreResult<Vec<StoreResult<GatewayWritten>>> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let mut written = Vec::with_capacity(writes.len());
        for write in &writes {
            match write_in(&mut tx, write).await {
                Ok(outcome) => written.push(outcome),
                Err(_) => break,
            }
        }
        if written.len() == writes.len() {
            tx.commit().await?;
            return Ok(written.into_iter().map(Ok).collect());
        }
        // One write failed: none of the batch stays, and each is written alone so the
        // failure is only its own.
        tx.rollback().await?;
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            results.push(match write {
                GatewayWrite::Open(open) => self
                    .open_gateway_execution(*open)
                    .await
                    .map(GatewayWritten::Opened),
                GatewayWrite::Close(close) => self
                    .close_gateway_execution(*close)
                    .await
                    .map(|()| GatewayWritten::Closed),
            });
        }
        Ok(results)
    }

    async fn stale_gateway_executions(
        &self,
        started_before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<StaleGatewayExecution>> {
        let rows: Vec<(uuid::Uuid, uuid::Uuid, uuid::Uuid, String, String, i64)> = sqlx::query_as(
            "SELECT t.tenant_id, t.session_id, t.execution_id, s.environment, s.agent, \
             t.started_at FROM turns t JOIN sessions s \
             ON s.tenant_id = t.tenant_id AND s.id = t.session_id \
             WHERE t.status = 'running' AND t.started_at < $1 AND s.channel = $2 \
             ORDER BY t.started_at LIMIT $3",
        )
        .bind(to_micros(started_before))
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
                        started_at: from_micros(started)?,
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
