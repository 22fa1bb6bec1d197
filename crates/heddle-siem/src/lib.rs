//! SIEM export of audit events: a [`SiemSink`] delivers a batch of [`SiemEvent`]s to a
//! signed webhook, Splunk HEC, Datadog's logs intake or Elasticsearch's bulk API, each in its
//! documented wire format. The worker that reads events, keeps the per-sink cursor and
//! schedules retries lives with the audit store; this crate is transport and format.
//!
//! Invariants:
//! - every request goes through [`heddle_outbound::OutboundClient`] (SSRF protection, caps);
//! - every payload carries the event's `tenant_id` and `seq`, so receivers de-duplicate:
//!   delivery is at least once, never "at most once";
//! - a [`DeliveryError`] says whether retrying can help (timeouts, connection failures, 408,
//!   429, 5xx) or not (authentication, configuration, format), and how many leading events
//!   of the batch were accepted anyway;
//! - secrets (tokens, API keys, the webhook key) are [`heddle_crypto::SecretString`]s, sent
//!   only in sensitive headers, and never appear in errors, even when a receiver echoes them.

mod backoff;
mod config;
mod error;
mod event;
mod signature;
mod sink;

pub use backoff::{BACKOFF_BASE, BACKOFF_CAP, backoff, backoff_with};
pub use config::{
    DatadogLogsConfig, ElasticsearchAuth, ElasticsearchBulkConfig, SinkConfig, SplunkHecConfig,
    WebhookConfig,
};
pub use error::{DeliveryError, DeliveryFailure, SinkConfigError};
pub use event::SiemEvent;
pub use signature::{
    DELIVERY_HEADER, EVENT_COUNT_HEADER, FIRST_SEQ_HEADER, IDEMPOTENCY_HEADER, LAST_SEQ_HEADER,
    SIGNATURE_HEADER, SignatureError, sign_webhook, verify_webhook_signature,
};
pub use sink::SiemSink;
