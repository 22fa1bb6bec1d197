//! The gateway service: one request's walk through its route.
//!
//! authenticate (the server) ─▶ route (pinned key, or `model` + `Heddle-Environment`) ─▶
//! Cedar `use_route` ─▶ inbound trust layers over every message text ─▶ mask ─▶ budget
//! reserved (one transaction with the execution's opening steps) ─▶ upstream call with the
//! vault's key ─▶ answer checks ─▶ placeholders restored ─▶ execution closed, budget settled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use heddle_agents::config::{Provider, Route};
use heddle_agents::{ConfigSet, ModelBindingSpec};
use heddle_identity::{Actor, Caller, Identity, IdentityError};
use heddle_providers::{ModelPrice, OpenAiPassthrough, PassthroughConfig, PriceTable, Usage};
use heddle_runtime::Runtime;
use heddle_store::{
    BudgetHold, BudgetSettlement, CloseGatewayExecution, GatewayWrite, GatewayWritten, HoldOutcome,
    NewSession, OpenGatewayExecution, SessionChannel, StaleGatewayExecution, TurnStatus,
};
use heddle_trust::mask::{UnmaskPolicy, unmask_text};
use heddle_trust::pipeline::AgentTrust;
use heddle_trust::rules::RuleStage;
use heddle_trust::{Channel, GuardAction};
use heddle_types::{
    Action, AuditOutcome, Environment, ExecutionId, Principal, PrincipalKind, Resource, SessionId,
    TenantId,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::GatewayError;
use crate::budget::{self, Estimate, usd_to_micros};
use crate::mask::{RequestMask, Restorers};
use crate::record::{Draft, Execution, details, violation_drafts};
use crate::recorder::{RecordTiming, Recorder};
use crate::relay::{Accepted, CheckItem, CheckStage, RelayError, RelaySettings, StreamRelay};
use crate::screen::{Screener, Violations, block_reason, masking_failed};
use crate::wire::{self, Author, SlotKind};

/// How long a built upstream client (and the key it holds) is reused; a rotated key is
/// picked up within this time.
const UPSTREAM_REUSE: Duration = Duration::from_secs(60);
/// How long the environment's current configuration version is reused before the store is
/// asked again: a newly applied version serves requests within this time.
const CONFIGURATION_REUSE: Duration = Duration::from_secs(1);
/// A reservation outlives its request's deadline by this much before it counts as
/// abandoned.
const HOLD_GRACE: Duration = Duration::from_secs(60);
/// Streamed events buffered between the upstream reader and a slow client.
const STREAM_BUFFER: usize = 64;
/// Interrupted executions closed per sweep round.
const SWEEP_BATCH: u32 = 500;
/// Why the sweep closed an execution.
const INTERRUPTED: &str = "interrupted: the request's outcome was never recorded (its Heddle \
                           process stopped before the answer was settled)";

/// A gateway execution still running this long after it began is presumed interrupted: no
/// route's upstream deadline is longer, and a hold outlives its deadline by [`HOLD_GRACE`].
fn interrupted_after() -> Duration {
    Duration::from_secs(u64::from(
        heddle_agents::config::MAX_UPSTREAM_TIMEOUT_SECONDS,
    )) + HOLD_GRACE
}

/// What the server decides about the gateway.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The environment of requests from unpinned principals without `Heddle-Environment`.
    pub default_environment: Environment,
    /// When a request's opening record must be durable.
    pub record: RecordTiming,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            default_environment: Environment::Prod,
            record: RecordTiming::BeforeUpstream,
        }
    }
}

/// The gateway. Cheap to clone; clones share the upstream clients.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

type UpstreamKey = (TenantId, Environment, String, String);
/// When a configuration was looked up, its version, the set.
type CachedConfiguration = (Instant, i64, Arc<ConfigSet>);

#[derive(Debug)]
struct Inner {
    runtime: Runtime,
    identity: Identity,
    settings: GatewaySettings,
    upstreams: Mutex<HashMap<UpstreamKey, (Instant, Arc<OpenAiPassthrough>)>>,
    /// The current configuration per tenant and environment, looked up at most once per
    /// [`CONFIGURATION_REUSE`] (the lookup reads the whole snapshot).
    configurations: Mutex<HashMap<(TenantId, Environment), CachedConfiguration>>,
    /// Every record write goes through it (group commit).
    recorder: Recorder,
}

/// A result with the execution it was recorded as, when it got that far.
#[derive(Debug)]
pub struct Outcome<T> {
    pub execution_id: Option<ExecutionId>,
    pub result: Result<T, GatewayError>,
}

impl<T> Outcome<T> {
    fn failed(error: GatewayError) -> Self {
        Self {
            execution_id: None,
            result: Err(error),
        }
    }
}

/// A chat completion: the whole answer, or its events as wire text (`data: …\n\n`), ending
/// with `data: [DONE]` or an error event.
#[derive(Debug)]
pub enum ChatAnswer {
    Complete(Value),
    Stream(mpsc::Receiver<String>),
}

/// The route a request resolved to, with everything needed to serve it.
#[derive(Debug, Clone)]
struct Target {
    tenant_id: TenantId,
    environment: Environment,
    version: i64,
    set: Arc<ConfigSet>,
    route: Route,
    binding: ModelBindingSpec,
    trust: Arc<AgentTrust>,
}

impl Target {
    fn owner(&self) -> String {
        format!("route:{}", self.route.name)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.route.spec.limits.upstream_timeout_seconds))
    }

    fn price(&self) -> Option<ModelPrice> {
        match self.binding.price {
            Some(price) => Some(ModelPrice::new(
                price.input_usd_per_million_tokens,
                price.output_usd_per_million_tokens,
            )),
            None => PriceTable::default().price(&self.binding.model),
        }
    }

    fn cost_micros(&self, prompt: u64, completion: u64) -> i64 {
        self.price().map_or(0, |price| {
            usd_to_micros(price.cost_usd(Usage {
                input_tokens: prompt,
                output_tokens: completion,
            }))
        })
    }
}

/// An execution being recorded, with what its close needs.
#[derive(Debug)]
struct Recording {
    execution: Execution,
    caller: Caller,
    hold: Option<BudgetHold>,
}

impl Gateway {
    /// Starts the gateway's record writer on the current tokio runtime.
    pub fn new(runtime: Runtime, identity: Identity, settings: GatewaySettings) -> Self {
        let recorder = Recorder::start(identity.store().clone(), identity.audit_log().clone());
        Self {
            inner: Arc::new(Inner {
                runtime,
                identity,
                settings,
                upstreams: Mutex::new(HashMap::new()),
                configurations: Mutex::new(HashMap::new()),
                recorder,
            }),
        }
    }

    /// Waits until every record write queued so far is committed: answers go out before
    /// their execution's close is durable, so a shutdown (or a test reading the record)
    /// calls this first.
    pub async fn flush_records(&self) {
        self.inner.recorder.flush().await;
    }

    fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The environment's current configuration version, reused for a second.
    async fn configuration(
        &self,
        tenant_id: TenantId,
        environment: Environment,
    ) -> Result<(i64, Arc<ConfigSet>), heddle_runtime::RuntimeError> {
        let key = (tenant_id, environment);
        let cached = self
            .inner
            .configurations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|(looked_up, _, _)| looked_up.elapsed() < CONFIGURATION_REUSE)
            .map(|(_, version, set)| (*version, Arc::clone(set)));
        if let Some(found) = cached {
            return Ok(found);
        }
        let (version, set) = self
            .inner
            .runtime
            .current_configuration(tenant_id, environment)
            .await?;
        let mut configurations = self
            .inner
            .configurations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if configurations.len() > 1024 {
            configurations.clear();
        }
        configurations.insert(key, (Instant::now(), version, Arc::clone(&set)));
        Ok((version, set))
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.identity.now()
    }

    /// Closes as interrupted every gateway execution still running longer than any request
    /// can last — its process stopped between the upstream call and the close — so records
    /// never claim a request is still under way. Returns how many it closed. Safe in every
    /// process: a close that lost the race to another is a conflict, and skipped.
    pub async fn sweep_interrupted(&self) -> Result<usize, GatewayError> {
        let cutoff = self.now()
            - time::Duration::try_from(interrupted_after()).unwrap_or(time::Duration::HOUR);
        let stale = self
            .identity()
            .store()
            .stale_gateway_executions(cutoff, SWEEP_BATCH)
            .await?;
        let mut closed = 0;
        for stale in stale {
            let execution = interrupted_execution(stale);
            let close = execution.interrupted(self.identity(), INTERRUPTED);
            match self
                .inner
                .recorder
                .write(GatewayWrite::Close(Box::new(close)))
                .await
            {
                Ok(_) => {
                    closed += 1;
                    metrics::counter!("heddle_gateway_interrupted_total").increment(1);
                }
                Err(error) => tracing::warn!(
                    error = %error,
                    execution = %execution.execution_id,
                    "an interrupted gateway execution was not closed"
                ),
            }
        }
        Ok(closed)
    }

    /// Runs [`Gateway::sweep_interrupted`] every `interval` while the gateway lives.
    pub fn spawn_sweeper(&self, interval: Duration) {
        let gateway = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = gateway.upgrade() else {
                    break;
                };
                if let Err(error) = (Gateway { inner }).sweep_interrupted().await {
                    tracing::warn!(error = %error, "sweeping interrupted gateway executions failed");
                }
            }
        });
    }

    /// `POST /v1/chat/completions`.
    pub async fn chat_completions(
        &self,
        caller: &Caller,
        environment: Option<Environment>,
        body: &[u8],
    ) -> Outcome<ChatAnswer> {
        let mut request = match parse_body(body) {
            Ok(request) => request,
            Err(error) => return Outcome::failed(error),
        };
        let info = match wire::read_chat_request(&request) {
            Ok(info) => info,
            Err(invalid) => {
                return Outcome::failed(GatewayError::invalid(invalid.message, invalid.param));
            }
        };
        let target = match self
            .resolve(caller, environment, info.model.as_deref())
            .await
        {
            Ok(target) => target,
            Err(error) => return Outcome::failed(error),
        };
        let limit = target.route.spec.limits.max_request_bytes;
        if body.len() > limit as usize {
            return Outcome::failed(GatewayError::TooLarge { limit });
        }
        let execution_id = ExecutionId::new();
        let result = self
            .serve_chat(caller, &target, &mut request, &info, execution_id)
            .await;
        Outcome {
            execution_id: result
                .as_ref()
                .err()
                .map_or(Some(execution_id), |(recorded, _)| {
                    recorded.then_some(execution_id)
                }),
            result: result.map_err(|(_, error)| error),
        }
    }

    /// The request after its route is known. The error says whether an execution was
    /// recorded for it.
    async fn serve_chat(
        &self,
        caller: &Caller,
        target: &Target,
        request: &mut Value,
        info: &wire::ChatRequestInfo,
        execution_id: ExecutionId,
    ) -> Result<ChatAnswer, (bool, GatewayError)> {
        let not_recorded = |error| (false, error);
        let started_at = self.now();
        let principal = principal_json(caller);
        let owner = target.owner();
        let screener = Screener {
            runtime: &self.inner.runtime,
            trust: &target.trust,
            remote: true,
            set: &target.set,
            tenant_id: target.tenant_id,
            environment: target.environment,
            owner: &owner,
            principal: &principal,
        };
        let mut mask = RequestMask::fresh()
            .map_err(|err| not_recorded(GatewayError::Unavailable(err.to_string())))?;
        let mut drafts = Vec::new();
        let mut violations: Violations = Vec::new();
        let original_text = request_text(request);
        let messages = request
            .get_mut("messages")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| not_recorded(GatewayError::invalid("`messages` is missing", None)))?;
        let message_count = messages.len();
        let screened = self
            .screen_messages(&screener, messages, &mut mask, &mut drafts, &mut violations)
            .await;
        let execution = Execution {
            tenant_id: target.tenant_id,
            environment: target.environment,
            route: target.route.name.clone(),
            session_id: SessionId::new(),
            execution_id,
        };
        let content = self
            .content(target.tenant_id, &original_text)
            .await
            .map_err(not_recorded)?;
        let mut opening = vec![Draft::new(
            "gateway_request",
            details([
                ("endpoint", Value::from("chat.completions")),
                ("route", Value::from(target.route.name.clone())),
                (
                    "requested_model",
                    info.model.clone().map_or(Value::Null, Value::from),
                ),
                ("upstream_model", Value::from(target.binding.model.clone())),
                ("stream", Value::from(info.stream)),
                ("messages", Value::from(message_count)),
                ("masked", Value::from(mask.map().len())),
                ("config_version", Value::from(target.version)),
                ("config_hash", Value::from(target.set.content_hash())),
                ("content", content),
            ]),
            started_at,
        )];
        opening.append(&mut drafts);
        opening.extend(violation_drafts(&violations, started_at));
        let mut recording = Recording {
            execution,
            caller: caller.clone(),
            hold: None,
        };

        // Blocked or not maskable: recorded, nothing sent.
        let stop = match screened {
            Err(error) => Some(error),
            Ok(())
                if violations
                    .iter()
                    .any(|(_, _, v)| v.action == GuardAction::Block) =>
            {
                let (message, guardrails) = block_reason("the request", &violations);
                Some(GatewayError::Blocked {
                    message,
                    guardrails,
                })
            }
            Ok(()) => None,
        };
        if let Some(error) = stop {
            self.open(target, &recording, opening, None)
                .await
                .map_err(not_recorded)?;
            self.close(
                target,
                &recording,
                Vec::new(),
                TurnStatus::Halted,
                Some(error.to_string()),
                None,
            )
            .await;
            return Err((true, error));
        }

        // The body the upstream gets.
        let max_tokens = info
            .max_tokens
            .unwrap_or(u64::from(target.route.spec.limits.default_max_tokens));
        prepare_upstream_body(request, target, info);
        let upstream_body = request.to_string();
        let estimate = Estimate::new(upstream_body.len(), max_tokens);
        let plan = match budget::plan(
            &target.route.spec.budgets,
            &target.binding.model,
            target.price(),
            estimate,
        ) {
            Ok(plan) => plan,
            Err(refusal) => {
                let error = GatewayError::BudgetExceeded(refusal.to_string());
                self.open(target, &recording, opening, None)
                    .await
                    .map_err(not_recorded)?;
                let step = budget_step(&refusal.to_string(), started_at);
                self.close(
                    target,
                    &recording,
                    vec![step],
                    TurnStatus::Halted,
                    Some(error.to_string()),
                    None,
                )
                .await;
                return Err((true, error));
            }
        };
        let hold = budget::has_daily_cap(&target.route.spec.budgets).then(|| {
            let (limit_tokens, limit_cost_micros) =
                budget::daily_limits(&target.route.spec.budgets);
            BudgetHold {
                id: uuid::Uuid::now_v7(),
                scope: budget_scope(target),
                window_start: start_of_day(started_at),
                tokens: plan.tokens,
                cost_micros: plan.cost_micros,
                limit_tokens,
                limit_cost_micros,
                expires_at: started_at
                    + time::Duration::try_from(target.timeout() + HOLD_GRACE)
                        .unwrap_or(time::Duration::HOUR),
            }
        });
        match self
            .open(target, &recording, opening, hold.clone())
            .await
            .map_err(not_recorded)?
        {
            HoldOutcome::Held => recording.hold = hold,
            HoldOutcome::Refused(spent) => {
                let refusal = budget::daily_refusal(
                    &target.route.spec.budgets,
                    plan,
                    spent.tokens,
                    spent.cost_micros,
                );
                let error = GatewayError::BudgetExceeded(refusal.to_string());
                let step = budget_step(&refusal.to_string(), started_at);
                self.close(
                    target,
                    &recording,
                    vec![step],
                    TurnStatus::Halted,
                    Some(error.to_string()),
                    None,
                )
                .await;
                return Err((true, error));
            }
        }

        let restorers = mask.restorers();
        let model_request = Draft::new(
            "model_request",
            details([
                ("model", Value::from(target.binding.model.clone())),
                ("messages", Value::from(message_count)),
                ("max_tokens", Value::from(max_tokens)),
                ("stream", Value::from(info.stream)),
            ]),
            self.now(),
        );
        let client = match self.upstream(target).await {
            Ok(client) => client,
            Err(error) => {
                let failure = failure_step("model", &error.to_string(), self.now());
                self.close(
                    target,
                    &recording,
                    vec![model_request, failure],
                    TurnStatus::Failed,
                    Some(error.to_string()),
                    Some(0),
                )
                .await;
                return Err((true, error));
            }
        };
        let started = Instant::now();
        if info.stream {
            let stream = match client.chat_completion_stream(request).await {
                Ok(stream) => stream,
                Err(error) => {
                    let error = GatewayError::from_upstream(error, target.timeout());
                    let mut failure = failure_step("model", &error.to_string(), self.now());
                    failure.latency = Some(started.elapsed());
                    self.close(
                        target,
                        &recording,
                        vec![model_request, failure],
                        TurnStatus::Failed,
                        Some(error.to_string()),
                        Some(0),
                    )
                    .await;
                    return Err((true, error));
                }
            };
            let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
            let task = StreamTask {
                gateway: self.clone(),
                target: target.clone(),
                recording,
                relay: StreamRelay::new(
                    RelaySettings {
                        mode: target.route.spec.streaming.output_checks,
                        check_every_chars: target.route.spec.streaming.check_every_chars as usize,
                        forward_usage: info.include_usage,
                        unmask: target.trust.settings.unmask_answer,
                    },
                    restorers,
                ),
                sender,
                model_request,
                estimate,
                principal,
                started,
            };
            tokio::spawn(task.run(stream));
            return Ok(ChatAnswer::Stream(receiver));
        }

        let answer = client.chat_completion(request).await;
        let latency = started.elapsed();
        let mut answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                let error = GatewayError::from_upstream(error, target.timeout());
                let mut failure = failure_step("model", &error.to_string(), self.now());
                failure.latency = Some(latency);
                self.close(
                    target,
                    &recording,
                    vec![model_request, failure],
                    TurnStatus::Failed,
                    Some(error.to_string()),
                    Some(0),
                )
                .await;
                return Err((true, error));
            }
        };
        let texts = wire::answer_texts(&answer);
        let (prompt, completion) = wire::usage_of(&answer).unwrap_or_else(|| {
            let chars: usize = texts
                .contents
                .iter()
                .chain(&texts.arguments)
                .map(String::len)
                .sum();
            (estimate.prompt_tokens, (chars as u64).div_ceil(4))
        });
        let mut response = self
            .response_step(
                target,
                &texts.contents,
                prompt,
                completion,
                latency,
                &answer,
            )
            .await;
        response.payload.insert(
            "usage_reported".into(),
            Value::from(wire::usage_of(&answer).is_some()),
        );
        let mut closing = vec![model_request, response];
        let mut checks = Vec::new();
        let mut output_violations: Violations = Vec::new();
        // The answer's text as output, then its tool-call arguments as tool arguments.
        let answer_texts = (texts.contents.iter().map(|text| (RuleStage::Output, text))).chain(
            texts
                .arguments
                .iter()
                .map(|text| (RuleStage::ToolArgs, text)),
        );
        for (stage, text) in answer_texts {
            let screening = screener
                .screen(
                    text,
                    stage,
                    Channel::User,
                    &mut mask,
                    &mut checks,
                    self.now(),
                )
                .await;
            match screening {
                Ok(screening) => output_violations.extend(
                    screening
                        .violations
                        .into_iter()
                        .map(|v| (stage, Channel::User, v)),
                ),
                Err(error) => {
                    return Err((
                        true,
                        self.fail_after_answer(
                            target, &recording, closing, error, prompt, completion,
                        )
                        .await,
                    ));
                }
            }
        }
        closing.append(&mut checks);
        closing.extend(violation_drafts(&output_violations, self.now()));
        let spent = i64::try_from(prompt.saturating_add(completion)).unwrap_or(i64::MAX);
        if output_violations
            .iter()
            .any(|(_, _, v)| v.action == GuardAction::Block)
        {
            let (message, guardrails) = block_reason("the answer", &output_violations);
            let error = GatewayError::Blocked {
                message,
                guardrails,
            };
            self.close(
                target,
                &recording,
                closing,
                TurnStatus::Halted,
                Some(error.to_string()),
                Some(spent),
            )
            .await;
            return Err((true, error));
        }
        if target.trust.settings.unmask_answer {
            restore_answer(&mut answer, &restorers);
        }
        self.close(
            target,
            &recording,
            closing,
            TurnStatus::Completed,
            None,
            Some(spent),
        )
        .await;
        Ok(ChatAnswer::Complete(answer))
    }

    async fn fail_after_answer(
        &self,
        target: &Target,
        recording: &Recording,
        closing: Vec<Draft>,
        error: GatewayError,
        prompt: u64,
        completion: u64,
    ) -> GatewayError {
        let spent = i64::try_from(prompt.saturating_add(completion)).unwrap_or(i64::MAX);
        self.close(
            target,
            recording,
            closing,
            TurnStatus::Failed,
            Some(error.to_string()),
            Some(spent),
        )
        .await;
        error
    }

    /// Screens and masks every text of `messages` in place. Violations are collected; an
    /// error is a text that could not be masked (fail closed).
    async fn screen_messages(
        &self,
        screener: &Screener<'_>,
        messages: &mut [Value],
        mask: &mut RequestMask,
        drafts: &mut Vec<Draft>,
        violations: &mut Violations,
    ) -> Result<(), GatewayError> {
        let settings = &screener.trust.settings;
        let redact = settings.pii.enabled && settings.pii.action == GuardAction::Redact;
        let kinds = &settings.pii_kinds;
        let engine = screener.engine();
        for slot in wire::text_slots(messages) {
            let Some(text) = wire::slot_text(messages, &slot).map(str::to_owned) else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            let now = self.now();
            let masked = match (slot.author, slot.kind) {
                (_, SlotKind::Name) => {
                    if redact {
                        mask.mask_name(engine, kinds, &text)
                    } else {
                        Ok(text)
                    }
                }
                _ if slot.is_json() => {
                    if redact {
                        mask.mask_json_text(engine, kinds, &text)
                    } else {
                        Ok(text)
                    }
                }
                (Author::User | Author::Tool, _) => {
                    let (stage, channel) = if slot.author == Author::User {
                        (RuleStage::Input, Channel::User)
                    } else {
                        (RuleStage::ToolResult, Channel::ToolResult)
                    };
                    let screening = screener
                        .screen(&text, stage, channel, mask, drafts, now)
                        .await?;
                    let result = if !redact {
                        Ok(text)
                    } else if slot.author == Author::Tool && looks_like_json(&text) {
                        mask.mask_json_text(engine, kinds, &text)
                    } else {
                        mask.mask_findings(&text, &screening.mask)
                    };
                    violations.extend(
                        screening
                            .violations
                            .into_iter()
                            .map(|violation| (stage, channel, violation)),
                    );
                    result
                }
                (Author::Application | Author::Model, _) => {
                    if redact {
                        mask.mask_detected(engine, kinds, &text)
                    } else {
                        Ok(text)
                    }
                }
            };
            let masked = masked.map_err(|err| masking_failed(&err))?;
            wire::set_slot_text(messages, &slot, masked);
        }
        Ok(())
    }

    /// The `model_response` step of an answer.
    async fn response_step(
        &self,
        target: &Target,
        contents: &[String],
        prompt: u64,
        completion: u64,
        latency: Duration,
        answer: &Value,
    ) -> Draft {
        let mut payload = details([
            (
                "model",
                answer
                    .get("model")
                    .cloned()
                    .unwrap_or_else(|| Value::from(target.binding.model.clone())),
            ),
            (
                "finish_reasons",
                Value::from(
                    answer
                        .get("choices")
                        .and_then(Value::as_array)
                        .map(|choices| {
                            choices
                                .iter()
                                .map(|c| c.get("finish_reason").cloned().unwrap_or(Value::Null))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default(),
                ),
            ),
            ("cost_known", Value::from(target.price().is_some())),
        ]);
        let text = contents.join("\n");
        if !text.is_empty()
            && let Ok(recorded) = self.content(target.tenant_id, &text).await
        {
            payload.insert("text".into(), recorded);
        }
        let mut draft = Draft::new("model_response", payload, self.now());
        draft.input_tokens = i64::try_from(prompt).unwrap_or(i64::MAX);
        draft.output_tokens = i64::try_from(completion).unwrap_or(i64::MAX);
        draft.cost_micros = target.cost_micros(prompt, completion);
        draft.latency = Some(latency);
        draft
    }

    /// Text as the content-privacy setting shows it (a digest by default).
    async fn content(&self, tenant_id: TenantId, text: &str) -> Result<Value, GatewayError> {
        heddle_audit_log::record_content(
            self.identity().vault(),
            tenant_id,
            text,
            self.inner.runtime.content_recording(),
        )
        .await
        .map_err(|err| GatewayError::Unavailable(format!("cannot record content: {err}")))
    }

    /// Opens the execution: session, running turn, `drafts`, and the hold.
    async fn open(
        &self,
        target: &Target,
        recording: &Recording,
        drafts: Vec<Draft>,
        hold: Option<BudgetHold>,
    ) -> Result<HoldOutcome, GatewayError> {
        let identity = self.identity();
        let caller = &recording.caller;
        let execution = &recording.execution;
        let (principal_kind, principal_id) = principal_of(caller);
        let session_event = execution.event(
            identity,
            caller,
            "session.create",
            AuditOutcome::Success,
            details([
                ("route", Value::from(target.route.name.clone())),
                ("origin", Value::from("gateway")),
                ("config_version", Value::from(target.version)),
            ]),
            heddle_types::AuditTarget {
                kind: "session".to_owned(),
                id: execution.session_id.to_string(),
            },
        );
        let open = OpenGatewayExecution {
            session: NewSession {
                id: execution.session_id,
                tenant_id: target.tenant_id,
                environment: target.environment,
                agent: target.route.name.clone(),
                config_version: target.version,
                principal_kind,
                principal_id,
                verified_customer_id: None,
                session_record_id: None,
                channel: SessionChannel::Gateway,
                created_at: drafts.first().map_or_else(|| self.now(), |d| d.at),
            },
            execution_id: execution.execution_id,
            session_audit: heddle_audit_log::prepare_event(&session_event),
            turn_audit: execution.change(
                identity,
                caller,
                "turn.begin",
                details([
                    ("session", Value::from(execution.session_id.to_string())),
                    ("route", Value::from(target.route.name.clone())),
                    ("config_version", Value::from(target.version)),
                ]),
            ),
            steps: drafts
                .into_iter()
                .map(|draft| execution.audited(identity, caller, draft))
                .collect(),
            hold,
        };
        let recorder = &self.inner.recorder;
        // Queued only where nothing hangs on it (no hold) and the writer is known to work.
        let queue_it = open.hold.is_none()
            && self.inner.settings.record == RecordTiming::Batched
            && recorder.is_healthy();
        if queue_it {
            recorder.submit(GatewayWrite::Open(Box::new(open))).await;
            return Ok(HoldOutcome::Held);
        }
        match recorder.write(GatewayWrite::Open(Box::new(open))).await {
            Ok(GatewayWritten::Opened(outcome)) => Ok(outcome),
            Ok(GatewayWritten::Closed) => Err(GatewayError::Unavailable(
                "the record writer answered an open with a close".to_owned(),
            )),
            Err(error) => Err(GatewayError::Unavailable(format!(
                "the request could not be recorded, so it was not sent: {error}"
            ))),
        }
    }

    /// Closes the execution with `drafts` and `status`, settling the hold to `spent` tokens
    /// (the estimate is dropped when `None`: nothing was spent). Queued, not awaited: the
    /// caller's answer does not depend on it. A store failure is logged; the reservation
    /// expires on its own and the sweep closes the execution as interrupted.
    async fn close(
        &self,
        target: &Target,
        recording: &Recording,
        mut drafts: Vec<Draft>,
        status: TurnStatus,
        reason: Option<String>,
        spent_tokens: Option<i64>,
    ) {
        let identity = self.identity();
        let caller = &recording.caller;
        let execution = &recording.execution;
        let mut payload = details([("status", Value::from(status.as_str()))]);
        if let Some(reason) = &reason {
            payload.insert("reason".into(), Value::from(reason.clone()));
        }
        let now = self.now();
        drafts.push(Draft::new("status", payload, now));
        let cost: i64 = drafts.iter().map(|d| d.cost_micros).sum();
        let settle = recording.hold.as_ref().map(|hold| BudgetSettlement {
            id: hold.id,
            scope: hold.scope.clone(),
            window_start: hold.window_start,
            tokens: spent_tokens.unwrap_or(0),
            cost_micros: cost,
        });
        let close = CloseGatewayExecution {
            tenant_id: target.tenant_id,
            session_id: execution.session_id,
            environment: target.environment,
            route: target.route.name.clone(),
            steps: drafts
                .into_iter()
                .map(|draft| execution.audited(identity, caller, draft))
                .collect(),
            status,
            reason: reason.clone(),
            at: now,
            audit: execution.change(
                identity,
                caller,
                &format!("turn.{}", status.as_str()),
                details([
                    ("session", Value::from(execution.session_id.to_string())),
                    ("turn", Value::from(1)),
                    ("reason", reason.map_or(Value::Null, Value::from)),
                ]),
            ),
            settle,
        };
        self.inner
            .recorder
            .submit(GatewayWrite::Close(Box::new(close)))
            .await;
        metrics::counter!("heddle_gateway_requests_total", "route" => target.route.name.clone(), "status" => status.as_str())
            .increment(1);
    }

    /// The upstream client for the target's binding, built once per minute at most.
    async fn upstream(&self, target: &Target) -> Result<Arc<OpenAiPassthrough>, GatewayError> {
        let key = (
            target.tenant_id,
            target.environment,
            target.set.content_hash().to_owned(),
            target.route.name.clone(),
        );
        let cached = self
            .inner
            .upstreams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|(built, _)| built.elapsed() < UPSTREAM_REUSE)
            .map(|(_, client)| Arc::clone(client));
        if let Some(client) = cached {
            return Ok(client);
        }
        let (mut http, api_key) = self
            .inner
            .runtime
            .openai_endpoint(
                target.tenant_id,
                target.environment,
                &target.binding,
                "route",
            )
            .await
            .map_err(|err| {
                GatewayError::UpstreamFailed(format!(
                    "the route's model binding `{}` cannot be used: {err}",
                    target.route.spec.model
                ))
            })?;
        http.timeout = target.timeout();
        let client = OpenAiPassthrough::new(PassthroughConfig {
            name: target.route.spec.model.clone(),
            http,
            api_key,
        })
        .map(Arc::new)
        .map_err(|err| GatewayError::UpstreamFailed(err.to_string()))?;
        let mut upstreams = self
            .inner
            .upstreams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if upstreams.len() > 1024 {
            upstreams.clear();
        }
        upstreams.insert(key, (Instant::now(), Arc::clone(&client)));
        Ok(client)
    }

    /// The route of a request: a pinned key's own, else the one `model` names in the
    /// environment (`Heddle-Environment`, else the default); then Cedar `use_route`.
    async fn resolve(
        &self,
        caller: &Caller,
        environment: Option<Environment>,
        model: Option<&str>,
    ) -> Result<Target, GatewayError> {
        let principal = principal(caller)?;
        let tenant_id = principal.tenant_id;
        let (environment, name) = match &principal.route {
            Some(pin) => {
                if environment.is_some_and(|asked| asked != pin.environment) {
                    return Err(GatewayError::Forbidden(format!(
                        "this API key is pinned to route `{}` in `{}`; it cannot use another \
                         environment",
                        pin.route, pin.environment
                    )));
                }
                (pin.environment, pin.route.clone())
            }
            None => {
                let environment = environment.unwrap_or(self.inner.settings.default_environment);
                let name = model.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
                    GatewayError::invalid(
                        "you must provide a model parameter: the name of a Heddle route",
                        Some("model".into()),
                    )
                })?;
                (environment, name.to_owned())
            }
        };
        let (version, set) = self
            .configuration(tenant_id, environment)
            .await
            .map_err(|err| match err {
                heddle_runtime::RuntimeError::Refused(_)
                | heddle_runtime::RuntimeError::NotFound { .. } => GatewayError::RouteNotFound(
                    format!("no configuration is applied to `{environment}`, so it has no routes"),
                ),
                other => GatewayError::from(other),
            })?;
        if principal.route.is_some()
            && let Some(asked) = model
            && asked != name
            && set.route(asked).is_some()
        {
            return Err(GatewayError::Forbidden(format!(
                "this API key is pinned to route `{name}`; it cannot use route `{asked}`"
            )));
        }
        let route = set.route(&name).cloned().ok_or_else(|| {
            GatewayError::RouteNotFound(format!(
                "The model `{name}` does not exist or you do not have access to it: no route of \
                 that name is applied to `{environment}`."
            ))
        })?;
        self.authorize_route(caller, tenant_id, environment, &name)
            .await?;
        let binding = set
            .model_binding(&route.spec.model)
            .map(|b| b.spec.clone())
            .ok_or_else(|| {
                GatewayError::Unavailable(format!(
                    "route `{name}` names model binding `{}`, which its configuration lacks",
                    route.spec.model
                ))
            })?;
        let trust =
            self.inner
                .runtime
                .compiled_trust(&set, &format!("route:{name}"), &route.spec.trust)?;
        Ok(Target {
            tenant_id,
            environment,
            version,
            set,
            route,
            binding,
            trust,
        })
    }

    async fn authorize_route(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        name: &str,
    ) -> Result<(), GatewayError> {
        let resource = Resource::Route {
            tenant_id,
            environment,
            name: name.to_owned(),
        };
        match self
            .identity()
            .authorize(&caller.actor, Action::UseRoute, resource)
            .await
        {
            Ok(()) => Ok(()),
            Err(IdentityError::Forbidden { action }) => {
                let event = heddle_types::AuditEvent {
                    tenant_id,
                    environment: Some(environment.as_str().to_owned()),
                    actor: caller.audit_actor(),
                    action: "gateway.use_route".to_owned(),
                    target: Some(heddle_types::AuditTarget {
                        kind: "route".to_owned(),
                        id: name.to_owned(),
                    }),
                    outcome: AuditOutcome::Denied,
                    request: caller.request.clone(),
                    duration_ms: None,
                    occurred_at: self.now(),
                    details: details([("action", Value::from(action.to_string()))]),
                };
                if let Err(error) = self.identity().audit_log().record(&event).await {
                    tracing::error!(error = %error, "gateway refusal not recorded");
                }
                Err(GatewayError::Forbidden(format!(
                    "your role does not allow `use_route` on route `{name}` in `{environment}`; \
                     ask a tenant admin"
                )))
            }
            Err(other) => Err(GatewayError::from(heddle_runtime::RuntimeError::from(
                other,
            ))),
        }
    }

    /// `GET /v1/models`: the routes the caller may use, in OpenAI's list shape.
    pub async fn list_models(
        &self,
        caller: &Caller,
        environment: Option<Environment>,
    ) -> Result<Value, GatewayError> {
        let principal = principal(caller)?;
        let (environment, only) = match &principal.route {
            Some(pin) => (pin.environment, Some(pin.route.clone())),
            None => (
                environment.unwrap_or(self.inner.settings.default_environment),
                None,
            ),
        };
        let set = match self.configuration(principal.tenant_id, environment).await {
            Ok((_, set)) => set,
            Err(heddle_runtime::RuntimeError::Refused(_)) => {
                return Ok(json!({"object": "list", "data": []}));
            }
            Err(other) => return Err(other.into()),
        };
        let mut data = Vec::new();
        for (name, loaded) in &set.routes {
            if only.as_ref().is_some_and(|only| only != name) {
                continue;
            }
            let allowed = self
                .identity()
                .authorize(
                    &caller.actor,
                    Action::UseRoute,
                    Resource::Route {
                        tenant_id: principal.tenant_id,
                        environment,
                        name: name.clone(),
                    },
                )
                .await
                .is_ok();
            if allowed {
                let mut model = json!({
                    "id": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "heddle",
                });
                if let Some(description) = &loaded.doc.spec.description {
                    model["description"] = Value::from(description.clone());
                }
                data.push(model);
            }
        }
        Ok(json!({"object": "list", "data": data}))
    }

    /// `POST /v1/embeddings`: the input masked, forwarded to the route's binding, the
    /// vectors returned as they are.
    pub async fn embeddings(
        &self,
        caller: &Caller,
        environment: Option<Environment>,
        body: &[u8],
    ) -> Outcome<Value> {
        let mut request = match parse_body(body) {
            Ok(request) => request,
            Err(error) => return Outcome::failed(error),
        };
        let inputs = match wire::embedding_inputs(&request) {
            Ok(inputs) => inputs,
            Err(invalid) => {
                return Outcome::failed(GatewayError::invalid(invalid.message, invalid.param));
            }
        };
        let model = request
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let target = match self.resolve(caller, environment, model.as_deref()).await {
            Ok(target) => target,
            Err(error) => return Outcome::failed(error),
        };
        let limit = target.route.spec.limits.max_request_bytes;
        if body.len() > limit as usize {
            return Outcome::failed(GatewayError::TooLarge { limit });
        }
        let execution_id = ExecutionId::new();
        let result = self
            .serve_embeddings(caller, &target, &mut request, inputs, execution_id)
            .await;
        Outcome {
            execution_id: result
                .as_ref()
                .err()
                .map_or(Some(execution_id), |(recorded, _)| {
                    recorded.then_some(execution_id)
                }),
            result: result.map_err(|(_, error)| error),
        }
    }

    async fn serve_embeddings(
        &self,
        caller: &Caller,
        target: &Target,
        request: &mut Value,
        inputs: Vec<String>,
        execution_id: ExecutionId,
    ) -> Result<Value, (bool, GatewayError)> {
        let not_recorded = |error| (false, error);
        let started_at = self.now();
        let settings = &target.trust.settings;
        let redact = settings.pii.enabled && settings.pii.action == GuardAction::Redact;
        let engine = self.inner.runtime.trust_engine();
        let mut mask = RequestMask::fresh()
            .map_err(|err| not_recorded(GatewayError::Unavailable(err.to_string())))?;
        let mut masked = Vec::with_capacity(inputs.len());
        let mut failure = None;
        for input in &inputs {
            if !redact {
                masked.push(input.clone());
                continue;
            }
            match mask.mask_detected(engine, &settings.pii_kinds, input) {
                Ok(text) => masked.push(text),
                Err(err) => {
                    failure = Some(masking_failed(&err));
                    break;
                }
            }
        }
        let recording = Recording {
            execution: Execution {
                tenant_id: target.tenant_id,
                environment: target.environment,
                route: target.route.name.clone(),
                session_id: SessionId::new(),
                execution_id,
            },
            caller: caller.clone(),
            hold: None,
        };
        let content = self
            .content(target.tenant_id, &inputs.join("\n"))
            .await
            .map_err(not_recorded)?;
        let opening = vec![Draft::new(
            "gateway_request",
            details([
                ("endpoint", Value::from("embeddings")),
                ("route", Value::from(target.route.name.clone())),
                ("upstream_model", Value::from(target.binding.model.clone())),
                ("inputs", Value::from(inputs.len())),
                ("masked", Value::from(mask.map().len())),
                ("config_version", Value::from(target.version)),
                ("content", content),
            ]),
            started_at,
        )];
        self.open(target, &recording, opening, None)
            .await
            .map_err(not_recorded)?;
        if let Some(error) = failure {
            self.close(
                target,
                &recording,
                Vec::new(),
                TurnStatus::Halted,
                Some(error.to_string()),
                None,
            )
            .await;
            return Err((true, error));
        }
        let estimate = Estimate::new(masked.iter().map(String::len).sum(), 0);
        if let Err(refusal) = budget::plan(
            &target.route.spec.budgets,
            &target.binding.model,
            target.price(),
            estimate,
        ) {
            let error = GatewayError::BudgetExceeded(refusal.to_string());
            self.close(
                target,
                &recording,
                vec![budget_step(&refusal.to_string(), started_at)],
                TurnStatus::Halted,
                Some(error.to_string()),
                None,
            )
            .await;
            return Err((true, error));
        }
        if let Some(object) = request.as_object_mut() {
            object.insert("input".into(), Value::from(masked));
            object.insert("model".into(), Value::from(target.binding.model.clone()));
        }
        let model_request = Draft::new(
            "model_request",
            details([("model", Value::from(target.binding.model.clone()))]),
            self.now(),
        );
        let client = match self.upstream(target).await {
            Ok(client) => client,
            Err(error) => {
                self.close(
                    target,
                    &recording,
                    vec![model_request],
                    TurnStatus::Failed,
                    Some(error.to_string()),
                    None,
                )
                .await;
                return Err((true, error));
            }
        };
        let started = Instant::now();
        match client.embeddings(request).await {
            Ok(answer) => {
                let prompt = answer
                    .pointer("/usage/prompt_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(estimate.prompt_tokens);
                let mut response = Draft::new(
                    "model_response",
                    details([("model", answer.get("model").cloned().unwrap_or(Value::Null))]),
                    self.now(),
                );
                response.input_tokens = i64::try_from(prompt).unwrap_or(i64::MAX);
                response.cost_micros = target.cost_micros(prompt, 0);
                response.latency = Some(started.elapsed());
                self.close(
                    target,
                    &recording,
                    vec![model_request, response],
                    TurnStatus::Completed,
                    None,
                    None,
                )
                .await;
                Ok(answer)
            }
            Err(error) => {
                let error = GatewayError::from_upstream(error, target.timeout());
                let failure = failure_step("model", &error.to_string(), self.now());
                self.close(
                    target,
                    &recording,
                    vec![model_request, failure],
                    TurnStatus::Failed,
                    Some(error.to_string()),
                    None,
                )
                .await;
                Err((true, error))
            }
        }
    }
}

/// Drives one streamed answer from the upstream to the client and records it.
struct StreamTask {
    gateway: Gateway,
    target: Target,
    recording: Recording,
    relay: StreamRelay,
    sender: mpsc::Sender<String>,
    model_request: Draft,
    estimate: Estimate,
    principal: Value,
    started: Instant,
}

/// How a stream ended.
enum StreamEnd {
    Done,
    Blocked(GatewayError),
    Failed(GatewayError),
    ClientGone,
}

impl StreamTask {
    async fn run(mut self, mut upstream: heddle_providers::EventStream) {
        let mut checks: Vec<Draft> = Vec::new();
        let mut violations: Violations = Vec::new();
        let mut mask = RequestMask::fresh().ok();
        let end = 'stream: loop {
            let event = match upstream.next_event().await {
                Ok(Some(event)) => event,
                Ok(None) => break 'stream None,
                Err(error) => {
                    break 'stream Some(StreamEnd::Failed(GatewayError::from_upstream(
                        error,
                        self.target.timeout(),
                    )));
                }
            };
            match self.relay.accept(&event) {
                Ok(Accepted::Done) => break 'stream Some(StreamEnd::Done),
                Ok(Accepted::Chunk) => {}
                Err(RelayError::Upstream(message)) => {
                    break 'stream Some(StreamEnd::Failed(GatewayError::UpstreamFailed(format!(
                        "the upstream model provider failed mid-stream: {message}"
                    ))));
                }
                Err(RelayError::Malformed(reason)) => {
                    break 'stream Some(StreamEnd::Failed(GatewayError::UpstreamFailed(format!(
                        "the upstream model provider sent a malformed stream: {reason}"
                    ))));
                }
            }
            if let Some(blocked) = self
                .check(false, &mut mask, &mut checks, &mut violations)
                .await
            {
                break 'stream Some(blocked);
            }
            if !self.forward().await {
                break 'stream Some(StreamEnd::ClientGone);
            }
        };
        drop(upstream);
        let end = match end {
            Some(StreamEnd::Done) | None => {
                let saw_done = matches!(end, Some(StreamEnd::Done));
                self.relay.end();
                match self
                    .check(true, &mut mask, &mut checks, &mut violations)
                    .await
                {
                    Some(blocked) => blocked,
                    None if !self.forward().await => StreamEnd::ClientGone,
                    None if saw_done => StreamEnd::Done,
                    None => StreamEnd::Failed(GatewayError::UpstreamFailed(
                        "the upstream model provider ended the stream before it was complete"
                            .to_owned(),
                    )),
                }
            }
            Some(other) => other,
        };
        let (status, reason) = match &end {
            StreamEnd::Done => {
                let _ = self.sender.send("data: [DONE]\n\n".to_owned()).await;
                (TurnStatus::Completed, None)
            }
            StreamEnd::Blocked(error) | StreamEnd::Failed(error) => {
                let event =
                    crate::relay::error_event(&error.to_string(), error.kind(), error.code());
                let _ = self.sender.send(event.to_wire()).await;
                let status = if matches!(end, StreamEnd::Blocked(_)) {
                    TurnStatus::Halted
                } else {
                    TurnStatus::Failed
                };
                (status, Some(error.to_string()))
            }
            StreamEnd::ClientGone => (
                TurnStatus::Failed,
                Some("the client went away before the answer was complete".to_owned()),
            ),
        };
        drop(self.sender);
        let latency = self.started.elapsed();
        let (prompt, completion) = self.relay.usage().unwrap_or((
            self.estimate.prompt_tokens,
            (self.relay.answer_chars() as u64).div_ceil(4),
        ));
        let contents: Vec<String> = self
            .relay
            .masked_texts()
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        let mut response = self
            .gateway
            .response_step(
                &self.target,
                &contents,
                prompt,
                completion,
                latency,
                &Value::Null,
            )
            .await;
        response.payload.insert(
            "usage_reported".into(),
            Value::from(self.relay.usage().is_some()),
        );
        let mut drafts = vec![self.model_request, response];
        drafts.append(&mut checks);
        drafts.extend(violation_drafts(&violations, self.gateway.now()));
        let spent = i64::try_from(prompt.saturating_add(completion)).unwrap_or(i64::MAX);
        self.gateway
            .close(
                &self.target,
                &self.recording,
                drafts,
                status,
                reason,
                Some(spent),
            )
            .await;
    }

    /// Sends what the relay releases; false when the client went away.
    async fn forward(&mut self) -> bool {
        for event in self.relay.release() {
            if self.sender.send(event.to_wire()).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Runs the checks the relay asks for. In the middle of a stream only the local layers
    /// run (a moderation endpoint or a judge per piece would multiply calls); the final check
    /// runs everything.
    async fn check(
        &mut self,
        last: bool,
        mask: &mut Option<RequestMask>,
        drafts: &mut Vec<Draft>,
        violations: &mut Violations,
    ) -> Option<StreamEnd> {
        let due: Vec<CheckItem> = self.relay.checks_due();
        if due.is_empty() {
            return None;
        }
        let Some(mask) = mask.as_mut() else {
            return Some(StreamEnd::Failed(GatewayError::Unavailable(
                "no randomness for masking".to_owned(),
            )));
        };
        let owner = self.target.owner();
        let screener = Screener {
            runtime: &self.gateway.inner.runtime,
            trust: &self.target.trust,
            remote: last,
            set: &self.target.set,
            tenant_id: self.target.tenant_id,
            environment: self.target.environment,
            owner: &owner,
            principal: &self.principal,
        };
        let mut found: Violations = Vec::new();
        for item in &due {
            let stage = match item.stage {
                CheckStage::Answer => RuleStage::Output,
                CheckStage::ToolArguments => RuleStage::ToolArgs,
            };
            match screener
                .screen(
                    &item.text,
                    stage,
                    Channel::User,
                    mask,
                    drafts,
                    self.gateway.now(),
                )
                .await
            {
                Ok(screening) => found.extend(
                    screening
                        .violations
                        .into_iter()
                        .map(|v| (stage, Channel::User, v)),
                ),
                Err(error) => return Some(StreamEnd::Failed(error)),
            }
        }
        // A check of a growing text finds the same violation again; record it once.
        for violation in found {
            let seen = violations.iter().any(|(stage, _, v)| {
                *stage == violation.0
                    && v.guardrail == violation.2.guardrail
                    && v.detail == violation.2.detail
            });
            if !seen {
                violations.push(violation);
            }
        }
        if violations
            .iter()
            .any(|(_, _, v)| v.action == GuardAction::Block)
        {
            let (message, guardrails) = block_reason("the answer", violations);
            return Some(StreamEnd::Blocked(GatewayError::Blocked {
                message,
                guardrails,
            }));
        }
        self.relay.checked(&due);
        None
    }
}

/// Everything in the request's messages a person or application wrote, for the digest.
fn request_text(request: &Value) -> String {
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return String::new();
    };
    wire::text_slots(messages)
        .iter()
        .filter_map(|slot| wire::slot_text(messages, slot))
        .collect::<Vec<_>>()
        .join("\n")
}

fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().chars().next(), Some('{' | '['))
}

/// The body the upstream gets: the route's upstream model, a completion limit when the
/// client set none (the budget's bound), and the usage chunk for streams.
fn prepare_upstream_body(request: &mut Value, target: &Target, info: &wire::ChatRequestInfo) {
    let Some(object) = request.as_object_mut() else {
        return;
    };
    object.insert("model".into(), Value::from(target.binding.model.clone()));
    if info.max_tokens.is_none() {
        let field = match target.binding.provider {
            Provider::Openai => "max_completion_tokens",
            _ => "max_tokens",
        };
        object.insert(
            field.into(),
            Value::from(target.route.spec.limits.default_max_tokens),
        );
    }
    if info.stream {
        let options = object
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), Value::Bool(true));
        } else {
            *options = json!({"include_usage": true});
        }
    }
}

/// Restores placeholders in a whole answer: values as they are in text, JSON-escaped in
/// tool-call arguments; never secrets.
fn restore_answer(answer: &mut Value, restorers: &Restorers) {
    let policy = UnmaskPolicy::all_but_secrets();
    let text_map = Arc::clone(&restorers.text);
    let json_map = restorers.json.clone();
    wire::rewrite_answer(
        answer,
        &|text| unmask_text(text, &text_map, &policy),
        &|text| match &json_map {
            Some(map) => unmask_text(text, map, &policy),
            None => text.to_owned(),
        },
    );
}

fn principal(caller: &Caller) -> Result<&Principal, GatewayError> {
    match &caller.actor {
        Actor::Principal(principal) => Ok(principal),
        Actor::LocalOperator => Err(GatewayError::Forbidden(
            "the gateway serves authenticated principals only".to_owned(),
        )),
    }
}

fn principal_of(caller: &Caller) -> (String, String) {
    match &caller.actor {
        Actor::Principal(p) => (
            match p.kind {
                PrincipalKind::User => "user".to_owned(),
                PrincipalKind::ApiKey => "api_key".to_owned(),
            },
            p.id.to_string(),
        ),
        Actor::LocalOperator => ("local_operator".to_owned(), String::new()),
    }
}

/// What custom rules see of the principal: kind, id and role, never a name.
fn principal_json(caller: &Caller) -> Value {
    match &caller.actor {
        Actor::Principal(p) => json!({
            "kind": match p.kind {
                PrincipalKind::User => "user",
                PrincipalKind::ApiKey => "api_key",
            },
            "id": p.id.to_string(),
            "role": p.role.as_str(),
            "verified_customer": false,
        }),
        Actor::LocalOperator => json!({"kind": "local_operator"}),
    }
}

fn budget_scope(target: &Target) -> String {
    format!("route/{}/{}", target.environment, target.route.name)
}

fn budget_step(reason: &str, at: OffsetDateTime) -> Draft {
    Draft::new(
        "budget_exceeded",
        details([("reason", Value::from(reason.to_owned()))]),
        at,
    )
}

fn failure_step(stage: &str, error: &str, at: OffsetDateTime) -> Draft {
    Draft::new(
        "failure",
        details([
            ("stage", Value::from(stage.to_owned())),
            ("error", Value::from(error.to_owned())),
        ]),
        at,
    )
}

fn start_of_day(now: OffsetDateTime) -> OffsetDateTime {
    now.to_offset(time::UtcOffset::UTC)
        .replace_time(time::Time::MIDNIGHT)
}

impl std::fmt::Debug for StreamTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTask").finish_non_exhaustive()
    }
}

/// A request body as JSON, or the error OpenAI answers for one that is not.
fn parse_body(body: &[u8]) -> Result<Value, GatewayError> {
    serde_json::from_slice(body).map_err(|err| {
        GatewayError::invalid(
            format!("We could not parse the JSON body of your request: {err}."),
            None,
        )
    })
}

fn interrupted_execution(stale: StaleGatewayExecution) -> Execution {
    Execution {
        tenant_id: stale.tenant_id,
        environment: stale.environment,
        route: stale.route,
        session_id: stale.session_id,
        execution_id: stale.execution_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_starts_at_midnight_utc() {
        let at = time::macros::datetime!(2026-05-04 17:30:00 +02:00);
        assert_eq!(
            start_of_day(at),
            time::macros::datetime!(2026-05-04 00:00:00 UTC)
        );
    }
}
