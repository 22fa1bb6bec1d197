//! Loading a directory of files into a checked [`ConfigSet`]: parse each file (two passes: the
//! header to learn the kind, then the typed document, so parse errors keep their exact line
//! and path), check each document, then check references across files. Every problem is
//! collected, not just the first, and names file, line and field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as JsonValue};

use heddle_records::RecordId;
use heddle_records::metadata::USER_PREFIX;

use crate::config::{
    API_VERSION, Agent, AgentKind, Audience, Backend, Budget, Capability, Document, Effect,
    HitlMode, IdentityMode, Kind, MAX_CHECK_EVERY_CHARS, MAX_ROUTE_REQUEST_BYTES, MAX_STEPS,
    MAX_TURN_TIMEOUT_SECONDS, MAX_UPSTREAM_TIMEOUT_SECONDS, McpServer, ModelBinding, Provider,
    Route,
};
use crate::locate::{FieldPath, locate};
use crate::schema::{check_schema, has_type};
use crate::template::{
    Role, compile_query, is_partial_placeholder, placeholder, query_placeholders,
};

/// One problem in one file. Displays as `file:line:column: field: message`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; absent only when the parser could not place the problem.
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Field path (`spec.backend.records.update.fields`); empty for the whole document.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl From<heddle_yaml::YamlError> for ConfigError {
    fn from(e: heddle_yaml::YamlError) -> Self {
        Self {
            file: e.source_name,
            line: e.line,
            column: e.column,
            field: e.path,
            message: e.message,
        }
    }
}

/// A document with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    pub file: String,
    pub doc: T,
}

/// A checked set of agents, capabilities, model bindings and gateway routes: every reference
/// resolves, every name is unique per kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSet {
    pub agents: BTreeMap<String, Loaded<Agent>>,
    pub capabilities: BTreeMap<String, Loaded<Capability>>,
    pub model_bindings: BTreeMap<String, Loaded<ModelBinding>>,
    pub routes: BTreeMap<String, Loaded<Route>>,
    /// Upstream MCP servers (`kind: McpServer`).
    pub mcp_servers: BTreeMap<String, Loaded<McpServer>>,
    sources: BTreeMap<String, String>,
    hash: String,
}

/// The hashed form: definitions only, in name order, so formatting and comments do not make a
/// new version but any change of meaning does.
#[derive(Serialize)]
struct Canonical<'a> {
    api_version: &'static str,
    agents: BTreeMap<&'a str, &'a Agent>,
    capabilities: BTreeMap<&'a str, &'a Capability>,
    model_bindings: BTreeMap<&'a str, &'a ModelBinding>,
    /// Left out when empty, so a set without routes hashes as it did before routes existed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    routes: BTreeMap<&'a str, &'a Route>,
    /// Left out when empty, so a set without upstream servers hashes as it did before the
    /// kind existed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    mcp_servers: BTreeMap<&'a str, &'a McpServer>,
}

/// The kinds of document of a set, by name.
struct Documents<'a> {
    agents: &'a BTreeMap<String, Loaded<Agent>>,
    capabilities: &'a BTreeMap<String, Loaded<Capability>>,
    model_bindings: &'a BTreeMap<String, Loaded<ModelBinding>>,
    routes: &'a BTreeMap<String, Loaded<Route>>,
    mcp_servers: &'a BTreeMap<String, Loaded<McpServer>>,
}

impl ConfigSet {
    /// `sha256:<hex>` of [`ConfigSet::canonical_json`]: the version an execution names.
    pub fn content_hash(&self) -> &str {
        &self.hash
    }

    /// The definitions as canonical JSON (keys sorted, no whitespace, no file names).
    pub fn canonical_json(&self) -> Vec<u8> {
        canonical_json(&self.documents())
    }

    fn documents(&self) -> Documents<'_> {
        Documents {
            agents: &self.agents,
            capabilities: &self.capabilities,
            model_bindings: &self.model_bindings,
            routes: &self.routes,
            mcp_servers: &self.mcp_servers,
        }
    }

    /// The 1-based line of `field` in `file` (its deepest ancestor found when the field itself
    /// is not on a line of its own).
    pub fn line_of(&self, file: &str, field: &FieldPath) -> u64 {
        self.sources.get(file).map_or(1, |text| locate(text, field))
    }

    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.get(name).map(|l| &l.doc)
    }

    pub fn capability(&self, name: &str) -> Option<&Capability> {
        self.capabilities.get(name).map(|l| &l.doc)
    }

    pub fn model_binding(&self, name: &str) -> Option<&ModelBinding> {
        self.model_bindings.get(name).map(|l| &l.doc)
    }

    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.get(name).map(|l| &l.doc)
    }

    pub fn mcp_server(&self, name: &str) -> Option<&McpServer> {
        self.mcp_servers.get(name).map(|l| &l.doc)
    }
}

/// Stored documents by name as loaded ones; each one's "file" is `{kind}/{name}`, since a
/// stored version has no files.
fn loaded<T>(kind: &str, documents: BTreeMap<String, T>) -> BTreeMap<String, Loaded<T>> {
    documents
        .into_iter()
        .map(|(name, doc)| {
            let file = format!("{kind}/{name}");
            (name, Loaded { file, doc })
        })
        .collect()
}

/// The hashed structure of a set's definitions.
fn canonical<'a>(documents: &Documents<'a>) -> Canonical<'a> {
    fn by_name<T>(map: &BTreeMap<String, Loaded<T>>) -> BTreeMap<&str, &T> {
        map.iter().map(|(k, v)| (k.as_str(), &v.doc)).collect()
    }
    Canonical {
        api_version: API_VERSION,
        agents: by_name(documents.agents),
        capabilities: by_name(documents.capabilities),
        model_bindings: by_name(documents.model_bindings),
        routes: by_name(documents.routes),
        mcp_servers: by_name(documents.mcp_servers),
    }
}

fn canonical_json(documents: &Documents<'_>) -> Vec<u8> {
    // Keys sorted at every depth by the audit log's canonical form, not by serde_json's map
    // order: a dependency turns on `preserve_order`, and PostgreSQL's `jsonb` stores keys in
    // its own order. Serializing plain data cannot fail; an empty output would still hash
    // distinctly.
    serde_json::to_value(canonical(documents))
        .map(|value| heddle_audit::canonical_json(&value))
        .unwrap_or_default()
}

/// The first pass: enough to know what the file is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    api_version: String,
    kind: Kind,
    name: String,
    #[allow(dead_code, reason = "read in the second pass")]
    spec: IgnoredAny,
}

/// Collects errors for one file, placing each by its field path.
struct Errors<'a> {
    file: &'a str,
    text: &'a str,
    out: &'a mut Vec<ConfigError>,
}

impl Errors<'_> {
    fn push(&mut self, field: &FieldPath, message: impl Into<String>) {
        self.out.push(ConfigError {
            file: self.file.to_owned(),
            line: Some(locate(self.text, field)),
            column: None,
            field: field.to_string(),
            message: message.into(),
        });
    }
}

/// Loads `(path, text)` pairs, one YAML document each, into a checked set; or every problem
/// found, sorted by file and line.
pub fn load_dir<P: AsRef<str>, T: AsRef<str>>(
    files: &[(P, T)],
) -> Result<ConfigSet, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut agents: BTreeMap<String, Loaded<Agent>> = BTreeMap::new();
    let mut capabilities: BTreeMap<String, Loaded<Capability>> = BTreeMap::new();
    let mut model_bindings: BTreeMap<String, Loaded<ModelBinding>> = BTreeMap::new();
    let mut routes: BTreeMap<String, Loaded<Route>> = BTreeMap::new();
    let mut mcp_servers: BTreeMap<String, Loaded<McpServer>> = BTreeMap::new();
    let mut sources = BTreeMap::new();
    // Documents whose header parsed but whose spec did not: references to them are not
    // reported again as missing.
    let mut broken: BTreeSet<(Kind, String)> = BTreeSet::new();

    for (path, text) in files {
        let (file, text) = (path.as_ref(), text.as_ref());
        sources.insert(file.to_owned(), text.to_owned());
        let header: Header = match heddle_yaml::from_str(text, file) {
            Ok(h) => h,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        let mut errs = Errors {
            file,
            text,
            out: &mut errors,
        };
        let root = FieldPath::root();
        if header.api_version != API_VERSION {
            errs.push(
                &root.key("api_version"),
                format!(
                    "unsupported api_version `{}`; use `{API_VERSION}`",
                    header.api_version
                ),
            );
            continue;
        }
        if !is_name(&header.name) {
            errs.push(
                &root.key("name"),
                "a name is 1 to 64 of `a-z`, `0-9` and `_`, starting with a letter",
            );
        }
        match header.kind {
            Kind::Agent => match parse::<Agent>(text, file, &mut errors) {
                Some(doc) => insert(&mut agents, doc, file, text, &mut errors),
                None => {
                    broken.insert((Kind::Agent, header.name));
                }
            },
            Kind::Capability => match parse::<Capability>(text, file, &mut errors) {
                Some(doc) => {
                    check_capability(
                        &doc,
                        &mut Errors {
                            file,
                            text,
                            out: &mut errors,
                        },
                    );
                    insert(&mut capabilities, doc, file, text, &mut errors);
                }
                None => {
                    broken.insert((Kind::Capability, header.name));
                }
            },
            Kind::ModelBinding => match parse::<ModelBinding>(text, file, &mut errors) {
                Some(doc) => {
                    check_model_binding(
                        &doc,
                        &mut Errors {
                            file,
                            text,
                            out: &mut errors,
                        },
                    );
                    insert(&mut model_bindings, doc, file, text, &mut errors);
                }
                None => {
                    broken.insert((Kind::ModelBinding, header.name));
                }
            },
            Kind::Route => match parse::<Route>(text, file, &mut errors) {
                Some(doc) => insert(&mut routes, doc, file, text, &mut errors),
                None => {
                    broken.insert((Kind::Route, header.name));
                }
            },
            Kind::McpServer => {
                if let Some(doc) = parse::<McpServer>(text, file, &mut errors) {
                    let mut errs = Errors {
                        file,
                        text,
                        out: &mut errors,
                    };
                    for (path, message) in crate::mcp_server::check(&doc.spec) {
                        errs.push(&path, message);
                    }
                    insert(&mut mcp_servers, doc, file, text, &mut errors);
                }
            }
        }
    }

    for loaded in agents.values() {
        let text = sources.get(&loaded.file).map_or("", String::as_str);
        check_agent(
            &loaded.doc,
            &capabilities,
            &model_bindings,
            &broken,
            &mut Errors {
                file: &loaded.file,
                text,
                out: &mut errors,
            },
        );
    }

    for loaded in routes.values() {
        let text = sources.get(&loaded.file).map_or("", String::as_str);
        check_route(
            &loaded.doc,
            &model_bindings,
            &broken,
            &mut Errors {
                file: &loaded.file,
                text,
                out: &mut errors,
            },
        );
    }

    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        return Err(errors);
    }
    let hash = hash_of(&Documents {
        agents: &agents,
        capabilities: &capabilities,
        model_bindings: &model_bindings,
        routes: &routes,
        mcp_servers: &mcp_servers,
    });
    Ok(ConfigSet {
        agents,
        capabilities,
        model_bindings,
        routes,
        mcp_servers,
        sources,
        hash,
    })
}

fn hash_of(documents: &Documents<'_>) -> String {
    format!(
        "sha256:{}",
        heddle_crypto::hex_encode(heddle_crypto::sha256(canonical_json(documents)))
    )
}

/// The owned form of [`Canonical`], for reading a stored snapshot back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCanonical {
    api_version: String,
    agents: BTreeMap<String, Agent>,
    capabilities: BTreeMap<String, Capability>,
    model_bindings: BTreeMap<String, ModelBinding>,
    #[serde(default)]
    routes: BTreeMap<String, Route>,
    #[serde(default)]
    mcp_servers: BTreeMap<String, McpServer>,
}

impl ConfigSet {
    /// A set back from its [`ConfigSet::canonical_json`] (a stored configuration version).
    /// The content was checked when it was applied; this only refuses documents that do not
    /// parse or whose content no longer hashes to `expected_hash` (`sha256:<hex>` or bare
    /// hex), so an execution never runs a version other than the one it names.
    pub fn from_canonical(documents: JsonValue, expected_hash: &str) -> Result<Self, String> {
        let stored: StoredCanonical = serde_json::from_value(documents)
            .map_err(|err| format!("the stored configuration does not parse: {err}"))?;
        if stored.api_version != API_VERSION {
            return Err(format!(
                "the stored configuration is `{}`, this server reads `{API_VERSION}`",
                stored.api_version
            ));
        }
        let agents = loaded("agent", stored.agents);
        let capabilities = loaded("capability", stored.capabilities);
        let model_bindings = loaded("model_binding", stored.model_bindings);
        let routes = loaded("route", stored.routes);
        let mcp_servers = loaded("mcp_server", stored.mcp_servers);
        let documents = Documents {
            agents: &agents,
            capabilities: &capabilities,
            model_bindings: &model_bindings,
            routes: &routes,
            mcp_servers: &mcp_servers,
        };
        let hash = hash_of(&documents);
        let expected = expected_hash.trim_start_matches("sha256:");
        // Versions stored before keys were sorted at every depth hashed the documents in the
        // order they were written; such a version still reads back, under its recorded hash.
        let legacy = || {
            serde_json::to_vec(&canonical(&documents))
                .map(|bytes| heddle_crypto::hex_encode(heddle_crypto::sha256(&bytes)))
                .unwrap_or_default()
        };
        if hash.trim_start_matches("sha256:") == expected || legacy() == expected {
            return Ok(ConfigSet {
                agents,
                capabilities,
                model_bindings,
                routes,
                mcp_servers,
                sources: BTreeMap::new(),
                hash: format!("sha256:{expected}"),
            });
        }
        if hash.trim_start_matches("sha256:") != expected {
            return Err(format!(
                "the stored configuration hashes to {hash}, not the recorded {expected_hash}"
            ));
        }
        Ok(ConfigSet {
            agents,
            capabilities,
            model_bindings,
            routes,
            mcp_servers,
            sources: BTreeMap::new(),
            hash,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    heddle_yaml::from_str(text, file)
        .map_err(|e| errors.push(e.into()))
        .ok()
}

fn insert<S>(
    map: &mut BTreeMap<String, Loaded<Document<S>>>,
    doc: Document<S>,
    file: &str,
    text: &str,
    errors: &mut Vec<ConfigError>,
) {
    if let Some(first) = map.get(&doc.name) {
        let message = format!(
            "a {:?} named `{}` is already defined in {}",
            doc.kind, doc.name, first.file
        );
        Errors {
            file,
            text,
            out: errors,
        }
        .push(&FieldPath::root().key("name"), message);
        return;
    }
    map.insert(
        doc.name.clone(),
        Loaded {
            file: file.to_owned(),
            doc,
        },
    );
}

/// Names double as tool names, which providers limit to this shape.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64
}

fn spec() -> FieldPath {
    FieldPath::root().key("spec")
}

fn check_agent(
    agent: &Agent,
    capabilities: &BTreeMap<String, Loaded<Capability>>,
    model_bindings: &BTreeMap<String, Loaded<ModelBinding>>,
    broken: &BTreeSet<(Kind, String)>,
    errs: &mut Errors<'_>,
) {
    let s = &agent.spec;
    let identity = spec().key("identity");
    match s.identity.mode {
        IdentityMode::User => {
            if s.identity.service_user.is_some() {
                errs.push(
                    &identity.key("service_user"),
                    "`service_user` is only read with `mode: service_user`; remove it or set the mode",
                );
            }
            if s.identity.justification.is_some() {
                errs.push(
                    &identity.key("justification"),
                    "`justification` is only read with `mode: service_user`; remove it",
                );
            }
        }
        IdentityMode::ServiceUser => {
            match s.identity.service_user.as_deref() {
                None => errs.push(
                    &identity.key("mode"),
                    "`mode: service_user` needs `service_user`: the org user id the agent runs as",
                ),
                Some(id) => match RecordId::parse(id) {
                    Ok(id) if id.key_prefix() == USER_PREFIX => {}
                    _ => errs.push(
                        &identity.key("service_user"),
                        format!("`service_user` must be an org user id (15 or 18 characters, prefix {USER_PREFIX})"),
                    ),
                },
            }
            if s.identity
                .justification
                .as_deref()
                .is_none_or(|j| j.trim().is_empty())
            {
                errs.push(
                    &identity.key("mode"),
                    "`mode: service_user` needs a written `justification`: why this agent cannot run as its caller",
                );
            }
        }
    }
    if !model_bindings.contains_key(&s.model)
        && !broken.contains(&(Kind::ModelBinding, s.model.clone()))
    {
        errs.push(
            &spec().key("model"),
            format!("no ModelBinding named `{}` in this directory", s.model),
        );
    }
    if s.system_prompt.trim().is_empty() {
        errs.push(&spec().key("system_prompt"), "the system prompt is empty");
    }
    let mut seen = BTreeSet::new();
    for (i, name) in s.capabilities.iter().enumerate() {
        let here = spec().key("capabilities").index(i);
        if !seen.insert(name) {
            errs.push(&here, format!("`{name}` is listed twice"));
            continue;
        }
        match capabilities.get(name) {
            None if broken.contains(&(Kind::Capability, name.clone())) => {}
            None => errs.push(
                &here,
                format!("no Capability named `{name}` in this directory"),
            ),
            Some(cap) => {
                let audience = cap.doc.spec.classification.audience;
                let fits = matches!(
                    (s.kind, audience),
                    (AgentKind::Employee, Audience::Employee)
                        | (AgentKind::Service, Audience::Service)
                );
                if !fits {
                    errs.push(
                        &here,
                        format!(
                            "`{name}` is for audience `{}`; a {} agent may only use `{}` capabilities",
                            audience_str(audience),
                            agent_kind_str(s.kind),
                            audience_str(match s.kind {
                                AgentKind::Employee => Audience::Employee,
                                AgentKind::Service => Audience::Service,
                            })
                        ),
                    );
                }
            }
        }
    }
    for (key, budget) in [
        ("per_turn", &s.budgets.per_turn),
        ("per_session", &s.budgets.per_session),
        ("per_day", &s.budgets.per_day),
    ] {
        check_budget(budget, &spec().key("budgets").key(key), errs);
    }
    if !(1..=MAX_STEPS).contains(&s.limits.max_steps) {
        errs.push(
            &spec().key("limits").key("max_steps"),
            format!("`max_steps` must be 1 to {MAX_STEPS}"),
        );
    }
    if !(1..=MAX_TURN_TIMEOUT_SECONDS).contains(&s.limits.turn_timeout_seconds) {
        errs.push(
            &spec().key("limits").key("turn_timeout_seconds"),
            format!("`turn_timeout_seconds` must be 1 to {MAX_TURN_TIMEOUT_SECONDS}"),
        );
    }
    check_trust(&s.trust, model_bindings, broken, errs);
}

/// The trust block compiles (rules, thresholds) and every model binding it names exists.
fn check_trust(
    trust: &heddle_trust::config::TrustSpec,
    model_bindings: &BTreeMap<String, Loaded<ModelBinding>>,
    broken: &BTreeSet<(Kind, String)>,
    errs: &mut Errors<'_>,
) {
    let here = spec().key("trust");
    if let Err(problems) = heddle_trust::pipeline::AgentTrust::compile(trust) {
        for problem in problems {
            errs.push(&here, problem);
        }
    }
    let mut named: Vec<(FieldPath, &str)> = Vec::new();
    if let Some(binding) = &trust.content.moderation {
        named.push((here.key("content").key("moderation"), binding));
    }
    for (i, rule) in trust.rules.iter().enumerate() {
        if let heddle_trust::rules::RuleKind::LlmJudge { model, .. } = &rule.kind {
            named.push((here.key("rules").index(i).key("model"), model));
        }
    }
    if let Some(drift) = &trust.drift
        && drift.embedder != "local"
    {
        named.push((here.key("drift").key("embedder"), &drift.embedder));
    }
    for (path, name) in named {
        if !model_bindings.contains_key(name)
            && !broken.contains(&(Kind::ModelBinding, name.to_owned()))
        {
            errs.push(
                &path,
                format!("no ModelBinding named `{name}` in this directory"),
            );
        }
    }
}

fn check_route(
    route: &Route,
    model_bindings: &BTreeMap<String, Loaded<ModelBinding>>,
    broken: &BTreeSet<(Kind, String)>,
    errs: &mut Errors<'_>,
) {
    let s = &route.spec;
    match model_bindings.get(&s.model) {
        None if broken.contains(&(Kind::ModelBinding, s.model.clone())) => {}
        None => errs.push(
            &spec().key("model"),
            format!("no ModelBinding named `{}` in this directory", s.model),
        ),
        Some(binding) => match binding.doc.spec.provider {
            Provider::Openai | Provider::OpenaiCompatible => {}
            other => errs.push(
                &spec().key("model"),
                format!(
                    "a route forwards OpenAI-shaped requests as they are, so its binding must be \
                     `openai` or `openai_compatible`; `{}` is `{}`",
                    s.model,
                    match other {
                        Provider::Anthropic => "anthropic",
                        _ => "scripted",
                    }
                ),
            ),
        },
    }
    if s.description.as_ref().is_some_and(|d| d.len() > 1024) {
        errs.push(
            &spec().key("description"),
            "the description is longer than 1024 characters",
        );
    }
    for (key, budget) in [
        ("per_request", &s.budgets.per_request),
        ("per_day", &s.budgets.per_day),
    ] {
        check_budget(budget, &spec().key("budgets").key(key), errs);
    }
    let limits = spec().key("limits");
    if !(1024..=MAX_ROUTE_REQUEST_BYTES).contains(&s.limits.max_request_bytes) {
        errs.push(
            &limits.key("max_request_bytes"),
            format!("`max_request_bytes` must be 1024 to {MAX_ROUTE_REQUEST_BYTES}"),
        );
    }
    if !(1..=MAX_UPSTREAM_TIMEOUT_SECONDS).contains(&s.limits.upstream_timeout_seconds) {
        errs.push(
            &limits.key("upstream_timeout_seconds"),
            format!("`upstream_timeout_seconds` must be 1 to {MAX_UPSTREAM_TIMEOUT_SECONDS}"),
        );
    }
    if s.limits.default_max_tokens == 0 {
        errs.push(
            &limits.key("default_max_tokens"),
            "`default_max_tokens` must be at least 1",
        );
    }
    if !(1..=MAX_CHECK_EVERY_CHARS).contains(&s.streaming.check_every_chars) {
        errs.push(
            &spec().key("streaming").key("check_every_chars"),
            format!("`check_every_chars` must be 1 to {MAX_CHECK_EVERY_CHARS}"),
        );
    }
    if s.trust.drift.is_some() {
        errs.push(
            &spec().key("trust").key("drift"),
            "drift detection is not available on routes yet (it follows an agent's answers over \
             time); remove `drift`",
        );
    }
    check_trust(&s.trust, model_bindings, broken, errs);
}

fn check_budget(budget: &Budget, path: &FieldPath, errs: &mut Errors<'_>) {
    if budget.tokens == Some(0) {
        errs.push(
            &path.key("tokens"),
            "a token budget of 0 allows nothing; remove it or raise it",
        );
    }
    if let Some(cost) = budget.cost_usd
        && !(cost.is_finite() && cost > 0.0)
    {
        errs.push(
            &path.key("cost_usd"),
            "`cost_usd` must be a positive number",
        );
    }
}

pub(crate) fn audience_str(a: Audience) -> &'static str {
    match a {
        Audience::Employee => "employee",
        Audience::Service => "service",
    }
}

pub(crate) fn agent_kind_str(k: AgentKind) -> &'static str {
    match k {
        AgentKind::Employee => "employee",
        AgentKind::Service => "service",
    }
}

/// The roles an approval may name (the wire names of `heddle_types::Role`).
const APPROVER_ROLES: &[&str] = &[
    "admin",
    "builder",
    "operator",
    "viewer",
    "compliance_officer",
];

fn check_approval(
    cap: &Capability,
    properties: Option<&serde_json::Map<String, JsonValue>>,
    errs: &mut Errors<'_>,
) {
    let s = &cap.spec;
    let here = spec().key("approval");
    let conditional = s.human_in_the_loop == HitlMode::ConditionalApproval;
    let Some(approval) = &s.approval else {
        if conditional {
            errs.push(
                &spec().key("human_in_the_loop"),
                "`conditional_approval` needs `approval.when`: the condition over the arguments \
                 under which a person approves, e.g. `{ field: amount, op: gt, value: 10000 }`",
            );
        }
        return;
    };
    if !s.human_in_the_loop.has_human() || s.human_in_the_loop == HitlMode::Confirmation {
        errs.push(
            &here,
            "`approval` applies to the approval modes only; set `human_in_the_loop` to \
             approval, confirmation_then_approval or conditional_approval, or remove it",
        );
    }
    match (&approval.when, conditional) {
        (None, true) => errs.push(
            &here,
            "`conditional_approval` needs `when`: the condition over the arguments under which \
             a person approves",
        ),
        (Some(_), false) => errs.push(
            &here.key("when"),
            "`when` belongs to `human_in_the_loop: conditional_approval`; the other modes \
             always ask",
        ),
        (Some(filter), true) => {
            let known = |name: &str| {
                properties.is_some_and(|p| p.contains_key(name))
                    || s.bound_inputs.contains_key(name)
            };
            for field in crate::hitl::condition_fields(filter) {
                if !known(field) {
                    errs.push(
                        &here.key("when"),
                        format!("`{field}` is not an argument of this capability"),
                    );
                }
            }
        }
        (None, false) => {}
    }
    if !APPROVER_ROLES.contains(&approval.approver_role.as_str()) {
        errs.push(
            &here.key("approver_role"),
            format!(
                "`{}` is not a role; use one of {}",
                approval.approver_role,
                APPROVER_ROLES.join(", ")
            ),
        );
    }
    if !(60..=crate::config::MAX_APPROVAL_EXPIRY_SECONDS).contains(&approval.expires_after_seconds)
    {
        errs.push(
            &here.key("expires_after_seconds"),
            format!(
                "`expires_after_seconds` must be 60 to {}",
                crate::config::MAX_APPROVAL_EXPIRY_SECONDS
            ),
        );
    }
}

fn check_capability(cap: &Capability, errs: &mut Errors<'_>) {
    let s = &cap.spec;
    if s.description.trim().is_empty() {
        errs.push(
            &spec().key("description"),
            "describe the one business purpose of this capability",
        );
    } else if s.description.len() > 1024 {
        errs.push(
            &spec().key("description"),
            "the description is longer than 1024 characters",
        );
    }
    let schema_path = spec().key("input_schema");
    for (path, message) in check_schema(&s.input_schema) {
        let mut full = schema_path.clone();
        full.0.extend(path.0);
        errs.push(&full, message);
    }
    let properties = s
        .input_schema
        .get("properties")
        .and_then(JsonValue::as_object);
    let required: BTreeSet<&str> = s
        .input_schema
        .get("required")
        .and_then(JsonValue::as_array)
        .map(|r| r.iter().filter_map(JsonValue::as_str).collect())
        .unwrap_or_default();
    for name in s.bound_inputs.keys() {
        let here = spec().key("bound_inputs").key(name);
        if !crate::template::is_identifier(name) {
            errs.push(
                &here,
                "parameter names are letters, digits and `_`, at most 64",
            );
        }
        if let Some(declared) = properties.and_then(|p| p.get(name))
            && declared.get("type").is_some()
            && !has_type(declared, "string")
        {
            errs.push(
                &schema_path.key("properties").key(name),
                format!("bound parameter `{name}` receives an id string; declare it `type: string` or leave it out"),
            );
        }
    }
    check_approval(cap, properties, errs);
    if s.backend.writes() && s.classification.effect == Effect::Read {
        errs.push(
            &spec().key("classification").key("effect"),
            format!(
                "a `{}` backend changes data; classify it `effect: write`",
                s.backend.type_name()
            ),
        );
    }

    // Every placeholder must name a parameter the call is sure to have.
    let backend_path = spec().key("backend").key(s.backend.type_name());
    let mut uses = Vec::new();
    match &s.backend {
        Backend::RecordsQuery(q) => {
            uses = query_placeholders(&q.query, &backend_path.key("query"));
        }
        Backend::RecordsGet(g) => {
            check_object(&g.object, &backend_path.key("object"), errs);
            record_id_use(Some(&g.record_id), &backend_path, &mut uses, errs);
        }
        Backend::RecordsCreate(w) | Backend::RecordsUpdate(w) => {
            check_object(&w.object, &backend_path.key("object"), errs);
            let is_update = matches!(s.backend, Backend::RecordsUpdate(_));
            match (is_update, &w.record_id) {
                (true, None) => errs.push(
                    &backend_path,
                    "`records.update` needs `record_id`: the placeholder of the record to change",
                ),
                (false, Some(_)) => errs.push(
                    &backend_path.key("record_id"),
                    "`records.create` makes a new record; remove `record_id`",
                ),
                _ => {}
            }
            record_id_use(w.record_id.as_ref(), &backend_path, &mut uses, errs);
            for (field, value) in &w.fields {
                let here = backend_path.key("fields").key(field);
                match placeholder(value) {
                    Some(param) => uses.push(crate::template::PlaceholderUse {
                        param: param.to_owned(),
                        path: here,
                        role: if field == "*" {
                            Role::Field
                        } else {
                            Role::Value
                        },
                    }),
                    None => errs.push(
                        &here,
                        format!(
                            "the value of `{field}` must be one placeholder, like \"{{{{param}}}}\""
                        ),
                    ),
                }
            }
        }
    }
    for u in &uses {
        if u.param.is_empty() {
            errs.push(
                &u.path,
                "a placeholder must be the whole value (\"{{param}}\"); text around it is not allowed",
            );
        } else if s.bound_inputs.contains_key(&u.param) {
        } else if !properties.is_some_and(|p| p.contains_key(&u.param)) {
            errs.push(
                &u.path,
                format!(
                    "`{{{{{}}}}}` names no property of `input_schema` and no bound input",
                    u.param
                ),
            );
        } else if !required.contains(u.param.as_str()) {
            errs.push(
                &u.path,
                format!(
                    "`{}` is used by the backend, so list it in `input_schema.required`",
                    u.param
                ),
            );
        }
    }
    if let Backend::RecordsQuery(q) = &s.backend
        && !uses.iter().any(|u| u.param.is_empty())
    {
        let sample = sample_arguments(s);
        if let Err(e) = compile_query(&q.query, &sample) {
            errs.push(&backend_path.key("query"), e.to_string());
        }
    }
}

fn check_object(object: &str, path: &FieldPath, errs: &mut Errors<'_>) {
    if object.trim().is_empty() || object.contains("{{") {
        errs.push(
            path,
            "`object` must name one object (an API name), not a placeholder",
        );
    }
}

fn record_id_use(
    record_id: Option<&String>,
    backend_path: &FieldPath,
    uses: &mut Vec<crate::template::PlaceholderUse>,
    errs: &mut Errors<'_>,
) {
    let Some(value) = record_id else { return };
    let here = backend_path.key("record_id");
    match placeholder(value) {
        Some(param) => uses.push(crate::template::PlaceholderUse {
            param: param.to_owned(),
            path: here,
            role: Role::RecordId,
        }),
        None if is_partial_placeholder(value) => errs.push(&here, "`record_id` must be one placeholder"),
        None => errs.push(
            &here,
            "`record_id` must be a placeholder (\"{{param}}\") naming the parameter that holds the id",
        ),
    }
}

/// Plausible arguments (first enum value, or a value of the declared type) to check that a
/// query template fills into a well-formed query.
fn sample_arguments(s: &crate::config::CapabilitySpec) -> Map<String, JsonValue> {
    let mut args = Map::new();
    if let Some(props) = s
        .input_schema
        .get("properties")
        .and_then(JsonValue::as_object)
    {
        for (name, schema) in props {
            args.insert(name.clone(), sample(schema));
        }
    }
    for name in s.bound_inputs.keys() {
        args.insert(
            name.clone(),
            JsonValue::String("005000000000001AAA".to_owned()),
        );
    }
    args
}

fn sample(schema: &JsonValue) -> JsonValue {
    if let Some(first) = schema
        .get("enum")
        .and_then(JsonValue::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    let t = |name| has_type(schema, name);
    if t("integer") || t("number") {
        JsonValue::from(1)
    } else if t("boolean") {
        JsonValue::Bool(true)
    } else if t("array") {
        JsonValue::Array(vec![schema.get("items").map_or(JsonValue::Null, sample)])
    } else if t("object") {
        JsonValue::Object(Map::new())
    } else {
        JsonValue::String("x".to_owned())
    }
}

fn check_model_binding(binding: &ModelBinding, errs: &mut Errors<'_>) {
    let s = &binding.spec;
    if s.model.trim().is_empty() {
        errs.push(&spec().key("model"), "name the provider's model");
    }
    match (&s.base_url, s.provider) {
        (None, Provider::OpenaiCompatible) => errs.push(
            &spec().key("provider"),
            "`openai_compatible` needs `base_url` (for example http://localhost:11434/v1)",
        ),
        (Some(_), Provider::Scripted) => {
            errs.push(
                &spec().key("base_url"),
                "the scripted provider makes no calls; remove `base_url`",
            );
        }
        (Some(url), _) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            errs.push(
                &spec().key("base_url"),
                "`base_url` must be an http:// or https:// URL",
            );
        }
        _ => {}
    }
    match (&s.script, s.provider) {
        (None, Provider::Scripted) => errs.push(
            &spec().key("provider"),
            "the scripted provider plays `script`: a list of model turns (text and/or tool_calls)",
        ),
        (Some(script), Provider::Scripted) if script.turns.is_empty() => errs.push(
            &spec().key("script"),
            "the script has no turns; give at least one",
        ),
        (Some(_), Provider::Openai | Provider::Anthropic | Provider::OpenaiCompatible) => {
            errs.push(
                &spec().key("script"),
                "only the scripted provider plays a script; remove `script`",
            );
        }
        _ => {}
    }
    match (&s.credential, s.provider) {
        (None, Provider::Openai | Provider::Anthropic) => errs.push(
            &spec().key("provider"),
            "this provider needs `credential`: the name of the vault secret holding its API key",
        ),
        (Some(_), Provider::Scripted) => {
            errs.push(
                &spec().key("credential"),
                "the scripted provider needs no credential; remove it",
            );
        }
        (Some(name), _) => {
            let looks_like_key = name.starts_with("sk-")
                || name.starts_with("sk_")
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if looks_like_key {
                errs.push(
                    &spec().key("credential"),
                    "`credential` is the name of a vault secret (letters, digits, `_ - .`, at most 64), never the key itself; store the key in the vault and rotate it if it was ever committed",
                );
            }
        }
        _ => {}
    }
    if let Some(price) = &s.price {
        for (key, v) in [
            (
                "input_usd_per_million_tokens",
                price.input_usd_per_million_tokens,
            ),
            (
                "output_usd_per_million_tokens",
                price.output_usd_per_million_tokens,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                errs.push(
                    &spec().key("price").key(key),
                    "a price must be a non-negative number",
                );
            }
        }
    }
}
