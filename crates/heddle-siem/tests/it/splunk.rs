//! Splunk HEC sink against the fake collector.

use std::time::Duration;

use heddle_testkit::{FakeSplunkHec, ReceiverMode};
use serde_json::{Value, json};

use crate::{TENANT, client, events, sink};

const TOKEN: &str = "8f2c1a9e-4b7d-4e3a-9c6f-2d1b0a9e8f7c";

#[tokio::test]
async fn events_arrive_as_concatenated_hec_event_objects() {
    let fake = FakeSplunkHec::start(TOKEN).await.unwrap();
    let sink = sink(json!({
        "kind": "splunk_hec", "url": fake.url(), "token": TOKEN,
        "index": "heddle_audit", "host": "heddle-test"
    }));
    let batch = events(1..=3);

    sink.deliver(&client(), &batch).await.unwrap();

    assert_eq!(fake.received_seqs(), vec![1, 2, 3]);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.uri.path(), "/services/collector/event");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Splunk {TOKEN}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));

    // Not an array: JSON objects one after another.
    assert!(request.body_text().starts_with('{'));
    let objects: Vec<Value> = serde_json::Deserializer::from_slice(&request.body)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(objects.len(), 3);
    let first = &objects[0];
    assert_eq!(first["source"], "heddle");
    assert_eq!(first["sourcetype"], "heddle:audit");
    assert_eq!(first["index"], "heddle_audit");
    assert_eq!(first["host"], "heddle-test");
    // 2026-01-02T03:04:01.250Z in epoch seconds with milliseconds.
    assert_eq!(first["time"].as_f64().unwrap(), 1_767_323_041.25);
    assert_eq!(first["event"]["tenant_id"], TENANT.to_string());
    assert_eq!(first["event"]["seq"], 1);
    assert_eq!(first["event"]["event"], batch[0].event);
}

#[tokio::test]
async fn an_invalid_token_is_permanent_and_never_echoed() {
    let fake = FakeSplunkHec::start(TOKEN).await.unwrap();
    let sink = sink(json!({"kind": "splunk_hec", "url": fake.url(), "token": "not-the-token"}));

    let err = sink.deliver(&client(), &events(1..=2)).await.unwrap_err();

    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(403));
    let text = err.to_string();
    assert!(text.contains("HEC code 4: Invalid token"), "{text}");
    assert!(!text.contains("not-the-token") && !format!("{err:?}").contains("not-the-token"));
}

#[tokio::test]
async fn server_busy_is_retryable() {
    let fake = FakeSplunkHec::start(TOKEN).await.unwrap();
    let sink = sink(json!({"kind": "splunk_hec", "url": fake.url(), "token": TOKEN}));
    fake.set_mode(ReceiverMode::Unavailable);

    let err = sink.deliver(&client(), &events(1..=2)).await.unwrap_err();

    assert!(err.is_retryable());
    assert_eq!(err.status(), Some(503));
    assert!(
        err.to_string().contains("HEC code 9: Server is busy"),
        "{err}"
    );
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let fake = FakeSplunkHec::start(TOKEN).await.unwrap();
    let sink = sink(json!({"kind": "splunk_hec", "url": fake.url(), "token": TOKEN}));
    fake.set_mode(ReceiverMode::TooManyRequests);

    let err = sink.deliver(&client(), &events(1..=2)).await.unwrap_err();

    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn a_split_batch_reports_what_got_through_before_a_failure() {
    let fake = FakeSplunkHec::start(TOKEN).await.unwrap();
    let sink = sink(json!({
        "kind": "splunk_hec", "url": fake.url(), "token": TOKEN, "max_events_per_request": 3
    }));
    sink.deliver(&client(), &events(1..=7)).await.unwrap();
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.received_seqs(), (1..=7).collect::<Vec<_>>());

    // A base URL with a path prefix (a reverse proxy) keeps it.
    let proxied = sink_with_base(&format!("{}/", fake.url()));
    proxied.deliver(&client(), &events(8..=8)).await.unwrap();
    assert_eq!(fake.received_seqs().last(), Some(&8));
}

fn sink_with_base(base: &str) -> heddle_siem::SiemSink {
    sink(json!({"kind": "splunk_hec", "url": base, "token": TOKEN}))
}
