//! Static server settings: built-in defaults, then `heddle.toml`, then `HEDDLE_*` environment
//! variables, then command-line flags — each later source overrides the earlier ones.
//! Nested keys use `__` in the environment: `HEDDLE_HTTP__MAX_BODY_BYTES=2097152`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where the embedded database lives when no `database_url` is given.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Shared rate limits across processes; without it limits are per process.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key Heddle writes, so deployments can share one Redis.
    pub redis_key_prefix: String,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub rate_limits: RateLimitConfig,
    pub auth: AuthConfig,
    pub bootstrap: BootstrapConfig,
    pub vault: VaultConfig,
    pub audit: AuditConfig,
    pub siem: SiemConfig,
    /// How one-time verification codes are sent: `log` (development) or `smtp`.
    pub mail: heddle_mail::MailConfig,
    /// The governed runtime: sessions, turns, customer verification.
    pub runtime: RuntimeConfig,
    /// The OpenAI-compatible endpoint (`/v1/chat/completions`, `/v1/models`,
    /// `/v1/embeddings`).
    pub gateway: GatewayConfig,
    /// RFC 9116 `/.well-known/security.txt`; not served when absent.
    pub security_txt: Option<SecurityTxtConfig>,
    /// The MCP endpoint, `/mcp/{environment}/{agent}`.
    pub mcp: McpConfig,
}

/// MCP over streamable HTTP. Every request needs a bearer credential, as the API does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    pub enabled: bool,
    /// Browser origins allowed to call it (`https://app.example.com`, `http://localhost:*`).
    /// A request carrying any other `Origin` header gets 403, so a page of another site
    /// (DNS rebinding included) cannot reach it; MCP clients outside a browser send none.
    pub allowed_origins: Vec<String>,
    /// `Host` header values accepted (`heddle.example.com`, `localhost:8080`); empty accepts
    /// any, since every request is authenticated by its bearer credential anyway.
    pub allowed_hosts: Vec<String>,
    /// Lets `kind: McpServer` upstreams over HTTP reach a loopback or private address (an
    /// MCP server on this host or inside the cluster), only the addresses their own URL's
    /// host resolves to. Off by default: an upstream URL is written by a builder, and a
    /// private address is where an SSRF would aim.
    pub upstream_allow_private_network: bool,
    /// When not empty, the hosts an HTTP upstream's URL may name at all
    /// (`mcp.example.com`, `*.internal.example.com`, `10.1.2.3`).
    pub upstream_allowed_hosts: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            upstream_allow_private_network: false,
            upstream_allowed_hosts: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("heddle-data"),
            database_url: None,
            redis_url: None,
            redis_key_prefix: "heddle".to_owned(),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            rate_limits: RateLimitConfig::default(),
            auth: AuthConfig::default(),
            bootstrap: BootstrapConfig::default(),
            vault: VaultConfig::default(),
            audit: AuditConfig::default(),
            siem: SiemConfig::default(),
            mail: heddle_mail::MailConfig::default(),
            runtime: RuntimeConfig::default(),
            gateway: GatewayConfig::default(),
            security_txt: None,
            mcp: McpConfig::default(),
        }
    }
}

/// `[gateway]`: the OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The environment whose routes serve a principal that is not pinned to a route and
    /// sends no `Heddle-Environment` header.
    pub default_environment: heddle_types::Environment,
    /// When a request's record (its opening steps) must be durable: `before_upstream` (the
    /// default: nothing is sent that is not recorded) or `batched` (queued, committed with
    /// the next batch, within milliseconds; the request goes upstream meanwhile — less added
    /// latency, but a crash in that window loses the request's record). Routes with a daily
    /// budget always wait, since the hold decides whether the request may go at all. Under
    /// `batched`, a batch that fails to commit stops further requests until one commits.
    pub record: heddle_gateway::RecordTiming,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            default_environment: heddle_types::Environment::Prod,
            record: heddle_gateway::RecordTiming::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `heddle_server=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take before the server answers 408. Not applied to
    /// `POST /v1/sessions/{id}/messages` nor to `POST /v1/sessions/{id}/actions/{action}/confirm`
    /// (which resumes the held turn): a turn runs up to its agent's own
    /// `turn_timeout_seconds`, which the runtime enforces (see
    /// [`Config::turn_request_timeout`] for the backstop).
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Origins allowed to call the API from a browser, e.g. `https://console.example.com`.
    /// Never `*`: credentials are allowed.
    pub cors_allowed_origins: Vec<String>,
    /// Proxies (CIDR) whose `X-Forwarded-For` is believed for the client address.
    pub trusted_proxies: Vec<String>,
    pub hsts_max_age_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 30,
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            hsts_max_age_secs: 63_072_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Every request, by client address, before authentication.
    pub per_ip: QuotaConfig,
    /// Authenticated requests, by API key or user.
    pub per_principal: QuotaConfig,
    /// Login attempts, by client address and by account.
    pub login: QuotaConfig,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip: QuotaConfig {
                per_minute: 6000,
                burst: 500,
            },
            per_principal: QuotaConfig {
                per_minute: 6000,
                burst: 500,
            },
            login: QuotaConfig {
                per_minute: 10,
                burst: 5,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub access_token_ttl_minutes: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Email of the first admin created on an empty database.
    pub admin_email: String,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            admin_email: heddle_identity::DEFAULT_ADMIN_EMAIL.to_owned(),
        }
    }
}

/// Where the master key (KEK) comes from. The key itself is never a config value: it is
/// `HEDDLE_MASTER_KEY` or the content of `master_key_file`. Without either, the embedded
/// SQLite setup generates `<data_dir>/master.key` on first start; PostgreSQL deployments must
/// give every process the same key explicitly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaultConfig {
    pub master_key_file: Option<PathBuf>,
    /// Keys from before a rotation, accepted until `heddle keys rotate-master` re-wrapped
    /// everything under the current key.
    pub previous_master_key_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// How often each tenant's grown log gets a signed checkpoint.
    pub checkpoint_interval_secs: u64,
    /// Audit event payloads older than this are purged (their hashes and the checkpoints
    /// stay, so the rest still verifies).
    pub retention_days: u32,
    /// How often the retention job runs.
    pub retention_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 300,
            retention_days: 365,
            retention_interval_secs: 3600,
        }
    }
}

/// Forwarding the audit log to SIEM sinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiemConfig {
    /// How often due sinks are looked for, in milliseconds.
    pub delivery_interval_ms: u64,
    /// First retry delay after a failure; doubles (with jitter) up to `retry_cap_secs`.
    pub retry_base_ms: u64,
    pub retry_cap_secs: u64,
    /// Private or loopback addresses (CIDR) sinks may be at, e.g. an on-premises Splunk.
    /// Everything private is refused otherwise (SSRF protection).
    pub allow_private_addresses: Vec<String>,
}

impl Default for SiemConfig {
    fn default() -> Self {
        Self {
            delivery_interval_ms: 2000,
            retry_base_ms: 1000,
            retry_cap_secs: 300,
            allow_private_addresses: Vec::new(),
        }
    }
}

/// How message text appears in execution steps and audit events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentSetting {
    /// SHA-256 and length only: nobody reading steps or the audit log sees the text.
    #[default]
    Digest,
    /// Also the text, sealed under the tenant's vault key, for auditors who open it.
    Sealed,
}

/// The governed runtime: limits that are the operator's, not an agent author's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Upper bound on the tokens one model call may generate.
    pub max_output_tokens: u32,
    /// A running turn older than its agent's `turn_timeout_seconds` plus this is taken as
    /// abandoned (its process died): the next message may start a new turn.
    pub abandon_grace_secs: u64,
    /// How long a customer's one-time verification code is valid.
    pub verification_code_ttl_secs: u64,
    /// Wrong codes accepted before the code is void and a new one must be requested.
    pub verification_max_attempts: u32,
    /// The channel's name in the verification email ("Your … verification code").
    pub verification_sender_name: String,
    /// `digest` (default) or `sealed` (under the tenant's vault key).
    pub content: ContentSetting,
    /// Lets model bindings reach a base URL on a loopback or private address (Ollama on
    /// localhost, vLLM in the cluster). Off by default: that is where an SSRF would aim.
    pub providers_allow_private_network: bool,
    /// How often the action worker looks for approved actions still to run (also those
    /// whose process died while running them) and for requests past their expiry. It also
    /// runs once at start-up. 1–3600.
    pub action_worker_interval_secs: u64,
    /// How long a process holds an approved action it runs before another may take it over
    /// (the holder presumed dead). Longer than the slowest effect; 10–3600.
    pub action_lease_secs: u64,
    /// Announces actions waiting for approval with a signed webhook; none by default.
    pub approval_webhook: Option<ApprovalWebhookConfig>,
    /// A directory with all-MiniLM-L6-v2 (`config.json`, `tokenizer.json`,
    /// `model.safetensors`) for agents whose drift detection says `embedder: local`. Loaded
    /// at start-up; nothing is ever downloaded.
    pub minilm_dir: Option<PathBuf>,
}

/// `[runtime.approval_webhook]`: where approvers are told of a new request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalWebhookConfig {
    /// `https://…` (or `http://` to a listed private address).
    pub url: String,
    /// The name of the environment variable holding the signing secret — never the secret
    /// itself, and not a `HEDDLE_*` name (those are settings).
    pub secret_env: String,
    /// The console's base URL; notifications link to `<console_url>/approvals/<id>`.
    #[serde(default)]
    pub console_url: Option<String>,
    /// Private networks (CIDR) the receiver may be on, e.g. `["10.0.5.20/32"]`.
    #[serde(default)]
    pub allow_private_addresses: Vec<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_output_tokens: 1024,
            abandon_grace_secs: 30,
            verification_code_ttl_secs: 600,
            verification_max_attempts: 5,
            verification_sender_name: "Heddle".to_owned(),
            content: ContentSetting::Digest,
            providers_allow_private_network: false,
            action_worker_interval_secs: 5,
            action_lease_secs: 120,
            approval_webhook: None,
            minilm_dir: None,
        }
    }
}

/// Largest `runtime.max_output_tokens` accepted.
const MAX_OUTPUT_TOKENS: u32 = 200_000;
/// Longest `runtime.verification_sender_name`, in characters.
const MAX_SENDER_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityTxtConfig {
    /// `mailto:` or `https:` URIs.
    pub contact: Vec<String>,
    /// RFC 3339 timestamp after which the file is stale (RFC 9116 requires it).
    pub expires: String,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub preferred_languages: Option<String>,
    #[serde(default)]
    pub acknowledgments: Option<String>,
}

/// One problem found in the configuration, with where the offending value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub source: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (from {}): {}", self.key, self.source, self.message)
    }
}

/// Overrides from command-line flags, applied last.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
}

/// The layered sources, kept so problems can name where a value came from.
#[derive(Debug)]
pub struct ConfigSources {
    figment: Figment,
}

impl ConfigSources {
    /// `file` is read if it exists; a file named explicitly must exist.
    pub fn new(file: &Path, file_required: bool, overrides: &CliOverrides) -> Self {
        let toml = if file_required {
            Toml::file_exact(file)
        } else {
            Toml::file(file)
        };
        let env = Env::prefixed("HEDDLE_")
            .filter(|key| {
                // HEDDLE_CONFIG names the file; HEDDLE_TEST_* belong to the test suites;
                // HEDDLE_MASTER_KEY is a secret read by the vault, never a config value.
                // Keys keep the case they were set with.
                let key = key.as_str().to_ascii_lowercase();
                // HEDDLE_API_KEY is the credential `heddle mcp` acts with, also never a setting.
                key != "config"
                    && key != "master_key"
                    && key != "api_key"
                    && !key.starts_with("test_")
            })
            .split("__");
        let figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(toml)
            .merge(env)
            .merge(Serialized::defaults(overrides));
        Self { figment }
    }

    /// The effective configuration, or every problem found in it.
    pub fn load(&self) -> Result<Config, Vec<ConfigProblem>> {
        let config: Config = self.figment.extract().map_err(|errors| {
            errors
                .into_iter()
                .map(|error| ConfigProblem {
                    key: if error.path.is_empty() {
                        "(root)".to_owned()
                    } else {
                        error.path.join(".")
                    },
                    source: error
                        .metadata
                        .as_ref()
                        .map(describe_source)
                        .unwrap_or_else(|| "unknown source".to_owned()),
                    message: error.kind.to_string(),
                })
                .collect::<Vec<_>>()
        })?;
        let problems: Vec<ConfigProblem> = validate(&config)
            .into_iter()
            .map(|(key, message)| ConfigProblem {
                source: self.source_of(key),
                key: key.to_owned(),
                message,
            })
            .collect();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    fn source_of(&self, key: &str) -> String {
        self.figment
            .find_metadata(key)
            .map(describe_source)
            .unwrap_or_else(|| "defaults".to_owned())
    }
}

fn describe_source(metadata: &figment::Metadata) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => format!("{} `{}`", metadata.name, path.display()),
        Some(other) => format!("{} ({other})", metadata.name),
        None => metadata.name.to_string(),
    }
}

/// IP addresses and CIDR ranges from configuration; entries that parse as neither are left
/// out (validation has reported them already).
pub fn parse_networks(entries: &[String]) -> Vec<ipnet::IpNet> {
    entries
        .iter()
        .filter_map(|entry| {
            entry.parse::<ipnet::IpNet>().ok().or_else(|| {
                entry
                    .parse::<std::net::IpAddr>()
                    .ok()
                    .map(ipnet::IpNet::from)
            })
        })
        .collect()
}

impl Config {
    /// Delivery settings for the audit log's SIEM worker.
    pub fn siem_settings(&self) -> heddle_audit_log::SiemSettings {
        let outbound = heddle_outbound::OutboundPolicy {
            allow_private_addresses: parse_networks(&self.siem.allow_private_addresses),
            ..heddle_outbound::OutboundPolicy::default()
        };
        heddle_audit_log::SiemSettings {
            interval: std::time::Duration::from_millis(self.siem.delivery_interval_ms),
            retry_base: std::time::Duration::from_millis(self.siem.retry_base_ms),
            retry_cap: std::time::Duration::from_secs(self.siem.retry_cap_secs),
            outbound,
            ..heddle_audit_log::SiemSettings::default()
        }
    }

    /// The runtime's settings.
    /// The approval webhook with its secret read from the environment, when configured.
    pub fn approval_webhook(&self) -> Result<Option<heddle_runtime::ApprovalWebhook>, String> {
        let Some(hook) = &self.runtime.approval_webhook else {
            return Ok(None);
        };
        let secret = std::env::var(&hook.secret_env)
            .ok()
            .filter(|value| value.len() >= 16)
            .ok_or_else(|| {
                format!(
                    "runtime.approval_webhook.secret_env: environment variable `{}` must hold \
                     the signing secret, at least 16 characters",
                    hook.secret_env
                )
            })?;
        Ok(Some(heddle_runtime::ApprovalWebhook {
            url: hook.url.clone(),
            secret: heddle_crypto::SecretString::from(secret),
            console_url: hook.console_url.clone(),
            allow_private_addresses: parse_networks(&hook.allow_private_addresses),
        }))
    }

    pub fn runtime_settings(&self) -> heddle_runtime::RuntimeSettings {
        let runtime = &self.runtime;
        let mut settings = heddle_runtime::RuntimeSettings {
            content: match runtime.content {
                ContentSetting::Digest => heddle_audit_log::ContentRecording::Digest,
                ContentSetting::Sealed => heddle_audit_log::ContentRecording::Sealed {
                    scope: "tenant".to_owned(),
                },
            },
            max_output_tokens: runtime.max_output_tokens,
            abandon_grace: std::time::Duration::from_secs(runtime.abandon_grace_secs),
            verification: heddle_runtime::VerificationSettings {
                code_ttl: std::time::Duration::from_secs(runtime.verification_code_ttl_secs),
                max_attempts: runtime.verification_max_attempts,
                sender_name: runtime.verification_sender_name.clone(),
            },
            ..heddle_runtime::RuntimeSettings::default()
        };
        settings.providers.allow_private_network = runtime.providers_allow_private_network;
        settings.mcp_upstreams = heddle_runtime::UpstreamReach {
            allow_private_network: self.mcp.upstream_allow_private_network,
            // Checked by `validate`: a pattern that does not parse never gets here.
            allowed_hosts: self
                .mcp
                .upstream_allowed_hosts
                .iter()
                .filter_map(|host| host.parse().ok())
                .collect(),
        };
        settings.action_lease = std::time::Duration::from_secs(runtime.action_lease_secs);
        settings
    }

    /// How often the pending-action worker runs (`runtime.action_worker_interval_secs`).
    pub fn action_worker_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.runtime.action_worker_interval_secs)
    }

    /// How long a `POST …/messages` may run before the server answers 408: the longest turn
    /// an agent may declare plus the abandon grace. The runtime ends each turn at its agent's
    /// own `turn_timeout_seconds`, so this is only a backstop; `http.request_timeout_secs`
    /// does not apply to turns.
    pub fn turn_request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            u64::from(heddle_agents::config::MAX_TURN_TIMEOUT_SECONDS)
                .saturating_add(self.runtime.abandon_grace_secs)
                .saturating_add(TURN_REQUEST_MARGIN_SECS),
        )
    }

    /// Where the embedded setup keeps a generated master key, when none is configured.
    pub fn generated_master_key_path(&self) -> Option<PathBuf> {
        self.database_url
            .is_none()
            .then(|| self.data_dir.join("master.key"))
    }

    /// The database to open: the configured URL, or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("heddle.db").display()
            ),
        }
    }
}

/// Time a turn's request gets beyond the turn itself, to record its end and answer.
const TURN_REQUEST_MARGIN_SECS: u64 = 30;

/// Semantic checks serde cannot express. Returns `(key, message)` pairs.
fn validate(config: &Config) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if let Some(url) = &config.database_url {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            problems.push((
                "database_url",
                "must start with `sqlite:` or `postgres://`".to_owned(),
            ));
        }
    }
    if let Some(url) = &config.redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        problems.push((
            "redis_url",
            "must start with `redis://` or `rediss://`".to_owned(),
        ));
    }
    if config.redis_key_prefix.is_empty()
        || config.redis_key_prefix.len() > 64
        || config
            .redis_key_prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        problems.push((
            "redis_key_prefix",
            "must be 1–64 characters without spaces".to_owned(),
        ));
    }
    if tracing_subscriber::EnvFilter::try_new(&config.log.level).is_err() {
        problems.push((
            "log.level",
            format!("`{}` is not a valid log filter", config.log.level),
        ));
    }
    if !(1024..=64 * 1024 * 1024).contains(&config.http.max_body_bytes) {
        problems.push((
            "http.max_body_bytes",
            "must be between 1024 and 67108864".to_owned(),
        ));
    }
    if config.http.request_timeout_secs == 0 {
        problems.push(("http.request_timeout_secs", "must be at least 1".to_owned()));
    }
    for origin in &config.http.cors_allowed_origins {
        if origin == "*" {
            problems.push((
                "http.cors_allowed_origins",
                "`*` is not allowed: list each origin (credentials are enabled)".to_owned(),
            ));
        } else if !(origin.starts_with("https://") || origin.starts_with("http://"))
            || origin.ends_with('/')
            || http::HeaderValue::from_str(origin).is_err()
        {
            problems.push((
                "http.cors_allowed_origins",
                format!("`{origin}` must be an origin like `https://console.example.com`"),
            ));
        }
    }
    for origin in &config.mcp.allowed_origins {
        let (scheme, rest) = origin.split_once("://").unwrap_or(("", ""));
        if origin == "*"
            || !matches!(scheme, "http" | "https")
            || rest.is_empty()
            || rest.contains('/')
            || http::HeaderValue::from_str(origin).is_err()
        {
            problems.push((
                "mcp.allowed_origins",
                format!(
                    "`{origin}` must be an origin like `https://app.example.com` (a port, or \
                     `:*` for any, may follow)"
                ),
            ));
        }
    }
    for host in &config.mcp.allowed_hosts {
        if host.is_empty() || host.contains(['/', ' ', '*']) {
            problems.push((
                "mcp.allowed_hosts",
                format!("`{host}` must be a host name, optionally with `:port`"),
            ));
        }
    }
    for host in &config.mcp.upstream_allowed_hosts {
        if let Err(error) = host.parse::<heddle_outbound::HostPattern>() {
            problems.push(("mcp.upstream_allowed_hosts", error.to_string()));
        }
    }
    for proxy in &config.http.trusted_proxies {
        if proxy.parse::<ipnet::IpNet>().is_err() && proxy.parse::<std::net::IpAddr>().is_err() {
            problems.push((
                "http.trusted_proxies",
                format!("`{proxy}` is not an IP address or CIDR range"),
            ));
        }
    }
    for (key, quota) in [
        ("rate_limits.per_ip", config.rate_limits.per_ip),
        (
            "rate_limits.per_principal",
            config.rate_limits.per_principal,
        ),
        ("rate_limits.login", config.rate_limits.login),
    ] {
        if quota.per_minute == 0 || quota.burst == 0 {
            problems.push((
                key,
                "per_minute and burst must both be at least 1".to_owned(),
            ));
        }
    }
    if !(1..=24 * 60).contains(&config.auth.access_token_ttl_minutes) {
        problems.push((
            "auth.access_token_ttl_minutes",
            "must be between 1 and 1440 (access tokens are short-lived)".to_owned(),
        ));
    }
    if heddle_identity::validate::email(&config.bootstrap.admin_email).is_err() {
        problems.push((
            "bootstrap.admin_email",
            format!("`{}` is not a valid email", config.bootstrap.admin_email),
        ));
    }
    if config.siem.delivery_interval_ms == 0 || config.siem.retry_base_ms == 0 {
        problems.push((
            "siem",
            "delivery_interval_ms and retry_base_ms must be at least 1".to_owned(),
        ));
    }
    for entry in &config.siem.allow_private_addresses {
        if entry.parse::<ipnet::IpNet>().is_err() && entry.parse::<std::net::IpAddr>().is_err() {
            problems.push((
                "siem.allow_private_addresses",
                format!("`{entry}` is not an IP address or CIDR range"),
            ));
        }
    }
    if config.audit.retention_days == 0 || config.audit.retention_interval_secs == 0 {
        problems.push((
            "audit.retention_days",
            "retention_days and retention_interval_secs must be at least 1".to_owned(),
        ));
    }
    if config.audit.checkpoint_interval_secs == 0 {
        problems.push((
            "audit.checkpoint_interval_secs",
            "must be at least 1".to_owned(),
        ));
    }
    validate_mail(&config.mail, &mut problems);
    validate_runtime(&config.runtime, &mut problems);
    if let Some(txt) = &config.security_txt {
        if txt.contact.is_empty() {
            problems.push((
                "security_txt.contact",
                "RFC 9116 requires at least one contact".to_owned(),
            ));
        }
        for contact in &txt.contact {
            if !(contact.starts_with("mailto:")
                || contact.starts_with("https://")
                || contact.starts_with("tel:"))
            {
                problems.push((
                    "security_txt.contact",
                    format!("`{contact}` must be a `mailto:`, `https://` or `tel:` URI"),
                ));
            }
        }
        if OffsetDateTime::parse(&txt.expires, &Rfc3339).is_err() {
            problems.push((
                "security_txt.expires",
                format!("`{}` is not an RFC 3339 timestamp", txt.expires),
            ));
        }
        if txt
            .contact
            .iter()
            .chain(&txt.policy)
            .any(|v| v.contains('\n'))
        {
            problems.push(("security_txt", "values must be single lines".to_owned()));
        }
    }
    problems
}

/// SMTP settings that cannot work (a plaintext relay that is not loopback, a `from` that is
/// not a mailbox, …) are reported at load time. The password variable itself is read only
/// when the server starts.
fn validate_mail(mail: &heddle_mail::MailConfig, problems: &mut Vec<(&'static str, String)>) {
    if let heddle_mail::MailConfig::Smtp { timeout_secs, .. } = mail {
        if *timeout_secs == 0 {
            problems.push(("mail.timeout_secs", "must be at least 1".to_owned()));
            return;
        }
        // A stand-in password: only the shape of the settings is checked here.
        if let Err(error) = mail.build_with_env(|_| Some("placeholder".to_owned())) {
            problems.push(("mail", error.to_string()));
        }
    }
}

fn validate_runtime(runtime: &RuntimeConfig, problems: &mut Vec<(&'static str, String)>) {
    if !(1..=MAX_OUTPUT_TOKENS).contains(&runtime.max_output_tokens) {
        problems.push((
            "runtime.max_output_tokens",
            format!("must be between 1 and {MAX_OUTPUT_TOKENS}"),
        ));
    }
    if runtime.abandon_grace_secs == 0 || runtime.abandon_grace_secs > 3600 {
        problems.push((
            "runtime.abandon_grace_secs",
            "must be between 1 and 3600".to_owned(),
        ));
    }
    if !(60..=86_400).contains(&runtime.verification_code_ttl_secs) {
        problems.push((
            "runtime.verification_code_ttl_secs",
            "must be between 60 and 86400 (a one-time code lives minutes, not days)".to_owned(),
        ));
    }
    if !(1..=10).contains(&runtime.verification_max_attempts) {
        problems.push((
            "runtime.verification_max_attempts",
            "must be between 1 and 10 (a six-digit code must not be guessable)".to_owned(),
        ));
    }
    if !(1..=3600).contains(&runtime.action_worker_interval_secs) {
        problems.push((
            "runtime.action_worker_interval_secs",
            "must be between 1 and 3600".to_owned(),
        ));
    }
    if !(10..=3600).contains(&runtime.action_lease_secs) {
        problems.push((
            "runtime.action_lease_secs",
            "must be between 10 and 3600".to_owned(),
        ));
    }
    if let Some(hook) = &runtime.approval_webhook {
        if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
            problems.push((
                "runtime.approval_webhook.url",
                "must be an https:// (or http:// to a private address) URL".to_owned(),
            ));
        }
        let upper = hook.secret_env.to_ascii_uppercase();
        if hook.secret_env.trim().is_empty()
            || (upper.starts_with("HEDDLE_") && !upper.starts_with("HEDDLE_TEST_"))
        {
            problems.push((
                "runtime.approval_webhook.secret_env",
                "name an environment variable outside `HEDDLE_*` (those are settings), e.g. \
                 `APPROVAL_WEBHOOK_SECRET`"
                    .to_owned(),
            ));
        }
        if parse_networks(&hook.allow_private_addresses).len() != hook.allow_private_addresses.len()
        {
            problems.push((
                "runtime.approval_webhook.allow_private_addresses",
                "every entry must be a network in CIDR form, e.g. `10.0.5.20/32`".to_owned(),
            ));
        }
    }
    let name = runtime.verification_sender_name.trim();
    if name.is_empty()
        || runtime.verification_sender_name.chars().count() > MAX_SENDER_NAME_CHARS
        || runtime
            .verification_sender_name
            .chars()
            .any(char::is_control)
    {
        problems.push((
            "runtime.verification_sender_name",
            format!(
                "must be 1–{MAX_SENDER_NAME_CHARS} characters on one line (it goes into the \
                 email subject)"
            ),
        ));
    }
}

#[cfg(test)]
mod tests;
