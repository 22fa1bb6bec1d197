//! The raw pass-through client the gateway endpoint forwards with: bodies go out exactly as
//! given, answers come back as JSON or as server-sent events in order, errors keep their
//! classes, nothing is retried and the key never shows.

use std::time::Duration;

use heddle_crypto::SecretString;
use heddle_providers::{
    HttpSettings, OpenAiPassthrough, PassthroughConfig, ProviderError, sse::SseEvent,
};
use heddle_testkit::{FakeModelReply, FakeOpenAi, FakeToolCall, StreamShape};
use serde_json::{Value, json};

use crate::KEY;

fn client(fake: &FakeOpenAi) -> OpenAiPassthrough {
    let mut http = HttpSettings::new(fake.url());
    http.allow_private_network = true;
    http.timeout = Duration::from_secs(5);
    OpenAiPassthrough::new(PassthroughConfig {
        name: "openai".into(),
        http,
        api_key: Some(SecretString::from(KEY)),
    })
    .unwrap()
}

async fn all_events(client: &OpenAiPassthrough, body: &Value) -> Vec<SseEvent> {
    let mut stream = client.chat_completion_stream(body).await.unwrap();
    let mut events = Vec::new();
    while let Some(event) = stream.next_event().await.unwrap() {
        events.push(event);
    }
    events
}

#[tokio::test]
async fn a_body_goes_out_as_given_and_the_answer_comes_back_whole() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("Hello there."));
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.2,
        "response_format": {"type": "text"},
        "seed": 7,
    });
    let answer = client(&fake).chat_completion(&body).await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello there.");
    assert_eq!(answer["usage"]["prompt_tokens"], 10);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(fake.request_bodies()[0], body);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn a_streamed_answer_arrives_event_by_event_with_usage_and_done() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.set_stream_shape(StreamShape {
        text_piece_chars: 3,
        argument_piece_chars: 4,
    });
    fake.push_reply(FakeModelReply::text("Hello there.").with_usage(12, 4));
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let events = all_events(&client(&fake), &body).await;
    assert!(events.last().unwrap().is_done());
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(&event.data).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/content")?.as_str())
        .collect();
    assert_eq!(text, "Hello there.");
    // Pieces of three characters: the answer really came in pieces.
    assert!(chunks.len() >= 6, "{chunks:?}");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 12);
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_argument_fragments() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let arguments = json!({"city": "Berlin", "limit": 5});
    fake.push_reply(FakeModelReply::Completion {
        text: None,
        tool_calls: vec![
            FakeToolCall {
                id: "call_a".into(),
                name: "accounts_by_city".into(),
                arguments: arguments.clone(),
            },
            FakeToolCall {
                id: "call_b".into(),
                name: "weather".into(),
                arguments: json!({"q": "x"}),
            },
        ],
        input_tokens: 5,
        output_tokens: 9,
        stop_reason: None,
    });
    let body =
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let events = all_events(&client(&fake), &body).await;
    let mut joined = [String::new(), String::new()];
    let mut ids = Vec::new();
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(&event.data).unwrap();
        // Without include_usage there is no usage field at all.
        assert!(chunk.get("usage").is_none());
        for call in chunk
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap() as usize;
            if let Some(id) = call.get("id") {
                ids.push(id.as_str().unwrap().to_owned());
            }
            joined[index].push_str(call["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(ids, ["call_a", "call_b"]);
    assert_eq!(
        serde_json::from_str::<Value>(&joined[0]).unwrap(),
        arguments
    );
    assert_eq!(joined[1], r#"{"q":"x"}"#);
}

#[tokio::test]
async fn errors_keep_their_classes_are_not_retried_and_never_show_the_key() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let client = client(&fake);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});

    fake.push_reply(FakeModelReply::RateLimited {
        retry_after_secs: Some(7),
    });
    match client.chat_completion(&body).await.unwrap_err() {
        ProviderError::RateLimited {
            retry_after,
            attempts,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert_eq!(attempts, 1);
        }
        other => panic!("{other:?}"),
    }
    fake.push_reply(FakeModelReply::ServerError { status: 503 });
    let mut streaming = body.clone();
    streaming["stream"] = json!(true);
    let error = client.chat_completion_stream(&streaming).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Upstream { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 2, "nothing was retried");

    // The fake quotes the whole key in its 401; the error does not.
    let wrong = OpenAiPassthrough::new(PassthroughConfig {
        name: "openai".into(),
        http: {
            let mut http = HttpSettings::new(fake.url());
            http.allow_private_network = true;
            http
        },
        api_key: Some(SecretString::from("sk-wrong-SECRET-key")),
    })
    .unwrap();
    let error = wrong.chat_completion(&body).await.unwrap_err();
    assert!(matches!(error, ProviderError::Auth { status: 401, .. }));
    assert!(!format!("{error} {error:?}").contains("SECRET"));

    fake.push_reply(FakeModelReply::text("late").delayed(Duration::from_secs(3)));
    let mut http = HttpSettings::new(fake.url());
    http.allow_private_network = true;
    http.timeout = Duration::from_millis(300);
    let impatient = OpenAiPassthrough::new(PassthroughConfig {
        name: "openai".into(),
        http,
        api_key: Some(SecretString::from(KEY)),
    })
    .unwrap();
    let error = impatient.chat_completion(&body).await.unwrap_err();
    assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
}

#[tokio::test]
async fn a_private_upstream_is_refused_unless_allowed() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let closed = OpenAiPassthrough::new(PassthroughConfig {
        name: "openai".into(),
        http: HttpSettings::new(fake.url()),
        api_key: None,
    })
    .unwrap();
    let error = closed
        .chat_completion(&json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Transport { .. }),
        "{error:?}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_stream_cut_short_ends_without_done() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::text("Hello there, friend.").cut_stream(3));
    let body =
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let events = all_events(&client(&fake), &body).await;
    assert_eq!(events.len(), 3);
    assert!(!events.iter().any(SseEvent::is_done));
}
