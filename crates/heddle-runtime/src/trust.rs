//! The trust layers inside a turn (the pure layers are `heddle_trust`'s):
//!
//! - the person's message is screened (injection, content, custom rules) and its personal
//!   data masked to session-stable placeholders before any model sees it;
//! - a tool call's arguments get the real values back before the contract check, but only
//!   where policy lets that capability receive them (`unmask_arguments`; side effects are
//!   refused by default) and never a secret;
//! - a tool result is screened as indirect input: withheld when it carries an injection,
//!   otherwise masked (fields the record org classifies as PII by field, the rest by
//!   detection) and datamarked as data;
//! - the answer is screened (content, rules) and unmasked for the person who asked.
//!
//! Every violation is a `guardrail` step with its audit event. The mask map is sealed with
//! the session (its own vault scope) in the step that changed it, so the next turn, another
//! process, or a resumed turn continues the same placeholders; it is read back only from
//! the turns that enter the conversation.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heddle_agents::{Agent, Capability, ConfigSet};
use heddle_providers::Embedder;
use heddle_providers::{ChatRequest, Message, ToolCall};
use heddle_records::{DataClassification, FieldType, ObjectDef};
use heddle_trust::config::FailureMode;
use heddle_trust::mask::{
    MaskKey, MaskMap, UnmaskPolicy, mask_json, mask_text, unmask_json, unmask_text,
};
use heddle_trust::pii::NameDictionary;
use heddle_trust::pipeline::GuardrailKind;
use heddle_trust::pipeline::{AgentTrust, ScreenInput, Screening, TrustEngine, Violation};
use heddle_trust::rules::{RuleStage, judge_prompt, parse_judge_answer};
use heddle_trust::{
    Channel, ContentScores, DriftBaseline, DriftCheck, DriftVerdict, DriftWindow, EntityKind,
    GuardAction, Severity, parse_moderation_response,
};
use heddle_types::{Action, Environment, Resource, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::conversation::{TRANSCRIPT_KEY, read_history};
use crate::events::details;
use crate::providers::{embedder_for, moderation_for, provider_for};
use crate::tools::Refusal;
use crate::turn::{StepRecord, TurnRun};
use crate::{Runtime, RuntimeError, RuntimeResult};

/// The payload key holding the sealed mask map of the step that changed it; never returned by
/// the API or written to the audit log.
pub(crate) const MASK_STATE_KEY: &str = "mask_state";
const MASK_PURPOSE: &str = "session-mask-map";
/// Compiled agent trust settings kept per process, keyed by configuration hash and agent.
const AGENT_TRUST_CACHE: usize = 256;

/// The detectors and the compiled per-agent settings of one process.
#[derive(Debug, Default)]
pub(crate) struct TrustCache {
    pub(crate) engine: TrustEngine,
    agents: Mutex<HashMap<(String, String), Arc<AgentTrust>>>,
}

impl Runtime {
    /// The agent's compiled trust settings; compiled once per configuration version.
    pub(crate) fn agent_trust(
        &self,
        set: &ConfigSet,
        agent: &Agent,
    ) -> RuntimeResult<Arc<AgentTrust>> {
        self.compiled_trust(set, &agent.name, &agent.spec.trust)
    }

    /// Trust settings compiled once per configuration version and owner (an agent's name,
    /// or `route:<name>` for a gateway route).
    pub fn compiled_trust(
        &self,
        set: &ConfigSet,
        owner: &str,
        spec: &heddle_trust::config::TrustSpec,
    ) -> RuntimeResult<Arc<AgentTrust>> {
        let key = (set.content_hash().to_owned(), owner.to_owned());
        let cache = &self.inner.trust;
        if let Some(found) = cache
            .agents
            .lock()
            .ok()
            .and_then(|map| map.get(&key).cloned())
        {
            return Ok(found);
        }
        // A loaded set was checked already; a failure here is a stored set this build reads
        // differently, and nothing may run unguarded.
        let compiled = AgentTrust::compile(spec)
            .map(Arc::new)
            .map_err(|problems| {
                RuntimeError::Unavailable(format!(
                    "the trust settings of `{owner}` do not compile: {}",
                    problems.join("; ")
                ))
            })?;
        if let Ok(mut map) = cache.agents.lock() {
            if map.len() >= AGENT_TRUST_CACHE {
                map.clear();
            }
            map.insert(key, Arc::clone(&compiled));
        }
        Ok(compiled)
    }

    /// The detectors of this process (PII, injection, content), built once.
    pub fn trust_engine(&self) -> &TrustEngine {
        &self.inner.trust.engine
    }

    /// One LLM-judge rule over an already masked text: the configured model answers YES or
    /// NO within the rule's timeout. `None` (no answer: a missing binding, an error, a
    /// timeout, anything but YES or NO) leaves the rule's failure mode to decide; the
    /// response, when there was one, carries the call's usage.
    pub async fn ask_judge(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        set: &ConfigSet,
        judge: &heddle_trust::rules::JudgeRequest,
        masked: &str,
    ) -> (Option<bool>, Option<heddle_providers::ChatResponse>) {
        let Some(binding) = set.model_binding(&judge.model).map(|b| b.spec.clone()) else {
            return (None, None);
        };
        let Ok(provider) = provider_for(
            self.identity(),
            &self.settings().providers,
            tenant_id,
            environment,
            &binding,
            0,
        )
        .await
        else {
            return (None, None);
        };
        let (system, user) = judge_prompt(&judge.rubric, masked);
        let request = ChatRequest {
            model: binding.model.clone(),
            system: Some(system),
            messages: vec![Message::user(user)],
            tools: Vec::new(),
            max_tokens: 8,
            temperature: Some(0.0),
        };
        let answer = tokio::time::timeout(
            Duration::from_millis(judge.timeout_ms),
            provider.chat(&request),
        )
        .await;
        match answer {
            Ok(Ok(response)) => (parse_judge_answer(&response.content), Some(response)),
            Ok(Err(_)) | Err(_) => (None, None),
        }
    }

    /// Content scores for an already masked text from the moderation endpoint of the
    /// binding named `binding`; the error says why there are none (the local classifier
    /// then decides).
    pub async fn moderate(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        set: &ConfigSet,
        binding: &str,
        masked: &str,
    ) -> Result<ContentScores, String> {
        let Some(binding_spec) = set.model_binding(binding).map(|b| b.spec.clone()) else {
            return Err(format!("no model binding `{binding}`"));
        };
        let client = moderation_for(
            self.identity(),
            &self.settings().providers,
            tenant_id,
            environment,
            &binding_spec,
        )
        .await
        .map_err(|err| err.reason())?;
        let body = client
            .moderate(&[masked.to_owned()])
            .await
            .map_err(|err| err.to_string())?;
        parse_moderation_response(&body).map_err(|err| err.to_string())
    }
}

/// An agent's drift state as stored: the baseline and the recent answers' embeddings.
#[derive(Debug, Default, Serialize, Deserialize)]
struct DriftRecord {
    baseline: Option<DriftBaseline>,
    #[serde(default)]
    recent: Vec<Vec<f32>>,
}

/// What the session's mask map is sealed as.
#[derive(Serialize, Deserialize)]
struct MaskState {
    /// The per-session key of the map's index, so nothing in one session's map links to
    /// another session's, let alone another tenant's.
    key: String,
    map: MaskMap,
}

/// One turn's trust state.
pub(crate) struct TurnTrust {
    pub(crate) agent: Arc<AgentTrust>,
    key: MaskKey,
    key_hex: String,
    pub(crate) map: MaskMap,
    names: NameDictionary,
    dirty: bool,
    /// The PII-classified fields of each object this turn's results held, looked up once.
    classified: BTreeMap<String, BTreeMap<String, EntityKind>>,
}

impl std::fmt::Debug for TurnTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnTrust")
            .field("entries", &self.map.len())
            .finish_non_exhaustive()
    }
}

impl TurnTrust {
    fn rebuild_names(&mut self) {
        self.names = NameDictionary::from_names(self.map.values_of(EntityKind::Person));
    }
}

/// How a screened text goes on.
pub(crate) enum Screened {
    /// Masked (inbound) or unmasked (the answer) text.
    Pass(String),
    /// Withheld; the reason names the guardrails, never the text.
    Blocked(String),
}

impl TurnRun {
    /// Opens the session's mask map from the newest sealed state the conversation holds, or
    /// starts one.
    pub(crate) async fn load_trust(&mut self, sealed: Option<&Value>) -> RuntimeResult<()> {
        let agent = self.runtime.agent_trust(&self.set, &self.agent)?;
        let state = match sealed {
            Some(entry) => Some(self.open_mask_state(entry).await?),
            None => None,
        };
        let (key_hex, map) = match state {
            Some(state) => (state.key, state.map),
            None => {
                let bytes = heddle_crypto::random_bytes(32)
                    .map_err(|err| RuntimeError::Unavailable(format!("no randomness: {err}")))?;
                (heddle_crypto::hex_encode(bytes), MaskMap::new())
            }
        };
        let key_bytes: [u8; 32] = heddle_crypto::hex_decode_array(&key_hex).map_err(|_| {
            RuntimeError::Unavailable("the session's mask state is malformed".to_owned())
        })?;
        let mut trust = TurnTrust {
            agent,
            key: MaskKey::from_bytes(key_bytes),
            key_hex,
            map,
            names: NameDictionary::empty(),
            // A new map is sealed only once something is in it.
            dirty: false,
            classified: BTreeMap::new(),
        };
        trust.rebuild_names();
        self.trust = Some(trust);
        Ok(())
    }

    /// Loads the trust state outside [`TurnRun::run`] (a held call's result delivered by a
    /// runner) from the conversation as it stands.
    pub(crate) async fn ensure_trust(&mut self) -> RuntimeResult<()> {
        if self.trust.is_some() {
            return Ok(());
        }
        // Direct calls keep no conversation and no mask map between calls.
        if self.is_direct() {
            return self.load_trust(None).await;
        }
        let history = read_history(
            self.runtime.store(),
            &self.keys,
            self.tenant_id(),
            self.session.id,
            self.turn,
            true,
        )
        .await?;
        self.load_trust(history.mask_state.as_ref()).await
    }

    fn trust_state(&self) -> RuntimeResult<&TurnTrust> {
        self.trust
            .as_ref()
            .ok_or_else(|| RuntimeError::Unavailable("the trust layers were not loaded".into()))
    }

    fn trust_state_mut(&mut self) -> RuntimeResult<&mut TurnTrust> {
        self.trust
            .as_mut()
            .ok_or_else(|| RuntimeError::Unavailable("the trust layers were not loaded".into()))
    }

    /// The sealed mask map for a step's payload when this turn changed it.
    pub(crate) async fn mask_state_entry(&mut self) -> RuntimeResult<Option<Value>> {
        let trust = self.trust_state()?;
        if !trust.dirty {
            return Ok(None);
        }
        let state = MaskState {
            key: trust.key_hex.clone(),
            map: trust.map.clone(),
        };
        let plaintext = serde_json::to_vec(&state).map_err(|err| {
            RuntimeError::Unavailable(format!("cannot encode the mask map: {err}"))
        })?;
        let entry = uuid::Uuid::now_v7().to_string();
        let sealed = self
            .keys
            .seal(
                MASK_PURPOSE,
                &format!("{}/{entry}", self.session.id),
                &plaintext,
            )
            .await?;
        self.trust_state_mut()?.dirty = false;
        Ok(Some(json!({
            "entry": entry,
            "key_version": sealed.data_key_version,
            "ciphertext": heddle_crypto::base64_encode(&sealed.ciphertext),
        })))
    }

    async fn open_mask_state(&self, entry: &Value) -> RuntimeResult<MaskState> {
        let corrupt = || RuntimeError::Unavailable("the session's mask state is malformed".into());
        let id = entry
            .get("entry")
            .and_then(Value::as_str)
            .ok_or_else(corrupt)?;
        let version = entry
            .get("key_version")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(corrupt)?;
        let ciphertext = entry
            .get("ciphertext")
            .and_then(Value::as_str)
            .and_then(|text| heddle_crypto::base64_decode(text).ok())
            .ok_or_else(corrupt)?;
        let plaintext = self
            .keys
            .open(
                MASK_PURPOSE,
                &format!("{}/{id}", self.session.id),
                &heddle_vault::Sealed {
                    data_key_version: version,
                    ciphertext,
                },
            )
            .await?;
        serde_json::from_slice(heddle_crypto::ExposeSecret::expose_secret(&plaintext))
            .map_err(|_| corrupt())
    }

    /// What custom rules see of the principal: kind, id and role, never a name.
    fn principal_json(&self) -> Value {
        match &self.caller.actor {
            heddle_identity::Actor::Principal(p) => json!({
                "kind": match p.kind {
                    heddle_types::PrincipalKind::User => "user",
                    heddle_types::PrincipalKind::ApiKey => "api_key",
                },
                "id": p.id.to_string(),
                "role": p.role.as_str(),
                "verified_customer": self.session.verified_customer_id.is_some(),
            }),
            heddle_identity::Actor::LocalOperator => json!({"kind": "local_operator"}),
        }
    }

    /// Screens one text and runs the judges it asks for. Returns the screening with every
    /// violation already recorded.
    async fn screen(
        &mut self,
        text: &str,
        stage: RuleStage,
        channel: Channel,
        capability: Option<&Value>,
    ) -> RuntimeResult<Screening> {
        let principal = self.principal_json();
        let moderated = match stage {
            RuleStage::Input | RuleStage::Output => self.moderate(text).await?,
            RuleStage::ToolArgs | RuleStage::ToolResult => None,
        };
        let trust = self.trust_state()?;
        let agent = Arc::clone(&trust.agent);
        let mut screening = self.runtime.trust_engine().screen(
            &agent,
            &ScreenInput {
                text,
                stage,
                channel,
                names: &trust.names,
                principal: &principal,
                capability,
                agent: &self.agent.name,
                content_scores: moderated.as_ref(),
            },
        );
        for judge in std::mem::take(&mut screening.judges) {
            let verdict = self.ask_judge(&judge, text).await?;
            screening.judged(&judge, verdict);
        }
        Ok(screening)
    }

    /// Records every violation of a screening as a `guardrail` step (after the step of what
    /// was screened, so the record reads in order).
    pub(crate) async fn record_violations(
        &mut self,
        stage: RuleStage,
        channel: Channel,
        screening: &Screening,
    ) -> RuntimeResult<()> {
        for violation in &screening.violations {
            self.record_violation(stage, channel, violation).await?;
        }
        Ok(())
    }

    /// One LLM-judge rule: the configured model answers YES or NO about the masked text
    /// within the rule's timeout; anything else is `None` and the failure mode decides.
    async fn ask_judge(
        &mut self,
        judge: &heddle_trust::rules::JudgeRequest,
        text: &str,
    ) -> RuntimeResult<Option<bool>> {
        let masked = self.masked_copy(text)?;
        let Some(model) = self
            .set
            .model_binding(&judge.model)
            .map(|b| b.spec.model.clone())
        else {
            return Ok(None);
        };
        let (verdict, usage) = self
            .runtime
            .ask_judge(
                self.tenant_id(),
                self.session.environment,
                &self.set,
                judge,
                &masked,
            )
            .await;
        let mut step = StepRecord::new(
            "guardrail_judge",
            details([
                ("rule", Value::from(judge.rule.clone())),
                ("model", Value::from(model)),
                (
                    "verdict",
                    verdict.map_or(Value::from("no_answer"), |v| {
                        Value::from(if v { "yes" } else { "no" })
                    }),
                ),
            ]),
        );
        if let Some(response) = usage {
            step.usage = heddle_store::UsageTotals {
                input_tokens: i64::try_from(response.usage.input_tokens).unwrap_or(i64::MAX),
                output_tokens: i64::try_from(response.usage.output_tokens).unwrap_or(i64::MAX),
                cost_micros: response
                    .estimated_cost_usd
                    .map_or(0, crate::budget::usd_to_micros),
            };
            step.latency = Some(response.latency);
            self.spent.add(step.usage);
        }
        self.record(step).await?;
        Ok(verdict)
    }

    /// Content scores from the agent's moderation endpoint for the masked text; `None` (the
    /// local classifier decides) when none is configured or it failed, which is recorded.
    async fn moderate(&mut self, text: &str) -> RuntimeResult<Option<ContentScores>> {
        let trust = self.trust_state()?;
        let Some(name) = trust.agent.settings.moderation.clone() else {
            return Ok(None);
        };
        if !trust.agent.settings.content.enabled {
            return Ok(None);
        }
        let masked = self.masked_copy(text)?;
        let answer = self
            .runtime
            .moderate(
                self.tenant_id(),
                self.session.environment,
                &self.set,
                &name,
                &masked,
            )
            .await;
        let (source, error, scores) = match answer {
            Ok(scores) => ("endpoint", None, Some(scores)),
            Err(error) => ("local_fallback", Some(error), None),
        };
        let mut payload = details([
            ("binding", Value::from(name)),
            ("source", Value::from(source)),
        ]);
        if let Some(error) = error {
            payload.insert("error".to_owned(), Value::from(error));
        }
        self.record(StepRecord::new("guardrail_moderation", payload))
            .await?;
        Ok(scores)
    }

    /// Drift of the agent's answers: the masked answer's embedding joins the baseline until
    /// it is big enough, then a window of recent answers whose mean is compared with it.
    /// A drifted window is a violation with the configured action; an embedder that cannot
    /// run decides by the drift failure mode.
    async fn check_drift(&mut self, answer: &str) -> RuntimeResult<Option<Violation>> {
        let Some(spec) = self.trust_state()?.agent.settings.drift.clone() else {
            return Ok(None);
        };
        let failed = |reason: String| {
            Some(Violation {
                guardrail: GuardrailKind::Drift,
                detail: reason,
                severity: Severity::Medium,
                action: match spec.failure_mode {
                    FailureMode::Closed => GuardAction::Block,
                    FailureMode::Open => GuardAction::Warn,
                },
                excerpt: String::new(),
                failed: true,
            })
        };
        let embedder: Arc<dyn Embedder> = if spec.embedder == "local" {
            match self.runtime.settings().local_embedder.clone() {
                Some(embedder) => embedder,
                None => {
                    return Ok(failed(
                        "no local embedding model is configured (`[runtime] minilm_dir`)".into(),
                    ));
                }
            }
        } else {
            let Some(binding) = self
                .set
                .model_binding(&spec.embedder)
                .map(|b| b.spec.clone())
            else {
                return Ok(failed(format!("no model binding `{}`", spec.embedder)));
            };
            match embedder_for(
                self.runtime.identity(),
                &self.runtime.settings().providers,
                self.tenant_id(),
                self.session.environment,
                &binding,
            )
            .await
            {
                Ok(embedder) => embedder,
                Err(err) => return Ok(failed(err.reason())),
            }
        };
        let vector = match embedder.embed(&[answer.to_owned()]).await {
            Ok(mut vectors) if vectors.len() == 1 => vectors.remove(0),
            Ok(_) => return Ok(failed("the embedder answered out of shape".into())),
            Err(err) => return Ok(failed(format!("the embedder failed: {err}"))),
        };
        let store = self.runtime.store().clone();
        let (tenant, environment) = (self.tenant_id(), self.session.environment);
        let stored = store
            .get_drift_state(tenant, environment, &self.agent.name)
            .await?;
        let version = stored.as_ref().map(|s| s.version);
        let mut state: DriftRecord = stored
            .and_then(|s| serde_json::from_value(s.state).ok())
            .unwrap_or_default();
        let check = DriftCheck {
            threshold: spec.threshold,
            min_baseline: u64::from(spec.min_baseline),
        };
        let verdict = match &mut state.baseline {
            Some(baseline) if baseline.count() >= check.min_baseline => {
                state.recent.push(vector);
                let excess = state.recent.len().saturating_sub(spec.window as usize);
                state.recent.drain(..excess);
                let mut window = DriftWindow::new(spec.window as usize, baseline.dimension())
                    .map_err(|err| RuntimeError::Unavailable(err.to_string()))?;
                for sample in &state.recent {
                    if window.push(sample).is_err() {
                        return Ok(failed("a stored drift sample has another dimension".into()));
                    }
                }
                Some(check.assess_window(baseline, &window))
            }
            Some(baseline) => {
                if baseline.add_sample(&vector).is_err() {
                    return Ok(failed(
                        "the answer's embedding has another dimension".into(),
                    ));
                }
                None
            }
            None => {
                state.baseline = DriftBaseline::from_samples(std::slice::from_ref(&vector)).ok();
                None
            }
        };
        let encoded = serde_json::to_value(&state).map_err(|err| {
            RuntimeError::Unavailable(format!("cannot encode drift state: {err}"))
        })?;
        // A concurrent answer updated it first: this sample is dropped, the next one counts.
        match store
            .put_drift_state(
                tenant,
                environment,
                &self.agent.name,
                &encoded,
                version,
                self.runtime.identity().now(),
            )
            .await
        {
            Ok(_) | Err(heddle_store::StoreError::Conflict { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        Ok(match verdict {
            Some(DriftVerdict::Drifted { distance }) => Some(Violation {
                guardrail: GuardrailKind::Drift,
                detail: format!("cosine distance {distance:.3} over {}", spec.threshold),
                severity: Severity::Medium,
                action: spec.action,
                excerpt: String::new(),
                failed: false,
            }),
            _ => None,
        })
    }

    /// The text with its personal data replaced by placeholders, for anything that leaves
    /// (a judge, a moderation endpoint); the session's map grows as it would for a message.
    fn masked_copy(&mut self, text: &str) -> RuntimeResult<String> {
        let engine = &self.runtime.inner.trust.engine;
        let trust = self.trust.as_mut().ok_or_else(|| {
            RuntimeError::Unavailable("the trust layers were not loaded".to_owned())
        })?;
        let findings = engine.pii.detect(text, &trust.names);
        let before = trust.map.len();
        let masked = mask_text(text, &findings, &mut trust.map, &trust.key)
            .map_err(|err| RuntimeError::Unavailable(format!("masking failed: {err}")))?;
        trust.dirty |= trust.map.len() != before;
        Ok(masked.text)
    }

    async fn record_violation(
        &mut self,
        stage: RuleStage,
        channel: Channel,
        violation: &Violation,
    ) -> RuntimeResult<()> {
        metrics::counter!(
            "heddle_guardrail_violations_total",
            "guardrail" => violation.guardrail.as_str(),
            "action" => violation.action.as_str()
        )
        .increment(1);
        self.record(StepRecord::new(
            "guardrail",
            details([
                ("stage", serde_json::to_value(stage).unwrap_or_default()),
                ("channel", Value::from(channel.as_str())),
                ("guardrail", Value::from(violation.guardrail.as_str())),
                ("detail", Value::from(violation.detail.clone())),
                ("severity", Value::from(violation.severity.as_str())),
                ("action", Value::from(violation.action.as_str())),
                ("excerpt", Value::from(violation.excerpt.clone())),
                ("failed", Value::from(violation.failed)),
            ]),
        ))
        .await
    }

    /// The person's message: screened, masked, recorded as the `user_message` step (the
    /// masked text is what the conversation keeps), then its violations. A block names the
    /// guardrails only and keeps the message out of the conversation.
    pub(crate) async fn enter_message(&mut self, text: &str) -> RuntimeResult<Screened> {
        let screening = self
            .screen(text, RuleStage::Input, Channel::User, None)
            .await?;
        let screened = if screening.blocked() {
            Screened::Blocked(block_reason("your message", &screening))
        } else {
            self.apply_mask(text, &screening)?
        };
        let mut step = StepRecord::new(
            "user_message",
            details([("content", self.content(text).await?)]),
        );
        if let Screened::Pass(masked) = &screened {
            let message = Message::user(masked.as_str());
            step.payload
                .insert(TRANSCRIPT_KEY.to_owned(), self.seal(&message).await?);
            if let Some(state) = self.mask_state_entry().await? {
                step.payload.insert(MASK_STATE_KEY.to_owned(), state);
            }
        }
        step.payload
            .insert("masked".to_owned(), Value::from(screening.mask.len()));
        self.record(step).await?;
        self.record_violations(RuleStage::Input, Channel::User, &screening)
            .await?;
        Ok(screened)
    }

    fn apply_mask(&mut self, text: &str, screening: &Screening) -> RuntimeResult<Screened> {
        let trust = self.trust_state_mut()?;
        let before = trust.map.len();
        match mask_text(text, &screening.mask, &mut trust.map, &trust.key) {
            Ok(masked) => {
                if trust.map.len() != before {
                    trust.dirty = true;
                    if masked
                        .replaced
                        .iter()
                        .any(|(kind, _)| *kind == EntityKind::Person)
                    {
                        trust.rebuild_names();
                    }
                }
                Ok(Screened::Pass(masked.text))
            }
            // Fail closed: nothing unmasked goes to the model.
            Err(err) => Ok(Screened::Blocked(format!(
                "the text could not be masked ({err}); nothing was sent to the model"
            ))),
        }
    }

    /// The model's answer: screened, then unmasked for the person who asked (never secrets).
    pub(crate) async fn screen_answer(&mut self, text: &str) -> RuntimeResult<Screened> {
        let mut screening = self
            .screen(text, RuleStage::Output, Channel::User, None)
            .await?;
        if !screening.blocked()
            && let Some(violation) = self.check_drift(text).await?
        {
            screening.violations.push(violation);
        }
        self.record_violations(RuleStage::Output, Channel::User, &screening)
            .await?;
        if screening.blocked() {
            return Ok(Screened::Blocked(block_reason("the answer", &screening)));
        }
        let trust = self.trust_state()?;
        if !trust.agent.settings.unmask_answer {
            return Ok(Screened::Pass(text.to_owned()));
        }
        Ok(Screened::Pass(unmask_text(
            text,
            &trust.map,
            &UnmaskPolicy::all_but_secrets(),
        )))
    }

    /// The call with the real values behind its placeholders, when the capability may
    /// receive them; a refusal otherwise. Arguments without placeholders pass unchanged.
    pub(crate) async fn unmask_call(
        &mut self,
        call: &ToolCall,
        capability: Option<&Capability>,
    ) -> RuntimeResult<Result<ToolCall, Refusal>> {
        let trust = self.trust_state()?;
        let restored = unmask_json(
            &call.arguments,
            &trust.map,
            &UnmaskPolicy::all_but_secrets(),
        );
        let with_secrets = unmask_json(
            &call.arguments,
            &trust.map,
            &UnmaskPolicy::all_but_secrets().allow_secrets(true),
        );
        if restored != with_secrets {
            return Ok(Err(Refusal::new(
                "trust",
                "the arguments carry a masked secret; secrets are never passed to a capability",
            )));
        }
        if restored == call.arguments {
            return Ok(Ok(call.clone()));
        }
        let Some(capability) = capability else {
            return Ok(Ok(call.clone()));
        };
        let resource = self.capability_resource(capability);
        let allowed = self
            .runtime
            .identity()
            .authorize(&self.caller.actor, Action::UnmaskArguments, resource)
            .await
            .is_ok();
        if !allowed {
            return Ok(Err(Refusal::new(
                "trust",
                "the arguments carry masked personal data and this capability may not receive \
                 the real values (policy `unmask_arguments`); ask without personal data",
            )));
        }
        let mut call = call.clone();
        call.arguments = restored;
        Ok(Ok(call))
    }

    /// Custom rules over a call's arguments as the model wrote them; a block refuses the call.
    pub(crate) async fn screen_arguments(
        &mut self,
        call: &ToolCall,
        capability: Option<&Capability>,
    ) -> RuntimeResult<Option<Refusal>> {
        let capability_json = capability.map(capability_json);
        let text = call.arguments.to_string();
        let screening = self
            .screen(
                &text,
                RuleStage::ToolArgs,
                Channel::User,
                capability_json.as_ref(),
            )
            .await?;
        self.record_violations(RuleStage::ToolArgs, Channel::User, &screening)
            .await?;
        Ok(screening
            .blocked()
            .then(|| Refusal::new("trust", block_reason("the call", &screening))))
    }

    pub(crate) fn capability_resource(&self, capability: &Capability) -> Resource {
        crate::tools::capability_resource(
            self.tenant_id(),
            self.session.environment,
            &self.agent.name,
            capability,
        )
    }

    /// Arguments as people other than the requester see them (approvers): masked.
    pub(crate) fn masked_arguments(
        &mut self,
        arguments: &Map<String, Value>,
    ) -> RuntimeResult<Map<String, Value>> {
        let engine = &self.runtime.inner.trust.engine;
        let trust = self.trust.as_mut().ok_or_else(|| {
            RuntimeError::Unavailable("the trust layers were not loaded".to_owned())
        })?;
        let names = &trust.names;
        let detect = |text: &str| engine.pii.detect(text, names);
        let before = trust.map.len();
        let masked = mask_json(
            &Value::Object(arguments.clone()),
            &|_: &[&str]| None,
            &detect,
            &mut trust.map,
            &trust.key,
        )
        .map_err(|err| RuntimeError::Unavailable(format!("masking failed: {err}")))?;
        trust.dirty |= trust.map.len() != before;
        Ok(match masked {
            Value::Object(map) => map,
            _ => Map::new(),
        })
    }

    /// A tool result as the model gets it: screened as indirect input, masked (by field
    /// where the record org classifies a field as PII), and datamarked. An injection that
    /// blocks withholds the whole result.
    pub(crate) async fn screen_tool_result(
        &mut self,
        capability: &str,
        content: &str,
    ) -> RuntimeResult<(String, Screening)> {
        let capability_json = json!({"name": capability});
        let screening = self
            .screen(
                content,
                RuleStage::ToolResult,
                Channel::ToolResult,
                Some(&capability_json),
            )
            .await?;
        if screening.blocked() {
            let notice = format!(
                "error (trust): the result was withheld: {}",
                block_reason("it", &screening)
            );
            return Ok((notice, screening));
        }
        let settings = &self.trust_state()?.agent.settings;
        if !(settings.pii.enabled && settings.pii.action == GuardAction::Redact) {
            // Masking turned off for this agent (written down in its trust block).
            return Ok((
                heddle_trust::injection::datamark(content, Channel::ToolResult),
                screening,
            ));
        }
        // Parsed once: for the objects it names and for masking by field.
        let parsed = serde_json::from_str::<Value>(content).ok();
        let fields = match &parsed {
            Some(value) => self.pii_fields(value).await?,
            None => BTreeMap::new(),
        };
        let engine = &self.runtime.inner.trust.engine;
        let trust = self.trust.as_mut().ok_or_else(|| {
            RuntimeError::Unavailable("the trust layers were not loaded".to_owned())
        })?;
        let before = trust.map.len();
        let masked = match parsed {
            Some(value) => {
                let names = &trust.names;
                let kinds = &trust.agent.settings.pii_kinds;
                let detect = |text: &str| {
                    let mut found = engine.pii.detect(text, names);
                    found.retain(|f| kinds.contains(&f.kind));
                    found
                };
                let by_field = |path: &[&str]| field_kind(&fields, path);
                mask_json(&value, &by_field, &detect, &mut trust.map, &trust.key)
                    .map(|v| v.to_string())
            }
            None => mask_text(content, &screening.mask, &mut trust.map, &trust.key).map(|m| m.text),
        };
        let masked = match masked {
            Ok(text) => text,
            Err(err) => {
                let notice = format!(
                    "error (trust): the result was withheld: it could not be masked ({err})"
                );
                return Ok((notice, screening));
            }
        };
        if trust.map.len() != before {
            trust.dirty = true;
            trust.rebuild_names();
        }
        Ok((
            heddle_trust::injection::datamark(&masked, Channel::ToolResult),
            screening,
        ))
    }

    /// A tool result for a direct caller (an MCP client): screened as indirect input like any
    /// result — a block withholds it — but neither masked nor datamarked, since no model of
    /// Heddle's reads it and the caller may see what its principal may see.
    pub(crate) async fn screen_direct_result(
        &mut self,
        capability: &str,
        content: &str,
    ) -> RuntimeResult<(Screened, Screening)> {
        let capability_json = json!({"name": capability});
        let screening = self
            .screen(
                content,
                RuleStage::ToolResult,
                Channel::ToolResult,
                Some(&capability_json),
            )
            .await?;
        if screening.blocked() {
            return Ok((Screened::Blocked(block_reason("it", &screening)), screening));
        }
        Ok((Screened::Pass(content.to_owned()), screening))
    }

    /// PII-classified fields of the objects a result holds, from the record org as the
    /// actor sees it. A lookup failure leaves detection alone to mask.
    /// Each object is described once per turn.
    async fn pii_fields(
        &mut self,
        content: &Value,
    ) -> RuntimeResult<BTreeMap<String, BTreeMap<String, EntityKind>>> {
        let mut objects = std::collections::BTreeSet::new();
        collect_objects(content, &mut objects);
        let known = &self.trust_state()?.classified;
        objects.retain(|object| !known.contains_key(object));
        if !objects.is_empty()
            && let Ok(actor) = self.actor().await
        {
            use heddle_recordsource::RecordSource;
            for object in objects {
                if let Ok(definition) = self
                    .runtime
                    .inner
                    .records
                    .describe_object(&actor, &object)
                    .await
                {
                    self.trust_state_mut()?
                        .classified
                        .insert(object, classified_fields(&definition));
                }
            }
        }
        Ok(self.trust_state()?.classified.clone())
    }
}

/// What custom rules see of a capability.
fn capability_json(capability: &Capability) -> Value {
    let classification = capability.spec.classification;
    json!({
        "name": capability.name,
        "effect": crate::turn::serde_label(&classification.effect),
        "data": crate::turn::serde_label(&classification.data),
        "audience": crate::turn::serde_label(&classification.audience),
    })
}

/// The record objects named in a result (`{"object": "Contact", "fields": {...}}`).
fn collect_objects(value: &Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(object)), Some(Value::Object(_))) =
                (map.get("object"), map.get("fields"))
            {
                out.insert(object.clone());
            }
            map.values().for_each(|v| collect_objects(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_objects(v, out)),
        _ => {}
    }
}

/// The kind a PII-classified field is masked as: by its type, then by its name.
fn classified_fields(object: &ObjectDef) -> BTreeMap<String, EntityKind> {
    object
        .fields
        .iter()
        .filter(|f| f.classification == DataClassification::Pii)
        .map(|f| {
            let name = f.api_name.to_ascii_lowercase();
            let kind = match &f.field_type {
                FieldType::Email => EntityKind::Email,
                FieldType::Phone => EntityKind::Phone,
                FieldType::Date if name.contains("birth") => EntityKind::DateOfBirth,
                _ if name.contains("street") || name.contains("address") => {
                    EntityKind::StreetAddress
                }
                _ if name.contains("ssn") || name.contains("taxpayer") => EntityKind::UsSsn,
                _ if name.contains("iban") => EntityKind::Iban,
                _ => EntityKind::Person,
            };
            (f.api_name.clone(), kind)
        })
        .collect()
}

/// The field kind for a JSON path inside a result: `…/<object record>/fields/<Field>`.
fn field_kind(
    fields: &BTreeMap<String, BTreeMap<String, EntityKind>>,
    path: &[&str],
) -> Option<EntityKind> {
    let n = path.len();
    if n < 2 || path[n - 2] != "fields" {
        return None;
    }
    let field = path[n - 1];
    // The object is not on the path; a field name classified PII in any object of the
    // result is masked as such (record fields of one name share a meaning across objects).
    fields
        .values()
        .find_map(|object| object.get(field).copied())
}

fn block_reason(what: &str, screening: &Screening) -> String {
    let mut fired: Vec<String> = screening
        .violations
        .iter()
        .filter(|v| v.action == GuardAction::Block)
        .map(|v| format!("{} ({}, {})", v.guardrail.as_str(), v.detail, v.severity))
        .collect();
    fired.dedup();
    format!(
        "{what} was blocked by the trust layers: {}",
        fired.join(", ")
    )
}
