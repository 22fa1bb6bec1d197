//! A Splunk HTTP Event Collector: `POST /services/collector/event` with
//! `Authorization: Splunk <token>` and a body of concatenated JSON event objects
//! (`{"time", "host", "source", "sourcetype", "index", "event"}`), answered with HEC's
//! `{"text": …, "code": …}` status objects and HTTP statuses:
//! 0 Success (200), 2 Token is required (401), 3 Invalid authorization (401),
//! 4 Invalid token (403), 5 No data (400), 6 Invalid data format (400, with
//! `invalid-event-number`), 9 Server is busy (503), 12 Event field is required (400),
//! 13 Event field cannot be blank (400), 17 HEC is healthy (health endpoint).
//!
//! Stricter than Splunk in one way: every event must be a Heddle envelope (`tenant_id`,
//! `seq`), so a format slip in the sink fails the test instead of being indexed.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::recorder::{Recorder, receiver_api, tenant_and_seq};
use crate::{LoopbackServer, ReceivedEvent, ReceiverMode};

#[derive(Debug)]
pub struct FakeSplunkHec {
    server: LoopbackServer,
    state: Arc<SplunkState>,
}

#[derive(Debug)]
struct SplunkState {
    recorder: Recorder,
    token: String,
}

receiver_api!(FakeSplunkHec);

impl FakeSplunkHec {
    /// Starts a collector that accepts `token`.
    pub async fn start(token: &str) -> io::Result<Self> {
        let state = Arc::new(SplunkState {
            recorder: Recorder::default(),
            token: token.to_owned(),
        });
        let router = Router::new()
            .route("/services/collector/event", post(collect))
            .route("/services/collector/event/1.0", post(collect))
            .route("/services/collector", post(collect))
            .route("/services/collector/health", get(health))
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        Ok(Self {
            server: LoopbackServer::start(router).await?,
            state,
        })
    }
}

async fn health() -> Response {
    hec(StatusCode::OK, "HEC is healthy", 17)
}

async fn collect(
    State(state): State<Arc<SplunkState>>,
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
            return hec(StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9);
        }
        ReceiverMode::TooManyRequests => {
            let mut response = hec(StatusCode::TOO_MANY_REQUESTS, "Server is busy", 9);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
        ReceiverMode::Up | ReceiverMode::LoseAck => {}
    }
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return hec(StatusCode::UNAUTHORIZED, "Token is required", 2);
    };
    let Some(token) = authorization.strip_prefix("Splunk ") else {
        return hec(StatusCode::UNAUTHORIZED, "Invalid authorization", 3);
    };
    if token != state.token {
        return hec(StatusCode::FORBIDDEN, "Invalid token", 4);
    }

    let mut events = Vec::new();
    for (number, item) in serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .enumerate()
    {
        let Ok(object) = item else {
            return invalid_format(number);
        };
        let Some(fields) = object.as_object() else {
            return invalid_format(number);
        };
        let time_ok = match fields.get("time") {
            None | Some(Value::Number(_)) => true,
            Some(Value::String(text)) => text.parse::<f64>().is_ok(),
            Some(_) => false,
        };
        if !time_ok {
            return invalid_format(number);
        }
        let Some(event) = fields.get("event") else {
            return hec(StatusCode::BAD_REQUEST, "Event field is required", 12);
        };
        if event.is_null() || event.as_str().is_some_and(str::is_empty) {
            return hec(StatusCode::BAD_REQUEST, "Event field cannot be blank", 13);
        }
        let Some((tenant_id, seq)) = tenant_and_seq(event) else {
            return invalid_format(number);
        };
        events.push(ReceivedEvent {
            tenant_id,
            seq,
            payload: object,
        });
    }
    if events.is_empty() {
        return hec(StatusCode::BAD_REQUEST, "No data", 5);
    }
    state.recorder.record_events(events);
    if state.recorder.mode() == ReceiverMode::LoseAck {
        return hec(StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9);
    }
    hec(StatusCode::OK, "Success", 0)
}

fn hec(status: StatusCode, text: &str, code: u32) -> Response {
    (status, axum::Json(json!({ "text": text, "code": code }))).into_response()
}

fn invalid_format(number: usize) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(
            json!({ "text": "Invalid data format", "code": 6, "invalid-event-number": number }),
        ),
    )
        .into_response()
}
