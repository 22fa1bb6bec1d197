//! Delivery and configuration errors. Messages name the receiver's origin, never a full URL
//! (webhook URLs often embed tokens), and never a credential: receiver-supplied detail is
//! cut short and scrubbed of the sink's own secrets before it is kept.

use std::time::Duration;

use heddle_outbound::OutboundError;

/// A sink configuration that cannot work.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkConfigError {
    #[error("invalid `{kind}` sink configuration: {reason}")]
    Invalid { kind: &'static str, reason: String },
}

/// Why a delivery failed, and how much of the batch got through before it did.
///
/// The worker's contract: advance the sink's cursor past
/// [`delivered_prefix`](Self::delivered_prefix) events of the batch (they were accepted),
/// then retry the rest after [`backoff`](crate::backoff) (at least
/// [`retry_after`](Self::retry_after)) if [`is_retryable`](Self::is_retryable), or stop the
/// sink and show the error if not.
#[derive(Debug, thiserror::Error)]
#[error("{failure}")]
pub struct DeliveryError {
    failure: DeliveryFailure,
    delivered_prefix: usize,
}

impl DeliveryError {
    pub(crate) fn new(failure: DeliveryFailure, delivered_prefix: usize) -> Self {
        Self {
            failure,
            delivered_prefix,
        }
    }

    /// Whether the same events may succeed later: timeouts, connection failures, HTTP 408,
    /// 429 and 5xx (and their per-item equivalents). Authentication, configuration and
    /// format errors are permanent: retrying cannot fix them.
    pub fn is_retryable(&self) -> bool {
        match &self.failure {
            DeliveryFailure::Transport(err) => err.is_transient(),
            DeliveryFailure::Rejected { retryable, .. }
            | DeliveryFailure::ItemsRejected { retryable, .. } => *retryable,
            DeliveryFailure::UnexpectedResponse { .. } => true,
            DeliveryFailure::Encode { .. } => false,
        }
    }

    /// The receiver's `Retry-After`, if it sent one: a floor for the next attempt's delay.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.failure {
            DeliveryFailure::Rejected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// How many events at the start of the batch were accepted before the failure (later
    /// requests of a split batch, or later items of a bulk request, may have been accepted
    /// too; resending them is safe because receivers de-duplicate by seq).
    pub fn delivered_prefix(&self) -> usize {
        self.delivered_prefix
    }

    /// The HTTP status the receiver answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.failure {
            DeliveryFailure::Rejected { status, .. }
            | DeliveryFailure::UnexpectedResponse { status, .. } => Some(*status),
            DeliveryFailure::ItemsRejected { .. } => Some(200),
            DeliveryFailure::Transport(OutboundError::Status { status, .. }) => {
                Some(status.as_u16())
            }
            _ => None,
        }
    }

    pub fn failure(&self) -> &DeliveryFailure {
        &self.failure
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryFailure {
    /// The request did not complete: blocked by the outbound policy, timed out, could not
    /// connect, response too large.
    #[error(transparent)]
    Transport(OutboundError),
    /// The receiver refused the request as a whole.
    #[error("`{origin}` refused the delivery with HTTP {status}: {detail}")]
    Rejected {
        origin: String,
        status: u16,
        detail: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },
    /// The receiver took the request but refused some events in it (Elasticsearch items).
    #[error("`{origin}` refused {failed} of {total} events; the first, seq {seq}, with `{reason}`")]
    ItemsRejected {
        origin: String,
        failed: usize,
        total: usize,
        seq: u64,
        reason: String,
        retryable: bool,
    },
    /// A success status with a body that does not say success: delivery is unconfirmed.
    #[error("`{origin}` answered HTTP {status} with an unexpected body: {detail}")]
    UnexpectedResponse {
        origin: String,
        status: u16,
        detail: String,
    },
    /// An event could not be encoded (it is not representable in the sink's format).
    #[error("event seq {seq} could not be encoded: {reason}")]
    Encode { seq: u64, reason: String },
}

/// Receiver-supplied text, made safe to keep: the sink's secrets replaced, length capped.
pub(crate) fn scrub(detail: &str, secrets: &[&str]) -> String {
    const MAX_DETAIL_CHARS: usize = 300;
    let mut text = detail.trim().to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    if text.chars().count() > MAX_DETAIL_CHARS {
        text = text.chars().take(MAX_DETAIL_CHARS).collect::<String>() + "…";
    }
    if text.is_empty() {
        "no detail".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_secrets_and_caps_length() {
        assert_eq!(
            scrub("bad token abc123 given", &["abc123"]),
            "bad token [redacted] given"
        );
        assert_eq!(scrub("  ", &[]), "no detail");
        let long = "x".repeat(1000);
        assert_eq!(scrub(&long, &[]).chars().count(), 301);
        assert_eq!(scrub("keep", &[""]), "keep");
    }
}
