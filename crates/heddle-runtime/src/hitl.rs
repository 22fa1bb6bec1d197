//! Human in the loop: a proposed call whose gate needs a person is held as a pending action
//! bound to the SHA-256 of its exact arguments; the turn stops. The person in the
//! conversation confirms with the single-use token the turn returned; an approver approves
//! through the API. Then the action runs once — claimed under a lease, its effect written
//! under its id as idempotency key — and, if the conversation has not moved on, the turn
//! resumes with its result.

use std::time::Duration;

use heddle_agents::config::OnStale as SpecOnStale;
use heddle_agents::hitl::Gate;
use heddle_identity::{Actor, Caller};
use heddle_providers::{Message, ToolCall};
use heddle_store::{
    Decision, HitlMode as StoreMode, NewPendingAction, OnStale, PendingAction, PendingFilter,
    PendingStatus, StoreError, TurnStatus,
};
use heddle_types::{
    Action, Page, PageRequest, Principal, RequestContext, Role, SessionId, TenantId,
};
use heddle_vault::Sealed;
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::conversation::{TRANSCRIPT_KEY, session_keys};
use crate::events::{Subject, change, details};
use crate::runtime::principal_of;
use crate::tools::{CheckedCall, Refusal, execute_once, fill_backend, record_error_message};
use crate::turn::{Start, StepRecord, TurnOutcome, TurnRun};
use crate::{Runtime, RuntimeError, RuntimeResult};

/// The vault purpose of a pending action's sealed arguments.
const ARGUMENTS_PURPOSE: &str = "pending-action-arguments";
/// Test-only crash points on the way from a decision to a finished action. With
/// `HEDDLE_TEST_FAILPOINT=<name>` the process announces `heddle-failpoint <name>` on stderr and
/// stops there for good, so a test can SIGKILL it at exactly that point. Unset in production:
/// one environment lookup per step.
async fn failpoint(name: &str) {
    if std::env::var("HEDDLE_TEST_FAILPOINT").is_ok_and(|armed| armed == name) {
        eprintln!("heddle-failpoint {name}");
        std::future::pending::<()>().await;
    }
}

/// A call waiting for a person, as the turn that held it reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingRequest {
    pub id: Uuid,
    pub capability: String,
    pub gate: Gate,
    pub status: &'static str,
    /// What will run, for the person deciding: the capability's purpose and the arguments.
    pub summary: String,
    pub arguments: Value,
    /// Hex SHA-256 of the canonical arguments: what a confirmation or approval is bound to.
    pub arguments_hash: String,
    /// The model's reason when it asked for approval itself.
    pub reason: Option<String>,
    pub approver_role: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Single use; only in the response of the turn that asked, to its principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_token: Option<String>,
}

impl PendingRequest {
    pub(crate) fn waiting_reason(&self) -> String {
        let whom = if self.status == PendingStatus::AwaitingConfirmation.as_str() {
            "confirmation"
        } else {
            "approval"
        };
        format!("waiting for {whom} of `{}` ({})", self.capability, self.id)
    }

    pub(crate) fn outcome_status(&self) -> &'static str {
        self.status
    }
}

/// A pending action as the API shows it (never the token or the sealed arguments).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionView {
    pub id: Uuid,
    pub session_id: SessionId,
    pub turn: i64,
    pub execution_id: heddle_types::ExecutionId,
    pub agent: String,
    pub capability: String,
    pub mode: &'static str,
    pub status: &'static str,
    pub arguments: Value,
    pub arguments_hash: String,
    pub reason: Option<String>,
    pub requested_by: String,
    pub approver_role: Option<String>,
    pub on_stale: &'static str,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    pub result: Option<Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// How long it waited for its decision, in milliseconds.
    pub waited_ms: Option<i64>,
}

impl From<PendingAction> for ActionView {
    fn from(a: PendingAction) -> Self {
        let waited_ms = a
            .decided_at
            .or(a.confirmed_at)
            .map(|at| (at - a.created_at).whole_milliseconds() as i64);
        Self {
            id: a.id,
            session_id: a.session_id,
            turn: a.turn,
            execution_id: a.execution_id,
            agent: a.agent,
            capability: a.capability,
            mode: a.mode.as_str(),
            status: a.status.as_str(),
            arguments: a.arguments_display,
            arguments_hash: a.arguments_hash,
            reason: a.reason,
            requested_by: format!("{}:{}", a.requested_by_kind, a.requested_by_id),
            approver_role: a.approver_role,
            on_stale: a.on_stale.as_str(),
            decided_by: a.decided_by,
            comment: a.comment,
            result: a.result,
            created_at: a.created_at,
            expires_at: a.expires_at,
            decided_at: a.decided_at,
            completed_at: a.completed_at,
            waited_ms,
        }
    }
}

/// What a decision led to: the action now, and the resumed turn when it resumed inline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutcome {
    pub action: ActionView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<TurnOutcome>,
}

fn store_mode(gate: Gate) -> Option<StoreMode> {
    match gate {
        Gate::None => None,
        Gate::Confirmation => Some(StoreMode::Confirmation),
        Gate::Approval => Some(StoreMode::Approval),
        Gate::ConfirmationThenApproval => Some(StoreMode::ConfirmationThenApproval),
    }
}

fn token_hash(token: &str) -> Vec<u8> {
    heddle_crypto::sha256(token.as_bytes()).to_vec()
}

fn summary(capability: &heddle_agents::Capability, arguments: &Map<String, Value>) -> String {
    let listed: Vec<String> = arguments
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect();
    format!(
        "{} — {} ({})",
        capability.name,
        capability.spec.description.trim(),
        listed.join(", ")
    )
}

/// Holds a call for a person: stores the pending action with its sealed arguments and
/// their hash, records the step, and returns what the turn reports.
pub(crate) async fn hold(
    run: &mut TurnRun,
    call: &ToolCall,
    checked: &CheckedCall<'_>,
    gate: Gate,
) -> RuntimeResult<PendingRequest> {
    let mode = store_mode(gate)
        .ok_or_else(|| RuntimeError::Unavailable("a call without a gate was held".into()))?;
    // Approvers see the arguments masked; the requester's own view is the outcome's.
    let shown = run.masked_arguments(&checked.arguments)?;
    let capability = checked.capability;
    let id = Uuid::now_v7();
    let arguments = Value::Object(checked.arguments.clone());
    // Keys sorted at every depth: the hash binds the arguments, not the order the model
    // wrote them in.
    let canonical = heddle_audit::canonical_json(&arguments);
    let arguments_hash = heddle_crypto::hex_encode(heddle_crypto::sha256(&canonical));
    let sealed = run
        .keys
        .seal(ARGUMENTS_PURPOSE, &id.to_string(), &canonical)
        .await?;
    let token = if mode.needs_confirmation() {
        let bytes = heddle_crypto::random_bytes(32)
            .map_err(|err| RuntimeError::Unavailable(err.to_string()))?;
        Some(heddle_crypto::base64url_encode(&bytes))
    } else {
        None
    };
    let approval = capability.spec.approval.clone().unwrap_or_default();
    let now = run.runtime.identity().now();
    let expires_at = now + time::Duration::seconds(i64::from(approval.expires_after_seconds));
    let (requested_by_kind, requested_by_id) = principal_of(&run.caller)?;
    let reason = checked.approval_request.clone();
    let subject = Subject {
        tenant_id: run.session.tenant_id,
        environment: Some(run.session.environment),
        kind: "pending_action",
        id: id.to_string(),
    };
    let audit = change(
        run.runtime.identity(),
        &run.caller,
        &subject,
        "action.request",
        details([
            ("capability", Value::from(capability.name.clone())),
            ("mode", Value::from(mode.as_str())),
            ("arguments_hash", Value::from(arguments_hash.clone())),
            ("session", Value::from(run.session.id.to_string())),
            ("turn", Value::from(run.turn)),
            ("model_asked", Value::from(reason.is_some())),
        ]),
    );
    let stored = run
        .runtime
        .store()
        .create_pending_action(
            NewPendingAction {
                id,
                tenant_id: run.session.tenant_id,
                session_id: run.session.id,
                turn: run.turn,
                execution_id: run.execution_id,
                environment: run.session.environment,
                agent: run.agent.name.clone(),
                capability: capability.name.clone(),
                call_id: call.id.clone(),
                arguments_sealed: json!({
                    "key_version": sealed.data_key_version,
                    "ciphertext": heddle_crypto::base64_encode(&sealed.ciphertext),
                }),
                // What people deciding see: personal data masked. The sealed arguments are
                // opened only to run the call.
                arguments_display: Value::Object(shown.clone()),
                arguments_hash: arguments_hash.clone(),
                mode,
                reason: reason.clone(),
                requested_by_kind,
                requested_by_id,
                approver_role: mode
                    .needs_approval()
                    .then(|| approval.approver_role.clone()),
                confirmation_token_hash: token.as_deref().map(token_hash),
                on_stale: match approval.on_stale {
                    SpecOnStale::Run => OnStale::Run,
                    SpecOnStale::Discard => OnStale::Discard,
                },
                expires_at,
                created_at: now,
            },
            audit,
        )
        .await?;
    run.runtime.identity().audit_log().nudge();
    if stored.status == PendingStatus::AwaitingApproval {
        run.runtime.notify_approvers(&stored);
    }
    let mut step = StepRecord::new(
        "hitl_requested",
        details([
            ("call_id", Value::from(call.id.clone())),
            ("capability", Value::from(capability.name.clone())),
            ("action_id", Value::from(id.to_string())),
            ("mode", Value::from(mode.as_str())),
            ("arguments_hash", Value::from(arguments_hash.clone())),
            ("model_asked", Value::from(reason.is_some())),
        ]),
    );
    // Placeholders given out for the approvers' view stay the session's: the resumed turn
    // continues the same map.
    if let Some(state) = run.mask_state_entry().await? {
        step.payload
            .insert(crate::trust::MASK_STATE_KEY.to_owned(), state);
    }
    run.record(step).await?;
    Ok(PendingRequest {
        id,
        capability: capability.name.clone(),
        gate,
        status: stored.status.as_str(),
        summary: summary(capability, &shown),
        arguments,
        arguments_hash,
        reason,
        approver_role: stored.approver_role,
        expires_at,
        confirmation_token: token,
    })
}

impl Runtime {
    /// The person who asked confirms (or declines) a held call with its token. A confirmed
    /// call that needs no approval runs now and the turn resumes; the outcome carries it.
    pub async fn confirm_action(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
        action_id: Uuid,
        token: &str,
        confirm: bool,
    ) -> RuntimeResult<ActionOutcome> {
        let session = self.own_session(caller, tenant_id, session_id).await?;
        let action = self
            .action_of_session(tenant_id, session.id, action_id)
            .await?;
        self.confirm_held(caller, action, token, confirm).await
    }

    /// The confirmation (or decline) of `action` by the principal who asked, once the caller
    /// is known to be them.
    pub(crate) async fn confirm_held(
        &self,
        caller: &Caller,
        action: PendingAction,
        token: &str,
        confirm: bool,
    ) -> RuntimeResult<ActionOutcome> {
        let tenant_id = action.tenant_id;
        let action_id = action.id;
        let hash = token_hash(token);
        let subject = action_subject(&action);
        let decided_by = principal_of(caller).map(|(k, i)| format!("{k}:{i}")).ok();
        let decision = if confirm {
            Decision::Confirm
        } else {
            // Declining needs the token too: only the conversation holding the request may.
            let matches = action
                .confirmation_token_hash
                .as_deref()
                .is_some_and(|stored| heddle_crypto::constant_time_eq(stored, &hash));
            if !matches {
                return Err(token_refused());
            }
            Decision::Reject
        };
        let audit = change(
            self.identity(),
            caller,
            &subject,
            if confirm {
                "action.confirm"
            } else {
                "action.decline"
            },
            details([("arguments_hash", Value::from(action.arguments_hash.clone()))]),
        );
        let decided = self
            .store()
            .decide_pending_action(
                tenant_id,
                action_id,
                decision,
                Some(&hash),
                decided_by,
                None,
                self.identity().now(),
                audit,
            )
            .await
            .map_err(decision_error)?;
        self.identity().audit_log().nudge();
        self.record_decision(
            caller,
            &decided,
            if confirm { "confirmed" } else { "declined" },
        )
        .await;
        if decided.status == PendingStatus::AwaitingApproval {
            self.notify_approvers(&decided);
        }
        let turn = if decided.status == PendingStatus::Approved {
            self.run_approved(decided.clone(), true).await?
        } else {
            None
        };
        let action = self
            .store()
            .get_pending_action(tenant_id, action_id)
            .await?;
        Ok(ActionOutcome {
            action: action.into(),
            turn,
        })
    }

    /// An approver approves or rejects. Admins and holders of the action's approver role
    /// may; never the principal who asked. An approved action runs before this returns; the
    /// turn it belongs to continues in the background.
    pub async fn decide_action(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        action_id: Uuid,
        approve: bool,
        comment: Option<String>,
    ) -> RuntimeResult<ActionOutcome> {
        self.authorize(caller, tenant_id, Action::ViewExecutions)
            .await?;
        if let Some(text) = &comment
            && text.chars().count() > 2000
        {
            return Err(RuntimeError::invalid(
                "comment",
                "a comment has at most 2000 characters",
            ));
        }
        let action = self
            .store()
            .get_pending_action(tenant_id, action_id)
            .await?;
        let Actor::Principal(principal) = &caller.actor else {
            return Err(RuntimeError::Refused(
                "approvals are decided by people signed in to the tenant".to_owned(),
            ));
        };
        let (kind, id) = principal_of(caller)?;
        if kind == action.requested_by_kind && id == action.requested_by_id {
            return Err(RuntimeError::NotAllowed(
                "the principal who asked for an action cannot approve or reject it".to_owned(),
            ));
        }
        let required = action.approver_role.as_deref().unwrap_or("admin");
        if principal.role != Role::Admin && principal.role.as_str() != required {
            return Err(RuntimeError::NotAllowed(format!(
                "this action is decided by the `{required}` role (or an admin); yours is `{}`",
                principal.role.as_str()
            )));
        }
        let audit = change(
            self.identity(),
            caller,
            &action_subject(&action),
            if approve {
                "action.approve"
            } else {
                "action.reject"
            },
            details([
                ("arguments_hash", Value::from(action.arguments_hash.clone())),
                ("comment_given", Value::from(comment.is_some())),
            ]),
        );
        let decided = self
            .store()
            .decide_pending_action(
                tenant_id,
                action_id,
                if approve {
                    Decision::Approve
                } else {
                    Decision::Reject
                },
                None,
                Some(format!("{kind}:{id}")),
                comment,
                self.identity().now(),
                audit,
            )
            .await
            .map_err(decision_error)?;
        self.identity().audit_log().nudge();
        self.record_decision(
            caller,
            &decided,
            if approve { "approved" } else { "rejected" },
        )
        .await;
        if decided.status == PendingStatus::Approved {
            self.run_approved(decided, false).await?;
        }
        let action = self
            .store()
            .get_pending_action(tenant_id, action_id)
            .await?;
        Ok(ActionOutcome {
            action: action.into(),
            turn: None,
        })
    }

    /// Pending actions of the tenant, newest first. Needs `view_executions`.
    pub async fn list_actions(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        filter: PendingFilter,
        page: PageRequest,
    ) -> RuntimeResult<Page<ActionView>> {
        self.authorize(caller, tenant_id, Action::ViewExecutions)
            .await?;
        let listed = self
            .store()
            .list_pending_actions(tenant_id, filter, page)
            .await?;
        Ok(Page {
            items: listed.items.into_iter().map(ActionView::from).collect(),
            next_cursor: listed.next_cursor,
        })
    }

    /// One pending action. Needs `view_executions`.
    pub async fn get_action(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        action_id: Uuid,
    ) -> RuntimeResult<ActionView> {
        self.authorize(caller, tenant_id, Action::ViewExecutions)
            .await?;
        Ok(self
            .store()
            .get_pending_action(tenant_id, action_id)
            .await?
            .into())
    }

    /// Work left by decisions and crashes, across tenants: requests past their expiry are
    /// expired; approved actions, and running ones whose runner died, are run (once). Call
    /// at start-up and periodically. Returns how many actions it handled.
    pub async fn run_due_actions(&self) -> RuntimeResult<usize> {
        let now = self.identity().now();
        let due = self.store().due_pending_actions(now, 50).await?;
        let mut handled = self.deliver_finished_results().await?;
        for action in due {
            let result = match action.status {
                PendingStatus::AwaitingConfirmation | PendingStatus::AwaitingApproval => {
                    self.expire(&action).await
                }
                PendingStatus::Approved | PendingStatus::Running => {
                    self.run_approved(action, false).await.map(|_| ())
                }
                _ => Ok(()),
            };
            match result {
                Ok(()) => handled += 1,
                Err(error) => {
                    tracing::warn!(error = %error, "a due pending action could not be handled");
                }
            }
        }
        Ok(handled)
    }

    /// Runs `run_due_actions` now and then every `interval`, for the life of the process.
    pub fn spawn_action_worker(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let runtime = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = runtime.run_due_actions().await {
                    tracing::warn!(error = %error, "pending actions: resume pass failed");
                }
                tokio::time::sleep(interval).await;
            }
        })
    }

    /// A decision on the execution record of the turn that held the call: who decided, how,
    /// and how long it waited. Best effort: the decision itself is already committed with
    /// its audit event.
    async fn record_decision(&self, caller: &Caller, action: &PendingAction, decision: &str) {
        let waited_ms = (self.identity().now() - action.created_at).whole_milliseconds() as i64;
        let payload = details([
            ("action_id", Value::from(action.id.to_string())),
            ("capability", Value::from(action.capability.clone())),
            ("decision", Value::from(decision)),
            ("status", Value::from(action.status.as_str())),
            (
                "decided_by",
                action.decided_by.clone().map_or(Value::Null, Value::from),
            ),
            ("waited_ms", Value::from(waited_ms)),
        ]);
        let subject = action_subject(action);
        let audit = change(
            self.identity(),
            caller,
            &subject,
            "execution.hitl_decided",
            payload.clone(),
        );
        let step = heddle_store::NewStep {
            kind: "hitl_decided".to_owned(),
            payload: Value::Object(payload),
            input_tokens: 0,
            output_tokens: 0,
            cost_micros: 0,
            latency_ms: Some(waited_ms),
            at: self.identity().now(),
        };
        if let Err(error) = self
            .store()
            .append_step(
                action.tenant_id,
                action.session_id,
                action.turn,
                step,
                audit,
            )
            .await
        {
            tracing::warn!(error = %error, "decision step not recorded");
        }
        if matches!(
            action.status,
            PendingStatus::Rejected | PendingStatus::Expired | PendingStatus::Discarded
        ) {
            self.settle_unrun_direct(action, decision).await;
        }
    }

    async fn expire(&self, action: &PendingAction) -> RuntimeResult<()> {
        let caller = Caller::new(Actor::LocalOperator, RequestContext::default());
        let audit = change(
            self.identity(),
            &caller,
            &action_subject(action),
            "action.expire",
            details([("arguments_hash", Value::from(action.arguments_hash.clone()))]),
        );
        match self
            .store()
            .decide_pending_action(
                action.tenant_id,
                action.id,
                Decision::Expire,
                None,
                None,
                None,
                self.identity().now(),
                audit,
            )
            .await
        {
            Ok(expired) => self.record_decision(&caller, &expired, "expired").await,
            Err(StoreError::Conflict { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        self.identity().audit_log().nudge();
        Ok(())
    }

    async fn action_of_session(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        action_id: Uuid,
    ) -> RuntimeResult<PendingAction> {
        let not_found = || RuntimeError::NotFound {
            entity: "pending action",
            id: action_id.to_string(),
        };
        let action = self
            .store()
            .get_pending_action(tenant_id, action_id)
            .await
            .map_err(|err| match err {
                StoreError::NotFound { .. } => not_found(),
                other => other.into(),
            })?;
        if action.session_id != session_id {
            return Err(not_found());
        }
        Ok(action)
    }

    /// Runs an approved action once and, when its turn is still the conversation's latest,
    /// resumes the turn with the result (inline, or in the background).
    async fn run_approved(
        &self,
        action: PendingAction,
        inline: bool,
    ) -> RuntimeResult<Option<TurnOutcome>> {
        let tenant_id = action.tenant_id;
        let session = self
            .store()
            .get_session(tenant_id, action.session_id)
            .await?;
        let turns = self.store().list_turns(tenant_id, session.id).await?;
        let waiting = turns.iter().any(|t| waits_for(t, &action));
        // A direct call's turn stands alone: later calls of its session do not make it stale.
        let current = waiting && (is_direct(&session) || session.last_turn == action.turn);
        if !current
            && action.on_stale == OnStale::Discard
            && action.status == PendingStatus::Approved
        {
            let caller = Caller::new(Actor::LocalOperator, RequestContext::default());
            let audit = change(
                self.identity(),
                &caller,
                &action_subject(&action),
                "action.discard",
                details([("reason", Value::from("the conversation moved on"))]),
            );
            match self
                .store()
                .decide_pending_action(
                    tenant_id,
                    action.id,
                    Decision::Discard,
                    None,
                    None,
                    None,
                    self.identity().now(),
                    audit,
                )
                .await
            {
                Ok(discarded) => self.record_decision(&caller, &discarded, "discarded").await,
                Err(StoreError::Conflict { .. }) => {}
                Err(error) => return Err(error.into()),
            }
            self.identity().audit_log().nudge();
            return Ok(None);
        }
        failpoint("before_claim").await;
        let owner = self.inner.runner_id.clone();
        let Some(claimed) = self
            .store()
            .claim_pending_action(
                tenant_id,
                action.id,
                &owner,
                self.identity().now(),
                time::Duration::try_from(self.settings().action_lease)
                    .unwrap_or(time::Duration::minutes(2)),
            )
            .await?
        else {
            // Another runner has it.
            return Ok(None);
        };
        failpoint("after_claim").await;
        let (mut run, set) = match self.held_turn(&session, &claimed).await {
            Ok(held) => held,
            Err(error) => {
                // Nobody may run it any more (the requester was disabled, the key revoked, the
                // agent is gone): it fails for good rather than waiting for another runner.
                let result = json!({"ok": false, "stage": "identity", "error": error.reason()});
                let caller = Caller::new(Actor::LocalOperator, RequestContext::default());
                let audit = change(
                    self.identity(),
                    &caller,
                    &action_subject(&claimed),
                    "action.fail",
                    details([("result", result.clone())]),
                );
                self.store()
                    .finish_pending_action(
                        tenant_id,
                        claimed.id,
                        &owner,
                        false,
                        result,
                        self.identity().now(),
                        audit,
                    )
                    .await?;
                self.identity().audit_log().nudge();
                return Err(error);
            }
        };
        let outcome = self.execute_claimed(&mut run, &set, &claimed).await;
        failpoint("after_effect").await;
        let (succeeded, content, result) = match &outcome {
            Ok(output) => (
                true,
                output.content.clone(),
                json!({"ok": true, "records": output.records, "record_ids": output.record_ids}),
            ),
            Err(refusal) => (
                false,
                format!("error ({}): {}", refusal.stage, refusal.message),
                json!({"ok": false, "stage": refusal.stage, "error": refusal.message}),
            ),
        };
        let audit = change(
            self.identity(),
            &run.caller,
            &action_subject(&claimed),
            if succeeded {
                "action.complete"
            } else {
                "action.fail"
            },
            details([("result", result.clone())]),
        );
        self.store()
            .finish_pending_action(
                tenant_id,
                claimed.id,
                &owner,
                succeeded,
                result.clone(),
                self.identity().now(),
                audit,
            )
            .await?;
        self.identity().audit_log().nudge();
        failpoint("after_finish").await;
        self.deliver_result(run, &claimed, current, succeeded, content, &result, inline)
            .await
    }

    /// The turn that held `action`, rebuilt to record on and resume: as the principal who
    /// asked, in the session's configuration version.
    async fn held_turn(
        &self,
        session: &heddle_store::Session,
        action: &PendingAction,
    ) -> RuntimeResult<(TurnRun, std::sync::Arc<heddle_agents::ConfigSet>)> {
        let caller = self.requester(action).await?;
        let (_, set) = self
            .inner
            .configs
            .load(
                self.store(),
                action.tenant_id,
                session.environment,
                Some(session.config_version),
            )
            .await?;
        let agent = set.agent(&session.agent).cloned().ok_or_else(|| {
            RuntimeError::Unavailable(format!("agent `{}` is missing", session.agent))
        })?;
        let keys = session_keys(self.identity().vault(), action.tenant_id, session.id);
        let run = TurnRun {
            runtime: self.clone(),
            caller,
            session: session.clone(),
            set: std::sync::Arc::clone(&set),
            agent,
            turn: action.turn,
            execution_id: action.execution_id,
            spent: crate::budget::Spending::default(),
            actor: None,
            keys,
            trust: None,
        };
        Ok((run, set))
    }

    /// Gives a finished action's result to its turn: the turn resumes with it when it still
    /// waits for this action and is the conversation's latest; otherwise it is recorded on
    /// the turn, not applied.
    #[allow(
        clippy::too_many_arguments,
        reason = "the finished action's facts, passed once from two callers"
    )]
    async fn deliver_result(
        &self,
        mut run: TurnRun,
        action: &PendingAction,
        current: bool,
        succeeded: bool,
        content: String,
        result: &Value,
        inline: bool,
    ) -> RuntimeResult<Option<TurnOutcome>> {
        if run.is_direct() {
            // No model loop to resume: the result ends the call's own turn.
            run.settle_direct(action, succeeded, content, result)
                .await?;
            return Ok(None);
        }
        let tenant_id = action.tenant_id;
        let resumed = current
            && self
                .store()
                .resume_turn(
                    tenant_id,
                    run.session.id,
                    action.turn,
                    change(
                        self.identity(),
                        &run.caller,
                        &run.subject(),
                        "turn.resume",
                        details([("action", Value::from(action.id.to_string()))]),
                    ),
                )
                .await
                .is_ok();
        run.ensure_trust().await?;
        // A result enters the conversation like any other: screened, masked, datamarked.
        let (content, screening) = if succeeded {
            let (view, screening) = run.screen_tool_result(&action.capability, &content).await?;
            (view, Some(screening))
        } else {
            (content, None)
        };
        let message = Message::ToolResult {
            tool_call_id: action.call_id.clone(),
            content,
            is_error: !succeeded,
        };
        let mut payload = details([
            ("call_id", Value::from(action.call_id.clone())),
            ("capability", Value::from(action.capability.clone())),
            ("action_id", Value::from(action.id.to_string())),
            ("ok", Value::from(succeeded)),
        ]);
        if let Some(ids) = result.get("record_ids") {
            payload.insert("record_ids".to_owned(), ids.clone());
        }
        payload.insert(TRANSCRIPT_KEY.to_owned(), run.seal(&message).await?);
        if let Some(state) = run.mask_state_entry().await? {
            payload.insert(crate::trust::MASK_STATE_KEY.to_owned(), state);
        }
        run.record(StepRecord::new("tool_result", payload)).await?;
        if let Some(screening) = &screening {
            run.record_violations(
                heddle_trust::rules::RuleStage::ToolResult,
                heddle_trust::Channel::ToolResult,
                screening,
            )
            .await?;
        }
        if !resumed {
            return Ok(None);
        }
        let deadline = Duration::from_secs(u64::from(run.agent.spec.limits.turn_timeout_seconds));
        if inline {
            Ok(Some(run.run(Start::Resume(message), deadline).await?))
        } else {
            tokio::spawn(async move {
                if let Err(error) = run.run(Start::Resume(message), deadline).await {
                    tracing::warn!(error = %error, "a resumed turn failed");
                }
            });
            Ok(None)
        }
    }

    /// Results of actions that finished while their runner died before handing them to
    /// their turn: a turn still waiting for a finished action gets its result now. Scans the
    /// most recent finished actions of each tenant.
    async fn deliver_finished_results(&self) -> RuntimeResult<usize> {
        let mut delivered = 0;
        let mut tenants = PageRequest::first(200);
        loop {
            let page = self.store().list_tenants(tenants).await?;
            for tenant in &page.items {
                for status in [PendingStatus::Completed, PendingStatus::Failed] {
                    let finished = self
                        .store()
                        .list_pending_actions(
                            tenant.id,
                            PendingFilter {
                                status: Some(status),
                                ..PendingFilter::default()
                            },
                            PageRequest::first(50),
                        )
                        .await?;
                    for action in finished.items {
                        match self.deliver_if_waiting(&action).await {
                            Ok(true) => delivered += 1,
                            Ok(false) => {}
                            // The requester can no longer act (disabled, revoked): the turn
                            // stays where it stopped.
                            Err(RuntimeError::Refused(reason)) => {
                                tracing::debug!(%reason, "a finished action's turn stays halted");
                            }
                            Err(error) => {
                                tracing::warn!(error = %error, "a finished action's result was not delivered");
                            }
                        }
                    }
                }
            }
            match page.next_cursor {
                Some(cursor) => tenants.after = Some(cursor),
                None => break,
            }
        }
        Ok(delivered)
    }

    async fn deliver_if_waiting(&self, action: &PendingAction) -> RuntimeResult<bool> {
        let session = self
            .store()
            .get_session(action.tenant_id, action.session_id)
            .await?;
        let waiting = (is_direct(&session) || session.last_turn == action.turn)
            && self
                .store()
                .list_turns(action.tenant_id, session.id)
                .await?
                .iter()
                .any(|t| waits_for(t, action));
        if !waiting {
            return Ok(false);
        }
        let result = action.result.clone().unwrap_or(Value::Null);
        let succeeded = action.status == PendingStatus::Completed;
        let (run, _) = self.held_turn(&session, action).await?;
        self.deliver_result(
            run,
            action,
            true,
            succeeded,
            result.to_string(),
            &result,
            false,
        )
        .await?;
        Ok(true)
    }

    /// The claimed action's effect, applied at most once under its id.
    async fn execute_claimed(
        &self,
        run: &mut TurnRun,
        set: &heddle_agents::ConfigSet,
        claimed: &PendingAction,
    ) -> Result<crate::tools::ToolOutput, Refusal> {
        let capability = set.capability(&claimed.capability).ok_or_else(|| {
            Refusal::new(
                "backend",
                "the capability is no longer in the configuration",
            )
        })?;
        let arguments = self
            .open_arguments(run, claimed)
            .await
            .map_err(|err| Refusal::new("arguments", err.to_string()))?;
        let backend = fill_backend(capability, &arguments)?;
        let actor = run.actor().await?;
        execute_once(
            &self.inner.records,
            &actor,
            &backend,
            &claimed.id.to_string(),
        )
        .await
        .map_err(|error| Refusal::new("execution", record_error_message(&error)))
    }

    /// The arguments exactly as held, verified against their hash.
    async fn open_arguments(
        &self,
        run: &TurnRun,
        action: &PendingAction,
    ) -> RuntimeResult<Map<String, Value>> {
        let corrupt = || RuntimeError::Unavailable("the held arguments are malformed".into());
        let sealed = &action.arguments_sealed;
        let version = sealed["key_version"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(corrupt)?;
        let ciphertext = sealed["ciphertext"]
            .as_str()
            .and_then(|t| heddle_crypto::base64_decode(t).ok())
            .ok_or_else(corrupt)?;
        let plaintext = run
            .keys
            .open(
                ARGUMENTS_PURPOSE,
                &action.id.to_string(),
                &Sealed {
                    data_key_version: version,
                    ciphertext,
                },
            )
            .await?;
        let bytes = heddle_crypto::ExposeSecret::expose_secret(&plaintext);
        if heddle_crypto::hex_encode(heddle_crypto::sha256(bytes)) != action.arguments_hash {
            return Err(RuntimeError::Unavailable(
                "the held arguments no longer match what was approved".to_owned(),
            ));
        }
        match serde_json::from_slice(bytes).map_err(|_| corrupt())? {
            Value::Object(map) => Ok(map),
            _ => Err(corrupt()),
        }
    }

    /// The principal who asked, as they are now: a disabled user or revoked key runs nothing.
    async fn requester(&self, action: &PendingAction) -> RuntimeResult<Caller> {
        let id: Uuid = action
            .requested_by_id
            .parse()
            .map_err(|_| RuntimeError::Unavailable("the requester's id is malformed".into()))?;
        let tenant = self
            .store()
            .get_tenant(action.tenant_id)
            .await
            .map_err(RuntimeError::from)?;
        let principal = match action.requested_by_kind.as_str() {
            "user" => {
                let user = self
                    .store()
                    .get_user(action.tenant_id, heddle_types::UserId::from_uuid(id))
                    .await?;
                if user.disabled {
                    return Err(RuntimeError::Refused(
                        "the person who asked has been disabled".to_owned(),
                    ));
                }
                Principal::for_user(&user, tenant.operator)
            }
            "api_key" => {
                let key = self
                    .store()
                    .get_api_key(action.tenant_id, heddle_types::ApiKeyId::from_uuid(id))
                    .await?;
                let expired = key.expires_at.is_some_and(|at| at <= self.identity().now());
                if key.revoked_at.is_some() || expired {
                    return Err(RuntimeError::Refused(
                        "the API key that asked has been revoked or has expired".to_owned(),
                    ));
                }
                Principal::for_api_key(&key, tenant.operator)
            }
            other => {
                return Err(RuntimeError::Unavailable(format!(
                    "the requester's kind `{other}` is not a principal kind"
                )));
            }
        };
        Ok(Caller::new(
            Actor::Principal(principal),
            RequestContext::default(),
        ))
    }
}

/// Whether the session takes direct calls (MCP), where each call's turn stands alone.
pub(crate) fn is_direct(session: &heddle_store::Session) -> bool {
    session.channel == heddle_store::SessionChannel::Mcp
}

/// Whether `turn` halted waiting for `action` (its reason ends with the action's id, as
/// [`PendingRequest::waiting_reason`] writes it).
fn waits_for(turn: &heddle_store::Turn, action: &PendingAction) -> bool {
    turn.turn == action.turn
        && turn.status == TurnStatus::Halted
        && turn
            .reason
            .as_deref()
            .is_some_and(|r| r.ends_with(&format!("({})", action.id)))
}

fn action_subject(action: &PendingAction) -> Subject<'static> {
    Subject {
        tenant_id: action.tenant_id,
        environment: Some(action.environment),
        kind: "pending_action",
        id: action.id.to_string(),
    }
}

fn token_refused() -> RuntimeError {
    RuntimeError::Refused(
        "this confirmation token does not belong to this action, or it was used already".to_owned(),
    )
}

fn decision_error(error: StoreError) -> RuntimeError {
    match error {
        StoreError::Conflict { field: "token", .. } => token_refused(),
        StoreError::Conflict {
            field: "status", ..
        } => RuntimeError::Refused(
            "this action was decided already, or is not waiting for this decision".to_owned(),
        ),
        StoreError::Conflict {
            field: "expires_at",
            ..
        } => RuntimeError::Refused("this action expired".to_owned()),
        other => other.into(),
    }
}
