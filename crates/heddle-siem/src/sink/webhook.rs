//! Signed webhook: `POST <url>`, `Content-Type: application/json`, body
//! `{"events": [{"tenant_id", "seq", "leaf_hash", "event"}, …]}` (a batch per request, in seq
//! order), headers `X-Heddle-Signature`, `X-Heddle-Delivery`, `Idempotency-Key`,
//! `X-Heddle-First-Seq`, `X-Heddle-Last-Seq`, `X-Heddle-Event-Count`. Any 2xx is success;
//! 408, 429 and 5xx are retried; everything else (3xx included: redirects are not followed)
//! is permanent.

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{HeaderName, OutboundClient, OutboundRequest, Url};
use time::OffsetDateTime;

use super::{body_detail, rejected, send_request};
use crate::config::{RequestLimits, WebhookConfig, parse_endpoint, require_secret};
use crate::signature::{
    DELIVERY_HEADER, EVENT_COUNT_HEADER, FIRST_SEQ_HEADER, IDEMPOTENCY_HEADER, LAST_SEQ_HEADER,
    SIGNATURE_HEADER, sign_webhook,
};
use crate::{DeliveryFailure, SiemEvent, SinkConfigError};

const KIND: &str = "webhook";
const DEFAULT_LIMITS: RequestLimits = RequestLimits {
    max_events: 100,
    max_bytes: 1024 * 1024,
};
const CEILING: RequestLimits = RequestLimits {
    max_events: 10_000,
    max_bytes: 64 * 1024 * 1024,
};

#[derive(Debug, Clone)]
pub(super) struct WebhookSink {
    url: Url,
    secret: SecretString,
}

impl WebhookSink {
    pub(super) fn new(config: WebhookConfig) -> Result<(Self, RequestLimits), SinkConfigError> {
        let url = parse_endpoint(KIND, "url", &config.url)?;
        require_secret(KIND, "secret", &config.secret)?;
        let limits = RequestLimits::resolve(
            KIND,
            config.max_events_per_request,
            config.max_request_bytes,
            DEFAULT_LIMITS,
            CEILING,
        )?;
        Ok((
            Self {
                url,
                secret: config.secret,
            },
            limits,
        ))
    }

    pub(super) async fn send(
        &self,
        client: &OutboundClient,
        events: &[SiemEvent],
        body: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<(), DeliveryFailure> {
        let secret = self.secret.expose_secret();
        let signature = sign_webhook(secret.as_bytes(), now.unix_timestamp(), &body);
        let first = events.first().map_or(0, |event| event.seq);
        let last = events.last().map_or(0, |event| event.seq);
        let header = |name: &'static str| HeaderName::from_static(name);
        let request = OutboundRequest::from_url(heddle_outbound::Method::POST, self.url.clone())
            .body("application/json", body)
            .header_str(header(SIGNATURE_HEADER), &signature)
            .and_then(|r| r.header_str(header(DELIVERY_HEADER), &uuid::Uuid::now_v7().to_string()))
            .and_then(|r| r.header_str(header(IDEMPOTENCY_HEADER), &idempotency_key(events)))
            .and_then(|r| r.header_str(header(FIRST_SEQ_HEADER), &first.to_string()))
            .and_then(|r| r.header_str(header(LAST_SEQ_HEADER), &last.to_string()))
            .and_then(|r| r.header_str(header(EVENT_COUNT_HEADER), &events.len().to_string()))
            .map_err(DeliveryFailure::Transport)?;
        let response = send_request(client, request).await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(rejected(&response, body_detail(&response, &[secret])))
    }
}

/// Stable across attempts for the same events: hex SHA-256 of `<tenant>:<seq>:<leaf>\n` lines.
fn idempotency_key(events: &[SiemEvent]) -> String {
    let mut hasher = heddle_crypto::Sha256::new();
    for event in events {
        hasher.update(
            format!(
                "{}:{}:{}\n",
                event.tenant_id, event.seq, event.leaf_hash_hex
            )
            .as_bytes(),
        );
    }
    heddle_crypto::hex_encode(hasher.finish())
}
