//! One integration-test binary for heddle-siem: every sink against its fake receiver from
//! heddle-testkit on 127.0.0.1, in the documented wire format, through failures and back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

mod classification;
mod config;
mod datadog;
mod elasticsearch;
mod outage;
mod splunk;
mod webhook;

use std::future::Future;
use std::time::Duration;

use heddle_outbound::{OutboundClient, OutboundPolicy};
use heddle_siem::{SiemEvent, SiemSink, SinkConfig, backoff_with};
use serde_json::{Value, json};
use uuid::Uuid;

const TENANT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

fn events(seqs: std::ops::RangeInclusive<u64>) -> Vec<SiemEvent> {
    seqs.map(|seq| SiemEvent {
        tenant_id: TENANT,
        seq,
        event: json!({
            "tenant_id": TENANT,
            "actor": {"kind": "user", "id": "u1", "identity_mode": "user"},
            "action": "user.create",
            "outcome": "success",
            "occurred_at": format!("2026-01-02T03:04:{:02}.250Z", seq % 60),
            "details": {"n": seq}
        }),
        leaf_hash_hex: format!("{seq:064x}"),
    })
    .collect()
}

fn client() -> OutboundClient {
    OutboundClient::new(OutboundPolicy::allowing_loopback()).unwrap()
}

fn sink(config: Value) -> SiemSink {
    SiemSink::new(serde_json::from_value::<SinkConfig>(config).unwrap()).unwrap()
}

/// What the audit worker does, in miniature: deliver from a cursor in batches, advance past
/// what was accepted, back off and retry what failed. `after_failure` gets the number of
/// failures so far (the test brings the receiver back from there). Returns that number.
async fn deliver_all<F, Fut>(
    sink: &SiemSink,
    client: &OutboundClient,
    events: &[SiemEvent],
    batch_size: usize,
    mut after_failure: F,
) -> usize
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut cursor = 0;
    let mut failures = 0;
    let mut attempt = 0;
    while cursor < events.len() {
        let batch = &events[cursor..(cursor + batch_size).min(events.len())];
        match sink.deliver(client, batch).await {
            Ok(()) => {
                cursor += batch.len();
                attempt = 0;
            }
            Err(err) => {
                assert!(err.is_retryable(), "an outage must be retryable: {err}");
                cursor += err.delivered_prefix();
                failures += 1;
                attempt += 1;
                assert!(failures < 50, "delivery never recovered: {err}");
                // The worker also waits at least `err.retry_after()`; tests keep delays short.
                let delay =
                    backoff_with(attempt, Duration::from_millis(5), Duration::from_millis(40));
                tokio::time::sleep(delay).await;
                after_failure(failures).await;
            }
        }
    }
    failures
}
