//! The Anthropic Messages adapter.

use std::sync::Arc;
use std::time::Duration;

use heddle_crypto::SecretString;
use heddle_providers::{
    ANTHROPIC_VERSION, AnthropicConfig, AnthropicProvider, ChatRequest, Message, ModelProvider,
    ProviderError, RecordingSleeper, RetryPolicy, StopReason, ToolCall, Usage,
};
use heddle_testkit::{FakeAnthropic, FakeModelReply};
use serde_json::json;

use crate::{KEY, conversation_with_tool_result};

fn config(fake: &FakeAnthropic) -> AnthropicConfig {
    let mut config = AnthropicConfig::new(SecretString::from(KEY));
    config.http.base_url = fake.url();
    config.http.allow_private_network = true;
    config.http.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(30),
        jitter: false,
    };
    config
}

fn provider(fake: &FakeAnthropic) -> (AnthropicProvider, RecordingSleeper) {
    let sleeper = RecordingSleeper::new();
    let provider = AnthropicProvider::new(config(fake))
        .unwrap()
        .with_sleeper(Arc::new(sleeper.clone()));
    (provider, sleeper)
}

fn hello() -> ChatRequest {
    ChatRequest::new("claude-sonnet-4-20250514", 64, vec![Message::user("hello")])
}

#[tokio::test]
async fn sends_the_documented_request_body_and_headers() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("Acme GmbH is in Berlin."));
    let (provider, _) = provider(&fake);
    let mut request = conversation_with_tool_result();
    request.model = "claude-sonnet-4-20250514".into();
    // Two tool results and a user message in a row travel as one user message.
    if let Some(Message::Assistant { tool_calls, .. }) = request.messages.get_mut(1) {
        tool_calls.push(ToolCall {
            id: "toolu_2".into(),
            name: "accounts_by_city".into(),
            arguments: json!({"city": "Hamburg"}),
        });
    }
    request.messages.push(Message::ToolResult {
        tool_call_id: "toolu_2".into(),
        content: "not allowed".into(),
        is_error: true,
    });
    request.messages.push(Message::user("And Hamburg?"));

    provider.chat(&request).await.unwrap();

    let recorded = &fake.requests()[0];
    assert_eq!(recorded.uri.path(), "/v1/messages");
    assert_eq!(recorded.header("x-api-key"), Some(KEY));
    assert_eq!(
        recorded.header("anthropic-version"),
        Some(ANTHROPIC_VERSION)
    );
    assert_eq!(recorded.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_slice(&recorded.body).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 256,
            "system": "You are a sales assistant.",
            "temperature": 0.0,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Which of my accounts are in Berlin?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "call_1", "name": "accounts_by_city", "input": {"city": "Berlin"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "accounts_by_city", "input": {"city": "Hamburg"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "[{\"name\":\"Acme GmbH\"}]"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "not allowed", "is_error": true},
                    {"type": "text", "text": "And Hamburg?"},
                ]},
            ],
            "tools": [{
                "name": "accounts_by_city",
                "description": "List the caller's accounts in a city.",
                "input_schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "maxLength": 80}},
                    "required": ["city"],
                    "additionalProperties": false,
                },
            }],
        })
    );
}

#[tokio::test]
async fn parses_text_and_tool_use_blocks_usage_and_cost() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(
        FakeModelReply::tool_call("toolu_01", "accounts_by_city", json!({"city": "Berlin"}))
            .with_text("Checking.")
            .with_usage(2_000_000, 1_000_000),
    );
    let (provider, _) = provider(&fake);

    let response = provider.chat(&hello()).await.unwrap();

    assert_eq!(response.content, "Checking.");
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(response.tool_calls[0].id, "toolu_01");
    assert_eq!(response.tool_calls[0].name, "accounts_by_city");
    assert_eq!(response.tool_calls[0].arguments, json!({"city": "Berlin"}));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 2_000_000,
            output_tokens: 1_000_000
        }
    );
    // claude-sonnet-4 list price: $3 in, $15 out per million tokens (dated name matched).
    let cost = response.estimated_cost_usd.unwrap();
    assert!((cost - 21.0).abs() < 1e-9, "{cost}");
}

#[tokio::test]
async fn parses_a_plain_text_answer() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("Hello."));
    let (provider, _) = provider(&fake);

    let response = provider.chat(&hello()).await.unwrap();

    assert_eq!(response.content, "Hello.");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert!(response.tool_calls.is_empty());
}

#[tokio::test]
async fn auth_failures_never_carry_the_key() {
    let fake = FakeAnthropic::start("sk-ant-other").await.unwrap();
    let (provider, _) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(
        matches!(&err, ProviderError::Auth { status: 401, kind, .. } if kind == "authentication_error"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(KEY));
    assert!(!format!("{err:?}").contains(KEY));
    assert!(!format!("{provider:?}").contains(KEY));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn bad_requests_carry_the_providers_message() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::BadRequest {
        message: "max_tokens: 100000 > 64000, which is the maximum".into(),
    });
    let (provider, _) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::BadRequest {
            provider: "anthropic".into(),
            status: 400,
            message: "max_tokens: 100000 > 64000, which is the maximum".into(),
        }
    );
}

#[tokio::test]
async fn a_request_the_api_would_refuse_is_a_bad_request() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("unreachable"));
    let (provider, _) = provider(&fake);
    // A tool result that answers no tool call: the real API refuses it, so the fake does too.
    let request = ChatRequest::new(
        "claude-sonnet-4-20250514",
        64,
        vec![
            Message::user("hi"),
            Message::tool_result("toolu_x", "orphan"),
        ],
    );

    let err = provider.chat(&request).await.unwrap_err();

    assert!(
        matches!(err, ProviderError::BadRequest { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_reported_as_such() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::Malformed {
        body: "<html>gateway</html>".into(),
    });
    fake.push_reply(FakeModelReply::Malformed {
        body: r#"{"type": "message", "content": [{"type": "tool_use", "name": "x"}], "usage": {"input_tokens": 1, "output_tokens": 1}}"#.into(),
    });
    let (provider, _) = provider(&fake);

    for _ in 0..2 {
        let err = provider.chat(&hello()).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::MalformedResponse { .. }),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn overload_and_rate_limits_are_retried_then_succeed() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::ServerError { status: 529 });
    fake.push_reply(FakeModelReply::RateLimited {
        retry_after_secs: Some(3),
    });
    fake.push_reply(FakeModelReply::text("ok"));
    let (provider, sleeper) = provider(&fake);

    let response = provider.chat(&hello()).await.unwrap();

    assert_eq!(response.content, "ok");
    assert_eq!(
        sleeper.waits(),
        vec![Duration::from_millis(100), Duration::from_secs(3)]
    );
}

#[tokio::test]
async fn retries_stop_after_the_last_attempt() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    for _ in 0..3 {
        fake.push_reply(FakeModelReply::ServerError { status: 529 });
    }
    let (provider, _) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(
        matches!(&err, ProviderError::Upstream { status: 529, attempts: 3, message, .. } if message == "Overloaded"),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("late").delayed(Duration::from_secs(5)));
    let mut config = config(&fake);
    config.http.timeout = Duration::from_millis(200);
    let provider = AnthropicProvider::new(config).unwrap();

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn an_empty_assistant_turn_is_dropped_so_roles_still_alternate() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("ok"));
    let (provider, _) = provider(&fake);
    let request = ChatRequest::new(
        "claude-sonnet-4-20250514",
        64,
        vec![
            Message::user("first"),
            Message::Assistant {
                content: Some(String::new()),
                tool_calls: Vec::new(),
            },
            Message::user("second"),
        ],
    );

    provider.chat(&request).await.unwrap();

    assert_eq!(
        fake.request_bodies()[0]["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "first"},
            {"type": "text", "text": "second"},
        ]}])
    );
}
