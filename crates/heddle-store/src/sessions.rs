//! Agent sessions, their turns and the steps of each turn's execution — the durable record of
//! what the runtime did.
//!
//! - A session belongs to one tenant, environment, agent and configuration version, and to
//!   the principal that opened it (and, for service agents, a verified customer id).
//! - Turns are numbered 1, 2, … per session; each is one execution with its own id. At most
//!   one turn per session runs at a time, enforced by a partial unique index, so a second
//!   message while a turn runs is a [`crate::StoreError::Conflict`] even across processes.
//! - A running turn that outlives its deadline is abandoned (marked `failed`) by the next
//!   [`SessionStore::begin_turn`], so a crashed process cannot block a session forever.
//! - Steps are appended with sequence numbers per turn. A step of a turn that is no longer the
//!   session's latest running turn (finished, abandoned or superseded) is still recorded, with
//!   `applied = false`: a late result never enters the conversation (stale-turn protection).
//! - Steps carry their session's environment and agent, so an agent's spend over a time
//!   window is one index range scan ([`SessionStore::usage_totals`]).
//! - Steps of one kind (guardrail violations, say) are listed across a tenant's sessions
//!   newest first, paged by a keyset [`StepCursor`] on `(at, session_id, turn, seq)`: unique
//!   per step, so a page boundary between steps sharing an instant skips and repeats nothing.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use heddle_types::{Environment, ExecutionId, Page, PageRequest, SessionId, TenantId};
use sqlx::types::JsonValue;
use time::OffsetDateTime;
use uuid::Uuid;

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
    /// The record the conversation is about, which capabilities may bind.
    pub session_record_id: Option<String>,
    pub channel: SessionChannel,
    pub created_at: OffsetDateTime,
}

/// How a session is used, fixed for its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SessionChannel {
    /// A conversation: each message runs a turn of the agent's model.
    #[default]
    Conversation,
    /// Direct tool calls of an MCP client: each call is a turn of its own, with no model.
    Mcp,
    /// One request through a gateway route (`/v1/chat/completions`, `/v1/embeddings`); the
    /// session's `agent` is the route's name and it has exactly one turn.
    Gateway,
}

impl SessionChannel {
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionChannel::Conversation => "conversation",
            SessionChannel::Mcp => "mcp",
            SessionChannel::Gateway => "gateway",
        }
    }

    pub(crate) fn parse(value: &str) -> StoreResult<Self> {
        match value {
            "conversation" => Ok(SessionChannel::Conversation),
            "mcp" => Ok(SessionChannel::Mcp),
            "gateway" => Ok(SessionChannel::Gateway),
            other => Err(StoreError::Corrupt(format!(
                "unknown session channel `{other}`"
            ))),
        }
    }
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
    pub session_record_id: Option<String>,
    pub channel: SessionChannel,
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
    /// Why the turn failed, halted or was abandoned; `None` while running or when completed
    /// without one.
    pub reason: Option<String>,
}

/// What [`SessionStore::begin_turn`] did: the new turn, and the stale turn it abandoned first.
#[derive(Debug, Clone, PartialEq)]
pub struct BeganTurn {
    pub turn: Turn,
    pub abandoned: Option<Turn>,
}

/// The reason recorded on a turn [`SessionStore::begin_turn`] abandoned.
pub const ABANDONED_REASON: &str = "abandoned: the turn passed its deadline without finishing";

/// Whose spending [`SessionStore::usage_totals`] adds up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageScope {
    Session(SessionId),
    Turn {
        session_id: SessionId,
        turn: i64,
    },
    /// Every session of the agent in the environment, counting steps at or after `since`.
    Agent {
        environment: Environment,
        agent: String,
        since: OffsetDateTime,
    },
}

/// Sums over execution steps, applied or not: a late result's tokens were paid for too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// Optional narrowing of a session list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// `(principal_kind, principal_id)`.
    pub principal: Option<(String, String)>,
    pub agent: Option<String>,
    pub environment: Option<Environment>,
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

/// Which steps [`SessionStore::list_steps_of_kind`] lists: those of `kind`, narrowed by the
/// optional filters (`None` matches everything), strictly older than `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKindQuery {
    pub kind: String,
    pub environment: Option<Environment>,
    pub agent: Option<String>,
    pub session_id: Option<SessionId>,
    /// Steps at or after this instant only.
    pub since: Option<OffsetDateTime>,
    /// The cursor of the last step of the previous page.
    pub before: Option<StepCursor>,
    /// Clamped to `1..=`[`StepKindQuery::MAX_LIMIT`].
    pub limit: u32,
}

impl StepKindQuery {
    pub const MAX_LIMIT: u32 = 500;

    /// The limit as the statement binds it.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT))
    }
}

/// A position in the newest-first order of [`SessionStore::list_steps_of_kind`]: the step's
/// full sort key, so the next page starts strictly after it however many steps share `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepCursor {
    pub at: OffsetDateTime,
    pub session_id: SessionId,
    pub turn: i64,
    pub seq: i64,
}

/// A step cursor token that is not one [`StepCursor::to_token`] made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid step cursor: {reason}")]
pub struct InvalidStepCursor {
    /// What was wrong with it; never the input itself, which may be anything.
    pub reason: &'static str,
}

/// Tokens start with this version, so the format can change without misreading old ones.
const STEP_CURSOR_VERSION: &str = "s1";
/// Far longer than any token [`StepCursor::to_token`] makes (about 110 characters).
const MAX_STEP_CURSOR_TOKEN_LEN: usize = 256;

impl StepCursor {
    /// An opaque, URL-safe token: base64url of `s1.<at unix nanos>.<session>.<turn>.<seq>`.
    /// Nanoseconds, so the cursor round-trips exactly whatever precision `at` has.
    pub fn to_token(&self) -> String {
        let compact = format!(
            "{STEP_CURSOR_VERSION}.{}.{}.{}.{}",
            self.at.unix_timestamp_nanos(),
            self.session_id.as_uuid().simple(),
            self.turn,
            self.seq
        );
        URL_SAFE_NO_PAD.encode(compact)
    }

    /// Parses a token [`StepCursor::to_token`] made; anything else is refused.
    pub fn from_token(token: &str) -> Result<Self, InvalidStepCursor> {
        let invalid = |reason| InvalidStepCursor { reason };
        if token.len() > MAX_STEP_CURSOR_TOKEN_LEN {
            return Err(invalid("too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| invalid("not base64url"))?;
        let compact = String::from_utf8(bytes).map_err(|_| invalid("not a cursor"))?;
        let mut parts = compact.split('.');
        if parts.next() != Some(STEP_CURSOR_VERSION) {
            return Err(invalid("unknown format"));
        }
        let (Some(at), Some(session_id), Some(turn), Some(seq), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid("wrong number of fields"));
        };
        let at = at
            .parse::<i128>()
            .ok()
            .and_then(|nanos| OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
            .ok_or_else(|| invalid("bad instant"))?;
        let session_id = Uuid::try_parse(session_id)
            .map(SessionId::from_uuid)
            .map_err(|_| invalid("bad session id"))?;
        // Turns and sequence numbers start at 1 (the tables' CHECKs).
        let positive = |value: &str| value.parse::<i64>().ok().filter(|n| *n >= 1);
        let turn = positive(turn).ok_or_else(|| invalid("bad turn"))?;
        let seq = positive(seq).ok_or_else(|| invalid("bad sequence number"))?;
        Ok(Self {
            at,
            session_id,
            turn,
            seq,
        })
    }
}

/// A step listed across sessions, with where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedStep {
    pub session_id: SessionId,
    pub environment: Environment,
    pub agent: String,
    pub execution_id: ExecutionId,
    pub step: Step,
}

impl ListedStep {
    /// The cursor that continues a listing after this step.
    pub fn cursor(&self) -> StepCursor {
        StepCursor {
            at: self.step.at,
            session_id: self.session_id,
            turn: self.step.turn,
            seq: self.step.seq,
        }
    }
}

#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    async fn create_session(
        &self,
        session: NewSession,
        audit: NewAuditEvent,
    ) -> StoreResult<Session>;

    async fn get_session(&self, tenant_id: TenantId, id: SessionId) -> StoreResult<Session>;

    /// Newest first (by id, which is time-ordered), keyset-paginated by id.
    async fn list_sessions(
        &self,
        tenant_id: TenantId,
        filter: SessionFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Session>>;

    /// Records the customer the session acts for once they proved who they are.
    /// [`StoreError::NotFound`] when the session is not the tenant's.
    async fn set_verified_customer(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        customer_id: &str,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Session>;

    /// Starts the next turn of the session. A running turn that started before
    /// `stale_before` is first abandoned in the same transaction: marked `failed` with
    /// [`ABANDONED_REASON`], finished at `at`, given a `status` step (not applied), and
    /// `abandon_audit` is written (only then). [`StoreError::Conflict`] (field `turn`) when a
    /// turn that is not stale is still running; [`StoreError::NotFound`] when the session is
    /// not the tenant's.
    #[expect(
        clippy::too_many_arguments,
        reason = "the runtime's call site names each input; a struct would only rename them"
    )]
    async fn begin_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        execution_id: ExecutionId,
        at: OffsetDateTime,
        stale_before: OffsetDateTime,
        abandon_audit: NewAuditEvent,
        audit: NewAuditEvent,
    ) -> StoreResult<BeganTurn>;

    /// Appends a step to a turn (running or not: late results are recorded too), marking it
    /// applied only when the turn is the session's latest and still running.
    async fn append_step(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        step: NewStep,
        audit: NewAuditEvent,
    ) -> StoreResult<Step>;

    /// Ends a running turn, with why it failed or halted. [`StoreError::Conflict`] (field
    /// `status`) when it is not running.
    #[expect(
        clippy::too_many_arguments,
        reason = "the runtime's call site names each input; a struct would only rename them"
    )]
    async fn finish_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        status: TurnStatus,
        reason: Option<String>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn>;

    /// The session's turns in order. [`StoreError::NotFound`] when the session is not the
    /// tenant's.
    async fn list_turns(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> StoreResult<Vec<Turn>>;

    /// Runs a halted turn again (a person decided the call it waited for): only while it is
    /// still the session's latest turn and no other turn runs. [`StoreError::Conflict`]
    /// (field `status`) otherwise — the conversation moved on.
    async fn resume_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        audit: NewAuditEvent,
    ) -> StoreResult<Turn>;

    /// Ends a halted turn without running it again: the call it waited for was decided and
    /// there is no model loop to resume (a direct call of an MCP session). Unlike
    /// [`SessionStore::resume_turn`] it needs neither the latest turn nor a free running slot,
    /// since direct calls of one session are independent. [`StoreError::Conflict`] (field
    /// `status`) when the turn is not halted (settled already).
    #[expect(
        clippy::too_many_arguments,
        reason = "the runtime's call site names each input; a struct would only rename them"
    )]
    async fn settle_held_turn(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        turn: i64,
        status: TurnStatus,
        reason: Option<String>,
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

    /// Tokens and cost spent in the scope; zero when it has no steps (an unknown or other
    /// tenant's session included).
    async fn usage_totals(
        &self,
        tenant_id: TenantId,
        scope: UsageScope,
    ) -> StoreResult<UsageTotals>;

    /// The tenant's steps of `query.kind` across all its sessions, applied or not, newest
    /// first by `(at, session_id, turn, seq)`, at most `query.limit` (clamped) of them.
    async fn list_steps_of_kind(
        &self,
        tenant_id: TenantId,
        query: &StepKindQuery,
    ) -> StoreResult<Vec<ListedStep>>;
}

/// The payload of the `status` step recorded on a turn when it is abandoned.
pub(crate) fn abandoned_step_payload() -> JsonValue {
    JsonValue::from_iter([("status", "failed"), ("reason", ABANDONED_REASON)])
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

pub(crate) fn turn_not_halted(turn: i64) -> StoreError {
    StoreError::Conflict {
        entity: "turn",
        field: "status",
        value: format!("turn {turn} is not halted"),
    }
}

pub(crate) fn turn_not_resumable(turn: i64) -> StoreError {
    StoreError::Conflict {
        entity: "turn",
        field: "status",
        value: format!("turn {turn} is not halted, or no longer the session's latest"),
    }
}
