//! The fake OpenAI server's streamed chat completions (`"stream": true`), in the documented
//! wire format: `text/event-stream`, one `data: {chat.completion.chunk}` event per piece, then
//! `data: [DONE]`.
//!
//! - The first chunk carries `delta.role: "assistant"` (with `content: ""` for a text answer,
//!   or the first fragment of each tool call: `index`, `id`, `type`, `function.name` and
//!   `function.arguments: ""`).
//! - Text arrives in pieces of [`StreamShape::text_piece_chars`] characters, tool-call
//!   arguments in fragments of [`StreamShape::argument_piece_chars`] characters, each tool
//!   call as `delta.tool_calls: [{index, function: {arguments}}]`.
//! - A last chunk has an empty `delta` and the `finish_reason`.
//! - With `stream_options: {"include_usage": true}` every chunk carries `"usage": null` and one
//!   more chunk with `"choices": []` and the usage comes before `[DONE]`.
//!
//! Each event is its own body frame, so a client meets events cut across network reads only
//! as its transport does; tests that need every cut exercise the parser directly.

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::FakeToolCall;

/// How the fake cuts a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamShape {
    pub text_piece_chars: usize,
    pub argument_piece_chars: usize,
}

impl Default for StreamShape {
    fn default() -> Self {
        Self {
            text_piece_chars: 4,
            argument_piece_chars: 5,
        }
    }
}

/// What one streamed completion says.
pub(crate) struct StreamedCompletion<'a> {
    pub(crate) id: String,
    pub(crate) model: &'a str,
    pub(crate) text: Option<&'a str>,
    pub(crate) tool_calls: &'a [FakeToolCall],
    pub(crate) finish_reason: String,
    pub(crate) usage: Value,
    pub(crate) include_usage: bool,
    /// Cut the stream after this many events, without `[DONE]` (a dropped connection).
    pub(crate) cut_after: Option<usize>,
}

/// Splits `text` into pieces of `size` characters (at least one piece for non-empty text).
fn pieces(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|piece| piece.iter().collect())
        .collect()
}

/// The events' `data` values, in order, `[DONE]` included.
pub(crate) fn stream_events(
    completion: &StreamedCompletion<'_>,
    shape: StreamShape,
) -> Vec<String> {
    let mut chunks: Vec<Value> = Vec::new();
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut chunk = json!({
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": completion.model,
            "system_fingerprint": null,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish,
            }],
        });
        if completion.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    if completion.tool_calls.is_empty() {
        chunks.push(chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ));
    } else {
        let opening: Vec<Value> = completion
            .tool_calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                json!({
                    "index": index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                })
            })
            .collect();
        chunks.push(chunk(
            json!({"role": "assistant", "content": null, "tool_calls": opening, "refusal": null}),
            None,
        ));
    }
    for piece in pieces(completion.text.unwrap_or_default(), shape.text_piece_chars) {
        chunks.push(chunk(json!({"content": piece}), None));
    }
    for (index, call) in completion.tool_calls.iter().enumerate() {
        for piece in pieces(&call.arguments.to_string(), shape.argument_piece_chars) {
            chunks.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    chunks.push(chunk(json!({}), Some(&completion.finish_reason)));
    if completion.include_usage {
        chunks.push(json!({
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": completion.model,
            "system_fingerprint": null,
            "choices": [],
            "usage": completion.usage,
        }));
    }
    let mut events: Vec<String> = chunks.iter().map(Value::to_string).collect();
    events.push("[DONE]".to_owned());
    if let Some(cut) = completion.cut_after {
        events.truncate(cut);
    }
    events
}

/// The response: `200 text/event-stream`, one body frame per event.
pub(crate) fn stream_response(events: Vec<String>) -> Response {
    let frames = events
        .into_iter()
        .map(|data| Ok::<_, std::io::Error>(Bytes::from(format!("data: {data}\n\n"))));
    let body = Body::from_stream(futures::stream::iter(frames));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
