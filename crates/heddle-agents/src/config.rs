//! The declarative file types: one YAML document per file, a small header and a `spec` whose
//! shape the `kind` decides.
//!
//! ```yaml
//! api_version: heddle/v1
//! kind: Capability            # Agent | Capability | ModelBinding | Route | McpServer
//! name: list_my_open_opportunities
//! spec: { ... }
//! ```
//!
//! Keys are snake_case like the org file's. Every type refuses unknown fields, so a typo is an
//! error instead of a silently ignored safety setting. Enums with data are externally tagged
//! (`backend: { records.query: {...} }`) so that errors inside them keep their line and path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

/// The only `api_version` this crate reads.
pub const API_VERSION: &str = "heddle/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    Agent,
    Capability,
    ModelBinding,
    Route,
    McpServer,
}

/// A whole file: header plus the spec of its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document<S> {
    pub api_version: String,
    pub kind: Kind,
    /// Unique per kind; capability names are the tool names the model sees, so they follow the
    /// providers' tool-name rule: `[a-z][a-z0-9_]{0,63}`.
    pub name: String,
    pub spec: S,
}

// ----- Agent -----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Who talks to the agent.
    pub kind: AgentKind,
    /// Whose identity record access runs as; the caller's unless declared otherwise.
    #[serde(default)]
    pub identity: Identity,
    /// The name of a `ModelBinding`.
    pub model: String,
    pub system_prompt: String,
    /// Names of `Capability` documents the agent may call.
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub budgets: Budgets,
    #[serde(default)]
    pub limits: Limits,
    /// The trust layers: a preset with per-guardrail overrides, custom rules and drift
    /// detection (`heddle_trust::config`). Left out, the `standard` preset applies; an
    /// agent without the block hashes as it did before the block existed.
    #[serde(default, skip_serializing_if = "is_default_trust")]
    pub trust: heddle_trust::config::TrustSpec,
}

fn is_default_trust(trust: &heddle_trust::config::TrustSpec) -> bool {
    *trust == heddle_trust::config::TrustSpec::default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// Used by people logged in to the tenant; runs as them.
    Employee,
    /// Used by external customers on service channels.
    Service,
}

/// `mode: user` (the default) or `mode: service_user` with `service_user` and a written
/// `justification`; the pairing is checked when loading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    #[serde(default)]
    pub mode: IdentityMode,
    /// The org user id (15 or 18 characters) the agent runs as in `service_user` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_user: Option<String>,
    /// Why this agent cannot run as its caller; shown in lint output and reviews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMode {
    #[default]
    User,
    ServiceUser,
}

/// Spending caps; an absent cap is unlimited. Exceeding one halts the turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    #[serde(default)]
    pub per_turn: Budget,
    #[serde(default)]
    pub per_session: Budget,
    #[serde(default)]
    pub per_day: Budget,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Prompt plus completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Estimated cost in US dollars, from the binding's price table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Model ↔ capability round trips per turn.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    #[serde(default = "default_turn_timeout")]
    pub turn_timeout_seconds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_steps: default_max_steps(),
            turn_timeout_seconds: default_turn_timeout(),
        }
    }
}

fn default_max_steps() -> u32 {
    8
}

fn default_turn_timeout() -> u32 {
    120
}

/// Largest `max_steps` accepted.
pub const MAX_STEPS: u32 = 50;
/// Largest `turn_timeout_seconds` accepted.
pub const MAX_TURN_TIMEOUT_SECONDS: u32 = 3600;

// ----- Capability -----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitySpec {
    /// The one business purpose, shown to the model as the tool description.
    pub description: String,
    pub classification: Classification,
    #[serde(default)]
    pub human_in_the_loop: HitlMode,
    /// Who approves and how long a request waits; the condition of `conditional_approval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalSpec>,
    /// A JSON Schema (draft 2020-12 subset, see `schema`) of the call's arguments. It may
    /// declare bound parameters to type them; the model never sees those.
    pub input_schema: JsonValue,
    /// Parameter name → the context value the runtime injects. The model can neither see nor
    /// supply these.
    #[serde(default)]
    pub bound_inputs: BTreeMap<String, BoundSource>,
    pub backend: Backend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    pub effect: Effect,
    pub data: DataClass,
    pub audience: Audience,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Read,
    Write,
    SideEffect,
}

/// Seed 003: public data is fine unauthenticated; private data or sensitive operations need a
/// verified user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    Public,
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Employee,
    Service,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitlMode {
    #[default]
    None,
    /// The person in the conversation confirms the planned call.
    Confirmation,
    /// A designated approver approves it.
    Approval,
    ConfirmationThenApproval,
    /// Approval when a policy condition holds (the condition arrives with the approvals work).
    ConditionalApproval,
}

impl HitlMode {
    /// Whether a person sees the call before it runs (always or conditionally).
    pub fn has_human(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// How approvals of one capability work. Every field has a default except `when`, which
/// `conditional_approval` needs and only it may have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// `conditional_approval`: approval is needed when the call's arguments (bound ones
    /// included) match this filter, e.g. `{ field: amount, op: gt, value: 10000 }`. A
    /// condition that cannot be evaluated (a missing argument, a type mismatch) counts as a
    /// match: when unsure, a person decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<heddle_records::query::Filter>,
    /// The Heddle role that approves (`admin`, `builder`, `operator`, `compliance_officer`);
    /// admins always may. Never the person who asked.
    #[serde(default = "default_approver_role")]
    pub approver_role: String,
    /// How long a request waits before it expires (and is rejected).
    #[serde(default = "default_approval_expiry")]
    pub expires_after_seconds: u32,
    /// What happens when the approval arrives after the conversation moved on: `run` the
    /// action anyway (its result is recorded, not injected into the newer turn) or `discard`.
    #[serde(default)]
    pub on_stale: OnStale,
}

impl Default for ApprovalSpec {
    fn default() -> Self {
        Self {
            when: None,
            approver_role: default_approver_role(),
            expires_after_seconds: default_approval_expiry(),
            on_stale: OnStale::default(),
        }
    }
}

fn default_approver_role() -> String {
    "admin".to_owned()
}

fn default_approval_expiry() -> u32 {
    24 * 3600
}

/// Longest `expires_after_seconds` accepted: a week.
pub const MAX_APPROVAL_EXPIRY_SECONDS: u32 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStale {
    Run,
    /// The default: an approval for a conversation that has moved on runs nothing.
    #[default]
    Discard,
}

/// A value the runtime knows from the session, never from the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundSource {
    /// The calling person's org user id.
    UserId,
    /// The customer id the service channel's verification flow set (seed 003).
    VerifiedCustomerId,
    /// The record the session is about (the page the user is on).
    SessionRecordId,
}

impl BoundSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserId => "user_id",
            Self::VerifiedCustomerId => "verified_customer_id",
            Self::SessionRecordId => "session_record_id",
        }
    }
}

/// What the capability does, owned by the admin who writes the file. Placeholders
/// `"{{param}}"` stand for a whole argument value. New backends are added as new variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub enum Backend {
    /// A structured query (`heddle_records::query::RecordQuery`) with placeholders.
    #[serde(rename = "records.query")]
    RecordsQuery(QueryBackend),
    #[serde(rename = "records.get")]
    RecordsGet(GetBackend),
    #[serde(rename = "records.create")]
    RecordsCreate(WriteBackend),
    #[serde(rename = "records.update")]
    RecordsUpdate(WriteBackend),
}

impl Backend {
    /// The backend's name as written in the file.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::RecordsQuery(_) => "records.query",
            Self::RecordsGet(_) => "records.get",
            Self::RecordsCreate(_) => "records.create",
            Self::RecordsUpdate(_) => "records.update",
        }
    }

    /// Whether the backend changes data, whatever the file's classification says.
    pub fn writes(&self) -> bool {
        matches!(self, Self::RecordsCreate(_) | Self::RecordsUpdate(_))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBackend {
    /// A `RecordQuery` in which any string may be a placeholder: `object`, `fields`, condition
    /// `field` and `value`, `order_by` `field`, `limit`.
    pub query: JsonValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetBackend {
    pub object: String,
    /// A placeholder naming the parameter that holds the record id.
    pub record_id: String,
    /// Fields to return; empty means every field the caller can read.
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBackend {
    pub object: String,
    /// For `records.update`: a placeholder naming the parameter that holds the record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// The allow-list: field API name → the placeholder of its value. Only these fields are
    /// written. `"*"` (any field, from an object parameter) is accepted only so the lint can
    /// name it.
    pub fields: BTreeMap<String, String>,
}

// ----- ModelBinding -----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelBindingSpec {
    pub provider: Provider,
    pub model: String,
    /// Required for `openai_compatible`; optional override for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The name of the vault secret holding the API key — never the key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Overrides the built-in price table for cost estimates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// For `scripted` only: the model turns it plays, in order, across a session's turns
    /// (see `heddle_providers::Script`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<heddle_providers::Script>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Openai,
    Anthropic,
    OpenaiCompatible,
    /// Deterministic replay of a script of model turns (demo, tests, red-team simulations).
    Scripted,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_usd_per_million_tokens: f64,
    pub output_usd_per_million_tokens: f64,
}

// ----- Route -----

/// A gateway route: what an application speaking the OpenAI API reaches through
/// `/v1/chat/completions` and `/v1/embeddings`. The route names the model binding requests
/// are forwarded to (its provider, upstream model and vault credential, which the client never
/// sees), the trust layers every request passes, and its budgets and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// The name of a `ModelBinding` whose provider is `openai` or `openai_compatible`; its
    /// `model` is what the upstream is asked for, whatever the client names.
    pub model: String,
    /// Shown by `GET /v1/models`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The trust layers, as in an agent (presets, per-guardrail overrides, rules).
    #[serde(default, skip_serializing_if = "is_default_trust")]
    pub trust: heddle_trust::config::TrustSpec,
    #[serde(default, skip_serializing_if = "is_default")]
    pub budgets: RouteBudgets,
    #[serde(default, skip_serializing_if = "is_default")]
    pub limits: RouteLimits,
    #[serde(default, skip_serializing_if = "is_default")]
    pub streaming: RouteStreaming,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Spending caps of a route; an absent cap is unlimited. Checked before the upstream call
/// with the request's estimate reserved, settled to the actual usage after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBudgets {
    /// One request's prompt estimate plus its completion limit.
    #[serde(default)]
    pub per_request: Budget,
    /// Everything the route spent since 00:00 UTC, across every caller and process.
    #[serde(default)]
    pub per_day: Budget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLimits {
    /// Request bodies above this are refused before anything else.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: u32,
    /// The whole upstream exchange, a stream included.
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout_seconds: u32,
    /// The completion limit assumed (and sent) when a request sets none, for the budget
    /// reservation.
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u32,
}

impl Default for RouteLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: default_max_request_bytes(),
            upstream_timeout_seconds: default_upstream_timeout(),
            default_max_tokens: default_max_tokens(),
        }
    }
}

fn default_max_request_bytes() -> u32 {
    1024 * 1024
}

fn default_upstream_timeout() -> u32 {
    120
}

fn default_max_tokens() -> u32 {
    1024
}

/// Largest `max_request_bytes` accepted (the server's own body limit may be lower).
pub const MAX_ROUTE_REQUEST_BYTES: u32 = 32 * 1024 * 1024;
/// Largest `upstream_timeout_seconds` accepted.
pub const MAX_UPSTREAM_TIMEOUT_SECONDS: u32 = 3600;

/// How the answer checks (content, output rules) meet a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteStreaming {
    #[serde(default)]
    pub output_checks: OutputCheckMode,
    /// `incremental`: the text is checked each time this many characters arrived (and at the
    /// end); nothing is forwarded before a check covered it.
    #[serde(default = "default_check_every")]
    pub check_every_chars: u32,
}

impl Default for RouteStreaming {
    fn default() -> Self {
        Self {
            output_checks: OutputCheckMode::default(),
            check_every_chars: default_check_every(),
        }
    }
}

fn default_check_every() -> u32 {
    200
}

/// Largest `check_every_chars` accepted.
pub const MAX_CHECK_EVERY_CHARS: u32 = 65_536;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputCheckMode {
    /// Check as the text arrives, holding back at most `check_every_chars`; a block cuts the
    /// stream with an error event. The client sees the answer as it is written.
    #[default]
    Incremental,
    /// Collect the whole answer, check it, then send it: nothing unchecked ever leaves, and
    /// the client waits for the whole answer.
    Buffer,
}

/// An agent as loaded.
pub type Agent = Document<AgentSpec>;
/// A capability as loaded.
pub type Capability = Document<CapabilitySpec>;
/// A model binding as loaded.
pub type ModelBinding = Document<ModelBindingSpec>;
/// A gateway route as loaded.
pub type Route = Document<RouteSpec>;

/// `kind: McpServer`: an upstream MCP server (see [`crate::mcp_server`]).
pub type McpServer = Document<crate::mcp_server::McpServerSpec>;
