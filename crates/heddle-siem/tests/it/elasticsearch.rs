//! Elasticsearch bulk sink against the fake cluster: `create` semantics make re-delivery
//! harmless.

use heddle_testkit::FakeElasticsearch;
use serde_json::{Value, json};

use crate::{TENANT, client, events, sink};

const API_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

fn es_sink(fake: &FakeElasticsearch) -> heddle_siem::SiemSink {
    sink(json!({
        "kind": "elasticsearch_bulk", "url": fake.url(), "index": "heddle-audit",
        "auth": {"api_key": API_KEY}
    }))
}

#[tokio::test]
async fn events_arrive_as_ndjson_create_actions() {
    let fake = FakeElasticsearch::start_with_api_key(API_KEY)
        .await
        .unwrap();
    let batch = events(1..=3);

    es_sink(&fake).deliver(&client(), &batch).await.unwrap();

    let request = &fake.requests()[0];
    assert_eq!(request.uri.path(), "/_bulk");
    assert!(request.uri.query().unwrap().starts_with("filter_path="));
    assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("ApiKey {API_KEY}").as_str())
    );
    let text = request.body_text();
    assert!(
        text.ends_with('\n'),
        "the bulk body must end with a newline"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0],
        json!({"create": {"_index": "heddle-audit", "_id": format!("{TENANT}-1")}})
    );
    assert_eq!(lines[1]["@timestamp"], "2026-01-02T03:04:01.250Z");
    assert_eq!(lines[1]["seq"], 1);
    assert_eq!(lines[1]["tenant_id"], TENANT.to_string());
    assert_eq!(lines[1]["event"], batch[0].event);

    let ids: Vec<String> = fake.documents().into_iter().map(|(_, id, _)| id).collect();
    assert_eq!(
        ids,
        (1..=3)
            .map(|seq| format!("{TENANT}-{seq}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_duplicate_create_counts_as_delivered() {
    let fake = FakeElasticsearch::start_with_api_key(API_KEY)
        .await
        .unwrap();
    let sink = es_sink(&fake);

    sink.deliver(&client(), &events(1..=3)).await.unwrap();
    // Overlapping re-delivery (a lost acknowledgement, a worker restart): 1..=3 conflict.
    sink.deliver(&client(), &events(1..=5)).await.unwrap();

    assert_eq!(fake.documents().len(), 5);
    assert_eq!(fake.received_seqs(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn item_rejections_are_retried_and_report_the_accepted_prefix() {
    let fake = FakeElasticsearch::start_with_api_key(API_KEY)
        .await
        .unwrap();
    let sink = es_sink(&fake);
    let batch = events(1..=6);
    fake.reject_odd_items_once();

    let err = sink.deliver(&client(), &batch).await.unwrap_err();

    assert!(err.is_retryable(), "per-item 429 is back-pressure: {err}");
    assert_eq!(
        err.delivered_prefix(),
        1,
        "only the first item is known delivered"
    );
    assert_eq!(fake.received_seqs(), vec![1, 3, 5]);
    assert!(err.to_string().contains("refused 3 of 6 events"), "{err}");
    assert!(err.to_string().contains("seq 2"), "{err}");

    sink.deliver(&client(), &batch[err.delivered_prefix()..])
        .await
        .unwrap();
    assert_eq!(fake.received_seqs(), (1..=6).collect::<Vec<_>>());
    assert_eq!(fake.documents().len(), 6);
}

#[tokio::test]
async fn basic_auth_is_supported() {
    let fake = FakeElasticsearch::start_with_basic("heddle", "s3cret-pw")
        .await
        .unwrap();
    let sink = sink(json!({
        "kind": "elasticsearch_bulk", "url": fake.url(),
        "auth": {"basic": {"username": "heddle", "password": "s3cret-pw"}}
    }));

    sink.deliver(&client(), &events(1..=2)).await.unwrap();

    assert_eq!(fake.received_seqs(), vec![1, 2]);
    assert_eq!(fake.documents()[0].0, "heddle-audit", "default index");
}

#[tokio::test]
async fn wrong_credentials_are_permanent() {
    let fake = FakeElasticsearch::start_with_api_key(API_KEY)
        .await
        .unwrap();
    let sink = sink(json!({
        "kind": "elasticsearch_bulk", "url": fake.url(), "auth": {"api_key": "d3Jvbmc6a2V5"}
    }));

    let err = sink.deliver(&client(), &events(1..=2)).await.unwrap_err();

    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(401));
    assert!(err.to_string().contains("security_exception"), "{err}");
    assert!(!err.to_string().contains("d3Jvbmc6a2V5"));
}
