//! Pending actions: tool calls the runtime paused because their capability needs a person
//! (the user's confirmation in the conversation, a designated approver's approval, or both),
//! and the ledger of effects applied under an idempotency key.
//!
//! - A pending action only moves forward: `awaiting_confirmation` → `awaiting_approval` →
//!   `approved` → `running` → `completed` | `failed`, or off to `rejected`, `expired` or
//!   `discarded`. Every move is one conditional `UPDATE … WHERE status = …` committed with its
//!   audit event, so of two racing deciders exactly one wins and the other gets a
//!   [`StoreError::Conflict`], in one process or several.
//! - A confirmation consumes its token: the stored hash is compared in the database and
//!   cleared by the same update, so a token works once.
//! - Running is a lease: [`PendingActionStore::claim_pending_action`] hands an approved action
//!   (or a running one whose lease ran out because its process died) to exactly one owner in
//!   one conditional update. A lease can run out while its owner is still working, so the
//!   lease alone gives "at most one runner at a time", not "one effect": the effect itself
//!   carries an idempotency key (the record writes of [`crate::RecordStore`] take one), and
//!   its row in `action_effects` commits in the effect's transaction. A second attempt finds
//!   the row, changes nothing and learns what the first did.
//! - `action_effects` is append-only (triggers refuse updates and deletes): forgetting an
//!   effect would let it run again.

use std::fmt;

use async_trait::async_trait;
use heddle_types::{Environment, ExecutionId, Page, PageRequest, SessionId, TenantId};
use sqlx::types::JsonValue;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{NewAuditEvent, StoreError, StoreResult};

/// Whom a pending action waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HitlMode {
    /// The requesting user confirms in the conversation (with a one-time token).
    Confirmation,
    /// A designated approver approves.
    Approval,
    /// The user confirms first, then an approver approves.
    ConfirmationThenApproval,
}

impl HitlMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            HitlMode::Confirmation => "confirmation",
            HitlMode::Approval => "approval",
            HitlMode::ConfirmationThenApproval => "confirmation_then_approval",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "confirmation" => Some(HitlMode::Confirmation),
            "approval" => Some(HitlMode::Approval),
            "confirmation_then_approval" => Some(HitlMode::ConfirmationThenApproval),
            _ => None,
        }
    }

    /// Whether the user confirms (and a confirmation token is issued).
    pub const fn needs_confirmation(self) -> bool {
        matches!(
            self,
            HitlMode::Confirmation | HitlMode::ConfirmationThenApproval
        )
    }

    /// Whether an approver approves.
    pub const fn needs_approval(self) -> bool {
        matches!(
            self,
            HitlMode::Approval | HitlMode::ConfirmationThenApproval
        )
    }

    /// The status a new pending action starts in.
    pub const fn initial_status(self) -> PendingStatus {
        if self.needs_confirmation() {
            PendingStatus::AwaitingConfirmation
        } else {
            PendingStatus::AwaitingApproval
        }
    }
}

impl fmt::Display for HitlMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingStatus {
    AwaitingConfirmation,
    AwaitingApproval,
    /// Granted; waiting to be claimed and run.
    Approved,
    /// Claimed by a runner holding a lease.
    Running,
    Completed,
    Failed,
    Rejected,
    Expired,
    /// Approved, then not run (e.g. stale with `on_stale: discard`).
    Discarded,
}

impl PendingStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            PendingStatus::AwaitingConfirmation => "awaiting_confirmation",
            PendingStatus::AwaitingApproval => "awaiting_approval",
            PendingStatus::Approved => "approved",
            PendingStatus::Running => "running",
            PendingStatus::Completed => "completed",
            PendingStatus::Failed => "failed",
            PendingStatus::Rejected => "rejected",
            PendingStatus::Expired => "expired",
            PendingStatus::Discarded => "discarded",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "awaiting_confirmation" => Some(PendingStatus::AwaitingConfirmation),
            "awaiting_approval" => Some(PendingStatus::AwaitingApproval),
            "approved" => Some(PendingStatus::Approved),
            "running" => Some(PendingStatus::Running),
            "completed" => Some(PendingStatus::Completed),
            "failed" => Some(PendingStatus::Failed),
            "rejected" => Some(PendingStatus::Rejected),
            "expired" => Some(PendingStatus::Expired),
            "discarded" => Some(PendingStatus::Discarded),
            _ => None,
        }
    }

    /// Whether no transition leaves this status.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            PendingStatus::Completed
                | PendingStatus::Failed
                | PendingStatus::Rejected
                | PendingStatus::Expired
                | PendingStatus::Discarded
        )
    }
}

impl fmt::Display for PendingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime does with an approved action whose conversation moved on meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnStale {
    Run,
    Discard,
}

impl OnStale {
    pub const fn as_str(self) -> &'static str {
        match self {
            OnStale::Run => "run",
            OnStale::Discard => "discard",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "run" => Some(OnStale::Run),
            "discard" => Some(OnStale::Discard),
            _ => None,
        }
    }
}

impl fmt::Display for OnStale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state transition [`PendingActionStore::decide_pending_action`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// `awaiting_confirmation` → `awaiting_approval` (confirmation then approval) or
    /// `approved` (confirmation only), consuming the confirmation token; before `expires_at`.
    Confirm,
    /// `awaiting_approval` → `approved`; before `expires_at`.
    Approve,
    /// `awaiting_confirmation` | `awaiting_approval` → `rejected`; with a token, only when it
    /// matches the stored confirmation token hash.
    Reject,
    /// `awaiting_confirmation` | `awaiting_approval` → `expired`, once `expires_at <= at`.
    Expire,
    /// `approved` → `discarded`.
    Discard,
}

impl Decision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Confirm => "confirm",
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Expire => "expire",
            Decision::Discard => "discard",
        }
    }

    /// The statuses the decision applies to.
    pub const fn applies_to(self) -> &'static [PendingStatus] {
        match self {
            Decision::Confirm => &[PendingStatus::AwaitingConfirmation],
            Decision::Approve => &[PendingStatus::AwaitingApproval],
            Decision::Reject | Decision::Expire => &[
                PendingStatus::AwaitingConfirmation,
                PendingStatus::AwaitingApproval,
            ],
            Decision::Discard => &[PendingStatus::Approved],
        }
    }
}

#[derive(Clone, PartialEq)]
pub struct NewPendingAction {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub turn: i64,
    pub execution_id: ExecutionId,
    pub environment: Environment,
    pub agent: String,
    pub capability: String,
    /// The model's id for the tool call.
    pub call_id: String,
    /// The bound arguments, sealed by the runtime (opaque here).
    pub arguments_sealed: JsonValue,
    /// What people are shown (redacted by the runtime).
    pub arguments_display: JsonValue,
    /// Hex SHA-256 of the canonical arguments (64 characters).
    pub arguments_hash: String,
    pub mode: HitlMode,
    pub reason: Option<String>,
    /// The principal who asked (`user`, `api_key` …).
    pub requested_by_kind: String,
    pub requested_by_id: String,
    /// The role an approver needs (e.g. `admin`); `None`: any principal the policy allows
    /// except the requester.
    pub approver_role: Option<String>,
    /// 32 bytes; only for modes with confirmation.
    pub confirmation_token_hash: Option<Vec<u8>>,
    pub on_stale: OnStale,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[derive(Clone, PartialEq)]
pub struct PendingAction {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub turn: i64,
    pub execution_id: ExecutionId,
    pub environment: Environment,
    pub agent: String,
    pub capability: String,
    pub call_id: String,
    pub arguments_sealed: JsonValue,
    pub arguments_display: JsonValue,
    pub arguments_hash: String,
    pub mode: HitlMode,
    pub reason: Option<String>,
    pub requested_by_kind: String,
    pub requested_by_id: String,
    pub approver_role: Option<String>,
    /// `None` once the confirmation consumed it (or the action left `awaiting_confirmation`).
    pub confirmation_token_hash: Option<Vec<u8>>,
    pub on_stale: OnStale,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub status: PendingStatus,
    /// Who made the latest decision that named someone, with its time and comment.
    pub decided_by: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
    pub comment: Option<String>,
    pub confirmed_at: Option<OffsetDateTime>,
    /// The runner holding (or, once finished, the one that held) the lease.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<OffsetDateTime>,
    /// Claims so far: more than one means a runner died (or overran its lease) on the way.
    pub attempts: i32,
    pub result: Option<JsonValue>,
    pub completed_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for NewPendingAction {
    /// Leaves out the sealed arguments and the token hash: logs need neither.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPendingAction")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("session_id", &self.session_id)
            .field("turn", &self.turn)
            .field("execution_id", &self.execution_id)
            .field("environment", &self.environment)
            .field("agent", &self.agent)
            .field("capability", &self.capability)
            .field("call_id", &self.call_id)
            .field("arguments_sealed", &"[sealed]")
            .field("arguments_display", &self.arguments_display)
            .field("arguments_hash", &self.arguments_hash)
            .field("mode", &self.mode)
            .field("reason", &self.reason)
            .field("requested_by_kind", &self.requested_by_kind)
            .field("requested_by_id", &self.requested_by_id)
            .field("approver_role", &self.approver_role)
            .field(
                "confirmation_token_hash",
                &self.confirmation_token_hash.as_ref().map(|_| "[redacted]"),
            )
            .field("on_stale", &self.on_stale)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl fmt::Debug for PendingAction {
    /// Leaves out the sealed arguments and the token hash: logs need neither.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAction")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("session_id", &self.session_id)
            .field("turn", &self.turn)
            .field("execution_id", &self.execution_id)
            .field("environment", &self.environment)
            .field("agent", &self.agent)
            .field("capability", &self.capability)
            .field("call_id", &self.call_id)
            .field("arguments_sealed", &"[sealed]")
            .field("arguments_display", &self.arguments_display)
            .field("arguments_hash", &self.arguments_hash)
            .field("mode", &self.mode)
            .field("reason", &self.reason)
            .field("requested_by_kind", &self.requested_by_kind)
            .field("requested_by_id", &self.requested_by_id)
            .field("approver_role", &self.approver_role)
            .field(
                "confirmation_token_hash",
                &self.confirmation_token_hash.as_ref().map(|_| "[redacted]"),
            )
            .field("on_stale", &self.on_stale)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .field("status", &self.status)
            .field("decided_by", &self.decided_by)
            .field("decided_at", &self.decided_at)
            .field("comment", &self.comment)
            .field("confirmed_at", &self.confirmed_at)
            .field("lease_owner", &self.lease_owner)
            .field("lease_expires_at", &self.lease_expires_at)
            .field("attempts", &self.attempts)
            .field("result", &self.result)
            .field("completed_at", &self.completed_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// Optional narrowing of a pending-action list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingFilter {
    pub status: Option<PendingStatus>,
    pub session_id: Option<SessionId>,
    pub capability: Option<String>,
    /// `(requested_by_kind, requested_by_id)`.
    pub requested_by: Option<(String, String)>,
}

#[async_trait]
pub trait PendingActionStore: Send + Sync + std::fmt::Debug {
    /// Stores a new pending action in its initial status ([`HitlMode::initial_status`]:
    /// `awaiting_confirmation` for modes with confirmation, else `awaiting_approval`), with
    /// `audit`. [`StoreError::NotFound`] (entity `session`) when the session is not the
    /// tenant's; [`StoreError::Conflict`] when the id exists.
    async fn create_pending_action(
        &self,
        action: NewPendingAction,
        audit: NewAuditEvent,
    ) -> StoreResult<PendingAction>;

    /// [`StoreError::NotFound`] (entity `pending_action`) when it is not the tenant's.
    async fn get_pending_action(&self, tenant_id: TenantId, id: Uuid)
    -> StoreResult<PendingAction>;

    /// Newest first (by id, which is time-ordered), keyset-paginated by id.
    async fn list_pending_actions(
        &self,
        tenant_id: TenantId,
        filter: PendingFilter,
        page: PageRequest,
    ) -> StoreResult<Page<PendingAction>>;

    /// One state transition (see [`Decision`]), conditional on the current status, in one
    /// transaction with `audit`:
    ///
    /// - `Confirm` needs `token_hash` equal to the stored confirmation token hash (compared
    ///   in the database), sets `confirmed_at` and clears the hash so the token cannot be
    ///   used again. `Confirm` and `Approve` need `at < expires_at`: an expired request can
    ///   no longer be granted (a refusal, `Reject`, still can until it is expired).
    /// - `Reject` with a `token_hash` (the user declining in the conversation) needs it to
    ///   equal the stored hash too, checked in the same update; without one (an approver
    ///   rejecting) no token is involved. `Reject` and `Expire` clear an unused token hash.
    /// - `decided_by` and `comment` replace the stored ones when given, and then
    ///   `decided_at` becomes `at`; a decision without them (the system expiring or
    ///   discarding) keeps who decided before. `updated_at` is always `at`.
    ///
    /// [`StoreError::Conflict`] (entity `pending_action`) when the transition does not apply:
    /// field `status` for the wrong current status, `expires_at` for a grant after expiry or
    /// an expiry before it, `token` for a confirmation token that does not match (or, for
    /// `Confirm`, none).
    /// [`StoreError::NotFound`] when it is not the tenant's. Nothing is written then.
    #[expect(
        clippy::too_many_arguments,
        reason = "the runtime's call site names each input; a struct would only rename them"
    )]
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
    ) -> StoreResult<PendingAction>;

    /// The exactly-once claim: `approved` → `running`, or `running` whose lease expired
    /// before `at` (its runner died) → `running` again, setting `lease_owner = owner`,
    /// `lease_expires_at = at + lease` and `attempts += 1`, in one conditional update. Of any
    /// number of racing claims (in one process or several) exactly one gets `Some`; `None`
    /// while a lease is live (whoever holds it, `owner` included: a holder extends its lease
    /// with [`PendingActionStore::renew_pending_action_lease`]) or when the action is not
    /// runnable (not approved yet, or finished). [`StoreError::NotFound`] when it is not the
    /// tenant's.
    ///
    /// `owner` must be unique per runner (e.g. a UUID per process), never a host name that
    /// two processes could share.
    async fn claim_pending_action(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        owner: &str,
        at: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<Option<PendingAction>>;

    /// Extends the lease of a running action `owner` holds to `at + lease`, for work that
    /// takes longer than one lease. `None` when `owner` no longer holds it (another runner
    /// claimed it after the lease ran out, or it is not running): stop, the other runner has
    /// it. [`StoreError::NotFound`] when it is not the tenant's.
    async fn renew_pending_action_lease(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        owner: &str,
        at: OffsetDateTime,
        lease: time::Duration,
    ) -> StoreResult<Option<PendingAction>>;

    /// `running` (held by `owner`) → `completed` (`succeeded`) or `failed`, storing `result`
    /// and `completed_at = at`, in one transaction with `audit`. The lease need not be live:
    /// a runner that overran it still records what it did, unless another owner claimed the
    /// action meanwhile. [`StoreError::Conflict`] (entity `pending_action`): field
    /// `lease_owner` when another owner holds it now, `status` when it is not running.
    /// [`StoreError::NotFound`] when it is not the tenant's.
    #[expect(
        clippy::too_many_arguments,
        reason = "the runtime's call site names each input; a struct would only rename them"
    )]
    async fn finish_pending_action(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        owner: &str,
        succeeded: bool,
        result: JsonValue,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<PendingAction>;

    /// Work to pick up at start-up and periodically, across tenants: `approved` actions,
    /// `running` ones whose lease expired before `at`, and `awaiting_*` ones whose
    /// `expires_at <= at` (to expire). Oldest first (`created_at`, then id), at most `limit`.
    async fn due_pending_actions(
        &self,
        at: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<PendingAction>>;

    /// The result stored with the effect applied under `key` in the tenant, if one was (see
    /// [`crate::RecordStore::create_record`] and its siblings).
    async fn get_action_effect(
        &self,
        tenant_id: TenantId,
        key: &str,
    ) -> StoreResult<Option<JsonValue>>;
}

pub(crate) fn parse_mode(value: &str) -> StoreResult<HitlMode> {
    HitlMode::parse(value)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown hitl mode `{value}`")))
}

pub(crate) fn parse_status(value: &str) -> StoreResult<PendingStatus> {
    PendingStatus::parse(value)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown pending action status `{value}`")))
}

pub(crate) fn parse_on_stale(value: &str) -> StoreResult<OnStale> {
    OnStale::parse(value).ok_or_else(|| StoreError::Corrupt(format!("unknown on_stale `{value}`")))
}

/// `at + lease`, saturating at the largest representable time instead of overflowing.
pub(crate) fn lease_end(at: OffsetDateTime, lease: time::Duration) -> OffsetDateTime {
    at.saturating_add(lease)
}

pub(crate) fn pending_not_found(id: Uuid) -> StoreError {
    StoreError::NotFound {
        entity: "pending_action",
        id: id.to_string(),
    }
}

fn conflict(field: &'static str, value: String) -> StoreError {
    StoreError::Conflict {
        entity: "pending_action",
        field,
        value,
    }
}

/// Why the conditional update applied no `decision` to `current` (read after it, in the same
/// transaction). The update compared the token in the database; when status and time allow
/// a confirmation (or a rejection with a token), the token is what failed.
pub(crate) fn decision_refused(
    current: &PendingAction,
    decision: Decision,
    at: OffsetDateTime,
) -> StoreError {
    let id = current.id;
    if !decision.applies_to().contains(&current.status) {
        return conflict(
            "status",
            format!(
                "pending action {id} is {}, so it cannot {}",
                current.status,
                decision.as_str()
            ),
        );
    }
    match decision {
        Decision::Confirm | Decision::Approve if at >= current.expires_at => {
            conflict("expires_at", format!("pending action {id} has expired"))
        }
        Decision::Expire if at < current.expires_at => {
            conflict("expires_at", format!("pending action {id} has not expired"))
        }
        Decision::Confirm | Decision::Reject => conflict(
            "token",
            format!("pending action {id}: the confirmation token does not match"),
        ),
        _ => conflict(
            "status",
            format!("pending action {id} is {}", current.status),
        ),
    }
}

/// Why finishing as `owner` applied to nothing.
pub(crate) fn finish_refused(current: &PendingAction, owner: &str) -> StoreError {
    let id = current.id;
    if current.status != PendingStatus::Running {
        conflict(
            "status",
            format!(
                "pending action {id} is {}, so it cannot finish",
                current.status
            ),
        )
    } else if current.lease_owner.as_deref() != Some(owner) {
        conflict(
            "lease_owner",
            format!("pending action {id} is no longer leased to `{owner}`"),
        )
    } else {
        conflict("status", format!("pending action {id} is not running"))
    }
}
