//! One turn: the user's message, then model ↔ capabilities until the model answers or a
//! limit, budget or failure ends it. Every step is stored with its audit event as it happens,
//! so a crash leaves the record up to the last step and the next message abandons the turn.

use std::sync::Arc;
use std::time::{Duration, Instant};

use heddle_agents::config::{AgentKind, IdentityMode};
use heddle_agents::{Agent, BoundContext, ConfigSet};
use heddle_audit_log::record_content;
use heddle_identity::Caller;
use heddle_providers::{ChatRequest, ChatResponse, Message, ModelProvider, ToolCall, ToolSpec};
use heddle_recordsource::{RecordActor, RecordSource};
use heddle_store::{NewStep, Session, SessionChannel, TurnStatus, UsageScope, UsageTotals};
use heddle_types::{Action, AuditOutcome, ExecutionId, Resource, SessionId, TenantId};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::budget::{self, Spending, usd_to_micros};
use crate::conversation::{TRANSCRIPT_KEY, read_history, seal_message, session_keys};
use crate::events::{Subject, change, details, event};
use crate::hitl::PendingRequest;
use crate::providers::provider_for;
use crate::tools::{Refusal, check_contract, execute, offered_schema, record_error_message};
use crate::trust::{MASK_STATE_KEY, Screened, TurnTrust};
use crate::{Runtime, RuntimeError, RuntimeResult};
use heddle_agents::hitl::{Gate, PolicyFloor, required_gate};
use heddle_trust::Channel;
use heddle_trust::rules::RuleStage;

/// Longest user message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32 * 1024;

/// How a turn ended, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnOutcome {
    pub session_id: SessionId,
    pub turn: i64,
    pub execution_id: ExecutionId,
    /// `completed`, `halted` (a limit or budget), `blocked` (a trust layer withheld the
    /// message or the answer) or `failed` (the model or a store failed).
    pub status: &'static str,
    /// The model's answer, for the person who asked, with the values behind placeholders
    /// restored for them.
    pub reply: Option<String>,
    /// Why the turn halted or failed.
    pub reason: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub estimated_cost_usd: f64,
    /// A turn the next message had abandoned before this one started, if any.
    pub abandoned_turn: Option<i64>,
    /// The call waiting for a person, when `status` is `awaiting_confirmation` or
    /// `awaiting_approval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_action: Option<PendingRequest>,
}

/// How the loop ended.
pub(crate) enum Ending {
    Answered(String),
    Halted(String),
    Failed(String),
    /// A trust layer withheld the message or the answer.
    Blocked(String),
    /// A call waits for a person; the turn stops until it is decided.
    Waiting(Box<PendingRequest>),
}

/// What a turn starts from: a new message, or a held call's result after a person decided.
pub(crate) enum Start {
    Message(String),
    Resume(Message),
}

/// What handling one proposed call produced.
pub(crate) enum ToolStep {
    /// The result (or the refusal) for whoever proposed the call; `refusal` says why it was
    /// not run or its result withheld.
    Done {
        message: Message,
        refusal: Option<Refusal>,
    },
    Held(Box<PendingRequest>),
}

impl Runtime {
    /// Runs one turn of `session_id` for the principal who opened it. A second message while
    /// a turn runs is [`RuntimeError::TurnRunning`]. The turn runs to its end even if the
    /// caller goes away.
    pub async fn post_message(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
        text: String,
    ) -> RuntimeResult<TurnOutcome> {
        if text.trim().is_empty() {
            return Err(RuntimeError::invalid("content", "the message is empty"));
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(RuntimeError::invalid(
                "content",
                format!("a message has at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        let session = self.own_session(caller, tenant_id, session_id).await?;
        match session.channel {
            SessionChannel::Conversation => {}
            SessionChannel::Mcp => {
                return Err(RuntimeError::Refused(
                    "this session takes direct tool calls (MCP), not messages; open a session \
                     for a conversation"
                        .to_owned(),
                ));
            }
            SessionChannel::Gateway => {
                return Err(RuntimeError::Refused(
                    "this is the record of a gateway request, not a conversation; open a \
                     session for a conversation"
                        .to_owned(),
                ));
            }
        }
        let (run, began, deadline) = self.start_turn(caller, session).await?;
        let abandoned_turn = began.map(|t| t.turn);
        // Its own task: a caller that disconnects does not cut the turn (and its record) short.
        let handle = tokio::spawn(run.run(Start::Message(text), deadline));
        let mut outcome = handle.await.map_err(|err| {
            RuntimeError::Unavailable(format!("the turn stopped unexpectedly: {err}"))
        })??;
        outcome.abandoned_turn = abandoned_turn;
        Ok(outcome)
    }
}

impl Runtime {
    /// Takes the session's running-turn slot for a new turn (abandoning a stale one) and
    /// builds the run, in the session's configuration version. Shared by messages and
    /// direct tool calls. Returns the run, the turn it abandoned, and its time limit.
    pub(crate) async fn start_turn(
        &self,
        caller: &Caller,
        session: Session,
    ) -> RuntimeResult<(TurnRun, Option<heddle_store::Turn>, Duration)> {
        let tenant_id = session.tenant_id;
        let session_id = session.id;
        let (set, agent) = self.session_agent(&session).await?;
        let now = self.identity().now();
        let deadline = Duration::from_secs(u64::from(agent.spec.limits.turn_timeout_seconds));
        let stale_before = now
            - time::Duration::try_from(deadline + self.settings().abandon_grace)
                .unwrap_or(time::Duration::HOUR);
        let execution_id = ExecutionId::new();
        let subject = Subject {
            tenant_id,
            environment: Some(session.environment),
            kind: "execution",
            id: execution_id.to_string(),
        };
        let began = self
            .store()
            .begin_turn(
                tenant_id,
                session_id,
                execution_id,
                now,
                stale_before,
                change(
                    self.identity(),
                    caller,
                    &Subject {
                        kind: "session",
                        id: session_id.to_string(),
                        ..subject.clone()
                    },
                    "turn.abandon",
                    details([("reason", Value::from(heddle_store::ABANDONED_REASON))]),
                ),
                change(
                    self.identity(),
                    caller,
                    &subject,
                    "turn.begin",
                    details([
                        ("session", Value::from(session_id.to_string())),
                        ("agent", Value::from(session.agent.clone())),
                        ("config_version", Value::from(session.config_version)),
                        ("channel", Value::from(session.channel.as_str())),
                    ]),
                ),
            )
            .await?;
        self.identity().audit_log().nudge();
        let run = TurnRun {
            runtime: self.clone(),
            caller: caller.clone(),
            session,
            set,
            agent,
            turn: began.turn.turn,
            execution_id,
            spent: Spending::default(),
            actor: None,
            keys: session_keys(self.identity().vault(), tenant_id, session_id),
            trust: None,
        };
        Ok((run, began.abandoned, deadline))
    }

    /// The session's agent in the session's configuration version.
    pub(crate) async fn session_agent(
        &self,
        session: &Session,
    ) -> RuntimeResult<(Arc<ConfigSet>, Agent)> {
        let (_, set) = self
            .inner
            .configs
            .load(
                self.store(),
                session.tenant_id,
                session.environment,
                Some(session.config_version),
            )
            .await?;
        let agent = set.agent(&session.agent).cloned().ok_or_else(|| {
            RuntimeError::Unavailable(format!(
                "agent `{}` is missing from its configuration version",
                session.agent
            ))
        })?;
        Ok((set, agent))
    }
}

pub(crate) struct TurnRun {
    pub(crate) runtime: Runtime,
    pub(crate) caller: Caller,
    pub(crate) session: Session,
    pub(crate) set: Arc<ConfigSet>,
    pub(crate) agent: Agent,
    pub(crate) turn: i64,
    pub(crate) execution_id: ExecutionId,
    pub(crate) spent: Spending,
    /// Resolved at the first tool call that needs it.
    pub(crate) actor: Option<RecordActor>,
    /// The session's data keys, unwrapped once for this turn.
    pub(crate) keys: heddle_vault::ScopeKeys,
    /// The agent's trust layers and the session's mask map; loaded with the conversation.
    pub(crate) trust: Option<TurnTrust>,
}

/// One step before it is stored.
pub(crate) struct StepRecord {
    pub(crate) kind: &'static str,
    pub(crate) payload: Map<String, Value>,
    pub(crate) usage: UsageTotals,
    pub(crate) latency: Option<Duration>,
}

impl StepRecord {
    pub(crate) fn new(kind: &'static str, payload: Map<String, Value>) -> Self {
        Self {
            kind,
            payload,
            usage: UsageTotals::default(),
            latency: None,
        }
    }
}

impl TurnRun {
    pub(crate) fn tenant_id(&self) -> TenantId {
        self.session.tenant_id
    }

    pub(crate) async fn run(
        mut self,
        start: Start,
        deadline: Duration,
    ) -> RuntimeResult<TurnOutcome> {
        let ending = match tokio::time::timeout(deadline, self.drive(start)).await {
            Ok(Ok(ending)) => ending,
            Ok(Err(error)) => Ending::Failed(error.reason()),
            Err(_) => Ending::Halted(format!(
                "the turn passed its time limit of {} s",
                deadline.as_secs()
            )),
        };
        self.finish(ending).await
    }

    /// The loop; returns how it ended. An `Err` is a failure of Heddle's own (store, vault).
    async fn drive(&mut self, start: Start) -> RuntimeResult<Ending> {
        let resuming = matches!(start, Start::Resume(_));
        self.record(StepRecord::new(
            "status",
            details([
                ("status", Value::from("running")),
                ("resumed", Value::from(resuming)),
                ("agent", Value::from(self.agent.name.clone())),
                ("config_version", Value::from(self.session.config_version)),
                ("config_hash", Value::from(self.set.content_hash())),
            ]),
        ))
        .await?;
        let store = self.runtime.store().clone();
        let tenant_id = self.tenant_id();
        let history = read_history(
            &store,
            &self.keys,
            tenant_id,
            self.session.id,
            self.turn,
            resuming,
        )
        .await?;
        self.load_trust(history.mask_state.as_ref()).await?;
        let opening = match start {
            // Screened and masked before anything else sees it.
            Start::Message(text) => match self.enter_message(&text).await? {
                Screened::Pass(masked) => Message::user(masked),
                Screened::Blocked(reason) => return Ok(Ending::Blocked(reason)),
            },
            // The held call's result was recorded by whoever ran it.
            Start::Resume(result) => result,
        };
        let mut messages = history.messages;
        if !resuming {
            messages.push(opening);
        }
        // Spending is summed only for the windows the agent caps.
        let budgets = &self.agent.spec.budgets;
        if is_capped(&budgets.per_session) {
            self.spent.session = store
                .usage_totals(tenant_id, UsageScope::Session(self.session.id))
                .await?;
        }
        if is_capped(&budgets.per_day) {
            self.spent.day = store
                .usage_totals(
                    tenant_id,
                    UsageScope::Agent {
                        environment: self.session.environment,
                        agent: self.session.agent.clone(),
                        since: start_of_day(self.runtime.identity().now()),
                    },
                )
                .await?;
        }

        let binding = self
            .set
            .model_binding(&self.agent.spec.model)
            .ok_or_else(|| {
                RuntimeError::Unavailable(format!(
                    "model binding `{}` is missing from the configuration version",
                    self.agent.spec.model
                ))
            })?
            .spec
            .clone();
        let played = history.model_calls;
        let provider = match provider_for(
            self.runtime.identity(),
            &self.runtime.settings().providers,
            tenant_id,
            self.session.environment,
            &binding,
            played,
        )
        .await
        {
            Ok(provider) => provider,
            Err(error) => return self.fail("model", error.reason()).await,
        };
        let tools: Vec<ToolSpec> = self
            .agent
            .spec
            .capabilities
            .iter()
            .filter_map(|name| self.set.capability(name))
            .map(|capability| ToolSpec {
                name: capability.name.clone(),
                description: capability.spec.description.clone(),
                input_schema: offered_schema(capability),
            })
            .collect();

        for _ in 0..self.agent.spec.limits.max_steps {
            if let Some(exceeded) = budget::check(&self.agent.spec.budgets, &self.spent) {
                return self.halt_for_budget(&exceeded).await;
            }
            let request = ChatRequest {
                model: binding.model.clone(),
                system: Some(self.agent.spec.system_prompt.clone()),
                messages: messages.clone(),
                tools: tools.clone(),
                max_tokens: self.runtime.settings().max_output_tokens,
                temperature: None,
            };
            let response = match self.call_model(provider.as_ref(), &request).await? {
                Ok(response) => response,
                Err(reason) => return self.fail("model", reason).await,
            };
            let assistant = Message::Assistant {
                content: (!response.content.is_empty()).then(|| response.content.clone()),
                tool_calls: response.tool_calls.clone(),
            };
            let mut step = self.model_response_step(&response).await?;
            step.payload
                .insert(TRANSCRIPT_KEY.to_owned(), self.seal(&assistant).await?);
            self.record(step).await?;
            messages.push(assistant);
            if response.tool_calls.is_empty() {
                return Ok(match self.screen_answer(&response.content).await? {
                    Screened::Pass(reply) => Ending::Answered(reply),
                    Screened::Blocked(reason) => Ending::Blocked(reason),
                });
            }
            let over_budget = budget::check(&self.agent.spec.budgets, &self.spent);
            let rationale = (!response.content.is_empty()).then_some(response.content.as_str());
            let mut held: Option<Box<PendingRequest>> = None;
            for call in &response.tool_calls {
                let step = match (&over_budget, &held) {
                    (Some(exceeded), _) => {
                        self.refuse(
                            call,
                            Refusal::new("budget", format!("not run: {exceeded}")),
                            rationale,
                        )
                        .await?
                    }
                    // One held call pauses the turn; the rest of this step waits with it.
                    (None, Some(_)) => {
                        self.refuse(
                            call,
                            Refusal::new(
                                "waiting",
                                "not run: an earlier call of this step waits for a person; \
                                 propose it again after that is decided",
                            ),
                            rationale,
                        )
                        .await?
                    }
                    (None, None) => self.handle_tool_call(call, rationale).await?,
                };
                match step {
                    ToolStep::Done { message, .. } => messages.push(message),
                    ToolStep::Held(request) => held = Some(request),
                }
            }
            if let Some(exceeded) = over_budget {
                return self.halt_for_budget(&exceeded).await;
            }
            if let Some(request) = held {
                return Ok(Ending::Waiting(request));
            }
        }
        Ok(Ending::Halted(format!(
            "the agent reached its limit of {} model calls in one turn without an answer",
            self.agent.spec.limits.max_steps
        )))
    }

    /// One model call, recorded as a request step; the provider's failure is an `Ok(Err)`,
    /// Heddle's own an `Err`.
    async fn call_model(
        &mut self,
        provider: &dyn ModelProvider,
        request: &ChatRequest,
    ) -> RuntimeResult<Result<ChatResponse, String>> {
        self.record(StepRecord::new(
            "model_request",
            details([
                ("model", Value::from(request.model.clone())),
                ("messages", Value::from(request.messages.len())),
                (
                    "tools",
                    Value::from(
                        request
                            .tools
                            .iter()
                            .map(|t| t.name.clone())
                            .collect::<Vec<_>>(),
                    ),
                ),
                ("max_tokens", Value::from(request.max_tokens)),
            ]),
        ))
        .await?;
        let started = Instant::now();
        match provider.chat(request).await {
            Ok(response) => Ok(Ok(response)),
            Err(error) => {
                let mut step = StepRecord::new(
                    "failure",
                    details([
                        ("stage", Value::from("model")),
                        ("error", Value::from(error.to_string())),
                    ]),
                );
                step.latency = Some(started.elapsed());
                self.record(step).await?;
                Ok(Err(format!("the model call failed: {error}")))
            }
        }
    }

    async fn model_response_step(&mut self, response: &ChatResponse) -> RuntimeResult<StepRecord> {
        let usage = UsageTotals {
            input_tokens: i64::try_from(response.usage.input_tokens).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(response.usage.output_tokens).unwrap_or(i64::MAX),
            cost_micros: response.estimated_cost_usd.map_or(0, usd_to_micros),
        };
        self.spent.add(usage);
        let mut payload = details([
            ("model", Value::from(response.model.clone())),
            (
                "stop_reason",
                serde_json::to_value(&response.stop_reason).unwrap_or_default(),
            ),
            (
                "tool_calls",
                Value::from(
                    response
                        .tool_calls
                        .iter()
                        .map(|c| json!({"id": c.id, "name": c.name}))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "cost_known",
                Value::from(response.estimated_cost_usd.is_some()),
            ),
        ]);
        if !response.content.is_empty() {
            payload.insert("text".to_owned(), self.content(&response.content).await?);
        }
        Ok(StepRecord {
            kind: "model_response",
            payload,
            usage,
            latency: Some(response.latency),
        })
    }

    /// Contract check, policy decision, review gate, execution: every stage recorded; the
    /// result (or the refusal) is what the caller gets back — the model, or a direct caller
    /// (an MCP client) for whom there are no placeholders to restore and nothing to mask.
    /// The one implementation of the governed path of a tool call.
    pub(crate) async fn handle_tool_call(
        &mut self,
        call: &ToolCall,
        rationale: Option<&str>,
    ) -> RuntimeResult<ToolStep> {
        let context = BoundContext {
            user_id: None,
            verified_customer_id: self.session.verified_customer_id.clone(),
            session_record_id: self.session.session_record_id.clone(),
        };
        // The user id is known only once the actor is: resolve it lazily, and only when the
        // capability binds it.
        let set = Arc::clone(&self.set);
        let capability = set.capability(&call.name);
        let needs_user = capability.is_some_and(|c| {
            c.spec
                .bound_inputs
                .values()
                .any(|s| *s == heddle_agents::BoundSource::UserId)
        });
        let mut context = context;
        if needs_user {
            match self.actor().await {
                Ok(actor) => context.user_id = Some(actor.user_id().0.clone()),
                Err(refusal) => return self.refuse(call, refusal, rationale).await,
            }
        }
        // Placeholders get their values back only where the capability may receive them. A
        // direct caller's arguments are its own values: nothing to restore, and a
        // placeholder-looking text in them stays text.
        let unmasked = if self.is_direct() {
            call.clone()
        } else {
            match self.unmask_call(call, capability).await? {
                Ok(unmasked) => unmasked,
                Err(refusal) => return self.refuse(call, refusal, rationale).await,
            }
        };
        if let Some(refusal) = self.screen_arguments(call, capability).await? {
            return self.refuse(call, refusal, rationale).await;
        }
        let checked = match check_contract(&self.agent, capability, &unmasked, &context) {
            Ok(checked) => checked,
            Err(refusal) => return self.refuse(call, refusal, rationale).await,
        };
        let capability = checked.capability;
        self.record(StepRecord::new(
            "tool_call",
            details([
                ("call_id", Value::from(call.id.clone())),
                ("capability", Value::from(capability.name.clone())),
                (
                    "arguments",
                    self.content(&Value::Object(checked.arguments.clone()).to_string())
                        .await?,
                ),
                (
                    "rationale",
                    match rationale {
                        Some(text) => self.content(text).await?,
                        None => Value::Null,
                    },
                ),
                ("origin", Value::from(self.origin())),
            ]),
        ))
        .await?;

        let resource = self.capability_resource(capability);
        let decision = self
            .runtime
            .identity()
            .authorize(&self.caller.actor, Action::CallCapability, resource.clone())
            .await;
        let allowed = decision.is_ok();
        self.record(StepRecord::new(
            "policy_decision",
            details([
                ("call_id", Value::from(call.id.clone())),
                ("capability", Value::from(capability.name.clone())),
                ("action", Value::from(Action::CallCapability.as_str())),
                ("allowed", Value::from(allowed)),
            ]),
        ))
        .await?;
        if let Err(error) = decision {
            return self
                .tool_result(
                    call,
                    Refusal::new(
                        "policy",
                        format!("the tenant's policies do not allow this call: {error}"),
                    ),
                )
                .await;
        }
        // The review floor: the capability's mode, raised by tenant policy and by the model.
        let floor = PolicyFloor {
            confirmation: !self
                .allowed(Action::RunWithoutConfirmation, &resource)
                .await,
            approval: !self.allowed(Action::RunWithoutApproval, &resource).await,
        };
        let gate = required_gate(
            &capability.spec,
            &checked.arguments,
            floor,
            checked.approval_request.is_some(),
        );
        if gate != Gate::None {
            let request = crate::hitl::hold(self, call, &checked, gate).await?;
            return Ok(ToolStep::Held(Box::new(request)));
        }
        let actor = match self.actor().await {
            Ok(actor) => actor,
            Err(refusal) => return self.tool_result(call, refusal).await,
        };
        let source: &dyn RecordSource = &self.runtime.inner.records;
        let result = execute(source, &actor, &checked.backend).await;
        match result {
            Ok(output) => {
                let mut payload = details([
                    ("call_id", Value::from(call.id.clone())),
                    ("capability", Value::from(capability.name.clone())),
                    ("ok", Value::from(true)),
                    ("records", Value::from(output.records)),
                    ("record_ids", Value::from(output.record_ids.clone())),
                ]);
                if !output.withheld_fields.is_empty() {
                    payload.insert(
                        "withheld_fields".to_owned(),
                        Value::from(output.withheld_fields.clone()),
                    );
                }
                let (message, refusal, screening) = if self.is_direct() {
                    // Nobody's model reads it here: screened for injection (the caller may
                    // well hand it to one), neither masked nor datamarked.
                    let (screened, screening) = self
                        .screen_direct_result(&capability.name, &output.content)
                        .await?;
                    let (message, refusal) = match screened {
                        Screened::Pass(content) => {
                            (Message::tool_result(call.id.clone(), content), None)
                        }
                        Screened::Blocked(reason) => {
                            payload.insert("withheld".to_owned(), Value::from(true));
                            let refusal =
                                Refusal::new("trust", format!("the result was withheld: {reason}"));
                            (refusal_message(call, &refusal), Some(refusal))
                        }
                    };
                    (message, refusal, screening)
                } else {
                    let (model_view, screening) = self
                        .screen_tool_result(&capability.name, &output.content)
                        .await?;
                    (
                        Message::tool_result(call.id.clone(), model_view),
                        None,
                        screening,
                    )
                };
                payload.insert("content".to_owned(), self.content(&output.content).await?);
                if let Some(entry) = self.transcript_entry(&message).await? {
                    payload.insert(TRANSCRIPT_KEY.to_owned(), entry);
                }
                if let Some(state) = self.mask_state_entry().await? {
                    payload.insert(MASK_STATE_KEY.to_owned(), state);
                }
                self.record(StepRecord::new("tool_result", payload)).await?;
                self.record_violations(RuleStage::ToolResult, Channel::ToolResult, &screening)
                    .await?;
                Ok(ToolStep::Done { message, refusal })
            }
            Err(error) => {
                let refusal = Refusal::new("execution", record_error_message(&error));
                self.tool_result(call, refusal).await
            }
        }
    }

    /// Whether Cedar permits `action` on the capability for the caller; an error denies.
    async fn allowed(&self, action: Action, resource: &Resource) -> bool {
        self.runtime
            .identity()
            .authorize(&self.caller.actor, action, resource.clone())
            .await
            .is_ok()
    }

    /// A call refused before it was recorded as a tool call: both steps, then the result.
    async fn refuse(
        &mut self,
        call: &ToolCall,
        refusal: Refusal,
        rationale: Option<&str>,
    ) -> RuntimeResult<ToolStep> {
        self.record(StepRecord::new(
            "tool_call",
            details([
                ("call_id", Value::from(call.id.clone())),
                (
                    "capability",
                    Value::from(call.name.chars().take(64).collect::<String>()),
                ),
                (
                    "arguments",
                    self.content(&call.arguments.to_string()).await?,
                ),
                (
                    "rationale",
                    match rationale {
                        Some(text) => self.content(text).await?,
                        None => Value::Null,
                    },
                ),
                ("origin", Value::from(self.origin())),
            ]),
        ))
        .await?;
        self.record(StepRecord::new(
            "policy_decision",
            details([
                ("call_id", Value::from(call.id.clone())),
                (
                    "capability",
                    Value::from(call.name.chars().take(64).collect::<String>()),
                ),
                ("allowed", Value::from(false)),
                ("stage", Value::from(refusal.stage)),
                ("reason", Value::from(refusal.message.clone())),
            ]),
        ))
        .await?;
        self.tool_result(call, refusal).await
    }

    /// A refusal as the caller's result, recorded as a tool result.
    pub(crate) async fn tool_result(
        &mut self,
        call: &ToolCall,
        refusal: Refusal,
    ) -> RuntimeResult<ToolStep> {
        let message = refusal_message(call, &refusal);
        let mut payload = details([
            ("call_id", Value::from(call.id.clone())),
            ("ok", Value::from(false)),
            ("stage", Value::from(refusal.stage)),
            ("error", Value::from(refusal.message.clone())),
        ]);
        if let Some(entry) = self.transcript_entry(&message).await? {
            payload.insert(TRANSCRIPT_KEY.to_owned(), entry);
        }
        self.record(StepRecord::new("tool_result", payload)).await?;
        metrics::counter!("heddle_tool_calls_refused_total", "stage" => refusal.stage).increment(1);
        Ok(ToolStep::Done {
            message,
            refusal: Some(refusal),
        })
    }

    /// Whether this turn is a direct call (an MCP client's), with no model in it.
    pub(crate) fn is_direct(&self) -> bool {
        self.session.channel == SessionChannel::Mcp
    }

    /// Who proposed the calls of this turn, as steps record it.
    pub(crate) fn origin(&self) -> &'static str {
        match self.session.channel {
            SessionChannel::Conversation => "model",
            SessionChannel::Mcp => "mcp",
            // A gateway request never runs a turn here; named for completeness.
            SessionChannel::Gateway => "gateway",
        }
    }

    /// The sealed conversation entry of a message, for a step's payload; none in a direct
    /// call, where there is no conversation to read back.
    pub(crate) async fn transcript_entry(&self, message: &Message) -> RuntimeResult<Option<Value>> {
        if self.is_direct() {
            return Ok(None);
        }
        self.seal(message).await.map(Some)
    }

    /// Whose record access tool calls run with: the agent's declared service user, the
    /// person asking (employee agents), or the verified customer (service agents).
    pub(crate) async fn actor(&mut self) -> Result<RecordActor, Refusal> {
        if let Some(actor) = &self.actor {
            return Ok(actor.clone());
        }
        let records = &self.runtime.inner.records;
        let tenant_id = self.tenant_id();
        let resolved = match (self.agent.spec.identity.mode, self.agent.spec.kind) {
            (IdentityMode::ServiceUser, _) => {
                let user = self
                    .agent
                    .spec
                    .identity
                    .service_user
                    .clone()
                    .unwrap_or_default();
                records
                    .agent_service_actor(&self.caller, tenant_id, &heddle_records::UserId(user))
                    .await
            }
            (IdentityMode::User, AgentKind::Employee) => records.user_actor(&self.caller).await,
            (IdentityMode::User, AgentKind::Service) => {
                let Some(customer) = &self.session.verified_customer_id else {
                    return Err(Refusal::new(
                        "verification",
                        "this needs a verified customer; ask the customer to verify their \
                         email address first",
                    ));
                };
                let contact = heddle_records::RecordId::parse(customer)
                    .map_err(|err| Refusal::new("identity", err.to_string()))?;
                records
                    .verified_customer_actor(&self.caller, tenant_id, &contact)
                    .await
            }
        };
        let actor = resolved.map_err(|err| Refusal::new("identity", err.to_string()))?;
        self.actor = Some(actor.clone());
        Ok(actor)
    }

    async fn halt_for_budget(
        &mut self,
        exceeded: &budget::BudgetExceeded,
    ) -> RuntimeResult<Ending> {
        self.record(StepRecord::new(
            "budget_exceeded",
            details([("budget", serde_json::to_value(exceeded).unwrap_or_default())]),
        ))
        .await?;
        Ok(Ending::Halted(format!("{exceeded}; the turn was stopped")))
    }

    async fn fail(&mut self, stage: &str, reason: String) -> RuntimeResult<Ending> {
        if stage != "model" {
            self.record(StepRecord::new(
                "failure",
                details([
                    ("stage", Value::from(stage.to_owned())),
                    ("error", Value::from(reason.clone())),
                ]),
            ))
            .await?;
        }
        Ok(Ending::Failed(reason))
    }

    /// Records the final status and ends the turn. When the turn was abandoned meanwhile (a
    /// newer message took over), the steps above were stored as not applied and the finish
    /// is refused by the store: the outcome then says so.
    pub(crate) async fn finish(mut self, ending: Ending) -> RuntimeResult<TurnOutcome> {
        let mut pending = None;
        let blocked = matches!(ending, Ending::Blocked(_));
        let (status, reply, reason) = match ending {
            Ending::Answered(text) => (TurnStatus::Completed, Some(text), None),
            Ending::Halted(reason) => (TurnStatus::Halted, None, Some(reason)),
            Ending::Failed(reason) => (TurnStatus::Failed, None, Some(reason)),
            Ending::Blocked(reason) => (TurnStatus::Halted, None, Some(reason)),
            // The turn stops here; a person's decision resumes it.
            Ending::Waiting(request) => {
                let reason = request.waiting_reason();
                pending = Some(*request);
                (TurnStatus::Halted, None, Some(reason))
            }
        };
        let mut payload = details([("status", Value::from(status.as_str()))]);
        if let Some(reason) = &reason {
            payload.insert("reason".to_owned(), Value::from(reason.clone()));
        }
        // A store failure here must not hide the outcome: it is logged; the turn is then
        // abandoned by the next message.
        if let Err(error) = self.record(StepRecord::new("status", payload)).await {
            tracing::error!(error = %error, "turn status step not recorded");
        }
        let tenant_id = self.tenant_id();
        let runtime = self.runtime.clone();
        let subject = self.subject();
        let finished = runtime
            .store()
            .finish_turn(
                tenant_id,
                self.session.id,
                self.turn,
                status,
                reason.clone(),
                runtime.identity().now(),
                change(
                    runtime.identity(),
                    &self.caller,
                    &subject,
                    &format!("turn.{}", status.as_str()),
                    details([
                        ("session", Value::from(self.session.id.to_string())),
                        ("turn", Value::from(self.turn)),
                        ("reason", reason.clone().map_or(Value::Null, Value::from)),
                    ]),
                ),
            )
            .await;
        runtime.identity().audit_log().nudge();
        let (status, reply, reason) = match finished {
            Ok(_) => match &pending {
                Some(request) => (request.outcome_status(), reply, reason),
                None if blocked => ("blocked", reply, reason),
                None => (status.as_str(), reply, reason),
            },
            Err(heddle_store::StoreError::Conflict { .. }) => (
                "abandoned",
                None,
                Some(
                    "a newer message took over this turn after its deadline; what it produced \
                     was recorded but not applied"
                        .to_owned(),
                ),
            ),
            Err(error) => return Err(error.into()),
        };
        metrics::counter!("heddle_turns_total", "status" => status).increment(1);
        Ok(TurnOutcome {
            session_id: self.session.id,
            turn: self.turn,
            execution_id: self.execution_id,
            status,
            reply,
            reason,
            input_tokens: self.spent.turn.input_tokens,
            output_tokens: self.spent.turn.output_tokens,
            estimated_cost_usd: self.spent.turn.cost_micros as f64 / 1_000_000.0,
            abandoned_turn: None,
            pending_action: pending,
        })
    }

    pub(crate) fn subject(&self) -> Subject<'static> {
        Subject {
            tenant_id: self.tenant_id(),
            environment: Some(self.session.environment),
            kind: "execution",
            id: self.execution_id.to_string(),
        }
    }

    /// Text as the content-privacy setting shows it (a digest by default).
    pub(crate) async fn content(&self, text: &str) -> RuntimeResult<Value> {
        record_content(
            self.runtime.identity().vault(),
            self.tenant_id(),
            text,
            &self.runtime.settings().content,
        )
        .await
        .map_err(|err| RuntimeError::Unavailable(format!("cannot record content: {err}")))
    }

    pub(crate) async fn seal(&self, message: &Message) -> RuntimeResult<Value> {
        seal_message(&self.keys, self.session.id, message).await
    }

    /// Stores a step with its audit event (which carries everything but the sealed entry).
    pub(crate) async fn record(&mut self, step: StepRecord) -> RuntimeResult<()> {
        let identity = self.runtime.identity();
        let mut audit_details = step.payload.clone();
        audit_details.remove(TRANSCRIPT_KEY);
        audit_details.remove(MASK_STATE_KEY);
        audit_details.insert(
            "session".to_owned(),
            Value::from(self.session.id.to_string()),
        );
        audit_details.insert("turn".to_owned(), Value::from(self.turn));
        if step.usage != UsageTotals::default() {
            audit_details.insert(
                "usage".to_owned(),
                json!({
                    "input_tokens": step.usage.input_tokens,
                    "output_tokens": step.usage.output_tokens,
                    "cost_micros": step.usage.cost_micros,
                }),
            );
        }
        let mut audit_event = event(
            identity,
            &self.caller,
            &self.subject(),
            &format!("execution.{}", step.kind),
            AuditOutcome::Success,
            audit_details,
        );
        let denied = match step.kind {
            "policy_decision" => step.payload.get("allowed") == Some(&Value::Bool(false)),
            "guardrail" => step.payload.get("action") == Some(&Value::from("block")),
            _ => false,
        };
        if denied {
            audit_event.outcome = AuditOutcome::Denied;
        }
        let audit = heddle_audit_log::prepare_event(&audit_event);
        self.runtime
            .store()
            .append_step(
                self.tenant_id(),
                self.session.id,
                self.turn,
                NewStep {
                    kind: step.kind.to_owned(),
                    payload: Value::Object(step.payload),
                    input_tokens: step.usage.input_tokens,
                    output_tokens: step.usage.output_tokens,
                    cost_micros: step.usage.cost_micros,
                    latency_ms: step
                        .latency
                        .map(|l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX)),
                    at: identity.now(),
                },
                audit,
            )
            .await?;
        Ok(())
    }
}

/// The error result a refusal is reported as.
pub(crate) fn refusal_message(call: &ToolCall, refusal: &Refusal) -> Message {
    Message::ToolResult {
        tool_call_id: call.id.clone(),
        content: format!("error ({}): {}", refusal.stage, refusal.message),
        is_error: true,
    }
}

pub(crate) fn serde_label<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn is_capped(budget: &heddle_agents::config::Budget) -> bool {
    budget.tokens.is_some() || budget.cost_usd.is_some()
}

fn start_of_day(now: OffsetDateTime) -> OffsetDateTime {
    now.replace_time(time::Time::MIDNIGHT)
}
