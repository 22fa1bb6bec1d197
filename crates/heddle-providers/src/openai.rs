//! OpenAI Chat Completions (`POST {base}/v1/chat/completions`), and any server that speaks
//! it (Ollama, vLLM, llama.cpp server) at a configurable base URL with an optional key.
//!
//! Wire format, as documented: the system prompt is the first message (`role: system`);
//! tools are `{"type": "function", "function": {name, description, parameters}}`; the
//! assistant's `tool_calls` carry `function.arguments` as a JSON *string*; tool results are
//! `role: tool` messages with `tool_call_id`; usage is `prompt_tokens` / `completion_tokens`;
//! errors are `{"error": {"message", "type", "code"}}`. Auth is `Authorization: Bearer`.

use std::sync::Arc;
use std::time::Instant;

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{ErrorDetail, Transport, bearer_headers};
use crate::{
    ChatRequest, ChatResponse, HttpSettings, Message, ModelProvider, PriceTable, ProviderError,
    Sleeper, StopReason, ToolCall, Usage,
};

/// Which request field carries the token limit. OpenAI deprecated `max_tokens` for
/// `max_completion_tokens` (its reasoning models refuse the old one); servers that copy the
/// API (Ollama, llama.cpp, older vLLM) know only `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    MaxCompletionTokens,
    MaxTokens,
}

impl MaxTokensField {
    fn name(self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

/// Configuration of an [`OpenAiProvider`].
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Names the provider in errors (`openai`, `ollama`).
    pub name: String,
    pub http: HttpSettings,
    /// Sent as a bearer token; `None` for local servers that take no key.
    pub api_key: Option<SecretString>,
    pub max_tokens_field: MaxTokensField,
    pub prices: PriceTable,
}

impl OpenAiConfig {
    /// OpenAI itself, at `https://api.openai.com`.
    pub fn openai(api_key: SecretString) -> Self {
        Self {
            name: "openai".into(),
            http: HttpSettings::new("https://api.openai.com"),
            api_key: Some(api_key),
            max_tokens_field: MaxTokensField::MaxCompletionTokens,
            prices: PriceTable::default(),
        }
    }

    /// An OpenAI-compatible server at `base_url` (`http://localhost:11434` for Ollama). A
    /// base on a loopback or private address also needs `http.allow_private_network`.
    pub fn compatible(base_url: impl Into<String>, api_key: Option<SecretString>) -> Self {
        Self {
            name: "openai-compatible".into(),
            http: HttpSettings::new(base_url),
            api_key,
            max_tokens_field: MaxTokensField::MaxTokens,
            prices: PriceTable::default(),
        }
    }
}

/// The OpenAI Chat Completions adapter.
#[derive(Debug)]
pub struct OpenAiProvider {
    transport: Transport,
    api_key: Option<SecretString>,
    max_tokens_field: MaxTokensField,
    prices: PriceTable,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<Self, ProviderError> {
        let transport = Transport::new(&config.name, &config.http, "/v1/chat/completions")?;
        Ok(Self {
            transport,
            api_key: config.api_key,
            max_tokens_field: config.max_tokens_field,
            prices: config.prices,
        })
    }

    /// Replaces the sleeper used between retries (tests pass a [`crate::RecordingSleeper`]).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.transport.set_sleeper(sleeper);
        self
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        bearer_headers(&self.transport, self.api_key.as_ref())
    }
}

#[async_trait::async_trait]
impl ModelProvider for OpenAiProvider {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let started = Instant::now();
        let body = request_body(request, self.max_tokens_field);
        let headers = self.headers()?;
        let secret = self.api_key.as_ref().map(|key| key.expose_secret());
        let response = self
            .transport
            .post_json(&headers, &body, secret, parse_error)
            .await?;
        let completion: Completion = response.json().map_err(|err| {
            self.transport
                .malformed(format!("not a chat completion: {err}"))
        })?;
        let mut response = into_response(completion, &request.model)
            .map_err(|reason| self.transport.malformed(reason))?;
        response.latency = started.elapsed();
        response.estimated_cost_usd = self
            .prices
            .estimate_usd(&response.model, response.usage)
            .or_else(|| self.prices.estimate_usd(&request.model, response.usage));
        Ok(response)
    }
}

/// The documented request body for `request`.
fn request_body(request: &ChatRequest, max_tokens_field: MaxTokensField) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &request.messages {
        messages.push(match message {
            Message::User { content } => json!({"role": "user", "content": content}),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut wire = json!({"role": "assistant", "content": content});
                if !tool_calls.is_empty() {
                    wire["tool_calls"] = tool_calls
                        .iter()
                        .map(|call| {
                            json!({
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": arguments_text(&call.arguments)},
                            })
                        })
                        .collect();
                }
                wire
            }
            Message::ToolResult {
                tool_call_id,
                content,
                ..
            } => json!({"role": "tool", "tool_call_id": tool_call_id, "content": content}),
        });
    }
    let mut body = json!({"model": request.model, "messages": messages});
    body[max_tokens_field.name()] = json!(request.max_tokens);
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                })
            })
            .collect();
    }
    body
}

/// Arguments go back as the JSON text OpenAI expects; raw text the model wrote (kept as a
/// JSON string because it did not parse) goes back exactly as it came.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantWire,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AssistantWire {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallWire>>,
}

#[derive(Deserialize)]
struct ToolCallWire {
    id: String,
    function: FunctionWire,
}

#[derive(Deserialize)]
struct FunctionWire {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct UsageWire {
    prompt_tokens: u64,
    completion_tokens: u64,
}

fn into_response(completion: Completion, requested_model: &str) -> Result<ChatResponse, String> {
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err("`choices` is empty".into());
    };
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: serde_json::from_str(&call.function.arguments)
                .unwrap_or(Value::String(call.function.arguments)),
        })
        .collect();
    let stop_reason = match choice.finish_reason.as_deref() {
        Some("stop") => StopReason::EndTurn,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::ContentFilter,
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other(String::new()),
    };
    let usage = completion.usage.map_or(Usage::default(), |usage| Usage {
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
    });
    Ok(ChatResponse {
        model: completion
            .model
            .unwrap_or_else(|| requested_model.to_owned()),
        content: choice
            .message
            .content
            .or(choice.message.refusal)
            .unwrap_or_default(),
        tool_calls,
        stop_reason,
        usage,
        latency: std::time::Duration::ZERO,
        estimated_cost_usd: None,
    })
}

/// `{"error": {"message", "type", "code"}}`; the code is the more specific kind when present.
/// Shared by every OpenAI endpoint.
pub(crate) fn parse_error(body: &[u8]) -> Option<ErrorDetail> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = |field: &str| error.get(field).and_then(Value::as_str).map(str::to_owned);
    Some(ErrorDetail {
        kind: text("code").or_else(|| text("type")).unwrap_or_default(),
        message: text("message").unwrap_or_default(),
    })
}
