//! The audit log reaches the SIEM: a receiver that is down for a while still gets every
//! event exactly once by sequence, and the delivery error is visible meanwhile.

use std::time::{Duration, Instant};

use heddle_server::config::Config;
use heddle_testkit::{FakeWebhookReceiver, ReceiverMode};
use heddle_types::Role;
use reqwest::Method;
use serde_json::Value;

use crate::harness::{TestServer, expect_problem, json};

const SECRET: &str = "whsec-canary-7Hq2pLx9";

fn fast_delivery(config: &mut Config) {
    config.siem.allow_private_addresses = vec!["127.0.0.1/32".into()];
    config.siem.delivery_interval_ms = 50;
    config.siem.retry_base_ms = 50;
    config.siem.retry_cap_secs = 1;
}

async fn sink(server: &TestServer) -> Value {
    let list = json(
        server
            .as_role(Role::ComplianceOfficer, Method::GET, "/v1/audit/sinks")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    list["items"][0].clone()
}

/// Polls `check` until it holds, moving the server's clock a second per poll so retry
/// backoffs come due; the wall-clock bound only keeps a broken build from hanging CI.
async fn eventually(server: &TestServer, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        server.clock.advance(time::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_every_event_exactly_once() {
    let receiver = FakeWebhookReceiver::start(SECRET).await.unwrap();
    receiver.set_mode(ReceiverMode::Unavailable);
    let server = TestServer::start_with(fast_delivery).await;

    let created = server
        .as_role(Role::Admin, Method::POST, "/v1/audit/sinks")
        .json(&serde_json::json!({
            "name": "soc",
            "config": {"kind": "webhook", "url": receiver.endpoint(), "secret": SECRET}
        }))
        .send()
        .await
        .unwrap();
    let text = created.text().await.unwrap();
    assert!(
        !text.contains(SECRET),
        "the sink's secret is never shown: {text}"
    );
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["kind"], "webhook");
    assert!(
        created["summary"]
            .as_str()
            .unwrap()
            .starts_with("webhook → 127.0.0.1:")
    );

    for i in 0..5 {
        server
            .as_role(Role::Admin, Method::POST, "/v1/api-keys")
            .json(&serde_json::json!({"name": format!("s{i}"), "role": "viewer"}))
            .send()
            .await
            .unwrap();
    }
    // While the receiver is down the failure is visible on the sink.
    eventually(&server, "the delivery error to show", async || {
        let sink = sink(&server).await;
        sink["attempts"].as_u64().unwrap_or(0) >= 2 && sink["last_error"].is_string()
    })
    .await;
    assert_eq!(
        sink(&server).await["paused"],
        false,
        "503 is retried, not fatal"
    );

    receiver.set_mode(ReceiverMode::Up);
    let head = async || {
        let events = json(
            server
                .as_role(
                    Role::ComplianceOfficer,
                    Method::GET,
                    "/v1/audit/events?limit=500",
                )
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        events["items"].as_array().unwrap().last().unwrap()["seq"]
            .as_u64()
            .unwrap()
            + 1
    };
    eventually(&server, "the sink to catch up", async || {
        let cursor = sink(&server).await["cursor"].as_u64().unwrap();
        cursor > 0 && cursor >= head().await
    })
    .await;
    let cursor = sink(&server).await["cursor"].as_u64().unwrap();
    let seqs = receiver.received_seqs();
    let expected: Vec<u64> = (0..cursor).collect();
    assert_eq!(seqs, expected, "every event once, by seq, none missing");
    assert!(sink(&server).await["last_delivered_at"].is_string());
}

#[tokio::test]
async fn bad_sink_configurations_are_refused_without_echoing_secrets() {
    let server = TestServer::start_with(fast_delivery).await;
    for config in [
        serde_json::json!({"kind": "carrier_pigeon", "secret": SECRET}),
        serde_json::json!({"kind": "webhook", "secret": SECRET}),
        serde_json::json!({"kind": "webhook", "url": "ftp://x", "secret": SECRET}),
    ] {
        let response = server
            .as_role(Role::Admin, Method::POST, "/v1/audit/sinks")
            .json(&serde_json::json!({"name": "bad", "config": config}))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 422).await;
        assert!(!problem.to_string().contains(SECRET), "{problem}");
    }
    let response = server
        .as_role(Role::Viewer, Method::POST, "/v1/audit/sinks")
        .json(&serde_json::json!({"name": "x", "config": {"kind": "webhook", "url": "https://a.example", "secret": SECRET}}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403).await;
}

#[tokio::test]
async fn a_sink_at_a_private_address_is_paused_not_retried_forever() {
    // No private-address opt-in: 127.0.0.1 is refused by the outbound SSRF policy.
    let server = TestServer::start_with(|config| {
        config.siem.delivery_interval_ms = 50;
    })
    .await;
    let receiver = FakeWebhookReceiver::start(SECRET).await.unwrap();
    json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/audit/sinks")
            .json(&serde_json::json!({
                "name": "internal",
                "config": {"kind": "webhook", "url": receiver.endpoint(), "secret": SECRET}
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    eventually(&server, "the sink to pause", async || {
        sink(&server).await["paused"] == true
    })
    .await;
    assert!(
        receiver.received_seqs().is_empty(),
        "nothing reached the private address"
    );
    let error = sink(&server).await["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!error.contains(SECRET), "{error}");
}
