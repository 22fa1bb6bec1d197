//! One integration-test binary for heddle-outbound: the client against servers on
//! 127.0.0.1 (never any other address; refused addresses are refused before connecting).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

mod limits;
mod ssrf;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use heddle_outbound::{OutboundClient, OutboundPolicy};
use heddle_testkit::LoopbackServer;

/// A server with a few behaviours, counting hits on `/target`.
struct Upstream {
    server: LoopbackServer,
    target_hits: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> Self {
        let target_hits = Arc::new(AtomicUsize::new(0));
        let hits = Arc::clone(&target_hits);
        let router = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .route(
                "/target",
                get(move || {
                    hits.fetch_add(1, Ordering::SeqCst);
                    async { "target" }
                }),
            )
            .route(
                "/redirect",
                get(|| async {
                    (StatusCode::FOUND, [(header::LOCATION, "/target")]).into_response()
                }),
            )
            .route(
                "/redirect-to-metadata",
                get(|| async {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")],
                    )
                        .into_response()
                }),
            )
            .route("/big", get(|| async { vec![b'x'; 64 * 1024] }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route(
                "/error",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response() }),
            );
        Self {
            server: LoopbackServer::start(router).await.unwrap(),
            target_hits,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    fn port(&self) -> u16 {
        self.server.addr().port()
    }

    fn target_hits(&self) -> usize {
        self.target_hits.load(Ordering::SeqCst)
    }
}

fn loopback_client(adjust: impl FnOnce(&mut OutboundPolicy)) -> OutboundClient {
    let mut policy = OutboundPolicy::allowing_loopback();
    adjust(&mut policy);
    OutboundClient::new(policy).unwrap()
}
