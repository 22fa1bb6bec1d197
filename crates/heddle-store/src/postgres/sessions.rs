//! Sessions, turns and execution steps on PostgreSQL. Numbering and the abandoning of stale
//! turns are serialized by locking the session row (`UPDATE … RETURNING`, `FOR UPDATE`), so
//! they hold across processes.

use async_trait::async_trait;
use heddle_types::{ExecutionId, Page, PageRequest, SessionId, TenantId};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::{Json, JsonValue};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use super::PgStore;
use super::audit::insert_outbox_event;
use crate::config_snapshots::parse_environment;
use crate::db_error::{is_foreign_key_violation, is_unique_violation, not_found};
use crate::paging::{fetch_limit, into_page};
use crate::sessions::{
    ABANDONED_REASON, BeganTurn, ListedStep, NewSession, NewStep, Session, SessionChannel,
    SessionFilter, SessionStore, Step, StepKindQuery, Turn, TurnStatus, UsageScope, UsageTotals,
    abandoned_step_payload, turn_not_halted, turn_not_resumable, turn_not_running, turn_running,
};
use crate::{NewAuditEvent, StoreError, StoreResult};

macro_rules! session_columns {
    () => {
        "id, environment, agent, config_version, principal_kind, principal_id, \
         verified_customer_id, session_record_id, channel, last_turn, created_at, updated_at"
    };
}

fn session_from_row(tenant_id: TenantId, row: &PgRow) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId::from_uuid(row.try_get("id")?),
        tenant_id,
        environment: parse_environment(row.try_get("environment")?)?,
        agent: row.try_get("agent")?,
        config_version: row.try_get("config_version")?,
        principal_kind: row.try_get("principal_kind")?,
        principal_id: row.try_get("principal_id")?,
        verified_customer_id: row.try_get("verified_customer_id")?,
        session_record_id: row.try_get("session_record_id")?,
        channel: SessionChannel::parse(row.try_get("channel")?)?,
        last_turn: row.try_get("last_turn")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn turn_from_row(row: &PgRow) -> StoreResult<Turn> {
    Ok(Turn {
        session_id: SessionId::from_uuid(row.try_get("session_id")?),
        turn: row.try_get("turn")?,
        execution_id: ExecutionId::from_uuid(row.try_get("execution_id")?),
        status: TurnStatus::parse(row.try_get("status")?)?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        reason: row.try_get("status_reason")?,
    })
}

fn step_from_row(row: &PgRow) -> StoreResult<Step> {
    let Json(payload): Json<JsonValue> = row.try_get("payload")?;
    Ok(Step {
        turn: row.try_get("turn")?,
        seq: row.try_get("seq")?,
        kind: row.try_get("kind")?,
        payload,
        applied: row.try_get("applied")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        cost_micros: row.try_get("cost_micros")?,
        latency_ms: row.try_get("latency_ms")?,
        at: row.try_get("at")?,
    })
}

fn listed_step_from_row(row: &PgRow) -> StoreResult<ListedStep> {
    Ok(ListedStep {
        session_id: SessionId::from_uuid(row.try_get("session_id")?),
        environment: parse_environment(row.try_get("environment")?)?,
        agent: row.try_get("agent")?,
        execution_id: ExecutionId::from_uuid(row.try_get("execution_id")?),
        step: step_from_row(row)?,
    })
}

/// The select list and joins of [`SessionStore::list_steps_of_kind`]; the execution id is the
/// step's turn's.
macro_rules! listed_step_from {
    () => {
        "SELECT e.session_id, e.environment, e.agent, t.execution_id, e.turn, e.seq, e.kind, \
         e.payload, e.applied, e.input_tokens, e.output_tokens, e.cost_micros, e.latency_ms, \
         e.at FROM execution_steps e JOIN turns t ON t.tenant_id = e.tenant_id \
         AND t.session_id = e.session_id AND t.turn = e.turn "
    };
}

/// The filters of [`SessionStore::list_steps_of_kind`]; an absent one binds NULL and matches
/// every row.
macro_rules! steps_of_kind_filter {
    () => {
        "WHERE e.tenant_id = $1 AND e.kind = $2 \
         AND ($3::text IS NULL OR e.environment = $3) AND ($4::text IS NULL OR e.agent = $4) \
         AND ($5::uuid IS NULL OR e.session_id = $5) \
         AND ($6::timestamptz IS NULL OR e.at >= $6) "
    };
}

macro_rules! turn_columns {
    () => {
        "session_id, turn, execution_id, status, started_at, finished_at, status_reason"
    };
}

/// Appends a step as the next of its turn. `environment` and `agent` are the session's,
/// copied so usage per agent needs no join.
#[expect(
    clippy::too_many_arguments,
    reason = "the step's key, its session's copies and the step"
)]
pub(super) async fn insert_step(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: TenantId,
    session_id: SessionId,
    turn: i64,
    environment: &str,
    agent: &str,
    applied: bool,
    step: &NewStep,
) -> StoreResult<i64> {
    let seq: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(seq), 0) + 1 FROM execution_steps \
         WHERE tenant_id = $1 AND session_id = $2 AND turn = $3",
    )
    .bind(tenant_id.as_uuid())
    .bind(session_id.as_uuid())
    .bind(turn)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO execution_steps (tenant_id, session_id, turn, seq, kind, payload, \
         applied, input_tokens, output_tokens, cost_micros, latency_ms, at, environment, agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(tenant_id.as_uuid())
    .bind(session_id.as_uuid())
    .bind(turn)
    .bind(seq)
    .bind(&step.kind)
    .bind(Json(&step.payload))
    .bind(applied)
    .bind(step.input_tokens)
    .bind(step.output_tokens)
    .bind(step.cost_micros)
    .bind(step.latency_ms)
    .bind(step.at)
    .bind(environment)
    .bind(agent)
    .execute(&mut **tx)
    .await?;
    Ok(seq)
}

/// Fails the session's running turn if it started before `stale_before`; returns it, or
/// `None` when none runs. A running turn that is not stale is a conflict.
async fn abandon_stale_turn(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: TenantId,
    session_id: SessionId,
    at: OffsetDateTime,
    stale_before: OffsetDateTime,
) -> StoreResult<Option<Turn>> {
    let running = sqlx::query(concat!(
        "SELECT ",
        turn_columns!(),
        " FROM turns WHERE tenant_id = $1 AND session_id = $2 AND status = 'running'"
    ))
    .bind(tenant_id.as_uuid())
    .bind(session_id.as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(running) = running else {
        return Ok(None);
    };
    let running = turn_from_row(&running)?;
    if running.started_at >= stale_before {
        return Err(turn_running(session_id));
    }
    let row = sqlx::query(concat!(
        "UPDATE turns SET status = 'failed', status_reason = $4, finished_at = $5 \
         WHERE tenant_id = $1 AND session_id = $2 AND turn = $3 AND status = 'running' \
         RETURNING ",
        turn_columns!()
    ))
    .bind(tenant_id.as_uuid())
    .bind(session_id.as_uuid())
    .bind(running.turn)
    .bind(ABANDONED_REASON)
    .bind(at)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        // It finished between the two statements (another process): nothing to abandon.
        return Ok(None);
    };
    let abandoned = turn_from_row(&row)?;
    let (environment, agent): (String, String) =
        sqlx::query_as("SELECT environment, agent FROM sessions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_uuid())
            .bind(session_id.as_uuid())
            .fetch_one(&mut **tx)
            .await?;
    let status = NewStep {
        kind: "status".to_owned(),
        payload: abandoned_step_payload(),
        input_tokens: 0,
        output_tokens: 0,
        cost_micros: 0,
        latency_ms: None,
        at,
    };
    insert_step(
        tx,
        tenant_id,
        session_id,
        abandoned.turn,
        &environment,
        &agent,
        false,
        &status,
    )
    .await?;
    Ok(Some(abandoned))
}

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(
        &self,
        session: NewSession,
        audit: NewAuditEvent,
    ) -> StoreResult<Session> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (tenant_id, id, environment, agent, config_version, \
             principal_kind, principal_id, verified_customer_id, session_record_id, channel, \
             last_turn, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, 0, $10, $10)",
        )
        .bind(session.tenant_id.as_uuid())
        .bind(session.id.as_uuid())
        .bind(session.environment.as_str())
        .bind(&session.agent)
        .bind(session.config_version)
        .bind(&session.principal_kind)
        .bind(&session.principal_id)
        .bind(&session.verified_customer_id)
        .bind(&session.session_record_id)
        .bind(session.created_at)
        .bind(session.channel.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                not_found("tenant", session.tenant_id)
            } else {
                crate::db_error::conflict_or_database(err, "session", &session.id.to_string(), &[])
            }
        })?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(Session {
            id: session.id,
            tenant_id: session.tenant_id,
            environment: session.environment,
            agent: session.agent,
            config_version: session.config_version,
            principal_kind: session.principal_kind,
            principal_id: session.principal_id,
            verified_customer_id: session.verified_customer_id,
            session_record_id: session.session_record_id,
            channel: session.channel,
            last_turn: 0,
            created_at: session.created_at,
            updated_at: session.created_at,
        })
    }

    async fn get_session(&self, tenant_id: TenantId, id: SessionId) -> StoreResult<Session> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("session", id))?;
        session_from_row(tenant_id, &row)
    }

    async fn list_sessions(
        &self,
        tenant_id: TenantId,
        filter: SessionFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Session>> {
        let (principal_kind, principal_id) = filter.principal.unzip();
        // Absent filters bind NULL and match every row, so one statement serves every case.
        // Ids are time-ordered: descending is newest first, and the cursor bounds from above.
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE tenant_id = $1 \
             AND ($2::text IS NULL OR (principal_kind = $2 AND principal_id = $3)) \
             AND ($4::text IS NULL OR agent = $4) AND ($5::text IS NULL OR environment = $5) \
             AND ($6::uuid IS NULL OR id < $6) ORDER BY id DESC LIMIT $7"
        ))
        .bind(tenant_id.as_uuid())
        .bind(principal_kind)
        .bind(principal_id)
        .bind(filter.agent)
        .bind(filter.environment.map(|environment| environment.as_str()))
        .bind(page.after)
        .bind(fetch_limit(page))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| session_from_row(tenant_id, row))
            .collect::<StoreResult<_>>()?;
        Ok(into_page(items, page, |session: &Session| {
            *session.id.as_uuid()
        }))
    }

    async fn set_verified_customer(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        customer_id: &str,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Session> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE sessions SET verified_customer_id = $3, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2 RETURNING ",
            session_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(customer_id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found("session", session_id))?;
        let session = session_from_row(tenant_id, &row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn begin_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        execution_id: ExecutionId,
        at: OffsetDateTime,
        stale_before: OffsetDateTime,
        abandon_audit: NewAuditEvent,
        audit: NewAuditEvent,
    ) -> StoreResult<BeganTurn> {
        let mut tx = self.pool.begin().await?;
        let turn: i64 = sqlx::query_scalar(
            "UPDATE sessions SET last_turn = last_turn + 1, updated_at = $3 \
             WHERE tenant_id = $1 AND id = $2 RETURNING last_turn",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found("session", session_id))?;
        let abandoned =
            abandon_stale_turn(&mut tx, tenant_id, session_id, at, stale_before).await?;
        if abandoned.is_some() {
            insert_outbox_event(&mut *tx, &abandon_audit).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO turns (tenant_id, session_id, turn, execution_id, status, started_at) \
             VALUES ($1, $2, $3, $4, 'running', $5)",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .bind(execution_id.as_uuid())
        .bind(at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // The partial index: another turn of this session is still running.
            Err(err) if is_unique_violation(&err) => return Err(turn_running(session_id)),
            Err(err) => return Err(StoreError::from(err)),
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(BeganTurn {
            turn: Turn {
                session_id,
                turn,
                execution_id,
                status: TurnStatus::Running,
                started_at: at,
                finished_at: None,
                reason: None,
            },
            abandoned,
        })
    }

    async fn append_step(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        step: NewStep,
        audit: NewAuditEvent,
    ) -> StoreResult<Step> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT s.last_turn, s.environment, s.agent, t.status FROM sessions s \
             JOIN turns t ON t.tenant_id = s.tenant_id AND t.session_id = s.id \
             WHERE s.tenant_id = $1 AND s.id = $2 AND t.turn = $3 FOR UPDATE OF s",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found("turn", format!("{session_id}/{turn}")))?;
        let last_turn: i64 = row.try_get("last_turn")?;
        let status = TurnStatus::parse(row.try_get("status")?)?;
        let environment: String = row.try_get("environment")?;
        let agent: String = row.try_get("agent")?;
        // Only the live turn's steps enter the conversation; a late result is only recorded.
        let applied = turn == last_turn && status == TurnStatus::Running;
        let seq = insert_step(
            &mut tx,
            tenant_id,
            session_id,
            turn,
            &environment,
            &agent,
            applied,
            &step,
        )
        .await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(Step {
            turn,
            seq,
            kind: step.kind,
            payload: step.payload,
            applied,
            input_tokens: step.input_tokens,
            output_tokens: step.output_tokens,
            cost_micros: step.cost_micros,
            latency_ms: step.latency_ms,
            at: step.at,
        })
    }

    async fn finish_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        status: TurnStatus,
        reason: Option<String>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn> {
        if status == TurnStatus::Running {
            return Err(turn_not_running(turn));
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE turns SET status = $4, finished_at = $5, status_reason = $6 \
             WHERE tenant_id = $1 AND session_id = $2 AND turn = $3 AND status = 'running' \
             RETURNING ",
            turn_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .bind(status.as_str())
        .bind(at)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(turn_not_running(turn));
        };
        let finished = turn_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(finished)
    }

    async fn resume_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn> {
        let mut tx = self.pool.begin().await?;
        // Latest and halted; the partial unique index refuses a second running turn.
        let row = sqlx::query(concat!(
            "UPDATE turns SET status = 'running', finished_at = NULL, status_reason = NULL \
             WHERE tenant_id = $1 AND session_id = $2 AND turn = $3 AND status = 'halted' \
             AND turn = (SELECT last_turn FROM sessions WHERE tenant_id = $1 AND id = $2) \
             RETURNING ",
            turn_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                turn_running(session_id)
            } else {
                err.into()
            }
        })?;
        let Some(row) = row else {
            return Err(turn_not_resumable(turn));
        };
        let resumed = turn_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(resumed)
    }

    async fn settle_held_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        status: TurnStatus,
        reason: Option<String>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn> {
        if status == TurnStatus::Running {
            return Err(turn_not_halted(turn));
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE turns SET status = $4, finished_at = $5, status_reason = $6 \
             WHERE tenant_id = $1 AND session_id = $2 AND turn = $3 AND status = 'halted' \
             RETURNING ",
            turn_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .bind(status.as_str())
        .bind(at)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(turn_not_halted(turn));
        };
        let settled = turn_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(settled)
    }

    async fn get_execution(
        &self,
        tenant_id: TenantId,
        execution_id: ExecutionId,
    ) -> StoreResult<Turn> {
        let row = sqlx::query(concat!(
            "SELECT ",
            turn_columns!(),
            " FROM turns WHERE tenant_id = $1 AND execution_id = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(execution_id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("execution", execution_id))?;
        turn_from_row(&row)
    }

    async fn list_turns(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> StoreResult<Vec<Turn>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            turn_columns!(),
            " FROM turns WHERE tenant_id = $1 AND session_id = $2 ORDER BY turn"
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            // No turns yet, or no such session: only the latter is an error.
            self.get_session(tenant_id, session_id).await?;
        }
        rows.iter().map(turn_from_row).collect()
    }

    async fn list_steps(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: Option<i64>,
    ) -> StoreResult<Vec<Step>> {
        let rows = sqlx::query(
            "SELECT turn, seq, kind, payload, applied, input_tokens, output_tokens, \
             cost_micros, latency_ms, at FROM execution_steps \
             WHERE tenant_id = $1 AND session_id = $2 AND ($3::bigint IS NULL OR turn = $3) \
             ORDER BY turn, seq",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(step_from_row).collect()
    }

    async fn usage_totals(
        &self,
        tenant_id: TenantId,
        scope: UsageScope,
    ) -> StoreResult<UsageTotals> {
        // Each scope is a prefix of an index: the primary key for a session or turn,
        // `execution_steps_agent_usage` (covering) for an agent's window.
        let query = match &scope {
            UsageScope::Session(session_id) => sqlx::query(
                "SELECT coalesce(sum(input_tokens), 0)::bigint AS input_tokens, \
                 coalesce(sum(output_tokens), 0)::bigint AS output_tokens, \
                 coalesce(sum(cost_micros), 0)::bigint AS cost_micros \
                 FROM execution_steps WHERE tenant_id = $1 AND session_id = $2",
            )
            .bind(tenant_id.as_uuid())
            .bind(session_id.as_uuid()),
            UsageScope::Turn { session_id, turn } => sqlx::query(
                "SELECT coalesce(sum(input_tokens), 0)::bigint AS input_tokens, \
                 coalesce(sum(output_tokens), 0)::bigint AS output_tokens, \
                 coalesce(sum(cost_micros), 0)::bigint AS cost_micros \
                 FROM execution_steps WHERE tenant_id = $1 AND session_id = $2 AND turn = $3",
            )
            .bind(tenant_id.as_uuid())
            .bind(session_id.as_uuid())
            .bind(*turn),
            UsageScope::Agent {
                environment,
                agent,
                since,
            } => sqlx::query(
                "SELECT coalesce(sum(input_tokens), 0)::bigint AS input_tokens, \
                 coalesce(sum(output_tokens), 0)::bigint AS output_tokens, \
                 coalesce(sum(cost_micros), 0)::bigint AS cost_micros \
                 FROM execution_steps \
                 WHERE tenant_id = $1 AND environment = $2 AND agent = $3 AND at >= $4",
            )
            .bind(tenant_id.as_uuid())
            .bind(environment.as_str())
            .bind(agent.as_str())
            .bind(*since),
        };
        let row = query.fetch_one(&self.pool).await?;
        Ok(UsageTotals {
            input_tokens: row.try_get("input_tokens")?,
            output_tokens: row.try_get("output_tokens")?,
            cost_micros: row.try_get("cost_micros")?,
        })
    }

    async fn list_steps_of_kind(
        &self,
        tenant_id: TenantId,
        query: &StepKindQuery,
    ) -> StoreResult<Vec<ListedStep>> {
        // `execution_steps_by_kind` holds `(tenant_id, kind)` then the whole sort key, so
        // either statement reads the index backwards and stops at the limit; the cursor is a
        // row-value bound on that key (strictly older), not a filter.
        let statement = match &query.before {
            None => sqlx::query(concat!(
                listed_step_from!(),
                steps_of_kind_filter!(),
                "ORDER BY e.at DESC, e.session_id DESC, e.turn DESC, e.seq DESC LIMIT $7"
            )),
            Some(_) => sqlx::query(concat!(
                listed_step_from!(),
                steps_of_kind_filter!(),
                "AND (e.at, e.session_id, e.turn, e.seq) < ($8, $9, $10, $11) \
                 ORDER BY e.at DESC, e.session_id DESC, e.turn DESC, e.seq DESC LIMIT $7"
            )),
        }
        .bind(tenant_id.as_uuid())
        .bind(&query.kind)
        .bind(query.environment.map(|environment| environment.as_str()))
        .bind(query.agent.as_deref())
        .bind(query.session_id.map(|session_id| *session_id.as_uuid()))
        .bind(query.since)
        .bind(query.fetch_limit());
        let statement = match &query.before {
            Some(before) => statement
                .bind(before.at)
                .bind(before.session_id.as_uuid())
                .bind(before.turn)
                .bind(before.seq),
            None => statement,
        };
        let rows = statement.fetch_all(&self.pool).await?;
        rows.iter().map(listed_step_from_row).collect()
    }
}
