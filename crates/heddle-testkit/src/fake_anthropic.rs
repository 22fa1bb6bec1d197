//! A fake Anthropic Messages server: `POST /v1/messages` with `x-api-key` and
//! `anthropic-version`, answering queued [`FakeModelReply`]s in the documented format
//! (`type: message`, `content` blocks `text` / `tool_use`, `stop_reason`,
//! `usage.input_tokens` / `output_tokens`) and errors as
//! `{"type": "error", "error": {"type", "message"}}`.
//!
//! Checks it makes, as Anthropic does: the key (401 `authentication_error`), the
//! `anthropic-version` header, `model`, `max_tokens` and `messages` (400
//! `invalid_request_error`), roles that alternate starting with `user`, a string `system`
//! rather than a system message, and `tool_result` blocks that answer a `tool_use` id of the
//! assistant message just before.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::fake_model::{ReplyQueue, fake_model_api};
use crate::recorder::Recorder;
use crate::{FakeModelReply, LoopbackServer};

/// The version the fake accepts, as Heddle's adapter sends it.
pub const FAKE_ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug)]
pub struct FakeAnthropic {
    server: LoopbackServer,
    state: Arc<AnthropicState>,
}

#[derive(Debug)]
struct AnthropicState {
    recorder: Recorder,
    replies: ReplyQueue,
    api_key: String,
}

fake_model_api!(FakeAnthropic);

impl FakeAnthropic {
    /// Starts a server that accepts `x-api-key: <api_key>`.
    pub async fn start(api_key: &str) -> io::Result<Self> {
        let state = Arc::new(AnthropicState {
            recorder: Recorder::default(),
            replies: ReplyQueue::default(),
            api_key: api_key.to_owned(),
        });
        let router = Router::new()
            .route("/v1/messages", post(messages))
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        Ok(Self {
            server: LoopbackServer::start(router).await?,
            state,
        })
    }
}

async fn messages(
    State(state): State<Arc<AnthropicState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .recorder
        .record_request(&method, &uri, &headers, &body);
    let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if header_text("x-api-key") != Some(state.api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        );
    }
    if header_text("anthropic-version") != Some(FAKE_ANTHROPIC_VERSION) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "There was an issue with your request body: invalid JSON",
            );
        }
    };
    if let Err(message) = check_request(&request) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &message);
    }
    let model = request["model"].as_str().unwrap_or_default().to_owned();
    let Some(mut reply) = state.replies.pop() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "the fake has no scripted reply left",
        );
    };
    while let FakeModelReply::Delayed {
        delay,
        reply: inner,
    } = reply
    {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    let count = state.recorder.request_count();
    render(reply, &model, count)
}

fn check_request(request: &Value) -> Result<(), String> {
    if !request.get("model").is_some_and(Value::is_string) {
        return Err("model: Field required".into());
    }
    if !request.get("max_tokens").is_some_and(Value::is_u64) {
        return Err("max_tokens: Field required".into());
    }
    if request
        .get("system")
        .is_some_and(|system| !system.is_string() && !system.is_array())
    {
        return Err("system: Input should be a valid string or list of blocks".into());
    }
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return Err("messages: Field required".into());
    };
    let mut expected_role = "user";
    let mut open_tool_uses: Vec<String> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        if role == Some("system") {
            return Err(format!(
                "messages.{index}.role: Input should be 'user' or 'assistant'; use the top-level `system` parameter"
            ));
        }
        if role != Some(expected_role) {
            return Err(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", starting with \"user\" (messages.{index})"
            ));
        }
        let blocks: Vec<Value> = match message.get("content") {
            Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
            Some(Value::Array(blocks)) => blocks.clone(),
            _ => return Err(format!("messages.{index}.content: Field required")),
        };
        let mut answered = Vec::new();
        for block in &blocks {
            match block.get("type").and_then(Value::as_str) {
                Some("text") if block.get("text").is_some_and(Value::is_string) => {}
                Some("tool_use") if expected_role == "assistant" => {
                    if !block.get("input").is_some_and(Value::is_object) {
                        return Err(format!(
                            "messages.{index}: tool_use.input must be an object"
                        ));
                    }
                    if let Some(id) = block.get("id").and_then(Value::as_str) {
                        answered.push(id.to_owned());
                    }
                }
                Some("tool_result") if expected_role == "user" => {
                    let id = block.get("tool_use_id").and_then(Value::as_str);
                    if !id.is_some_and(|id| open_tool_uses.iter().any(|open| open == id)) {
                        return Err(format!(
                            "messages.{index}: tool_use ids were found without tool_result blocks immediately after, or a tool_result has no matching tool_use"
                        ));
                    }
                }
                _ => return Err(format!("messages.{index}.content: unexpected block")),
            }
        }
        open_tool_uses = answered;
        expected_role = if expected_role == "user" {
            "assistant"
        } else {
            "user"
        };
    }
    if let Some(tools) = request.get("tools").and_then(Value::as_array) {
        for (index, tool) in tools.iter().enumerate() {
            if !tool.get("name").is_some_and(Value::is_string)
                || !tool.get("input_schema").is_some_and(Value::is_object)
            {
                return Err(format!("tools.{index}: name and input_schema are required"));
            }
        }
    }
    Ok(())
}

fn render(reply: FakeModelReply, model: &str, count: usize) -> Response {
    match reply {
        FakeModelReply::Completion {
            text,
            tool_calls,
            input_tokens,
            output_tokens,
            stop_reason,
        } => {
            let stop_reason = stop_reason.unwrap_or_else(|| {
                if tool_calls.is_empty() {
                    "end_turn".into()
                } else {
                    "tool_use".into()
                }
            });
            let mut content: Vec<Value> = Vec::new();
            if let Some(text) = text {
                content.push(json!({"type": "text", "text": text}));
            }
            for call in tool_calls {
                content.push(json!({
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": call.arguments,
                }));
            }
            let body = json!({
                "id": format!("msg_fake{count}"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        FakeModelReply::RateLimited { retry_after_secs } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            );
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        FakeModelReply::ServerError { status } => {
            let (status, kind, message) = if status == 529 {
                (
                    StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                    "overloaded_error",
                    "Overloaded",
                )
            } else {
                (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "api_error",
                    "Internal server error",
                )
            };
            error(status, kind, message)
        }
        FakeModelReply::Unauthorized => error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        ),
        FakeModelReply::BadRequest { message } => {
            error(StatusCode::BAD_REQUEST, "invalid_request_error", &message)
        }
        FakeModelReply::Malformed { body } => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        FakeModelReply::Delayed { reply, .. } | FakeModelReply::CutStream { reply, .. } => {
            render(*reply, model, count)
        }
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (status, axum::Json(body)).into_response()
}
