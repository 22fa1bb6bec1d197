//! Direct tool calls: an application — an MCP client — calls an agent's capabilities itself,
//! with no model in between. Each call is one turn of a session of channel `mcp` and walks
//! the same governed path as a model's proposed call (`TurnRun::handle_tool_call`): the
//! contract check, Cedar `call_capability`, the review gate, execution as the actor, every
//! stage a stored step with its audit event.
//!
//! What differs from a model's call, and why:
//! - the arguments are the caller's own values: no placeholders are restored (there is no
//!   mask map to restore from), and the agent's `tool_args` rules still screen them;
//! - the result is screened as indirect input (an injection that blocks withholds it, as for
//!   a model, since the caller may well hand it to one) but neither masked nor datamarked: no
//!   model of Heddle's reads it, and it holds only what the principal may see;
//! - a held call's result settles its own turn once it runs, since there is no model loop to
//!   resume, and later calls of the session never make it stale;
//! - the listing offers only what the principal may call (Cedar `call_capability`).

use std::time::Duration;

use heddle_identity::{Actor, Caller};
use heddle_providers::{Message, ToolCall};
use heddle_store::{PendingAction, PendingStatus, Session, SessionChannel, StoreError, TurnStatus};
use heddle_types::{Action, Environment, ExecutionId, RequestContext, SessionId, TenantId};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::conversation::{TRANSCRIPT_KEY, open_message, session_keys};
use crate::events::{Subject, change, details};
use crate::hitl::{ActionView, PendingRequest, is_direct};
use crate::runtime::principal_of;
use crate::sessions::agent_of;
use crate::tools::{capability_resource, offered_schema};
use crate::trust::Screened;
use crate::turn::{Ending, StepRecord, ToolStep, TurnRun, serde_label};
use crate::{CreateSession, Runtime, RuntimeError, RuntimeResult, SessionView};

/// Largest arguments object a direct call may carry, as JSON text.
pub const MAX_ARGUMENT_BYTES: usize = 64 * 1024;

/// The agent direct calls go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectTarget {
    pub environment: Environment,
    pub agent: String,
}

/// A capability as a direct caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectTool {
    pub name: String,
    pub description: String,
    /// The capability's input schema without its bound inputs: the runtime supplies those
    /// and refuses them from the caller.
    pub input_schema: Value,
    /// `read`, `write` or `side_effect`.
    pub effect: String,
    /// `records.query`, `records.get`, `records.create` or `records.update`.
    pub backend: &'static str,
    /// The review the capability declares (`none`, `confirmation`, `approval`,
    /// `confirmation_then_approval`, `conditional_approval`); tenant policy may raise it.
    pub review: String,
}

/// How a direct call ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DirectOutcome {
    /// It ran; `content` is its result (JSON text), holding what the principal may see.
    Completed { content: String },
    /// It was not run, or its result was withheld; `stage` and `message` say why.
    Refused {
        stage: &'static str,
        message: String,
    },
    /// It waits for a person: the caller's confirmation, or an approver's approval.
    Held { action: Box<PendingRequest> },
    /// Heddle could not finish it (a store or vault failure, its time limit); the execution
    /// record says how far it got.
    Failed { reason: String },
}

/// One direct call: where it is recorded and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectCall {
    pub session_id: SessionId,
    pub turn: i64,
    pub execution_id: ExecutionId,
    pub outcome: DirectOutcome,
}

/// A held direct call as the principal who made it follows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectActionView {
    pub action: ActionView,
    /// What the call returned once it ran (or why it failed); `None` until then.
    pub result: Option<DirectActionResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectActionResult {
    pub content: String,
    pub is_error: bool,
}

impl Runtime {
    /// Opens a session for direct calls to `target` (an MCP session). Needs `execute_agent`;
    /// an employee agent needs a person of the record org, as for a conversation.
    pub async fn open_direct_session(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        target: &DirectTarget,
    ) -> RuntimeResult<SessionView> {
        self.open_session(
            caller,
            tenant_id,
            CreateSession {
                agent: target.agent.clone(),
                environment: target.environment,
                record_id: None,
            },
            SessionChannel::Mcp,
        )
        .await
    }

    /// The capabilities of `target` the caller may call (Cedar `call_capability`), in the
    /// agent's order, from `config_version` (a session's) or the environment's current one.
    pub async fn list_tools(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        target: &DirectTarget,
        config_version: Option<i64>,
    ) -> RuntimeResult<Vec<DirectTool>> {
        self.authorize(caller, tenant_id, Action::ExecuteAgent)
            .await?;
        let (version, set) = self
            .inner
            .configs
            .load(self.store(), tenant_id, target.environment, config_version)
            .await?;
        let agent = agent_of(&set, version, target.environment, &target.agent)?;
        self.check_principal_fits(caller, &target.agent, agent)
            .await?;
        let mut tools = Vec::new();
        for name in &agent.spec.capabilities {
            let Some(capability) = set.capability(name) else {
                continue;
            };
            let resource =
                capability_resource(tenant_id, target.environment, &agent.name, capability);
            let allowed = match &caller.actor {
                Actor::Principal(principal) => {
                    self.identity()
                        .is_allowed(principal, Action::CallCapability, resource)
                        .await?
                }
                Actor::LocalOperator => true,
            };
            if !allowed {
                continue;
            }
            let spec = &capability.spec;
            tools.push(DirectTool {
                name: capability.name.clone(),
                description: spec.description.trim().to_owned(),
                input_schema: offered_schema(capability),
                effect: serde_label(&spec.classification.effect),
                backend: spec.backend.type_name(),
                review: serde_label(&spec.human_in_the_loop),
            });
        }
        Ok(tools)
    }

    /// Calls `name` with `arguments` in a direct session the caller opened: one turn on the
    /// governed path, run to its end even if the caller goes away. A name that is not a
    /// capability of the agent is [`RuntimeError::NotFound`] and starts no turn; everything
    /// else — a schema violation, a policy denial, a held call — is the call's outcome.
    pub async fn call_tool(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
        name: &str,
        arguments: Value,
    ) -> RuntimeResult<DirectCall> {
        if arguments.to_string().len() > MAX_ARGUMENT_BYTES {
            return Err(RuntimeError::invalid(
                "arguments",
                format!("the arguments exceed {MAX_ARGUMENT_BYTES} bytes of JSON"),
            ));
        }
        let session = self.own_session(caller, tenant_id, session_id).await?;
        if !is_direct(&session) {
            return Err(RuntimeError::Refused(
                "this session is a conversation; direct tool calls need a session opened for \
                 them (MCP)"
                    .to_owned(),
            ));
        }
        let (set, agent) = self.session_agent(&session).await?;
        if !agent.spec.capabilities.iter().any(|c| c == name) || set.capability(name).is_none() {
            return Err(RuntimeError::NotFound {
                entity: "tool",
                id: name.chars().take(64).collect(),
            });
        }
        let (run, _, deadline) = self.start_turn(caller, session).await?;
        let call = ToolCall {
            id: format!("mcp_{}", Uuid::now_v7().simple()),
            name: name.to_owned(),
            arguments,
        };
        // Its own task: a client that disconnects does not cut the call (and its record) short.
        tokio::spawn(run.run_direct(call, deadline))
            .await
            .map_err(|err| {
                RuntimeError::Unavailable(format!("the call stopped unexpectedly: {err}"))
            })?
    }

    /// A held direct call of the caller's, with its result once it ran. Anyone else's action,
    /// or one held in a conversation, is not found.
    pub async fn direct_action(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        action_id: Uuid,
    ) -> RuntimeResult<DirectActionView> {
        let action = self.own_direct_action(caller, tenant_id, action_id).await?;
        let result = self.direct_result(&action).await?;
        Ok(DirectActionView {
            action: action.into(),
            result,
        })
    }

    /// The caller confirms (or declines) a held direct call of theirs with the token it
    /// returned. A confirmed call that needs no approval runs now; the view carries its
    /// result.
    pub async fn confirm_direct_action(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        action_id: Uuid,
        token: &str,
        confirm: bool,
    ) -> RuntimeResult<DirectActionView> {
        let action = self.own_direct_action(caller, tenant_id, action_id).await?;
        self.confirm_held(caller, action, token, confirm).await?;
        self.direct_action(caller, tenant_id, action_id).await
    }

    /// The action, when the caller asked for it in a direct session.
    async fn own_direct_action(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        action_id: Uuid,
    ) -> RuntimeResult<PendingAction> {
        self.authorize(caller, tenant_id, Action::ExecuteAgent)
            .await?;
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
        let (kind, id) = principal_of(caller)?;
        if action.requested_by_kind != kind || action.requested_by_id != id {
            return Err(not_found());
        }
        let session = self
            .store()
            .get_session(tenant_id, action.session_id)
            .await?;
        if !is_direct(&session) {
            return Err(not_found());
        }
        Ok(action)
    }

    /// The result recorded on the held call's turn once it ran, opened from its sealed entry.
    async fn direct_result(
        &self,
        action: &PendingAction,
    ) -> RuntimeResult<Option<DirectActionResult>> {
        if !matches!(
            action.status,
            PendingStatus::Completed | PendingStatus::Failed
        ) {
            return Ok(None);
        }
        let steps = self
            .store()
            .list_steps(action.tenant_id, action.session_id, Some(action.turn))
            .await?;
        let id = Value::from(action.id.to_string());
        let keys = session_keys(self.identity().vault(), action.tenant_id, action.session_id);
        for step in steps.iter().rev() {
            if step.kind != "tool_result" || step.payload.get("action_id") != Some(&id) {
                continue;
            }
            if let Some(entry) = step.payload.get(TRANSCRIPT_KEY)
                && let Message::ToolResult {
                    content, is_error, ..
                } = open_message(&keys, action.session_id, entry).await?
            {
                return Ok(Some(DirectActionResult { content, is_error }));
            }
        }
        // Finished, its result not yet on the turn (the runner stopped in between): the
        // action's own summary until the worker delivers it.
        Ok(action.result.as_ref().map(|result| DirectActionResult {
            content: result.to_string(),
            is_error: action.status == PendingStatus::Failed,
        }))
    }

    /// Ends the turn of a held direct call that will never run (rejected, declined, expired,
    /// discarded), so its execution says so instead of "waiting". Best effort: the decision
    /// is already committed with its audit event.
    pub(crate) async fn settle_unrun_direct(&self, action: &PendingAction, decision: &str) {
        let Ok(session) = self
            .store()
            .get_session(action.tenant_id, action.session_id)
            .await
        else {
            return;
        };
        if !is_direct(&session) {
            return;
        }
        let reason = format!("the held call was {decision} and did not run");
        let caller = Caller::new(Actor::LocalOperator, RequestContext::default());
        let audit = change(
            self.identity(),
            &caller,
            &execution_subject(&session, action.execution_id),
            "turn.halted",
            details([
                ("session", Value::from(session.id.to_string())),
                ("turn", Value::from(action.turn)),
                ("reason", Value::from(reason.clone())),
            ]),
        );
        match self
            .store()
            .settle_held_turn(
                action.tenant_id,
                session.id,
                action.turn,
                TurnStatus::Halted,
                Some(reason),
                self.identity().now(),
                audit,
            )
            .await
        {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(error) => {
                tracing::warn!(error = %error, "a held direct call's turn was not settled")
            }
        }
        self.identity().audit_log().nudge();
    }
}

fn execution_subject(session: &Session, execution_id: ExecutionId) -> Subject<'static> {
    Subject {
        tenant_id: session.tenant_id,
        environment: Some(session.environment),
        kind: "execution",
        id: execution_id.to_string(),
    }
}

impl TurnRun {
    /// One direct call, start to finish: the call on the governed path, then the turn's end.
    async fn run_direct(mut self, call: ToolCall, deadline: Duration) -> RuntimeResult<DirectCall> {
        let (ending, outcome) = match tokio::time::timeout(deadline, self.drive_direct(&call)).await
        {
            Ok(Ok(ToolStep::Done {
                message,
                refusal: None,
            })) => {
                let content = result_text(message);
                (
                    Ending::Answered(content.clone()),
                    DirectOutcome::Completed { content },
                )
            }
            Ok(Ok(ToolStep::Done {
                refusal: Some(refusal),
                ..
            })) => (
                Ending::Halted(format!("refused ({}): {}", refusal.stage, refusal.message)),
                DirectOutcome::Refused {
                    stage: refusal.stage,
                    message: refusal.message,
                },
            ),
            Ok(Ok(ToolStep::Held(request))) => {
                let action = request.clone();
                (Ending::Waiting(request), DirectOutcome::Held { action })
            }
            Ok(Err(error)) => {
                let reason = error.reason();
                (
                    Ending::Failed(reason.clone()),
                    DirectOutcome::Failed { reason },
                )
            }
            Err(_) => {
                let reason = format!("the call passed its time limit of {} s", deadline.as_secs());
                (
                    Ending::Halted(reason.clone()),
                    DirectOutcome::Failed { reason },
                )
            }
        };
        let finished = self.finish(ending).await?;
        let outcome = if finished.status == "abandoned" {
            DirectOutcome::Failed {
                reason: finished.reason.unwrap_or_default(),
            }
        } else {
            outcome
        };
        Ok(DirectCall {
            session_id: finished.session_id,
            turn: finished.turn,
            execution_id: finished.execution_id,
            outcome,
        })
    }

    async fn drive_direct(&mut self, call: &ToolCall) -> RuntimeResult<ToolStep> {
        self.record(StepRecord::new(
            "status",
            details([
                ("status", Value::from("running")),
                ("resumed", Value::from(false)),
                ("origin", Value::from(self.origin())),
                ("agent", Value::from(self.agent.name.clone())),
                ("config_version", Value::from(self.session.config_version)),
                ("config_hash", Value::from(self.set.content_hash())),
            ]),
        ))
        .await?;
        // No conversation, no mask map carried between calls: the map starts empty and only
        // serves the approvers' masked view of a held call.
        self.load_trust(None).await?;
        self.handle_tool_call(call, None).await
    }

    /// A held direct call ran (or failed) after a person decided: its result, screened like
    /// any direct result, is recorded on the call's turn — sealed, so the caller can read it
    /// back — and the turn ends with it.
    pub(crate) async fn settle_direct(
        mut self,
        action: &PendingAction,
        succeeded: bool,
        content: String,
        result: &Value,
    ) -> RuntimeResult<()> {
        self.ensure_trust().await?;
        let (content, screening, ok) = if succeeded {
            let (screened, screening) = self
                .screen_direct_result(&action.capability, &content)
                .await?;
            match screened {
                Screened::Pass(content) => (content, Some(screening), true),
                Screened::Blocked(reason) => (
                    format!("error (trust): the result was withheld: {reason}"),
                    Some(screening),
                    false,
                ),
            }
        } else {
            (content, None, false)
        };
        let message = Message::ToolResult {
            tool_call_id: action.call_id.clone(),
            content,
            is_error: !ok,
        };
        let mut payload = details([
            ("call_id", Value::from(action.call_id.clone())),
            ("capability", Value::from(action.capability.clone())),
            ("action_id", Value::from(action.id.to_string())),
            ("ok", Value::from(ok)),
        ]);
        if let Some(ids) = result.get("record_ids") {
            payload.insert("record_ids".to_owned(), ids.clone());
        }
        payload.insert(TRANSCRIPT_KEY.to_owned(), self.seal(&message).await?);
        self.record(StepRecord::new("tool_result", payload)).await?;
        if let Some(screening) = &screening {
            self.record_violations(
                heddle_trust::rules::RuleStage::ToolResult,
                heddle_trust::Channel::ToolResult,
                screening,
            )
            .await?;
        }
        let (status, reason) = if ok {
            (TurnStatus::Completed, None)
        } else {
            (
                TurnStatus::Halted,
                Some(format!(
                    "the held call did not complete: {}",
                    result_text(message)
                )),
            )
        };
        let mut step = details([("status", Value::from(status.as_str()))]);
        if let Some(reason) = &reason {
            step.insert("reason".to_owned(), Value::from(reason.clone()));
        }
        self.record(StepRecord::new("status", step)).await?;
        let runtime = self.runtime.clone();
        let audit = change(
            runtime.identity(),
            &self.caller,
            &self.subject(),
            &format!("turn.{}", status.as_str()),
            details([
                ("session", Value::from(self.session.id.to_string())),
                ("turn", Value::from(self.turn)),
                ("reason", reason.clone().map_or(Value::Null, Value::from)),
            ]),
        );
        match runtime
            .store()
            .settle_held_turn(
                self.tenant_id(),
                self.session.id,
                self.turn,
                status,
                reason,
                runtime.identity().now(),
                audit,
            )
            .await
        {
            // Another runner settled it first.
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        runtime.identity().audit_log().nudge();
        Ok(())
    }
}

/// The text of a tool result message.
fn result_text(message: Message) -> String {
    match message {
        Message::ToolResult { content, .. } => content,
        Message::User { content } => content,
        Message::Assistant { content, .. } => content.unwrap_or_default(),
    }
}
