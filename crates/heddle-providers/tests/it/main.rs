//! One integration-test binary for heddle-providers: each HTTP adapter against a local fake
//! that speaks the provider's documented wire format (exact request bodies and headers,
//! parsing, usage and cost, every error class, retries, timeouts), the embeddings and
//! moderation clients, and the scripted provider.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code fails loudly"
)]

mod anthropic;
mod embeddings;
mod moderation;
mod openai;
mod passthrough;
mod scripted;

use heddle_providers::{ChatRequest, Message, ToolCall, ToolSpec};
use serde_json::json;

/// The API key the fakes accept. Long and distinctive, so a leak is easy to find.
pub const KEY: &str = "sk-test-SECRET-0123456789abcdef";

/// A conversation that exercises every message kind: system prompt, user text, an assistant
/// turn with text and a tool call, its tool result, and a tool the model may call.
pub fn conversation_with_tool_result() -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        system: Some("You are a sales assistant.".into()),
        messages: vec![
            Message::user("Which of my accounts are in Berlin?"),
            Message::Assistant {
                content: Some("Let me look.".into()),
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "accounts_by_city".into(),
                    arguments: json!({"city": "Berlin"}),
                }],
            },
            Message::tool_result("call_1", r#"[{"name":"Acme GmbH"}]"#),
        ],
        tools: vec![accounts_tool()],
        max_tokens: 256,
        temperature: Some(0.0),
    }
}

pub fn accounts_tool() -> ToolSpec {
    ToolSpec {
        name: "accounts_by_city".into(),
        description: "List the caller's accounts in a city.".into(),
        input_schema: json!({
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 80}},
            "required": ["city"],
            "additionalProperties": false,
        }),
    }
}
