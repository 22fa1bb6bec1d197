//! Datadog logs sink against the fake intake, including the documented batch limits.

use heddle_testkit::{DATADOG_MAX_ENTRIES, DATADOG_MAX_PAYLOAD_BYTES, FakeDatadogIntake};
use serde_json::{Value, json};

use crate::{TENANT, client, events, sink};

const API_KEY: &str = "0123456789abcdef0123456789abcdef";

fn datadog_sink(fake: &FakeDatadogIntake, extra: Value) -> heddle_siem::SiemSink {
    let mut config = json!({
        "kind": "datadog_logs", "intake_url": fake.url(), "api_key": API_KEY,
        "service": "heddle-audit", "hostname": "heddle-1", "tags": ["env:test"]
    });
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    sink(config)
}

#[tokio::test]
async fn logs_arrive_as_a_json_array_of_log_objects() {
    let fake = FakeDatadogIntake::start(API_KEY).await.unwrap();
    let sink = datadog_sink(&fake, json!({}));
    let batch = events(1..=2);

    sink.deliver(&client(), &batch).await.unwrap();

    assert_eq!(fake.received_seqs(), vec![1, 2]);
    let request = &fake.requests()[0];
    assert_eq!(request.uri.path(), "/api/v2/logs");
    assert_eq!(request.header("dd-api-key"), Some(API_KEY));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let log = &body.as_array().unwrap()[0];
    assert_eq!(log["ddsource"], "heddle");
    assert_eq!(log["service"], "heddle-audit");
    assert_eq!(log["hostname"], "heddle-1");
    assert_eq!(log["ddtags"], format!("tenant_id:{TENANT},env:test"));
    assert_eq!(log["heddle"]["seq"], 1);
    assert_eq!(log["heddle"]["tenant_id"], TENANT.to_string());
    // `message` is a string holding the envelope as JSON.
    let message: Value = serde_json::from_str(log["message"].as_str().unwrap()).unwrap();
    assert_eq!(message["seq"], 1);
    assert_eq!(message["event"], batch[0].event);
    assert!(log.get("timestamp").is_none() && log.get("date").is_none());
}

#[tokio::test]
async fn batches_are_split_at_1000_entries() {
    let fake = FakeDatadogIntake::start(API_KEY).await.unwrap();
    let sink = datadog_sink(&fake, json!({}));

    sink.deliver(&client(), &events(1..=2500)).await.unwrap();

    assert_eq!(fake.entries_per_request(), vec![1000, 1000, 500]);
    assert_eq!(fake.received_seqs(), (1..=2500).collect::<Vec<_>>());
    assert_eq!(fake.duplicate_arrivals(), 0);
}

#[tokio::test]
async fn batches_are_split_below_5_mb() {
    let fake = FakeDatadogIntake::start(API_KEY).await.unwrap();
    let sink = datadog_sink(&fake, json!({}));
    // About 8.7 KB per log, 900 logs ≈ 7.8 MB: bytes, not the count (under 1000), force
    // the split.
    let mut batch = events(1..=900);
    for event in &mut batch {
        event.event["details"]["padding"] = json!("p".repeat(8000));
    }

    sink.deliver(&client(), &batch).await.unwrap();

    let sizes: Vec<usize> = fake.requests().iter().map(|r| r.body.len()).collect();
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes.iter().all(|&size| size <= 5_000_000), "{sizes:?}");
    const { assert!(5_000_000 <= DATADOG_MAX_PAYLOAD_BYTES) };
    assert!(
        fake.entries_per_request()
            .iter()
            .all(|&n| n <= DATADOG_MAX_ENTRIES)
    );
    assert_eq!(fake.received_seqs(), (1..=900).collect::<Vec<_>>());
}

#[tokio::test]
async fn configured_limits_cannot_exceed_the_documented_ones() {
    let fake = FakeDatadogIntake::start(API_KEY).await.unwrap();
    let sink = datadog_sink(&fake, json!({"max_events_per_request": 5000}));
    assert_eq!(sink.max_events_per_request(), 1000);

    let smaller = datadog_sink(&fake, json!({"max_events_per_request": 250}));
    smaller.deliver(&client(), &events(1..=600)).await.unwrap();
    assert_eq!(fake.entries_per_request(), vec![250, 250, 100]);
}

#[tokio::test]
async fn an_invalid_api_key_is_permanent() {
    let fake = FakeDatadogIntake::start(API_KEY).await.unwrap();
    let sink =
        sink(json!({"kind": "datadog_logs", "intake_url": fake.url(), "api_key": "wrong-key"}));

    let err = sink.deliver(&client(), &events(1..=1)).await.unwrap_err();

    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("Forbidden"), "{err}");
    assert!(!err.to_string().contains("wrong-key"));
}
