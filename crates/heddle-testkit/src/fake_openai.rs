//! A fake OpenAI Chat Completions server: `POST /v1/chat/completions` with
//! `Authorization: Bearer <key>`, answering queued [`FakeModelReply`]s in the documented
//! format (`choices[0].message` with `content` and `tool_calls` whose `function.arguments` is
//! a JSON string, `finish_reason`, `usage.prompt_tokens` / `completion_tokens`) and errors as
//! `{"error": {"message", "type", "param", "code"}}`.
//!
//! Checks it makes, as OpenAI does: the key (401 `invalid_api_key`), a JSON body with `model`
//! and `messages` (400), and that each `role: tool` message answers a `tool_calls` id of the
//! assistant message before it (400). Stricter than OpenAI in one way: its 401 message quotes
//! the whole key sent (OpenAI quotes part of it), so a client that leaks provider messages
//! into errors is caught.
//!
//! With `"stream": true` a completion is streamed as server-sent events (see
//! `fake_openai_stream`). Every request body is recorded as it arrived, so a test can assert
//! what an upstream ever saw (`requests()`, `request_bodies()`).
//!
//! It also serves `POST /v1/embeddings` and `POST /v1/moderations`, computing deterministic
//! answers in the documented formats (see `fake_openai_vectors`).

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
use crate::fake_openai_stream::{StreamShape, StreamedCompletion, stream_events, stream_response};
use crate::fake_openai_vectors::{VectorState, embeddings, moderations};
use crate::recorder::Recorder;
use crate::{FakeModelReply, LoopbackServer};

#[derive(Debug)]
pub struct FakeOpenAi {
    server: LoopbackServer,
    state: Arc<OpenAiState>,
}

#[derive(Debug)]
pub(crate) struct OpenAiState {
    pub(crate) recorder: Recorder,
    /// How streamed answers are cut into chunks.
    stream_shape: std::sync::Mutex<StreamShape>,
    replies: ReplyQueue,
    /// `None` accepts requests without a key (a local OpenAI-compatible server).
    pub(crate) api_key: Option<String>,
    /// `/v1/embeddings` and `/v1/moderations`: replies that replace the computed answer.
    pub(crate) vectors: VectorState,
}

fake_model_api!(FakeOpenAi);

impl FakeOpenAi {
    /// Starts a server that accepts `Bearer <api_key>`.
    pub async fn start(api_key: &str) -> io::Result<Self> {
        Self::start_with(Some(api_key.to_owned())).await
    }

    /// Starts a server that takes no key, as Ollama or llama.cpp server do by default.
    pub async fn start_without_key() -> io::Result<Self> {
        Self::start_with(None).await
    }

    /// Queues a reply that replaces the next computed `/v1/embeddings` answer (an error, a
    /// raw body, a delay); a `Completion` means "answer as usual".
    pub fn push_embeddings_reply(&self, reply: FakeModelReply) {
        self.state.vectors.embedding_replies.push(reply);
    }

    /// Queues a reply that replaces the next computed `/v1/moderations` answer.
    pub fn push_moderations_reply(&self, reply: FakeModelReply) {
        self.state.vectors.moderation_replies.push(reply);
    }

    /// From now on, streamed answers are cut into pieces of this shape.
    pub fn set_stream_shape(&self, shape: StreamShape) {
        *self
            .state
            .stream_shape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = shape;
    }

    /// From now on, an input containing `keyword` (case-insensitively) is flagged for
    /// `category`, besides the default keywords.
    pub fn flag_moderation_keyword(&self, keyword: &str, category: &str) {
        self.state.vectors.add_keyword(keyword, category);
    }

    async fn start_with(api_key: Option<String>) -> io::Result<Self> {
        let state = Arc::new(OpenAiState {
            recorder: Recorder::default(),
            stream_shape: std::sync::Mutex::new(StreamShape::default()),
            replies: ReplyQueue::default(),
            api_key,
            vectors: VectorState::default(),
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/moderations", post(moderations))
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        Ok(Self {
            server: LoopbackServer::start(router).await?,
            state,
        })
    }
}

async fn chat_completions(
    State(state): State<Arc<OpenAiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .recorder
        .record_request(&method, &uri, &headers, &body);
    if let Some(refusal) = check_key(state.api_key.as_deref(), &headers) {
        return refusal;
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "We could not parse the JSON body of your request.",
                "invalid_request_error",
                None,
            );
        }
    };
    if let Err(message) = check_request(&request) {
        return error(
            StatusCode::BAD_REQUEST,
            &message,
            "invalid_request_error",
            None,
        );
    }
    let model = request["model"].as_str().unwrap_or_default().to_owned();
    let Some(mut reply) = state.replies.pop() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the fake has no scripted reply left",
            "server_error",
            None,
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
    if request.get("stream") == Some(&Value::Bool(true)) {
        let include_usage = request
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let shape = *state
            .stream_shape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        return render_stream(reply, &model, count, include_usage, shape, None);
    }
    render(reply, &model, count)
}

/// A streamed answer for a completion (cut short for `CutStream`); other replies answer as
/// they do without streaming, since OpenAI reports errors before a stream starts.
fn render_stream(
    reply: FakeModelReply,
    model: &str,
    count: usize,
    include_usage: bool,
    shape: StreamShape,
    cut_after: Option<usize>,
) -> Response {
    match reply {
        FakeModelReply::Completion {
            text,
            tool_calls,
            input_tokens,
            output_tokens,
            stop_reason,
        } => {
            let finish_reason = stop_reason.unwrap_or_else(|| {
                if tool_calls.is_empty() {
                    "stop".into()
                } else {
                    "tool_calls".into()
                }
            });
            let events = stream_events(
                &StreamedCompletion {
                    id: format!("chatcmpl-fake{count}"),
                    model,
                    text: text.as_deref(),
                    tool_calls: &tool_calls,
                    finish_reason,
                    usage: json!({
                        "prompt_tokens": input_tokens,
                        "completion_tokens": output_tokens,
                        "total_tokens": input_tokens + output_tokens,
                    }),
                    include_usage,
                    cut_after,
                },
                shape,
            );
            stream_response(events)
        }
        FakeModelReply::CutStream {
            after_events,
            reply,
        } => render_stream(
            *reply,
            model,
            count,
            include_usage,
            shape,
            Some(after_events),
        ),
        other => render(other, model, count),
    }
}

/// The bearer key, checked as OpenAI does on every endpoint: the 401 to send, if any.
pub(crate) fn check_key(expected: Option<&str>, headers: &HeaderMap) -> Option<Response> {
    let expected = expected?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(key) if key == expected => None,
        Some(key) => Some(error(
            StatusCode::UNAUTHORIZED,
            &format!("Incorrect API key provided: {key}."),
            "invalid_request_error",
            Some("invalid_api_key"),
        )),
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key.",
            "invalid_request_error",
            None,
        )),
    }
}

/// The documented shape, and tool results that answer the assistant's tool calls.
fn check_request(request: &Value) -> Result<(), String> {
    if !request.get("model").is_some_and(Value::is_string) {
        return Err("you must provide a model parameter".into());
    }
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return Err("Missing required parameter: 'messages'.".into());
    };
    let mut open_calls: Vec<String> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        match message.get("role").and_then(Value::as_str) {
            Some("assistant") => {
                open_calls = message
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .map(|calls| {
                        calls
                            .iter()
                            .filter_map(|call| call.get("id").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Some("tool") => {
                let id = message.get("tool_call_id").and_then(Value::as_str);
                if !id.is_some_and(|id| open_calls.iter().any(|open| open == id)) {
                    return Err(format!(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (messages[{index}])."
                    ));
                }
            }
            Some("system" | "developer" | "user") => open_calls.clear(),
            _ => return Err(format!("Invalid value for 'messages[{index}].role'.")),
        }
    }
    Ok(())
}

pub(crate) fn render(reply: FakeModelReply, model: &str, count: usize) -> Response {
    match reply {
        FakeModelReply::Completion {
            text,
            tool_calls,
            input_tokens,
            output_tokens,
            stop_reason,
        } => {
            let finish_reason = stop_reason.unwrap_or_else(|| {
                if tool_calls.is_empty() {
                    "stop".into()
                } else {
                    "tool_calls".into()
                }
            });
            let mut message = json!({"role": "assistant", "content": text, "refusal": null});
            if !tool_calls.is_empty() {
                message["tool_calls"] = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments.to_string()},
                        })
                    })
                    .collect();
            }
            let body = json!({
                "id": format!("chatcmpl-fake{count}"),
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": message,
                    "logprobs": null,
                    "finish_reason": finish_reason,
                }],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        FakeModelReply::RateLimited { retry_after_secs } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests. Please try again later.",
                "requests",
                Some("rate_limit_exceeded"),
            );
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        FakeModelReply::ServerError { status } => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        FakeModelReply::Unauthorized => error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        FakeModelReply::BadRequest { message } => error(
            StatusCode::BAD_REQUEST,
            &message,
            "invalid_request_error",
            None,
        ),
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

pub(crate) fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({
        "error": {"message": message, "type": kind, "param": null, "code": code},
    });
    (status, axum::Json(body)).into_response()
}
