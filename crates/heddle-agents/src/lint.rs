//! The contract lint: capability-design problems (seed 000 "Designing Safe Capabilities",
//! seed 003) found before an agent runs, and what a security reviewer looks for in an
//! upstream MCP server (`mcp-*` rules: credentials in clear, plain http, write tools without
//! argument constraints, results not screened for injection). `heddle lint` prints it;
//! `apply` refuses errors.
//!
//! Loading already refuses what is malformed; the lint judges what is well-formed but unsafe.
//! Each finding names its rule, the file and line, and says what to change. Output is text
//! (`file:line: severity rule: message`) or SARIF 2.1.0 for code-scanning tools.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value as JsonValue, json};

use heddle_records::metadata::builtin_objects;

use crate::config::{Backend, BoundSource, Capability, DataClass, Effect, IdentityMode};
use crate::load::ConfigSet;
use crate::locate::FieldPath;
use crate::mcp_server::{EnvValue, McpServerSpec, McpTransport};
use crate::schema::{has_type, is_enumerated, model_schema, object_schemas, walk_properties};
use crate::template::{PlaceholderUse, Role, placeholder, query_placeholders};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// `apply` refuses the set.
    Error,
    /// Reported; a reviewer decides.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// A lint rule: a stable id, a SARIF name, its severity and what it protects against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub help: &'static str,
}

pub const GENERIC_MODEL_INPUT: &str = "generic-model-input";
pub const UNSCOPED_PRIVATE_CAPABILITY: &str = "unscoped-private-capability";
pub const UNCONFIRMED_WRITE: &str = "unconfirmed-write";
pub const OPEN_INPUT_SCHEMA: &str = "open-input-schema";
pub const UNBOUNDED_STRING: &str = "unbounded-string";
pub const SERVICE_USER_IDENTITY: &str = "service-user-identity";
pub const VAGUE_CAPABILITY: &str = "vague-capability";
pub const MCP_LITERAL_SECRET: &str = "mcp-literal-secret";
pub const MCP_PLAINTEXT_HTTP: &str = "mcp-plaintext-http";
pub const MCP_UNCONSTRAINED_WRITE_TOOL: &str = "mcp-unconstrained-write-tool";
pub const MCP_UNSCREENED_RESULTS: &str = "mcp-unscreened-results";

/// Every rule, in the order SARIF lists them.
pub const RULES: &[Rule] = &[
    Rule {
        id: GENERIC_MODEL_INPUT,
        name: "GenericModelInput",
        severity: Severity::Error,
        summary: "An input takes a generic record id, object name or field name from the model.",
        help: "Bind the value from the session (bound_inputs), fix it in the backend, or constrain it: an enum for object and field names, a key-prefix pattern for record ids.",
    },
    Rule {
        id: UNSCOPED_PRIVATE_CAPABILITY,
        name: "UnscopedPrivateCapability",
        severity: Severity::Error,
        summary: "A private capability for service agents does not bind and use the verified customer id.",
        help: "Bind a parameter to verified_customer_id and use it in the backend so every record access is scoped to the verified customer.",
    },
    Rule {
        id: UNCONFIRMED_WRITE,
        name: "UnconfirmedWrite",
        severity: Severity::Error,
        summary: "A write or side-effect capability runs without confirmation or approval.",
        help: "Set human_in_the_loop to confirmation, approval, confirmation_then_approval or conditional_approval.",
    },
    Rule {
        id: OPEN_INPUT_SCHEMA,
        name: "OpenInputSchema",
        severity: Severity::Error,
        summary: "An object schema accepts properties it does not declare.",
        help: "Add additionalProperties: false so the model cannot pass parameters the contract does not name.",
    },
    Rule {
        id: UNBOUNDED_STRING,
        name: "UnboundedString",
        severity: Severity::Warning,
        summary: "A free string input has no maxLength.",
        help: "Add maxLength (or an enum) so the model cannot pass unbounded text.",
    },
    Rule {
        id: SERVICE_USER_IDENTITY,
        name: "ServiceUserIdentity",
        severity: Severity::Warning,
        summary: "An agent runs as a service user instead of its caller.",
        help: "Prefer identity mode user. If the service user is needed, keep its permissions narrow and review the justification.",
    },
    Rule {
        id: VAGUE_CAPABILITY,
        name: "VagueCapability",
        severity: Severity::Error,
        summary: "A capability can touch any object or any field.",
        help: "Fix the object in the backend and allow-list only the fields this one business purpose needs.",
    },
    Rule {
        id: MCP_LITERAL_SECRET,
        name: "McpLiteralSecret",
        severity: Severity::Error,
        summary: "An upstream MCP server's environment holds a literal credential.",
        help: "Store the credential in the vault and reference it (`{ secret: name }`): a literal one sits in git, in every stored configuration version and in every export.",
    },
    Rule {
        id: MCP_PLAINTEXT_HTTP,
        name: "McpPlaintextHttp",
        severity: Severity::Warning,
        summary: "An upstream MCP server is reached over plain http:// on a host other than loopback.",
        help: "Use https:// so arguments, results and the bearer credential cannot be read or changed on the way.",
    },
    Rule {
        id: MCP_UNCONSTRAINED_WRITE_TOOL,
        name: "McpUnconstrainedWriteTool",
        severity: Severity::Warning,
        summary: "An upstream tool whose name says it changes something is allowed without argument constraints.",
        help: "Name the tool in `tools` with an arguments schema (patterns, enums, maxLength) and forbidden values, so a steered caller cannot aim it anywhere the upstream allows.",
    },
    Rule {
        id: MCP_UNSCREENED_RESULTS,
        name: "McpUnscreenedResults",
        severity: Severity::Warning,
        summary: "An upstream MCP server's trust block lets an injection in its results through.",
        help: "Keep `trust.injection` enabled with `action: block`: an upstream's results are untrusted input that the caller may hand to a model.",
    },
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: u64,
    pub rule: &'static str,
    pub severity: Severity,
    /// The field the finding is about (`spec.input_schema.properties.record_id`).
    pub field: String,
    /// What is wrong and what to change.
    pub message: String,
}

struct Linter<'a> {
    set: &'a ConfigSet,
    out: Vec<Finding>,
}

impl Linter<'_> {
    fn push(&mut self, rule_id: &'static str, file: &str, field: &FieldPath, message: String) {
        let severity = rule(rule_id).map_or(Severity::Error, |r| r.severity);
        self.out.push(Finding {
            file: file.to_owned(),
            line: self.set.line_of(file, field),
            rule: rule_id,
            severity,
            field: field.to_string(),
            message,
        });
    }
}

/// Lints a loaded set. Findings are sorted by file and line.
pub fn lint(set: &ConfigSet) -> Vec<Finding> {
    let mut linter = Linter {
        set,
        out: Vec::new(),
    };
    for loaded in set.capabilities.values() {
        lint_capability(&mut linter, &loaded.file, &loaded.doc);
    }
    for loaded in set.agents.values() {
        let identity = &loaded.doc.spec.identity;
        if identity.mode == IdentityMode::ServiceUser {
            let message = format!(
                "agent `{}` runs as service user {} in system mode, not as its caller; justification: \"{}\". Keep this only if the justification holds, and give the service user only the access this agent needs",
                loaded.doc.name,
                identity.service_user.as_deref().unwrap_or("?"),
                identity.justification.as_deref().unwrap_or("").trim(),
            );
            linter.push(
                SERVICE_USER_IDENTITY,
                &loaded.file,
                &spec().key("identity").key("mode"),
                message,
            );
        }
    }
    for loaded in set.mcp_servers.values() {
        for (rule_id, field, message) in mcp_server_findings(&loaded.doc.spec) {
            linter.push(rule_id, &loaded.file, &field, message);
        }
    }
    let mut out = linter.out;
    out.sort();
    out
}

/// The MCP gateway's rules on one upstream server, as (rule, field, message).
fn mcp_server_findings(server: &McpServerSpec) -> Vec<(&'static str, FieldPath, String)> {
    let mut out = Vec::new();
    let at = spec();
    match &server.transport {
        McpTransport::Stdio(stdio) => {
            let env = at.key("transport").key("stdio").key("env");
            for name in literal_secrets(&stdio.env) {
                out.push((MCP_LITERAL_SECRET, env.key(name), format!(
                    "`{name}` holds a literal credential; put it in the vault and write `{name}: {{ secret: <vault secret name> }}`"
                )));
            }
        }
        McpTransport::Http(http) => {
            if let Some(host) = plaintext_remote_host(&http.url) {
                out.push((MCP_PLAINTEXT_HTTP, at.key("transport").key("http").key("url"), format!(
                    "`{host}` is reached over plain http://; use https:// (plain http is for loopback only)"
                )));
            }
        }
    }
    for (i, entry) in server.allow.iter().enumerate() {
        let (name, prefix) = match entry.strip_suffix('*') {
            Some(body) => (body, true),
            None => (entry.as_str(), false),
        };
        let constrained = || {
            server
                .tools
                .get(name)
                .is_some_and(|t| t.arguments.is_some())
        };
        // A prefix admits tools no `tools` entry can name in advance.
        if !names_a_write(name, prefix) || (!prefix && constrained()) {
            continue;
        }
        let message = if prefix {
            format!(
                "`{entry}` allows every `{name}…` tool the server lists, with no argument constraints; allow them by name and constrain each under `tools`"
            )
        } else {
            format!(
                "`{name}` looks like it changes something and takes any arguments the upstream accepts; constrain them under `tools.{name}.arguments`"
            )
        };
        out.push((
            MCP_UNCONSTRAINED_WRITE_TOOL,
            at.key("allow").index(i),
            message,
        ));
    }
    let injection = server.trust.resolve().injection;
    if !injection.enabled || injection.action != heddle_trust::GuardAction::Block {
        let overrides = &server.trust.injection;
        let overridden = overrides.enabled.is_some() || overrides.action.is_some();
        let field = if overridden {
            at.key("trust").key("injection")
        } else {
            at.key("trust").key("preset")
        };
        out.push((MCP_UNSCREENED_RESULTS, field, format!(
            "injection screening {} for this upstream, so an injection in its results reaches the caller; keep `trust.injection` at `action: block`",
            if injection.enabled { format!("only {}s", injection.action) } else { "is off".to_owned() }
        )));
    }
    out
}

/// Names of literal environment values that look like credentials: the trust layers'
/// secret detector reads each as `NAME=value`, so a provider-shaped key, a URL with a
/// password and a secret-named variable with a value are all found. `*_FILE`, `*_PATH` and
/// `*_DIR` variables name where a credential is, not the credential.
fn literal_secrets(env: &BTreeMap<String, EnvValue>) -> Vec<&str> {
    let literals: Vec<(&str, &str)> = env
        .iter()
        .filter(|(name, _)| !["_FILE", "_PATH", "_DIR"].iter().any(|s| name.ends_with(s)))
        .filter_map(|(name, value)| match value {
            EnvValue::Value(v) if !v.trim().is_empty() => Some((name.as_str(), v.as_str())),
            _ => None,
        })
        .collect();
    if literals.is_empty() {
        return Vec::new();
    }
    let detector = heddle_trust::PiiDetector::new();
    let names = heddle_trust::NameDictionary::empty();
    literals
        .into_iter()
        .filter(|(name, value)| {
            detector
                .detect(&format!("{name}={value}"), &names)
                .iter()
                .any(|finding| finding.kind.is_secret())
        })
        .map(|(name, _)| name)
        .collect()
}

/// The host of an `http://` URL unless it is loopback (`localhost`, `127.0.0.0/8`, `::1`).
fn plaintext_remote_host(url: &str) -> Option<String> {
    let rest = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .and(url.get(7..))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    }
    .to_ascii_lowercase();
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback).then_some(host)
}

/// Verbs a tool name starts with when the tool changes or sends something.
const WRITE_VERBS: &[&str] = &[
    "add", "append", "approve", "cancel", "charge", "create", "delete", "deploy", "destroy",
    "drop", "edit", "email", "exec", "execute", "insert", "kill", "merge", "modify", "move",
    "patch", "pay", "post", "publish", "purge", "put", "refund", "remove", "rename", "replace",
    "reset", "revoke", "run", "send", "set", "submit", "transfer", "truncate", "update", "upload",
    "upsert", "write",
];

/// Whether a tool name starts with a write verb as a whole word: `delete_file`,
/// `sendEmail`, `update-issue` (not `settings`). A prefix counts only when the word ends
/// inside it (`delete_*`, not `set*`).
fn names_a_write(name: &str, prefix: bool) -> bool {
    let first: String = name
        .chars()
        .enumerate()
        .take_while(|(i, c)| c.is_ascii_alphabetic() && !(*i > 0 && c.is_ascii_uppercase()))
        .map(|(_, c)| c.to_ascii_lowercase())
        .collect();
    let whole_word = !prefix || name.len() > first.len();
    whole_word && WRITE_VERBS.contains(&first.as_str())
}

fn spec() -> FieldPath {
    FieldPath::root().key("spec")
}

/// Every placeholder the backend uses, with its role.
fn backend_uses(cap: &Capability) -> Vec<PlaceholderUse> {
    let path = spec().key("backend").key(cap.spec.backend.type_name());
    let mut uses = Vec::new();
    let mut one = |value: &str, at: FieldPath, role: Role| {
        if let Some(param) = placeholder(value) {
            uses.push(PlaceholderUse {
                param: param.to_owned(),
                path: at,
                role,
            });
        }
    };
    match &cap.spec.backend {
        Backend::RecordsQuery(q) => return query_placeholders(&q.query, &path.key("query")),
        Backend::RecordsGet(g) => one(&g.record_id, path.key("record_id"), Role::RecordId),
        Backend::RecordsCreate(w) | Backend::RecordsUpdate(w) => {
            if let Some(id) = &w.record_id {
                one(id, path.key("record_id"), Role::RecordId);
            }
            for (field, value) in &w.fields {
                let role = if field == "*" {
                    Role::Field
                } else {
                    Role::Value
                };
                one(value, path.key("fields").key(field), role);
            }
        }
    }
    uses
}

/// The object the backend names literally, if any.
fn backend_object(cap: &Capability) -> Option<String> {
    match &cap.spec.backend {
        Backend::RecordsQuery(q) => q
            .query
            .get("object")
            .and_then(JsonValue::as_str)
            .filter(|o| placeholder(o).is_none())
            .map(str::to_owned),
        Backend::RecordsGet(g) => Some(g.object.clone()),
        Backend::RecordsCreate(w) | Backend::RecordsUpdate(w) => Some(w.object.clone()),
    }
}

const OBJECT_NAMES: &[&str] = &[
    "object",
    "object_name",
    "objectname",
    "sobject",
    "sobject_type",
    "object_type",
    "objecttype",
    "entity",
    "table",
];
const FIELD_NAMES: &[&str] = &[
    "field",
    "field_name",
    "fieldname",
    "fields",
    "field_names",
    "column",
    "columns",
    "sort_by",
    "order_by",
    "sort_field",
    "select",
];

fn looks_like_record_id(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "id"
        || lower.ends_with("_id")
        || lower.ends_with("_ids")
        || name.ends_with("Id")
        || name.ends_with("Ids")
        || lower.contains("record")
}

/// A pattern beginning with a literal key prefix (`^006…`) pins ids to one object.
fn pins_key_prefix(schema: &JsonValue) -> bool {
    pinned_key_prefix(schema).is_some()
}

/// The three characters a `^abc…` pattern pins record ids to.
fn pinned_key_prefix(schema: &JsonValue) -> Option<&str> {
    let node = schema.get("items").unwrap_or(schema);
    node.get("pattern")
        .and_then(JsonValue::as_str)
        .and_then(|p| p.strip_prefix('^'))
        .and_then(|rest| rest.get(..3))
        .filter(|head| head.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn lint_capability(l: &mut Linter<'_>, file: &str, cap: &Capability) {
    let s = &cap.spec;
    let schema_path = spec().key("input_schema");
    let uses = backend_uses(cap);
    let mut roles: BTreeMap<&str, BTreeSet<Role>> = BTreeMap::new();
    for u in &uses {
        roles.entry(u.param.as_str()).or_default().insert(u.role);
    }
    let visible = model_schema(s);
    // The key prefix to suggest in messages: the backend's object's, when it is a built-in one.
    let object = backend_object(cap);
    let builtin_prefix = object
        .as_deref()
        .and_then(|o| builtin_objects().into_iter().find(|d| d.api_name == o))
        .map(|d| d.key_prefix);
    let prefix = builtin_prefix
        .clone()
        .unwrap_or_else(|| "<key prefix>".to_owned());

    // generic-model-input and unbounded-string, over what the model sees.
    for (path, name, prop) in walk_properties(&visible) {
        let here = extend(&schema_path, &path);
        let used_as = |role| roles.get(name.as_str()).is_some_and(|r| r.contains(&role));
        let lower = name.to_ascii_lowercase();
        if !is_enumerated(prop) {
            if used_as(Role::Object) || OBJECT_NAMES.contains(&lower.as_str()) {
                l.push(GENERIC_MODEL_INPUT, file, &here, format!(
                    "`{name}` lets the model choose an object name; fix the object in the backend, or constrain `{name}` with an `enum` of the objects this capability is for"
                ));
            } else if used_as(Role::Field) || FIELD_NAMES.contains(&lower.as_str()) {
                l.push(GENERIC_MODEL_INPUT, file, &here, format!(
                    "`{name}` lets the model choose field names; list the fields in the backend, or constrain `{name}` with an `enum` of allowed fields"
                ));
            } else if (used_as(Role::RecordId) || looks_like_record_id(&name))
                && !pins_key_prefix(prop)
            {
                l.push(GENERIC_MODEL_INPUT, file, &here, format!(
                    "`{name}` takes a generic record id from the model; bind it (`bound_inputs: {{ {name}: session_record_id }}`) or pin it to one object with a key-prefix pattern such as `pattern: \"^{prefix}[A-Za-z0-9]{{12}}([A-Za-z0-9]{{3}})?$\"`"
                ));
            } else if used_as(Role::RecordId)
                && let Some(expected) = &builtin_prefix
                && let Some(pinned) = pinned_key_prefix(prop)
                && pinned != expected
            {
                l.push(GENERIC_MODEL_INPUT, file, &here, format!(
                    "`{name}` is pinned to key prefix `{pinned}`, but the backend reads `{}` records, whose ids start with `{expected}`; pin `^{expected}`",
                    object.as_deref().unwrap_or_default()
                ));
            }
        }
        for (at, node) in [
            (here.clone(), prop),
            (
                here.key("items"),
                prop.get("items").unwrap_or(&JsonValue::Null),
            ),
        ] {
            if has_type(node, "string") && node.get("maxLength").is_none() && !is_enumerated(node) {
                l.push(UNBOUNDED_STRING, file, &at, format!(
                    "`{name}` is a free string without `maxLength`; add `maxLength` (the longest value this purpose needs) or an `enum`"
                ));
            }
        }
    }

    // open-input-schema, over the whole schema.
    for (path, node) in object_schemas(&s.input_schema) {
        if node.get("additionalProperties") != Some(&JsonValue::Bool(false)) {
            let at = extend(&schema_path, &path);
            let which = if path.0.is_empty() {
                "the input schema".to_owned()
            } else {
                format!("`{}`", path)
            };
            l.push(
                OPEN_INPUT_SCHEMA,
                file,
                &at,
                format!("{which} accepts undeclared properties; add `additionalProperties: false`"),
            );
        }
    }

    // unconfirmed-write.
    let writes = s.classification.effect != Effect::Read || s.backend.writes();
    if writes && !s.human_in_the_loop.has_human() {
        // Point at the mode when it is written, else at the classification that makes it a write.
        let mut at = spec().key("human_in_the_loop");
        if l.set.line_of(file, &at) == l.set.line_of(file, &spec()) {
            at = spec().key("classification");
        }
        l.push(UNCONFIRMED_WRITE, file, &at, format!(
            "`{}` changes data or has side effects but runs without a person in the loop; set `human_in_the_loop: confirmation` (or an approval mode)",
            cap.name
        ));
    }

    // unscoped-private-capability (seed 003).
    if s.classification.data == DataClass::Private
        && s.classification.audience == crate::config::Audience::Service
    {
        let bound: Vec<&str> = s
            .bound_inputs
            .iter()
            .filter(|(_, src)| **src == BoundSource::VerifiedCustomerId)
            .map(|(name, _)| name.as_str())
            .collect();
        if bound.is_empty() {
            l.push(UNSCOPED_PRIVATE_CAPABILITY, file, &spec().key("classification"), format!(
                "private capability `{}` is for service agents but does not bind the verified customer id; add `bound_inputs: {{ customer: verified_customer_id }}` and filter on it (for example `{{ field: ContactId, op: eq, value: \"{{{{customer}}}}\" }}`)",
                cap.name
            ));
        } else if !uses.iter().any(|u| {
            bound.contains(&u.param.as_str()) && matches!(u.role, Role::Value | Role::RecordId)
        }) {
            l.push(UNSCOPED_PRIVATE_CAPABILITY, file, &spec().key("bound_inputs"), format!(
                "`{}` binds the verified customer id but the backend does not use it; scope the backend with it (a query filter or a written customer field)",
                bound.join("`, `")
            ));
        }
    }

    // vague-capability.
    let backend_path = spec().key("backend").key(s.backend.type_name());
    match &s.backend {
        Backend::RecordsQuery(_) => {
            for u in uses.iter().filter(|u| u.role == Role::Object) {
                l.push(VAGUE_CAPABILITY, file, &u.path, format!(
                    "the query's object comes from the model (`{{{{{}}}}}`); name one object in the template",
                    u.param
                ));
            }
        }
        Backend::RecordsCreate(w) | Backend::RecordsUpdate(w) => {
            let fields_path = backend_path.key("fields");
            if w.fields.is_empty() {
                l.push(
                    VAGUE_CAPABILITY,
                    file,
                    &fields_path,
                    "the field allow-list is empty; list the fields this capability writes"
                        .to_owned(),
                );
            } else if w.fields.contains_key("*") {
                l.push(
                    VAGUE_CAPABILITY,
                    file,
                    &fields_path.key("*"),
                    "`*` allows writing any field; list the fields this capability writes"
                        .to_owned(),
                );
            } else if let Some(object) = builtin_objects()
                .into_iter()
                .find(|o| o.api_name == w.object)
            {
                let all: BTreeSet<&str> =
                    object.fields.iter().map(|f| f.api_name.as_str()).collect();
                if all.len() > 1 && all.iter().all(|f| w.fields.contains_key(*f)) {
                    l.push(VAGUE_CAPABILITY, file, &fields_path, format!(
                        "the allow-list covers every field of {}: this is \"update records\", not one purpose; keep only the fields this capability needs",
                        w.object
                    ));
                }
            }
        }
        Backend::RecordsGet(_) => {}
    }
}

fn extend(base: &FieldPath, rel: &FieldPath) -> FieldPath {
    let mut p = base.clone();
    p.0.extend(rel.0.iter().cloned());
    p
}

/// One line per finding: `file:line: severity rule-id: message`.
pub fn to_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(
            out,
            "{}:{}: {} {}: {}",
            f.file,
            f.line,
            f.severity.as_str(),
            f.rule,
            f.message
        );
    }
    out
}

/// The SARIF schema the log names.
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// A SARIF 2.1.0 log with one run: the tool, every rule, and a result per finding located by
/// file (a relative URI) and line.
pub fn to_sarif(findings: &[Finding]) -> JsonValue {
    let rules: Vec<JsonValue> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": format!("{} {}", r.summary, r.help) },
                "help": { "text": r.help },
                "defaultConfiguration": { "level": r.severity.as_str() },
            })
        })
        .collect();
    let results: Vec<JsonValue> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "level": f.severity.as_str(),
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.file) },
                        "region": { "startLine": f.line.max(1) },
                    },
                }],
            });
            if let (Some(index), Some(map)) = (
                RULES.iter().position(|r| r.id == f.rule),
                result.as_object_mut(),
            ) {
                map.insert("ruleIndex".to_owned(), json!(index));
            }
            result
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "heddle-lint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://example.invalid/heddle",
                    "rules": rules,
                },
            },
            "results": results,
        }],
    })
}

/// A file path as a relative URI reference: forward slashes, everything outside the
/// unreserved set percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;

    /// HTTP transports do not load yet, so the rule is checked on the spec itself.
    #[test]
    fn plain_http_is_reported_for_remote_hosts_only() {
        let with_url = |url: &str| -> McpServerSpec {
            serde_json::from_value(json!({
                "transport": {"http": {"url": url}},
                "allow": ["read_file"],
            }))
            .unwrap()
        };
        let rules = |url: &str| -> Vec<&'static str> {
            mcp_server_findings(&with_url(url))
                .into_iter()
                .map(|(rule, _, _)| rule)
                .collect()
        };
        for remote in [
            "http://mcp.example.com/mcp",
            "HTTP://user@10.0.0.5:8080/mcp",
            "http://[2001:db8::1]/mcp",
        ] {
            assert_eq!(rules(remote), [MCP_PLAINTEXT_HTTP], "{remote}");
        }
        for fine in [
            "https://mcp.example.com/mcp",
            "http://localhost:3000/mcp",
            "http://127.0.0.1/mcp",
            "http://[::1]:8080/mcp",
        ] {
            assert!(rules(fine).is_empty(), "{fine}");
        }
        let (_, field, message) = mcp_server_findings(&with_url("http://mcp.example.com/x"))
            .pop()
            .unwrap();
        assert_eq!(field.to_string(), "spec.transport.http.url");
        assert!(message.contains("`mcp.example.com`"), "{message}");
    }
}
