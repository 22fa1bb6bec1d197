//! Splunk HTTP Event Collector: `POST <base>/services/collector/event`,
//! `Authorization: Splunk <token>`, body = JSON event objects one after another (HEC's batch
//! form, no array):
//!
//! ```json
//! {"time": 1700000000.123, "host": "…", "source": "heddle", "sourcetype": "heddle:audit",
//!  "index": "…", "event": {"tenant_id": "…", "seq": 42, "leaf_hash": "…", "event": {…}}}
//! ```
//!
//! `time` is epoch seconds with millisecond decimals from the audit event's `occurred_at`
//! (omitted if absent: Splunk then uses receipt time). Success is HTTP 200 with
//! `{"text": "Success", "code": 0}`. HEC answers errors as `{"text", "code"}` with an HTTP
//! status: 400 (no data, invalid format, incorrect index, channel missing …), 401/403 (token
//! required, invalid authorization, invalid or disabled token) are permanent; 503 (server
//! busy, queues full), 500, 429 and 408 are retried. With indexer acknowledgement enabled
//! on the token, HEC also wants a channel and "success" means received, not indexed: use a
//! token without acknowledgement (the de-duplication by seq covers the gap).

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{OutboundClient, OutboundRequest, Url, header};
use serde::{Deserialize, Serialize};

use super::{body_detail, rejected, send_request};
use crate::config::{
    RequestLimits, SplunkHecConfig, invalid, join_path, parse_endpoint, require_secret,
};
use crate::error::scrub;
use crate::event::Envelope;
use crate::{DeliveryFailure, SiemEvent, SinkConfigError};

const KIND: &str = "splunk_hec";
const DEFAULT_LIMITS: RequestLimits = RequestLimits {
    max_events: 500,
    max_bytes: 1_000_000,
};
const CEILING: RequestLimits = RequestLimits {
    max_events: 100_000,
    max_bytes: 800 * 1024 * 1024,
};

#[derive(Debug, Clone)]
pub(super) struct SplunkSink {
    endpoint: Url,
    token: SecretString,
    index: Option<String>,
    host: Option<String>,
    source: String,
    sourcetype: String,
}

/// One HEC event object.
#[derive(Debug, Serialize)]
struct HecEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: Envelope<'a>,
}

/// HEC's status object.
#[derive(Debug, Deserialize)]
struct HecStatus {
    text: Option<String>,
    code: Option<i64>,
}

impl SplunkSink {
    pub(super) fn new(config: SplunkHecConfig) -> Result<(Self, RequestLimits), SinkConfigError> {
        let base = parse_endpoint(KIND, "url", &config.url)?;
        let endpoint = join_path(KIND, &base, "/services/collector/event")?;
        require_secret(KIND, "token", &config.token)?;
        for (field, value) in [
            ("index", config.index.as_deref()),
            ("host", config.host.as_deref()),
            ("source", Some(config.source.as_str())),
            ("sourcetype", Some(config.sourcetype.as_str())),
        ] {
            if value.is_some_and(|value| value.trim().is_empty()) {
                return Err(invalid(KIND, format!("`{field}` must not be empty")));
            }
        }
        let limits = RequestLimits::resolve(
            KIND,
            config.max_events_per_request,
            config.max_request_bytes,
            DEFAULT_LIMITS,
            CEILING,
        )?;
        Ok((
            Self {
                endpoint,
                token: config.token,
                index: config.index,
                host: config.host,
                source: config.source,
                sourcetype: config.sourcetype,
            },
            limits,
        ))
    }

    pub(super) fn encode(&self, event: &SiemEvent) -> Result<Vec<u8>, serde_json::Error> {
        // Whole milliseconds as seconds: HEC documents `<sec>.<ms>`.
        let time = event.occurred_at().map(|at| {
            let millis = at.unix_timestamp_nanos() / 1_000_000;
            millis as f64 / 1000.0
        });
        serde_json::to_vec(&HecEvent {
            time,
            host: self.host.as_deref(),
            source: &self.source,
            sourcetype: &self.sourcetype,
            index: self.index.as_deref(),
            event: event.envelope(),
        })
    }

    pub(super) async fn send(
        &self,
        client: &OutboundClient,
        body: Vec<u8>,
    ) -> Result<(), DeliveryFailure> {
        let token = self.token.expose_secret();
        let request =
            OutboundRequest::from_url(heddle_outbound::Method::POST, self.endpoint.clone())
                .body("application/json", body)
                .secret_header(header::AUTHORIZATION, &format!("Splunk {token}"))
                .map_err(DeliveryFailure::Transport)?;
        let response = send_request(client, request).await?;
        let status: Option<HecStatus> = response.json().ok();
        if response.status().as_u16() == 200 {
            return match status {
                Some(HecStatus { code: Some(0), .. }) => Ok(()),
                _ => Err(DeliveryFailure::UnexpectedResponse {
                    origin: response.origin().to_owned(),
                    status: 200,
                    detail: body_detail(&response, &[token]),
                }),
            };
        }
        let detail = match status {
            Some(HecStatus {
                text: Some(text),
                code: Some(code),
            }) => scrub(&format!("HEC code {code}: {text}"), &[token]),
            _ => body_detail(&response, &[token]),
        };
        Err(rejected(&response, detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heddle_crypto::SecretString;
    use serde_json::{Value, json};
    use uuid::Uuid;

    #[test]
    fn events_carry_time_metadata_and_the_envelope() {
        let (sink, _) = SplunkSink::new(SplunkHecConfig {
            url: "https://splunk.example.com:8088/".into(),
            token: SecretString::from("t"),
            index: Some("audit".into()),
            host: None,
            source: "heddle".into(),
            sourcetype: "heddle:audit".into(),
            max_events_per_request: None,
            max_request_bytes: None,
        })
        .unwrap();
        assert_eq!(
            sink.endpoint.as_str(),
            "https://splunk.example.com:8088/services/collector/event"
        );
        let event = SiemEvent {
            tenant_id: Uuid::nil(),
            seq: 7,
            event: json!({"action": "user.create", "occurred_at": "2023-11-14T22:13:20.123456Z"}),
            leaf_hash_hex: "ab".into(),
        };
        let encoded: Value = serde_json::from_slice(&sink.encode(&event).unwrap()).unwrap();
        assert_eq!(
            encoded,
            json!({
                "time": 1_700_000_000.123,
                "source": "heddle",
                "sourcetype": "heddle:audit",
                "index": "audit",
                "event": {
                    "tenant_id": "00000000-0000-0000-0000-000000000000",
                    "seq": 7,
                    "leaf_hash": "ab",
                    "event": {"action": "user.create", "occurred_at": "2023-11-14T22:13:20.123456Z"}
                }
            })
        );
        let undated = SiemEvent {
            event: json!({}),
            ..event
        };
        let encoded: Value = serde_json::from_slice(&sink.encode(&undated).unwrap()).unwrap();
        assert!(encoded.get("time").is_none());
    }
}
