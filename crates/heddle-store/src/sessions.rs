//! Agent sessions, their turns and the steps of each turn's execution — the durable record of
//! what the runtime did.
//!
//! - A session belongs to one tenant, environment, agent and configuration version, and to
//!   the principal that opened it (and, for service agents, a verified customer id).
//! - Turns are numbered 1, 2, … per session; each is one execution with its own id. At most
//!   one turn per session runs at a time, enforced by a partial unique index, so a second
//!   message while a turn runs is a [`crate::StoreError::Conflict`] even across processes.
//! - Steps are appended with sequence numbers per turn. A step of a turn that is no longer the
//!   session's latest is still recorded, with `applied = false`: a late result never enters
//!   the conversation (stale-turn protection).

use async_trait::async_trait;
use heddle_types::{Environment, ExecutionId, SessionId, TenantId};
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use crate::{NewAuditEvent, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub environment: Environment,
    pub agent: String,
    pub config_version: i64,
    /// `user`, `api_key`, `customer` …
    pub principal_kind: String,
    pub principal_id: String,
    pub verified_customer_id: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub environment: Environment,
    pub agent: String,
    pub config_version: i64,
    pub principal_kind: String,
    pub principal_id: String,
    pub verified_customer_id: Option<String>,
    /// The newest turn's number; 0 before the first message.
    pub last_turn: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnStatus {
    Running,
    Completed,
    Failed,
    /// Stopped by a limit or budget.
    Halted,
}

impl TurnStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Running => "running",
            TurnStatus::Completed => "completed",
            TurnStatus::Failed => "failed",
            TurnStatus::Halted => "halted",
        }
    }

    pub(crate) fn parse(value: &str) -> StoreResult<Self> {
        match value {
            "running" => Ok(TurnStatus::Running),
            "completed" => Ok(TurnStatus::Completed),
            "failed" => Ok(TurnStatus::Failed),
            "halted" => Ok(TurnStatus::Halted),
            other => Err(StoreError::Corrupt(format!(
                "unknown turn status `{other}`"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub session_id: SessionId,
    pub turn: i64,
    pub execution_id: ExecutionId,
    pub status: TurnStatus,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

/// One step of an execution as the runtime records it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStep {
    /// `user_message`, `model_request`, `model_response`, `tool_call`, `policy_decision`,
    /// `tool_result`, `failure`, `status` …
    pub kind: String,
    pub payload: JsonValue,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: Option<i64>,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub turn: i64,
    pub seq: i64,
    pub kind: String,
    pub payload: JsonValue,
    /// False when the step's turn was no longer the session's latest: recorded, not applied.
    pub applied: bool,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: Option<i64>,
    pub at: OffsetDateTime,
}

#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    async fn create_session(
        &self,
        session: NewSession,
        audit: NewAuditEvent,
    ) -> StoreResult<Session>;

    async fn get_session(&self, tenant_id: TenantId, id: SessionId) -> StoreResult<Session>;

    /// Starts the next turn of the session. [`StoreError::Conflict`] (field `turn`) when one
    /// is still running; [`StoreError::NotFound`] when the session is not the tenant's.
    async fn begin_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        execution_id: ExecutionId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn>;

    /// Appends a step to a turn (running or not: late results are recorded too), marking it
    /// applied only when the turn is still the session's latest.
    async fn append_step(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        step: NewStep,
        audit: NewAuditEvent,
    ) -> StoreResult<Step>;

    /// Ends a running turn. [`StoreError::Conflict`] (field `status`) when it is not running.
    async fn finish_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        status: TurnStatus,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn>;

    /// A turn by its execution id.
    async fn get_execution(
        &self,
        tenant_id: TenantId,
        execution_id: ExecutionId,
    ) -> StoreResult<Turn>;

    /// The steps of a session in order (turn, seq); only those of one turn when given.
    async fn list_steps(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: Option<i64>,
    ) -> StoreResult<Vec<Step>>;
}

pub(crate) fn turn_running(session_id: SessionId) -> StoreError {
    StoreError::Conflict {
        entity: "session",
        field: "turn",
        value: format!("{session_id} has a turn running"),
    }
}

pub(crate) fn turn_not_running(turn: i64) -> StoreError {
    StoreError::Conflict {
        entity: "turn",
        field: "status",
        value: format!("turn {turn} is not running"),
    }
}
