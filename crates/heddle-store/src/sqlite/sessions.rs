//! Sessions, turns and execution steps on SQLite. Writes run in `BEGIN IMMEDIATE`
//! transactions, so numbering (turns, step sequence) cannot interleave.

use async_trait::async_trait;
use heddle_types::{ExecutionId, SessionId, TenantId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::types::{Json, JsonValue};
use time::OffsetDateTime;

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, from_micros, optional_from_micros, to_micros};
use crate::config_snapshots::parse_environment;
use crate::db_error::{is_foreign_key_violation, is_unique_violation, not_found};
use crate::sessions::{
    NewSession, NewStep, Session, SessionStore, Step, Turn, TurnStatus, turn_not_running,
    turn_running,
};
use crate::{NewAuditEvent, StoreError, StoreResult};

macro_rules! session_columns {
    () => {
        "id, environment, agent, config_version, principal_kind, principal_id, \
         verified_customer_id, last_turn, created_at, updated_at"
    };
}

fn session_from_row(tenant_id: TenantId, row: &SqliteRow) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId::from_uuid(row.try_get("id")?),
        tenant_id,
        environment: parse_environment(row.try_get("environment")?)?,
        agent: row.try_get("agent")?,
        config_version: row.try_get("config_version")?,
        principal_kind: row.try_get("principal_kind")?,
        principal_id: row.try_get("principal_id")?,
        verified_customer_id: row.try_get("verified_customer_id")?,
        last_turn: row.try_get("last_turn")?,
        created_at: from_micros(row.try_get("created_at")?)?,
        updated_at: from_micros(row.try_get("updated_at")?)?,
    })
}

fn turn_from_row(row: &SqliteRow) -> StoreResult<Turn> {
    Ok(Turn {
        session_id: SessionId::from_uuid(row.try_get("session_id")?),
        turn: row.try_get("turn")?,
        execution_id: ExecutionId::from_uuid(row.try_get("execution_id")?),
        status: TurnStatus::parse(row.try_get("status")?)?,
        started_at: from_micros(row.try_get("started_at")?)?,
        finished_at: optional_from_micros(row.try_get("finished_at")?)?,
    })
}

fn step_from_row(row: &SqliteRow) -> StoreResult<Step> {
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
        at: from_micros(row.try_get("at")?)?,
    })
}

macro_rules! turn_columns {
    () => {
        "session_id, turn, execution_id, status, started_at, finished_at"
    };
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        session: NewSession,
        audit: NewAuditEvent,
    ) -> StoreResult<Session> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        sqlx::query(
            "INSERT INTO sessions (tenant_id, id, environment, agent, config_version, \
             principal_kind, principal_id, verified_customer_id, last_turn, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9)",
        )
        .bind(session.tenant_id.as_uuid())
        .bind(session.id.as_uuid())
        .bind(session.environment.as_str())
        .bind(&session.agent)
        .bind(session.config_version)
        .bind(&session.principal_kind)
        .bind(&session.principal_id)
        .bind(&session.verified_customer_id)
        .bind(to_micros(session.created_at))
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

    async fn begin_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        execution_id: ExecutionId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let turn: i64 = sqlx::query_scalar(
            "UPDATE sessions SET last_turn = last_turn + 1, updated_at = $3 \
             WHERE tenant_id = $1 AND id = $2 RETURNING last_turn",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(to_micros(at))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found("session", session_id))?;
        let inserted = sqlx::query(
            "INSERT INTO turns (tenant_id, session_id, turn, execution_id, status, started_at) \
             VALUES ($1, $2, $3, $4, 'running', $5)",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .bind(execution_id.as_uuid())
        .bind(to_micros(at))
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
        Ok(Turn {
            session_id,
            turn,
            execution_id,
            status: TurnStatus::Running,
            started_at: at,
            finished_at: None,
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
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let last_turn: i64 = sqlx::query_scalar(
            "SELECT s.last_turn FROM sessions s JOIN turns t ON t.tenant_id = s.tenant_id \
             AND t.session_id = s.id WHERE s.tenant_id = $1 AND s.id = $2 AND t.turn = $3",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found("turn", format!("{session_id}/{turn}")))?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(seq), 0) + 1 FROM execution_steps \
             WHERE tenant_id = $1 AND session_id = $2 AND turn = $3",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .fetch_one(&mut *tx)
        .await?;
        let applied = turn == last_turn;
        sqlx::query(
            "INSERT INTO execution_steps (tenant_id, session_id, turn, seq, kind, payload, \
             applied, input_tokens, output_tokens, cost_micros, latency_ms, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .bind(to_micros(step.at))
        .execute(&mut *tx)
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
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn> {
        if status == TurnStatus::Running {
            return Err(turn_not_running(turn));
        }
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        let row = sqlx::query(concat!(
            "UPDATE turns SET status = $4, finished_at = $5 WHERE tenant_id = $1 \
             AND session_id = $2 AND turn = $3 AND status = 'running' RETURNING ",
            turn_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .bind(status.as_str())
        .bind(to_micros(at))
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

    async fn list_steps(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: Option<i64>,
    ) -> StoreResult<Vec<Step>> {
        let rows = sqlx::query(
            "SELECT turn, seq, kind, payload, applied, input_tokens, output_tokens, \
             cost_micros, latency_ms, at FROM execution_steps \
             WHERE tenant_id = $1 AND session_id = $2 AND ($3 IS NULL OR turn = $3) \
             ORDER BY turn, seq",
        )
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(turn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(step_from_row).collect()
    }
}
