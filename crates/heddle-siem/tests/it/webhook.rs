//! Signed webhook sink against the fake receiver (which verifies signatures by itself).

use std::sync::Arc;
use std::time::Duration;

use heddle_siem::{SiemSink, SinkConfig, verify_webhook_signature};
use heddle_testkit::{FakeWebhookReceiver, ReceiverMode};
use heddle_types::ManualClock;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{TENANT, client, events, sink};

const SECRET: &str = "whsec_5b7e0d2c9a6f4e1b8d3c";

#[tokio::test]
async fn a_batch_arrives_signed_with_delivery_headers() {
    let fake = FakeWebhookReceiver::start(SECRET).await.unwrap();
    let sink = sink(json!({"kind": "webhook", "url": fake.endpoint(), "secret": SECRET}));
    let batch = events(1..=5);

    sink.deliver(&client(), &batch).await.unwrap();

    assert_eq!(fake.received_seqs(), vec![1, 2, 3, 4, 5]);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.uri.path(), "/hooks/heddle");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-heddle-first-seq"), Some("1"));
    assert_eq!(request.header("x-heddle-last-seq"), Some("5"));
    assert_eq!(request.header("x-heddle-event-count"), Some("5"));
    let delivery = request.header("x-heddle-delivery").unwrap();
    assert_eq!(delivery.parse::<uuid::Uuid>().unwrap().get_version_num(), 7);
    let key = request.header("idempotency-key").unwrap();
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));

    // The helper receivers use agrees with the fake's own check.
    let signature = request.header("x-heddle-signature").unwrap();
    verify_webhook_signature(
        SECRET.as_bytes(),
        signature,
        &request.body,
        OffsetDateTime::now_utc(),
        Duration::from_secs(300),
    )
    .unwrap();

    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let first = &body["events"][0];
    assert_eq!(first["tenant_id"], TENANT.to_string());
    assert_eq!(first["seq"], 1);
    assert_eq!(first["leaf_hash"], format!("{:064x}", 1));
    assert_eq!(first["event"], batch[0].event);
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only `events` at the top"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_a_permanent_failure() {
    let fake = FakeWebhookReceiver::start(SECRET).await.unwrap();
    let sink = sink(json!({"kind": "webhook", "url": fake.endpoint(), "secret": "whsec_wrong"}));

    let err = sink.deliver(&client(), &events(1..=2)).await.unwrap_err();

    assert!(!err.is_retryable(), "{err}");
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.delivered_prefix(), 0);
    assert!(fake.received_seqs().is_empty());
    assert!(!err.to_string().contains("whsec_wrong"));
}

#[tokio::test]
async fn a_stale_signature_timestamp_is_refused_by_the_receiver() {
    let fake = FakeWebhookReceiver::start(SECRET).await.unwrap();
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::now_utc() - time::Duration::hours(1),
    ));
    let config: SinkConfig = serde_json::from_value(
        json!({"kind": "webhook", "url": fake.endpoint(), "secret": SECRET}),
    )
    .unwrap();
    let sink = SiemSink::with_clock(config, clock).unwrap();

    let err = sink.deliver(&client(), &events(1..=1)).await.unwrap_err();

    assert_eq!(err.status(), Some(401), "{err}");
    assert!(fake.received_seqs().is_empty());
}

#[tokio::test]
async fn retries_keep_the_idempotency_key_and_change_the_delivery_id() {
    let fake = FakeWebhookReceiver::start(SECRET).await.unwrap();
    let sink = sink(json!({"kind": "webhook", "url": fake.endpoint(), "secret": SECRET}));
    let batch = events(1..=3);

    fake.set_mode(ReceiverMode::LoseAck);
    let err = sink.deliver(&client(), &batch).await.unwrap_err();
    assert!(err.is_retryable());
    fake.set_mode(ReceiverMode::Up);
    sink.deliver(&client(), &batch).await.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
    assert_ne!(
        requests[0].header("x-heddle-delivery"),
        requests[1].header("x-heddle-delivery")
    );
    assert_eq!(fake.arrived_seqs(), vec![1, 2, 3, 1, 2, 3]);
    assert_eq!(fake.received_seqs(), vec![1, 2, 3], "de-duplicated by seq");
    assert_eq!(fake.duplicate_arrivals(), 3);
}

#[tokio::test]
async fn large_batches_are_split_per_the_configured_limits() {
    let fake = FakeWebhookReceiver::start(SECRET).await.unwrap();
    let sink = sink(json!({
        "kind": "webhook", "url": fake.endpoint(), "secret": SECRET,
        "max_events_per_request": 4
    }));

    sink.deliver(&client(), &events(1..=10)).await.unwrap();

    let ranges: Vec<(String, String)> = fake
        .requests()
        .iter()
        .map(|r| {
            (
                r.header("x-heddle-first-seq").unwrap().to_owned(),
                r.header("x-heddle-last-seq").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        vec![
            ("1".into(), "4".into()),
            ("5".into(), "8".into()),
            ("9".into(), "10".into())
        ]
    );
    assert_eq!(fake.received_seqs(), (1..=10).collect::<Vec<_>>());
}
