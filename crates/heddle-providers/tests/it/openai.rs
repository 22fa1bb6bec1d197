//! The OpenAI Chat Completions adapter, and the same adapter against an OpenAI-compatible
//! server with no key.

use std::sync::Arc;
use std::time::Duration;

use heddle_crypto::SecretString;
use heddle_providers::{
    ChatRequest, Message, ModelProvider, OpenAiConfig, OpenAiProvider, ProviderError,
    RecordingSleeper, RetryPolicy, StopReason, Usage,
};
use heddle_testkit::{FakeModelReply, FakeOpenAi};
use serde_json::json;

use crate::{KEY, conversation_with_tool_result};

fn config(fake: &FakeOpenAi) -> OpenAiConfig {
    let mut config = OpenAiConfig::openai(SecretString::from(KEY));
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

fn provider(fake: &FakeOpenAi) -> (OpenAiProvider, RecordingSleeper) {
    let sleeper = RecordingSleeper::new();
    let provider = OpenAiProvider::new(config(fake))
        .unwrap()
        .with_sleeper(Arc::new(sleeper.clone()));
    (provider, sleeper)
}

fn hello() -> ChatRequest {
    ChatRequest::new("gpt-4o-mini", 64, vec![Message::user("hello")])
}

#[tokio::test]
async fn sends_the_documented_request_body_and_headers() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("Acme GmbH is in Berlin."));
    let (provider, _) = provider(&fake);

    provider
        .chat(&conversation_with_tool_result())
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.uri.path(), "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a sales assistant."},
                {"role": "user", "content": "Which of my accounts are in Berlin?"},
                {
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [{
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "accounts_by_city", "arguments": "{\"city\":\"Berlin\"}"},
                    }],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "[{\"name\":\"Acme GmbH\"}]"},
            ],
            "max_completion_tokens": 256,
            "temperature": 0.0,
            "tools": [{
                "type": "function",
                "function": {
                    "name": "accounts_by_city",
                    "description": "List the caller's accounts in a city.",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "maxLength": 80}},
                        "required": ["city"],
                        "additionalProperties": false,
                    },
                },
            }],
        })
    );
}

#[tokio::test]
async fn parses_text_usage_and_cost() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("Hi there.").with_usage(1_000_000, 100_000));
    let (provider, _) = provider(&fake);

    let response = provider.chat(&hello()).await.unwrap();

    assert_eq!(response.content, "Hi there.");
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(response.model, "gpt-4o-mini");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000
        }
    );
    // gpt-4o-mini list price: $0.15 in, $0.60 out per million tokens.
    let cost = response.estimated_cost_usd.unwrap();
    assert!((cost - (0.15 + 0.06)).abs() < 1e-9, "{cost}");
}

#[tokio::test]
async fn parses_tool_calls_with_their_arguments() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::tool_call(
        "call_abc",
        "accounts_by_city",
        json!({"city": "Berlin"}),
    ));
    let (provider, _) = provider(&fake);

    let response = provider.chat(&hello()).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(response.content, "");
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(response.tool_calls[0].id, "call_abc");
    assert_eq!(response.tool_calls[0].name, "accounts_by_city");
    assert_eq!(response.tool_calls[0].arguments, json!({"city": "Berlin"}));
}

#[tokio::test]
async fn auth_failures_never_carry_the_key() {
    let fake = FakeOpenAi::start("sk-some-other-key").await.unwrap();
    let (provider, sleeper) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(
        matches!(&err, ProviderError::Auth { status: 401, kind, .. } if kind == "invalid_api_key"),
        "{err:?}"
    );
    // The fake's 401 message quotes the key it was sent; none of it may surface.
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(!format!("{err:?}").contains(KEY), "{err:?}");
    assert!(!format!("{provider:?}").contains(KEY));
    assert!(!format!("{:?}", config(&fake)).contains(KEY));
    assert_eq!(fake.requests().len(), 1, "auth failures are not retried");
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn bad_request_carries_the_providers_message_and_is_not_retried() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::BadRequest {
        message: "Invalid 'max_completion_tokens': too large.".into(),
    });
    let (provider, _) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::BadRequest {
            provider: "openai".into(),
            status: 400,
            message: "Invalid 'max_completion_tokens': too large.".into(),
        }
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn malformed_bodies_are_reported_as_such() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::Malformed {
        body: r#"{"id": "chatcmpl-1", "choices": [{"message": "#.into(),
    });
    fake.push_reply(FakeModelReply::Malformed {
        body: r#"{"id": "chatcmpl-1", "choices": []}"#.into(),
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
async fn rate_limits_are_retried_after_the_time_the_provider_names() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::RateLimited {
        retry_after_secs: Some(2),
    });
    fake.push_reply(FakeModelReply::ServerError { status: 500 });
    fake.push_reply(FakeModelReply::text("finally"));
    let (provider, sleeper) = provider(&fake);

    let response = provider.chat(&hello()).await.unwrap();

    assert_eq!(response.content, "finally");
    assert_eq!(fake.requests().len(), 3);
    // retry-after honoured, then exponential backoff (100 ms doubled for the second retry).
    assert_eq!(
        sleeper.waits(),
        vec![Duration::from_secs(2), Duration::from_millis(200)]
    );
    let bodies = fake.request_bodies();
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "retries resend the same body"
    );
}

#[tokio::test]
async fn retries_stop_after_the_last_attempt() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    for _ in 0..3 {
        fake.push_reply(FakeModelReply::ServerError { status: 503 });
    }
    fake.push_reply(FakeModelReply::text("never reached"));
    let (provider, sleeper) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(
        matches!(
            err,
            ProviderError::Upstream {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(
        sleeper.waits(),
        vec![Duration::from_millis(100), Duration::from_millis(200)]
    );
}

#[tokio::test]
async fn rate_limit_exhaustion_reports_retry_after() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    for _ in 0..3 {
        fake.push_reply(FakeModelReply::RateLimited {
            retry_after_secs: Some(1),
        });
    }
    let (provider, _) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(
        matches!(
            err,
            ProviderError::RateLimited { retry_after: Some(after), attempts: 3, .. }
                if after == Duration::from_secs(1)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_policy_is_not_waited_for() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::RateLimited {
        retry_after_secs: Some(3600),
    });
    let (provider, sleeper) = provider(&fake);

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(
        matches!(err, ProviderError::RateLimited { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("late").delayed(Duration::from_secs(5)));
    let mut config = config(&fake);
    config.http.timeout = Duration::from_millis(200);
    let provider = OpenAiProvider::new(config).unwrap();

    let err = provider.chat(&hello()).await.unwrap_err();

    assert_eq!(
        err,
        ProviderError::Timeout {
            provider: "openai".into(),
            after: Duration::from_millis(200),
        }
    );
}

#[tokio::test]
async fn a_loopback_base_url_is_refused_unless_allowed() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("unreachable"));
    let mut config = config(&fake);
    config.http.allow_private_network = false;
    let provider = OpenAiProvider::new(config).unwrap();

    let err = provider.chat(&hello()).await.unwrap_err();

    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn compatible_servers_take_max_tokens_and_no_key() {
    let fake = FakeOpenAi::start_without_key().await.unwrap();
    fake.push_reply(FakeModelReply::text("from llama"));
    // Ollama documents its base as `http://localhost:11434/v1`; a `/v1` base is accepted.
    let mut config = OpenAiConfig::compatible(format!("{}/v1", fake.url()), None);
    config.http.allow_private_network = true;
    let provider = OpenAiProvider::new(config).unwrap();

    let response = provider
        .chat(&ChatRequest::new("llama3.1", 32, vec![Message::user("hi")]))
        .await
        .unwrap();

    assert_eq!(response.content, "from llama");
    assert_eq!(
        response.estimated_cost_usd, None,
        "no price for a local model"
    );
    let request = &fake.requests()[0];
    assert_eq!(request.uri.path(), "/v1/chat/completions");
    assert_eq!(request.header("authorization"), None);
    let body = &fake.request_bodies()[0];
    assert_eq!(body["max_tokens"], 32);
    assert!(body.get("max_completion_tokens").is_none());
}
