//! Datadog's logs intake, v2: `POST /api/v2/logs` with a `DD-API-KEY` header and a JSON
//! array of log objects (`ddsource`, `ddtags`, `hostname`, `message`, `service`, plus any
//! attributes). Documented limits enforced: at most 1000 entries per array and 5 MB of
//! uncompressed payload (413 above it). Statuses as documented: 202 accepted, 400 bad
//! request, 401 missing key, 403 invalid key, 413 too large, 429 and 503 "retry later".
//!
//! Stricter than Datadog in one way: every log must carry Heddle's `heddle.tenant_id` and
//! `heddle.seq` attributes, so a format slip fails the test.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::recorder::{Recorder, receiver_api, tenant_and_seq};
use crate::{LoopbackServer, ReceivedEvent, ReceiverMode};

/// Entries per request, as documented.
pub const DATADOG_MAX_ENTRIES: usize = 1000;
/// Uncompressed payload per request: "5MB", read generously as MiB here so the fake never
/// refuses what Datadog would take.
pub const DATADOG_MAX_PAYLOAD_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug)]
pub struct FakeDatadogIntake {
    server: LoopbackServer,
    state: Arc<DatadogState>,
}

#[derive(Debug)]
struct DatadogState {
    recorder: Recorder,
    api_key: String,
}

receiver_api!(FakeDatadogIntake);

impl FakeDatadogIntake {
    /// Starts an intake that accepts `api_key`.
    pub async fn start(api_key: &str) -> io::Result<Self> {
        let state = Arc::new(DatadogState {
            recorder: Recorder::default(),
            api_key: api_key.to_owned(),
        });
        let router = Router::new()
            .route("/api/v2/logs", post(intake))
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        Ok(Self {
            server: LoopbackServer::start(router).await?,
            state,
        })
    }

    /// Number of log entries in each request received, in order.
    pub fn entries_per_request(&self) -> Vec<usize> {
        self.state
            .recorder
            .requests()
            .iter()
            .map(|request| {
                serde_json::from_slice::<Value>(&request.body)
                    .ok()
                    .and_then(|body| body.as_array().map(Vec::len))
                    .unwrap_or(0)
            })
            .collect()
    }
}

async fn intake(
    State(state): State<Arc<DatadogState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .recorder
        .record_request(&method, &uri, &headers, &body);
    match state.recorder.mode() {
        ReceiverMode::Unavailable => {
            return errors(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        ReceiverMode::TooManyRequests => {
            let mut response = errors(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
        ReceiverMode::Up | ReceiverMode::LoseAck => {}
    }
    let Some(key) = headers
        .get("dd-api-key")
        .and_then(|value| value.to_str().ok())
    else {
        return errors(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    if key != state.api_key {
        return errors(StatusCode::FORBIDDEN, "Forbidden");
    }
    if body.len() > DATADOG_MAX_PAYLOAD_BYTES {
        return errors(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large");
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return errors(StatusCode::BAD_REQUEST, "Bad Request");
    }
    let logs = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(logs)) => logs,
        Ok(single @ Value::Object(_)) => vec![single],
        _ => return errors(StatusCode::BAD_REQUEST, "Bad Request"),
    };
    if logs.len() > DATADOG_MAX_ENTRIES {
        return errors(StatusCode::BAD_REQUEST, "Bad Request");
    }
    let mut events = Vec::with_capacity(logs.len());
    for log in logs {
        let has_message = log.get("message").is_some_and(Value::is_string);
        let Some((tenant_id, seq)) = log.get("heddle").and_then(tenant_and_seq) else {
            return errors(StatusCode::BAD_REQUEST, "Bad Request");
        };
        if !has_message {
            return errors(StatusCode::BAD_REQUEST, "Bad Request");
        }
        events.push(ReceivedEvent {
            tenant_id,
            seq,
            payload: log,
        });
    }
    state.recorder.record_events(events);
    if state.recorder.mode() == ReceiverMode::LoseAck {
        return errors(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
}

fn errors(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "errors": [message] }))).into_response()
}
