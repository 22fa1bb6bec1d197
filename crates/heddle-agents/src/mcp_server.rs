//! `kind: McpServer` — an upstream MCP server whose tools Heddle re-exposes (issue 8, part 3).
//!
//! ```yaml
//! api_version: heddle/v1
//! kind: McpServer
//! name: files
//! spec:
//!   transport:
//!     stdio:
//!       command: /usr/local/bin/files-mcp
//!       args: [--read-only]
//!       env:
//!         FILES_TOKEN: { secret: files_token }   # a vault secret of the tenant
//!         LOG_LEVEL: { value: warn }
//!   # or over streamable HTTP, through Heddle's outbound client and its SSRF rules:
//!   # transport: { http: { url: https://mcp.example.com/mcp, bearer_secret: mcp_token } }
//!   allow: [read_file, "search_*"]
//!   tools:
//!     read_file:
//!       arguments:
//!         schema: { type: object, properties: { path: { type: string, pattern: "^docs/" } } }
//!         forbidden_values: { path: ["docs/secret.md"] }
//!   timeout_seconds: 30
//!   trust: { preset: standard }
//! ```
//!
//! Everything here is pure checking; connecting, pinning and forwarding live in
//! `heddle-mcp-upstream`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use crate::locate::FieldPath;

/// The longest a single upstream call may be allowed to take.
pub const MAX_TIMEOUT_SECONDS: u64 = 300;
/// The default per-call timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSpec {
    pub transport: McpTransport,
    /// Tool names or prefixes (`crm_*`) that may be exposed at all; `*` alone is refused.
    pub allow: Vec<String>,
    /// Per-tool constraints on arguments, by upstream tool name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, McpToolPolicy>,
    /// Seconds one upstream request (a listing or a call) may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The trust layers applied to arguments (`tool_args` rules, injection, personal data)
    /// and results (injection, `tool_result` rules, personal data): the same block as an
    /// agent's; left out, the `standard` preset. `pii.action` here is what is written:
    /// left out, personal data is only counted (see `heddle_mcp_upstream::pii`).
    #[serde(default, skip_serializing_if = "is_default_trust")]
    pub trust: heddle_trust::config::TrustSpec,
}

fn is_default_trust(trust: &heddle_trust::config::TrustSpec) -> bool {
    *trust == heddle_trust::config::TrustSpec::default()
}

impl McpServerSpec {
    /// The per-call timeout in seconds.
    pub fn timeout_seconds(&self) -> u64 {
        self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS)
    }
}

/// How Heddle reaches the upstream: externally tagged, exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum McpTransport {
    /// A child process speaking MCP on its stdin/stdout.
    Stdio(StdioTransport),
    /// A streamable HTTP endpoint, reached through Heddle's outbound client: a loopback or
    /// private address only where the server's `mcp.upstream_allow_private_network` says so.
    Http(HttpTransport),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdioTransport {
    /// The program, an absolute path (no `PATH` lookup).
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The child's whole environment: nothing of Heddle's own is inherited.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
}

/// An environment value: literal, or the name of a vault secret opened at connect time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EnvValue {
    Value(String),
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTransport {
    /// The MCP endpoint, `https://` (or `http://`), without credentials in it; Heddle talks
    /// to this URL only and follows no redirects.
    pub url: String,
    /// The name of a vault secret (api_key or custom) of the environment, opened at connect
    /// time and sent as `Authorization: Bearer …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_secret: Option<String>,
}

/// What a tool's arguments must also satisfy, beyond the upstream's own schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpToolPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<ArgumentConstraints>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgumentConstraints {
    /// A schema (the capability-schema subset, `type: object`) the arguments must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<JsonValue>,
    /// Per top-level argument, values that are refused (compared as JSON; strings exactly).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forbidden_values: BTreeMap<String, Vec<JsonValue>>,
}

/// One refusal of arguments: where, and why — never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintViolation {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConstraintViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

impl McpServerSpec {
    /// Checks `arguments` of `tool` against the configured constraints; empty when they hold
    /// (or the tool has none). Arguments must be an object either way.
    pub fn check_arguments(&self, tool: &str, arguments: &JsonValue) -> Vec<ConstraintViolation> {
        let mut out = Vec::new();
        let Some(object) = arguments.as_object() else {
            out.push(ConstraintViolation {
                path: String::new(),
                message: "arguments must be a JSON object".to_owned(),
            });
            return out;
        };
        let Some(constraints) = self.tools.get(tool).and_then(|t| t.arguments.as_ref()) else {
            return out;
        };
        if let Some(schema) = &constraints.schema {
            for problem in crate::validate::validate_arguments(schema, arguments) {
                out.push(ConstraintViolation {
                    path: problem.path,
                    message: problem.message,
                });
            }
        }
        for (name, forbidden) in &constraints.forbidden_values {
            if let Some(value) = object.get(name)
                && forbidden.iter().any(|f| f == value)
            {
                out.push(ConstraintViolation {
                    path: name.clone(),
                    message: "this value is forbidden for this argument".to_owned(),
                });
            }
        }
        out
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// What is wrong with an upstream URL, if anything. Only its shape is checked here; where it
/// may point is the outbound client's decision when connecting.
fn url_problem(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest.filter(|_| !url.contains(char::is_whitespace)) else {
        return Some("`url` must be an http:// or https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Some("`url` may not carry credentials; name a vault secret in `bearer_secret`");
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Some("`url` has no host");
    }
    None
}

/// Every problem of a spec, as (path under `spec`, message).
pub(crate) fn check(spec: &McpServerSpec) -> Vec<(FieldPath, String)> {
    let mut out = Vec::new();
    let root = FieldPath::root().key("spec");
    match &spec.transport {
        McpTransport::Stdio(stdio) => {
            let here = root.key("transport").key("stdio");
            if !stdio.command.starts_with('/') {
                out.push((
                    here.key("command"),
                    "give the program as an absolute path (no PATH lookup)".to_owned(),
                ));
            }
            for (name, value) in &stdio.env {
                let at = here.key("env").key(name);
                if !is_env_name(name) {
                    out.push((
                        at.clone(),
                        "an environment variable name is `A-Z`, `0-9` and `_`, not starting with a digit"
                            .to_owned(),
                    ));
                }
                if let EnvValue::Secret(secret) = value
                    && secret.trim().is_empty()
                {
                    out.push((at.key("secret"), "name a vault secret".to_owned()));
                }
            }
        }
        McpTransport::Http(http) => {
            let here = root.key("transport").key("http");
            if let Some(problem) = url_problem(&http.url) {
                out.push((here.key("url"), problem.to_owned()));
            }
            if let Some(secret) = &http.bearer_secret
                && secret.trim().is_empty()
            {
                out.push((here.key("bearer_secret"), "name a vault secret".to_owned()));
            }
        }
    }
    if spec.allow.is_empty() {
        out.push((
            root.key("allow"),
            "list the tools (or `prefix*`) that may be exposed; an empty allow-list exposes nothing"
                .to_owned(),
        ));
    }
    let allow = match heddle_mcp_pins::AllowList::new(&spec.allow) {
        Ok(allow) => Some(allow),
        Err(error) => {
            out.push((root.key("allow"), error.to_string()));
            None
        }
    };
    for (tool, policy) in &spec.tools {
        let here = root.key("tools").key(tool);
        if let Some(allow) = &allow
            && !allow.permits(tool)
        {
            out.push((
                here.clone(),
                format!("`{tool}` is not in `allow`; constraints on it would never apply"),
            ));
        }
        let Some(arguments) = &policy.arguments else {
            out.push((
                here.clone(),
                "give `arguments` or remove the entry".to_owned(),
            ));
            continue;
        };
        if let Some(schema) = &arguments.schema {
            for (path, message) in crate::schema::check_schema(schema) {
                let at = here.key("arguments").key("schema");
                let path = path.to_string();
                let message = if path.is_empty() {
                    message
                } else {
                    format!("`{path}`: {message}")
                };
                out.push((at, message));
            }
        }
        for (name, values) in &arguments.forbidden_values {
            if values.is_empty() {
                out.push((
                    here.key("arguments").key("forbidden_values").key(name),
                    "list at least one value".to_owned(),
                ));
            }
        }
    }
    if let Some(timeout) = spec.timeout_seconds
        && !(1..=MAX_TIMEOUT_SECONDS).contains(&timeout)
    {
        out.push((
            root.key("timeout_seconds"),
            format!("`timeout_seconds` must be between 1 and {MAX_TIMEOUT_SECONDS}"),
        ));
    }
    // The gateway screens with the pure detectors only: no model of Heddle's reads these
    // calls, so judges, moderation endpoints and drift have nothing to run on.
    let trust = root.key("trust");
    if spec.trust.content.moderation.is_some() {
        out.push((
            trust.key("content").key("moderation"),
            "an upstream MCP server's trust block cannot use a moderation endpoint".to_owned(),
        ));
    }
    for (i, rule) in spec.trust.rules.iter().enumerate() {
        if matches!(rule.kind, heddle_trust::rules::RuleKind::LlmJudge { .. }) {
            out.push((
                trust.key("rules").index(i),
                "an upstream MCP server's trust block cannot use an LLM judge".to_owned(),
            ));
        }
    }
    if spec.trust.drift.is_some() {
        out.push((
            trust.key("drift"),
            "drift applies to an agent's answers, not to an upstream MCP server".to_owned(),
        ));
    }
    if let Err(problems) = heddle_trust::pipeline::AgentTrust::compile(&spec.trust) {
        for problem in problems {
            out.push((root.key("trust"), problem));
        }
    }
    out
}
