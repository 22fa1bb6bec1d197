//! What the OpenAI-compatible gateway stores: each request as a one-turn session of origin
//! `gateway` (so executions, steps, usage and the violation list read it like any turn), and
//! budget windows with reservations.
//!
//! A request has two writes: the *open* before the upstream call (session, running turn, the
//! inbound steps and the budget reservation) and the *close* after it (the remaining steps,
//! the turn's end and the settlement). Each is atomic. They are written one at a time
//! ([`GatewayStore::open_gateway_execution`], [`GatewayStore::close_gateway_execution`]) or
//! many requests' at once in one transaction ([`GatewayStore::write_gateway_records`], the
//! gateway's group commit: one fsync for the batch; should one write fail, the batch is
//! rolled back and each write committed alone, so the failure stays its own — cheaper than
//! a savepoint per write, since failures are rare and SQLite journals savepoints to disk).
//!
//! A crash between open and close leaves a running turn and an open reservation; the
//! reservation expires and is released by the next reservation in its window, so spent
//! budget never leaks for longer than the expiry, and
//! [`GatewayStore::stale_gateway_executions`] finds the turn so it can be closed as
//! interrupted.
//!
//! Budgets: a window's counter holds settled usage plus open reservations. A reservation is
//! one conditional upsert — it adds the estimate only where the sum stays within the limit —
//! so any number of concurrent requests in any number of processes cannot together pass the
//! limit (no check-then-act). Settling replaces the estimate by the actual usage, which may
//! be higher; the next reservation then sees it. Counters are bookkeeping derived from the
//! requests, whose usage is in their steps and audit events; they carry no audit event of
//! their own.

use async_trait::async_trait;
use heddle_types::{Environment, ExecutionId, SessionId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{NewAuditEvent, NewSession, NewStep, StoreResult, TurnStatus};

/// A reservation to make before an upstream call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetHold {
    pub id: Uuid,
    /// What the budget belongs to: `route/<environment>/<name>`.
    pub scope: String,
    /// The window's start (00:00 UTC of the day for daily budgets).
    pub window_start: OffsetDateTime,
    /// The estimate held.
    pub tokens: i64,
    pub cost_micros: i64,
    /// The caps of the window; `None` is unlimited.
    pub limit_tokens: Option<i64>,
    pub limit_cost_micros: Option<i64>,
    /// After this the reservation is presumed abandoned (its process died) and released.
    pub expires_at: OffsetDateTime,
}

/// Whether a hold was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Granted (or there was nothing to hold).
    Held,
    /// The estimate would pass a cap; nothing was reserved. What the window has counted.
    Refused(BudgetSpent),
}

/// What a budget window has counted: settled usage plus open reservations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetSpent {
    pub tokens: i64,
    pub cost_micros: i64,
}

/// Replaces a hold's estimate by the actual usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSettlement {
    pub id: Uuid,
    pub scope: String,
    pub window_start: OffsetDateTime,
    pub tokens: i64,
    pub cost_micros: i64,
}

/// A step with the audit event that records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditedStep {
    pub step: NewStep,
    pub audit: NewAuditEvent,
}

/// Everything [`GatewayStore::open_gateway_execution`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenGatewayExecution {
    /// Its `origin` is set to `gateway` whatever it says.
    pub session: NewSession,
    pub execution_id: ExecutionId,
    pub session_audit: NewAuditEvent,
    pub turn_audit: NewAuditEvent,
    pub steps: Vec<AuditedStep>,
    pub hold: Option<BudgetHold>,
}

/// Everything [`GatewayStore::close_gateway_execution`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct CloseGatewayExecution {
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    /// The session's, copied into the steps (see `SessionStore::usage_totals`).
    pub environment: Environment,
    pub route: String,
    pub steps: Vec<AuditedStep>,
    pub status: TurnStatus,
    pub reason: Option<String>,
    pub at: OffsetDateTime,
    pub audit: NewAuditEvent,
    pub settle: Option<BudgetSettlement>,
}

/// One write of a gateway request's record, for [`GatewayStore::write_gateway_records`]
/// (boxed: the two differ a lot in size and travel through a queue).
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayWrite {
    Open(Box<OpenGatewayExecution>),
    Close(Box<CloseGatewayExecution>),
}

/// What one write of a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayWritten {
    Opened(HoldOutcome),
    Closed,
}

/// A gateway execution still running: its close never came (the process stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleGatewayExecution {
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub execution_id: ExecutionId,
    pub environment: Environment,
    /// The route's name (the session's `agent`).
    pub route: String,
    pub started_at: OffsetDateTime,
}

#[async_trait]
pub trait GatewayStore: Send + Sync + std::fmt::Debug {
    /// One transaction: the session (origin `gateway`), its turn 1 running, `steps`, and the
    /// hold when given. A refused hold reserves nothing and still records the rest.
    async fn open_gateway_execution(&self, open: OpenGatewayExecution) -> StoreResult<HoldOutcome>;

    /// One transaction: `steps` after those already recorded, the turn ended with `status`
    /// ([`crate::StoreError::Conflict`] when it is not running), and the settlement. A
    /// reservation that expired and was released meanwhile is settled by adding the actual
    /// usage alone.
    async fn close_gateway_execution(&self, close: CloseGatewayExecution) -> StoreResult<()>;

    /// Every write in one transaction, in order; the answer has one result per write. If a
    /// write fails, the transaction is rolled back and every write is committed in a
    /// transaction of its own, so only the failing write fails. The outer error means the
    /// batch's transaction failed and nothing was written.
    async fn write_gateway_records(
        &self,
        writes: Vec<GatewayWrite>,
    ) -> StoreResult<Vec<StoreResult<GatewayWritten>>>;

    /// Gateway executions (sessions of channel `gateway`) whose turn is still running and
    /// began before `started_before`, oldest first, at most `limit`.
    async fn stale_gateway_executions(
        &self,
        started_before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<StaleGatewayExecution>>;

    /// What a budget window has counted; zero for a window nothing was reserved in.
    async fn budget_spent(
        &self,
        tenant_id: TenantId,
        scope: &str,
        window_start: OffsetDateTime,
    ) -> StoreResult<BudgetSpent>;
}

/// A hold whose estimate alone passes a cap can never be granted.
pub(crate) fn exceeds_alone(hold: &BudgetHold) -> bool {
    hold.limit_tokens.is_some_and(|limit| hold.tokens > limit)
        || hold
            .limit_cost_micros
            .is_some_and(|limit| hold.cost_micros > limit)
}
