//! Datadog logs intake v2: `POST https://http-intake.logs.<site>/api/v2/logs`, `DD-API-KEY`,
//! `Content-Type: application/json`, body a JSON array of log objects:
//!
//! ```json
//! [{"ddsource": "heddle", "service": "heddle", "hostname": "…",
//!   "ddtags": "tenant_id:<uuid>,env:prod",
//!   "message": "{\"tenant_id\":…,\"seq\":42,\"leaf_hash\":…,\"event\":{…}}",
//!   "heddle": {"tenant_id": "<uuid>", "seq": 42, "leaf_hash": "…"}}]
//! ```
//!
//! `message` is a string in Datadog's schema (`HTTPLogItem.message`), so it holds the envelope
//! as JSON text; the `heddle` attribute (additional attributes are allowed at the top level)
//! repeats the identifiers as structured attributes, so facets and de-duplication do not
//! depend on a pipeline parsing the message. No `timestamp`/`date` attribute is sent: the
//! intake refuses timestamps more than 18 hours old, and a backlog after an outage can be
//! older; `occurred_at` stays inside the event. Documented limits: 1000 entries and 5 MB
//! uncompressed per request (batches are split), 1 MB per log (larger logs are truncated by
//! Datadog). Success is 202; 408, 429, 500 and 503 "should be retried after some time";
//! 400, 401, 403 and 413 are permanent.

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{HeaderName, OutboundClient, OutboundRequest, Url};
use serde::Serialize;
use serde_json::Value;

use super::{body_detail, rejected, send_request};
use crate::config::{
    DatadogLogsConfig, RequestLimits, invalid, join_path, parse_endpoint, require_secret,
};
use crate::error::scrub;
use crate::{DeliveryFailure, SiemEvent, SinkConfigError};

const KIND: &str = "datadog_logs";
/// The documented per-request limits ("5MB" read as 5,000,000 bytes, the smaller reading).
const DOCUMENTED_LIMITS: RequestLimits = RequestLimits {
    max_events: 1000,
    max_bytes: 5_000_000,
};

#[derive(Debug, Clone)]
pub(super) struct DatadogSink {
    endpoint: Url,
    api_key: SecretString,
    service: String,
    hostname: Option<String>,
    tags: Vec<String>,
}

#[derive(Debug, Serialize)]
struct LogItem<'a> {
    ddsource: &'static str,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    ddtags: String,
    message: String,
    heddle: HeddleAttributes<'a>,
}

#[derive(Debug, Serialize)]
struct HeddleAttributes<'a> {
    tenant_id: &'a uuid::Uuid,
    seq: u64,
    leaf_hash: &'a str,
}

impl DatadogSink {
    pub(super) fn new(config: DatadogLogsConfig) -> Result<(Self, RequestLimits), SinkConfigError> {
        let base = match &config.intake_url {
            Some(url) => parse_endpoint(KIND, "intake_url", url)?,
            None => {
                let site = config.site.trim().to_ascii_lowercase();
                let valid = !site.is_empty()
                    && site
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
                if !valid {
                    return Err(invalid(
                        KIND,
                        format!(
                            "`site` `{}` is not a datadog site such as `datadoghq.eu`",
                            config.site
                        ),
                    ));
                }
                parse_endpoint(KIND, "site", &format!("https://http-intake.logs.{site}"))?
            }
        };
        let endpoint = join_path(KIND, &base, "/api/v2/logs")?;
        require_secret(KIND, "api_key", &config.api_key)?;
        if config.service.trim().is_empty() {
            return Err(invalid(KIND, "`service` must not be empty"));
        }
        for tag in &config.tags {
            if tag.trim().is_empty() || tag.contains(',') {
                return Err(invalid(
                    KIND,
                    format!("tag `{tag}` must be non-empty and contain no comma"),
                ));
            }
        }
        let limits = RequestLimits::resolve(
            KIND,
            config.max_events_per_request,
            config.max_request_bytes,
            DOCUMENTED_LIMITS,
            DOCUMENTED_LIMITS,
        )?;
        Ok((
            Self {
                endpoint,
                api_key: config.api_key,
                service: config.service,
                hostname: config.hostname,
                tags: config.tags,
            },
            limits,
        ))
    }

    pub(super) fn encode(&self, event: &SiemEvent) -> Result<Vec<u8>, serde_json::Error> {
        let mut ddtags = format!("tenant_id:{}", event.tenant_id);
        for tag in &self.tags {
            ddtags.push(',');
            ddtags.push_str(tag);
        }
        serde_json::to_vec(&LogItem {
            ddsource: "heddle",
            service: &self.service,
            hostname: self.hostname.as_deref(),
            ddtags,
            message: serde_json::to_string(&event.envelope())?,
            heddle: HeddleAttributes {
                tenant_id: &event.tenant_id,
                seq: event.seq,
                leaf_hash: &event.leaf_hash_hex,
            },
        })
    }

    pub(super) async fn send(
        &self,
        client: &OutboundClient,
        body: Vec<u8>,
    ) -> Result<(), DeliveryFailure> {
        let api_key = self.api_key.expose_secret();
        let request =
            OutboundRequest::from_url(heddle_outbound::Method::POST, self.endpoint.clone())
                .body("application/json", body)
                .secret_header(HeaderName::from_static("dd-api-key"), api_key)
                .map_err(DeliveryFailure::Transport)?;
        let response = send_request(client, request).await?;
        if response.status().is_success() {
            return Ok(());
        }
        // Datadog answers `{"errors": ["…"]}`.
        let detail = response
            .json::<Value>()
            .ok()
            .and_then(|body| {
                let errors = body.get("errors")?.as_array()?;
                let texts: Vec<&str> = errors.iter().filter_map(Value::as_str).collect();
                (!texts.is_empty()).then(|| texts.join("; "))
            })
            .map_or_else(
                || body_detail(&response, &[api_key]),
                |text| scrub(&text, &[api_key]),
            );
        Err(rejected(&response, detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(site: &str) -> DatadogLogsConfig {
        DatadogLogsConfig {
            site: site.into(),
            intake_url: None,
            api_key: SecretString::from("k"),
            service: "heddle".into(),
            hostname: None,
            tags: vec![],
            max_events_per_request: Some(5000),
            max_request_bytes: None,
        }
    }

    #[test]
    fn the_site_picks_the_intake_and_limits_are_capped_at_the_documented_ones() {
        let (sink, limits) = DatadogSink::new(config("datadoghq.eu")).unwrap();
        assert_eq!(
            sink.endpoint.as_str(),
            "https://http-intake.logs.datadoghq.eu/api/v2/logs"
        );
        assert_eq!(limits, DOCUMENTED_LIMITS);
        assert!(DatadogSink::new(config("evil.com/x?")).is_err());
    }
}
