//! The fake upstream of `support` served over streamable HTTP (rmcp's server in axum, on a
//! loopback port), behind a check of the bearer credential, recording every request it
//! sees: method, session id, protocol version, and the session id it answered with.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use heddle_mcp_upstream::{Upstream, UpstreamReach};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use secrecy::SecretString;

use crate::support::{FakeUpstream, State, fresh_state};

/// The credential the fake server accepts.
pub const TOKEN: &str = "upstream-bearer-7f3a9c";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub session: Option<String>,
    pub protocol_version: Option<String>,
    pub status: u16,
    /// The `Mcp-Session-Id` of the answer.
    pub issued: Option<String>,
}

pub struct HttpUpstream {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sessions (`Mcp-Session-Id`), answers as event streams: rmcp's default.
    Sessions,
    /// No sessions, plain JSON answers.
    StatelessJson,
}

pub async fn serve(mode: Mode) -> HttpUpstream {
    let state = fresh_state();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = FakeUpstream(Arc::clone(&state));
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let config = match mode {
        Mode::Sessions => config,
        Mode::StatelessJson => config
            .with_legacy_session_mode(false)
            .with_json_response(true),
    };
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let recorder = Arc::clone(&seen);
    let app = axum::Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let recorder = Arc::clone(&recorder);
            async move { check_and_record(request, next, &recorder).await }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    HttpUpstream {
        url: format!("http://{address}/mcp"),
        state,
        seen,
    }
}

/// Refuses a request without the right bearer credential — echoing what it got, as a
/// careless server might, so tests can check Heddle never repeats such a body.
async fn check_and_record(request: Request, next: Next, seen: &Mutex<Vec<Seen>>) -> Response {
    // Read into owned values first: nothing borrowing the request may live across an await.
    let (mut record, authorization) = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let record = Seen {
            method: request.method().to_string(),
            session: header("mcp-session-id"),
            protocol_version: header("mcp-protocol-version"),
            status: 0,
            issued: None,
        };
        (record, header("authorization").unwrap_or_default())
    };
    let response = if authorization == format!("Bearer {TOKEN}") {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            format!("credential `{authorization}` refused"),
        )
            .into_response()
    };
    record.status = response.status().as_u16();
    record.issued = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.lock().unwrap().push(record);
    response
}

/// The client side: loopback allowed (as `mcp.upstream_allow_private_network` does).
pub async fn connect(url: &str, bearer: Option<&str>) -> Result<Upstream, String> {
    let reach = UpstreamReach {
        allow_private_network: true,
        ..UpstreamReach::default()
    };
    let timeout = Duration::from_secs(5);
    let client = reach.client_for(url, timeout).await?;
    Upstream::connect_http(
        url,
        client,
        bearer.map(|b| SecretString::from(b.to_owned())),
        timeout,
    )
    .await
    .map_err(|e| e.to_string())
}
