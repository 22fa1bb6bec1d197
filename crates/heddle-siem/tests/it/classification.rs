//! Retryable vs permanent, for every sink, against a receiver that answers whatever status
//! the test sets (and echoes the request's credentials back, to prove errors scrub them).

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use heddle_outbound::{OutboundClient, OutboundPolicy};
use heddle_siem::{DeliveryFailure, SiemSink};
use heddle_testkit::LoopbackServer;
use serde_json::json;

use crate::{client, events, sink};

const TOKEN: &str = "tok-3c9d1e7a5b";

struct StatusServer {
    server: LoopbackServer,
    status: Arc<AtomicU16>,
}

impl StatusServer {
    async fn start() -> Self {
        let status = Arc::new(AtomicU16::new(200));
        let shared = Arc::clone(&status);
        let router = Router::new().fallback(move |headers: HeaderMap| {
            let status = StatusCode::from_u16(shared.load(Ordering::SeqCst)).unwrap();
            async move {
                // A misbehaving receiver that echoes every credential header back.
                let echoed: Vec<String> = ["authorization", "dd-api-key"]
                    .iter()
                    .filter_map(|name| headers.get(*name)?.to_str().ok().map(str::to_owned))
                    .collect();
                (status, format!("rejected: {}", echoed.join(" "))).into_response()
            }
        });
        Self {
            server: LoopbackServer::start(router).await.unwrap(),
            status,
        }
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

fn all_sinks(base: &str) -> Vec<SiemSink> {
    vec![
        sink(json!({"kind": "webhook", "url": format!("{base}/hook"), "secret": TOKEN})),
        sink(json!({"kind": "splunk_hec", "url": base, "token": TOKEN})),
        sink(json!({"kind": "datadog_logs", "intake_url": base, "api_key": TOKEN})),
        sink(json!({"kind": "elasticsearch_bulk", "url": base, "auth": {"api_key": TOKEN}})),
    ]
}

#[tokio::test]
async fn statuses_are_classified_the_same_way_for_every_sink() {
    let server = StatusServer::start().await;
    let client = client();
    let table: &[(u16, bool)] = &[
        (301, false),
        (400, false),
        (401, false),
        (403, false),
        (404, false),
        (408, true),
        (413, false),
        (429, true),
        (500, true),
        (502, true),
        (503, true),
        (504, true),
    ];
    for sink in all_sinks(&server.server.url()) {
        for &(status, retryable) in table {
            server.answer(status);
            let err = sink.deliver(&client, &events(1..=2)).await.unwrap_err();
            assert_eq!(
                err.is_retryable(),
                retryable,
                "{} {status}: {err}",
                sink.kind()
            );
            assert_eq!(err.status(), Some(status), "{}", sink.kind());
            assert_eq!(err.delivered_prefix(), 0);
            let text = format!("{err} {err:?}");
            assert!(
                !text.contains(TOKEN),
                "{} leaked a credential: {text}",
                sink.kind()
            );
        }
    }
}

#[tokio::test]
async fn a_success_status_without_the_documented_body_is_unconfirmed() {
    let server = StatusServer::start().await;
    server.answer(200);
    let sinks = all_sinks(&server.server.url());

    // Webhook and Datadog: any 2xx is success.
    sinks[0].deliver(&client(), &events(1..=1)).await.unwrap();
    sinks[2].deliver(&client(), &events(1..=1)).await.unwrap();
    // Splunk wants `{"code": 0}`, Elasticsearch an `errors` flag: retry rather than assume.
    for sink in [&sinks[1], &sinks[3]] {
        let err = sink.deliver(&client(), &events(1..=1)).await.unwrap_err();
        assert!(
            matches!(err.failure(), DeliveryFailure::UnexpectedResponse { .. }),
            "{err:?}"
        );
        assert!(err.is_retryable());
        assert!(!err.to_string().contains(TOKEN), "{err}");
    }
}

#[tokio::test]
async fn unreachable_and_slow_receivers_are_retryable_and_blocked_ones_are_not() {
    let server = StatusServer::start().await;
    let base = server.server.url();
    server.server.stop().await;
    for sink in all_sinks(&base) {
        let err = sink.deliver(&client(), &events(1..=1)).await.unwrap_err();
        assert!(
            err.is_retryable(),
            "refused connection, {}: {err}",
            sink.kind()
        );
        assert_eq!(err.status(), None);
    }

    // Without the loopback opt-in the outbound policy refuses: a configuration problem.
    let strict = OutboundClient::new(OutboundPolicy::default()).unwrap();
    for sink in all_sinks(&base) {
        let err = sink.deliver(&strict, &events(1..=1)).await.unwrap_err();
        assert!(!err.is_retryable(), "blocked, {}: {err}", sink.kind());
        assert!(matches!(err.failure(), DeliveryFailure::Transport(e) if e.is_blocked_by_policy()));
    }

    let slow = LoopbackServer::start(Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    }))
    .await
    .unwrap();
    let impatient = OutboundClient::new(OutboundPolicy {
        total_timeout: Duration::from_millis(200),
        ..OutboundPolicy::allowing_loopback()
    })
    .unwrap();
    for sink in all_sinks(&slow.url()) {
        let err = sink.deliver(&impatient, &events(1..=1)).await.unwrap_err();
        assert!(err.is_retryable(), "timeout, {}: {err}", sink.kind());
    }
}

#[tokio::test]
async fn an_empty_batch_sends_nothing() {
    let server = StatusServer::start().await;
    server.answer(500);
    for sink in all_sinks(&server.server.url()) {
        sink.deliver(&client(), &[]).await.unwrap();
    }
}
