//! The provider-neutral chat API every adapter maps to and from its wire format.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ProviderError;

/// A model that answers chat requests. Adapters are cheap to share (`Arc<dyn ModelProvider>`).
#[async_trait::async_trait]
pub trait ModelProvider: Send + Sync + std::fmt::Debug {
    /// Sends one request and returns the model's turn: text, tool calls, or both.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError>;
}

/// One model call: the conversation so far and the tools the model may propose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The provider's model name (`gpt-4o-mini`, `claude-sonnet-4-20250514`, `llama3.1`).
    pub model: String,
    /// The system prompt; sent the way each provider expects (a `system` message or field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Upper bound on generated tokens (required by Anthropic, so required here).
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

impl ChatRequest {
    /// A request with no system prompt, tools or temperature.
    pub fn new(model: impl Into<String>, max_tokens: u32, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            system: None,
            messages,
            tools: Vec::new(),
            max_tokens,
            temperature: None,
        }
    }
}

/// One entry of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// What the person (or the runtime on their behalf) said.
    User { content: String },
    /// An earlier model turn, replayed: its text and the tool calls it proposed.
    Assistant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of executing (or refusing) one tool call, answered by its id.
    ToolResult {
        tool_call_id: String,
        content: String,
        /// The call failed or was refused; Anthropic carries this as `is_error`, OpenAI has
        /// no such field, so the content itself must say so.
        #[serde(default)]
        is_error: bool,
    },
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Message::User {
            content: content.into(),
        }
    }

    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message::ToolResult {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
            is_error: false,
        }
    }
}

/// A tool the model may call: a capability's name, purpose and input JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Value,
}

/// A tool call the model proposed. Untrusted: the runtime validates it before anything runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call; the tool result answers it.
    pub id: String,
    pub name: String,
    /// The arguments as JSON. When a provider sent text that is not JSON (OpenAI sends
    /// arguments as a string the model wrote), the raw text is kept as a JSON string, so
    /// schema validation rejects it and the model can be told, rather than the call failing here.
    pub arguments: Value,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A natural end of the turn (`stop`, `end_turn`).
    EndTurn,
    /// The model wants tool calls run (`tool_calls`, `tool_use`).
    ToolUse,
    /// `max_tokens` was reached (`length`, `max_tokens`).
    MaxTokens,
    /// A stop sequence was produced.
    StopSequence,
    /// The provider filtered or the model refused (`content_filter`, `refusal`).
    ContentFilter,
    /// Anything else, as the provider named it.
    Other(String),
}

/// Tokens billed for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The model's turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The model as the provider reported it (may carry a date suffix the request lacked).
    pub model: String,
    /// The text of the turn; empty when the model only called tools.
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: StopReason,
    pub usage: Usage,
    /// Wall time of the call, retries and backoff included: what the turn waited.
    pub latency: Duration,
    /// Estimated cost in US dollars from the price table; `None` for a model it lacks.
    pub estimated_cost_usd: Option<f64>,
}
