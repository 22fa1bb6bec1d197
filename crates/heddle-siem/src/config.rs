//! Sink configuration as it arrives over the API: JSON tagged by `kind`. Secrets are
//! [`SecretString`]s (redacted in `Debug`); the type is deliberately not `Serialize`, so a
//! configuration with its secrets cannot be written back out by accident: store the secrets
//! in the vault.

use heddle_crypto::SecretString;
use heddle_outbound::Url;
use serde::Deserialize;

use crate::SinkConfigError;

/// One SIEM sink.
///
/// ```json
/// {"kind": "webhook", "url": "https://siem.example.com/heddle", "secret": "…"}
/// {"kind": "splunk_hec", "url": "https://splunk.example.com:8088", "token": "…", "index": "audit"}
/// {"kind": "datadog_logs", "site": "datadoghq.eu", "api_key": "…", "tags": ["env:prod"]}
/// {"kind": "elasticsearch_bulk", "url": "https://es.example.com:9200", "index": "heddle-audit",
///  "auth": {"api_key": "<base64 id:key>"}}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkConfig {
    Webhook(WebhookConfig),
    SplunkHec(SplunkHecConfig),
    DatadogLogs(DatadogLogsConfig),
    ElasticsearchBulk(ElasticsearchBulkConfig),
}

/// `POST <url>` with `{"events": [...]}`, signed (see [`crate::sign_webhook`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The full endpoint URL.
    pub url: String,
    /// HMAC-SHA256 key for `X-Heddle-Signature`.
    pub secret: SecretString,
    /// Events per request (default 100).
    #[serde(default)]
    pub max_events_per_request: Option<usize>,
    /// Body bytes per request (default 1 MiB; a single larger event goes alone).
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
}

/// Splunk HTTP Event Collector, JSON event endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecConfig {
    /// Base URL of the collector, e.g. `https://splunk.example.com:8088`;
    /// `/services/collector/event` is appended.
    pub url: String,
    /// The HEC token, sent as `Authorization: Splunk <token>`.
    pub token: SecretString,
    /// Target index; the token's default index when absent.
    #[serde(default)]
    pub index: Option<String>,
    /// `host` metadata; Splunk's default (the sender) when absent.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_splunk_source")]
    pub source: String,
    #[serde(default = "default_splunk_sourcetype")]
    pub sourcetype: String,
    /// Events per request (default 500).
    #[serde(default)]
    pub max_events_per_request: Option<usize>,
    /// Body bytes per request (default 1,000,000: the collector's historical default
    /// `max_content_length`).
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
}

/// Datadog logs intake, API v2.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogLogsConfig {
    /// The Datadog site: `datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, … The intake
    /// is `https://http-intake.logs.<site>/api/v2/logs`.
    #[serde(default = "default_datadog_site")]
    pub site: String,
    /// Replaces `https://http-intake.logs.<site>` (tests, proxies); `/api/v2/logs` is appended.
    #[serde(default)]
    pub intake_url: Option<String>,
    /// Sent as `DD-API-KEY`.
    pub api_key: SecretString,
    #[serde(default = "default_datadog_service")]
    pub service: String,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Extra `key:value` tags, added to `ddtags` after `tenant_id:<id>`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Lower than the documented limits only (1000 entries, 5 MB); higher values are capped.
    #[serde(default)]
    pub max_events_per_request: Option<usize>,
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
}

/// Elasticsearch (or OpenSearch) bulk API with `create` actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchBulkConfig {
    /// Base URL of the cluster, e.g. `https://es.example.com:9200`; `/_bulk` is appended.
    pub url: String,
    /// Target index, alias or data stream (default `heddle-audit`).
    #[serde(default = "default_elasticsearch_index")]
    pub index: String,
    /// No `Authorization` header when absent.
    #[serde(default)]
    pub auth: Option<ElasticsearchAuth>,
    /// Events per request (default 1000).
    #[serde(default)]
    pub max_events_per_request: Option<usize>,
    /// Body bytes per request (default 5 MB).
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ElasticsearchAuth {
    /// The `encoded` value of a created API key (base64 of `id:api_key`), sent as
    /// `Authorization: ApiKey <encoded>`.
    ApiKey(SecretString),
    /// HTTP basic authentication.
    Basic {
        username: String,
        password: SecretString,
    },
}

fn default_splunk_source() -> String {
    "heddle".to_owned()
}

fn default_splunk_sourcetype() -> String {
    "heddle:audit".to_owned()
}

fn default_datadog_site() -> String {
    "datadoghq.com".to_owned()
}

fn default_datadog_service() -> String {
    "heddle".to_owned()
}

fn default_elasticsearch_index() -> String {
    "heddle-audit".to_owned()
}

impl SinkConfig {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::SplunkHec(_) => "splunk_hec",
            SinkConfig::DatadogLogs(_) => "datadog_logs",
            SinkConfig::ElasticsearchBulk(_) => "elasticsearch_bulk",
        }
    }
}

/// How a sink splits a batch into requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestLimits {
    pub max_events: usize,
    pub max_bytes: usize,
}

impl RequestLimits {
    pub(crate) fn resolve(
        kind: &'static str,
        events: Option<usize>,
        bytes: Option<usize>,
        default: RequestLimits,
        ceiling: RequestLimits,
    ) -> Result<Self, SinkConfigError> {
        let max_events = events.unwrap_or(default.max_events).min(ceiling.max_events);
        let max_bytes = bytes.unwrap_or(default.max_bytes).min(ceiling.max_bytes);
        if max_events == 0 {
            return Err(invalid(kind, "`max_events_per_request` must be at least 1"));
        }
        if max_bytes < 1024 {
            return Err(invalid(kind, "`max_request_bytes` must be at least 1024"));
        }
        Ok(Self {
            max_events,
            max_bytes,
        })
    }
}

pub(crate) fn invalid(kind: &'static str, reason: impl Into<String>) -> SinkConfigError {
    SinkConfigError::Invalid {
        kind,
        reason: reason.into(),
    }
}

/// Parses a configured URL: http or https, with a host, without credentials. The URL itself
/// never appears in the error (it may carry a token).
pub(crate) fn parse_endpoint(
    kind: &'static str,
    field: &str,
    text: &str,
) -> Result<Url, SinkConfigError> {
    let url = Url::parse(text.trim())
        .map_err(|err| invalid(kind, format!("`{field}` is not a valid url ({err})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            kind,
            format!("`{field}` must be an http or https url"),
        ));
    }
    if url.host_str().is_none() {
        return Err(invalid(kind, format!("`{field}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            kind,
            format!("`{field}` must not contain credentials; use the sink's secret fields"),
        ));
    }
    Ok(url)
}

/// `base` with `path` appended to its path (a base with a path prefix keeps it).
pub(crate) fn join_path(
    kind: &'static str,
    base: &Url,
    path: &str,
) -> Result<Url, SinkConfigError> {
    if base.query().is_some() || base.fragment().is_some() {
        return Err(invalid(
            kind,
            "`url` must be a base url without query or fragment",
        ));
    }
    let mut url = base.clone();
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    Ok(url)
}

pub(crate) fn require_secret(
    kind: &'static str,
    field: &str,
    secret: &SecretString,
) -> Result<(), SinkConfigError> {
    use heddle_crypto::ExposeSecret;
    let value = secret.expose_secret();
    if value.trim().is_empty() {
        return Err(invalid(kind, format!("`{field}` must not be empty")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(
            kind,
            format!("`{field}` contains control characters"),
        ));
    }
    Ok(())
}
