//! Anthropic Messages (`POST {base}/v1/messages`), as documented: `x-api-key` and
//! `anthropic-version: 2023-06-01` headers; `system` is a top-level field; messages alternate
//! `user` / `assistant` and carry content blocks (`text`, `tool_use` with `id`, `name`,
//! `input`; `tool_result` with `tool_use_id`, `content`, `is_error`); tools are
//! `{name, description, input_schema}`; the answer has `content` blocks, `stop_reason` and
//! `usage.input_tokens` / `usage.output_tokens`; errors are
//! `{"type": "error", "error": {"type", "message"}}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{ErrorDetail, Transport};
use crate::{
    ChatRequest, ChatResponse, HttpSettings, Message, ModelProvider, PriceTable, ProviderError,
    Sleeper, StopReason, ToolCall, Usage,
};

/// The API version this adapter speaks, sent as `anthropic-version`.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Configuration of an [`AnthropicProvider`].
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// Names the provider in errors.
    pub name: String,
    pub http: HttpSettings,
    pub api_key: SecretString,
    pub prices: PriceTable,
}

impl AnthropicConfig {
    /// Anthropic itself, at `https://api.anthropic.com`.
    pub fn new(api_key: SecretString) -> Self {
        Self {
            name: "anthropic".into(),
            http: HttpSettings::new("https://api.anthropic.com"),
            api_key,
            prices: PriceTable::default(),
        }
    }
}

/// The Anthropic Messages adapter.
#[derive(Debug)]
pub struct AnthropicProvider {
    transport: Transport,
    api_key: SecretString,
    prices: PriceTable,
}

impl AnthropicProvider {
    pub fn new(config: AnthropicConfig) -> Result<Self, ProviderError> {
        let transport = Transport::new(&config.name, &config.http, "/v1/messages")?;
        Ok(Self {
            transport,
            api_key: config.api_key,
            prices: config.prices,
        })
    }

    /// Replaces the sleeper used between retries (tests pass a [`crate::RecordingSleeper`]).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.transport.set_sleeper(sleeper);
        self
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut key = HeaderValue::from_str(self.api_key.expose_secret()).map_err(|_| {
            ProviderError::Config {
                provider: self.transport.provider().to_owned(),
                reason: "the api key is not a valid header value".into(),
            }
        })?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-api-key"), key);
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        Ok(headers)
    }
}

#[async_trait::async_trait]
impl ModelProvider for AnthropicProvider {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let started = Instant::now();
        let body = request_body(request);
        let headers = self.headers()?;
        let response = self
            .transport
            .post_json(
                &headers,
                &body,
                Some(self.api_key.expose_secret()),
                parse_error,
            )
            .await?;
        let message: MessageWire = response
            .json()
            .map_err(|err| self.transport.malformed(format!("not a message: {err}")))?;
        let mut response = into_response(message, &request.model)
            .map_err(|reason| self.transport.malformed(reason))?;
        response.latency = started.elapsed();
        response.estimated_cost_usd = self
            .prices
            .estimate_usd(&response.model, response.usage)
            .or_else(|| self.prices.estimate_usd(&request.model, response.usage));
        Ok(response)
    }
}

/// The documented request body. Consecutive entries of the same role are merged into one
/// message (the API wants user and assistant to alternate), so several tool results, and a
/// user message that follows them, travel together as one `user` message.
fn request_body(request: &ChatRequest) -> Value {
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            Message::User { content } => ("user", vec![json!({"type": "text", "text": content})]),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = Vec::new();
                if let Some(text) = content.as_deref().filter(|text| !text.is_empty()) {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for call in tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": call.arguments,
                    }));
                }
                ("assistant", blocks)
            }
            Message::ToolResult {
                tool_call_id,
                content,
                is_error,
            } => {
                let mut block = json!({
                    "type": "tool_result",
                    "tool_use_id": tool_call_id,
                    "content": content,
                });
                if *is_error {
                    block["is_error"] = json!(true);
                }
                ("user", vec![block])
            }
        };
        // An empty assistant turn would be refused ("content" may not be empty); dropping it
        // lets the user messages around it merge.
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    });
    if let Some(system) = &request.system {
        body["system"] = json!(system);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                })
            })
            .collect();
    }
    body
}

#[derive(Deserialize)]
struct MessageWire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    model: Option<String>,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    usage: UsageWire,
}

#[derive(Deserialize)]
struct UsageWire {
    input_tokens: u64,
    output_tokens: u64,
}

fn into_response(message: MessageWire, requested_model: &str) -> Result<ChatResponse, String> {
    if message.kind != "message" {
        return Err(format!("`type` is `{}`, not `message`", message.kind));
    }
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        let field = |name: &str| block.get(name).and_then(Value::as_str).map(str::to_owned);
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(&field("text").ok_or("a text block has no `text`")?),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: field("id").ok_or("a tool_use block has no `id`")?,
                name: field("name").ok_or("a tool_use block has no `name`")?,
                arguments: block
                    .get("input")
                    .cloned()
                    .ok_or("a tool_use block has no `input`")?,
            }),
            // Thinking and other block kinds carry nothing the runtime acts on.
            Some(_) => {}
            None => return Err("a content block has no `type`".into()),
        }
    }
    let stop_reason = match message.stop_reason.as_deref() {
        Some("end_turn") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("refusal") => StopReason::ContentFilter,
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other(String::new()),
    };
    Ok(ChatResponse {
        model: message.model.unwrap_or_else(|| requested_model.to_owned()),
        content: text,
        tool_calls,
        stop_reason,
        usage: Usage {
            input_tokens: message.usage.input_tokens,
            output_tokens: message.usage.output_tokens,
        },
        latency: Duration::ZERO,
        estimated_cost_usd: None,
    })
}

/// `{"type": "error", "error": {"type", "message"}}`.
fn parse_error(body: &[u8]) -> Option<ErrorDetail> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = |field: &str| error.get(field).and_then(Value::as_str).map(str::to_owned);
    Some(ErrorDetail {
        kind: text("type").unwrap_or_default(),
        message: text("message").unwrap_or_default(),
    })
}
