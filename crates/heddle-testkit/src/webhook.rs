//! A receiver of Heddle's signed webhooks. It checks the signature the way a real receiver
//! should, from the documented scheme (not by calling Heddle's own helper), so a signing bug
//! in Heddle shows up as a 401 here:
//!
//! `X-Heddle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
//! with the timestamp within five minutes of now.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::recorder::{Recorder, receiver_api, tenant_and_seq};
use crate::{LoopbackServer, ReceivedEvent, ReceiverMode};

/// Signatures older or newer than this are refused (replay protection).
const TOLERANCE_SECS: i64 = 300;

/// Accepts `POST` on any path with `{"events": [...]}` and a valid signature.
#[derive(Debug)]
pub struct FakeWebhookReceiver {
    server: LoopbackServer,
    state: Arc<WebhookState>,
}

#[derive(Debug)]
struct WebhookState {
    recorder: Recorder,
    secret: Vec<u8>,
}

receiver_api!(FakeWebhookReceiver);

impl FakeWebhookReceiver {
    /// Starts a receiver that verifies signatures with `secret`.
    pub async fn start(secret: &str) -> io::Result<Self> {
        let state = Arc::new(WebhookState {
            recorder: Recorder::default(),
            secret: secret.as_bytes().to_vec(),
        });
        let router = Router::new()
            .fallback(receive)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        Ok(Self {
            server: LoopbackServer::start(router).await?,
            state,
        })
    }

    /// The URL to configure in Heddle: `http://127.0.0.1:<port>/hooks/heddle`.
    pub fn endpoint(&self) -> String {
        format!("{}/hooks/heddle", self.server.url())
    }
}

async fn receive(
    State(state): State<Arc<WebhookState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .recorder
        .record_request(&method, &uri, &headers, &body);
    if method != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted");
    }
    match state.recorder.mode() {
        ReceiverMode::Unavailable => {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "receiver is down");
        }
        ReceiverMode::TooManyRequests => {
            let mut response = reply(StatusCode::TOO_MANY_REQUESTS, "slow down");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
        ReceiverMode::Up | ReceiverMode::LoseAck => {}
    }
    if let Err(reason) = verify_signature(&state.secret, &headers, &body) {
        return reply(StatusCode::UNAUTHORIZED, reason);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/json",
        );
    }
    for required in ["x-heddle-delivery", "idempotency-key"] {
        if !headers.contains_key(required) {
            return reply(StatusCode::BAD_REQUEST, "missing delivery headers");
        }
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return reply(StatusCode::BAD_REQUEST, "body is not json");
    };
    let Some(envelopes) = payload.get("events").and_then(Value::as_array) else {
        return reply(StatusCode::BAD_REQUEST, "expected {\"events\": [...]}");
    };
    let mut events = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let Some((tenant_id, seq)) = tenant_and_seq(envelope) else {
            return reply(StatusCode::BAD_REQUEST, "event without tenant_id and seq");
        };
        events.push(ReceivedEvent {
            tenant_id,
            seq,
            payload: envelope.clone(),
        });
    }
    let count = events.len();
    state.recorder.record_events(events);
    if state.recorder.mode() == ReceiverMode::LoseAck {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "stored, but the ack is lost",
        );
    }
    (StatusCode::OK, axum::Json(json!({ "accepted": count }))).into_response()
}

fn verify_signature(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let header = headers
        .get("x-heddle-signature")
        .and_then(|value| value.to_str().ok())
        .ok_or("missing signature")?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("signature without timestamp")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        });
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err("signature timestamp outside tolerance");
    }
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let valid = signatures.iter().any(|candidate| {
        heddle_crypto::hex_decode(candidate)
            .is_ok_and(|tag| heddle_crypto::verify_hmac_sha256(secret, &signed, &tag))
    });
    if valid {
        Ok(())
    } else {
        Err("signature mismatch")
    }
}

fn reply(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}
