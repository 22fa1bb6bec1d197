//! The OpenAI Embeddings adapter against the fake, which computes hashed bag-of-words
//! vectors in the documented format.

use std::sync::Arc;
use std::time::Duration;

use heddle_crypto::SecretString;
use heddle_providers::{
    Embedder, OpenAiEmbedder, OpenAiEmbeddingConfig, ProviderError, RecordingSleeper, RetryPolicy,
};
use heddle_testkit::{FAKE_EMBEDDING_DIMENSION, FakeModelReply, FakeOpenAi, fake_embedding};
use serde_json::json;

use crate::KEY;

fn config(fake: &FakeOpenAi) -> OpenAiEmbeddingConfig {
    let mut config = OpenAiEmbeddingConfig::openai(SecretString::from(KEY));
    config.http.base_url = fake.url();
    config.http.allow_private_network = true;
    config.http.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(30),
        jitter: false,
    };
    // The fake's vectors are shorter than text-embedding-3-small's.
    config.dimension = Some(FAKE_EMBEDDING_DIMENSION);
    config
}

fn embedder(fake: &FakeOpenAi) -> (OpenAiEmbedder, RecordingSleeper) {
    let sleeper = RecordingSleeper::new();
    let embedder = OpenAiEmbedder::new(config(fake))
        .unwrap()
        .with_sleeper(Arc::new(sleeper.clone()));
    (embedder, sleeper)
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn sends_the_documented_request_and_returns_vectors_in_input_order() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let (embedder, _) = embedder(&fake);
    let inputs = texts(&[
        "How do I reset my password?",
        "I forgot my password, how can I reset it?",
        "The quarterly revenue grew by 12%",
    ]);

    let vectors = embedder.embed(&inputs).await.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].uri.path(), "/v1/embeddings");
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(
        fake.request_bodies()[0],
        json!({
            "model": "text-embedding-3-small",
            "input": inputs,
            "encoding_format": "float",
        })
    );
    assert_eq!(vectors.len(), 3);
    for (vector, input) in vectors.iter().zip(&inputs) {
        assert_eq!(vector, &fake_embedding(input, FAKE_EMBEDDING_DIMENSION));
    }
    assert!(cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]));
    assert_eq!(embedder.name(), "openai");
    assert_eq!(embedder.dimension(), Some(FAKE_EMBEDDING_DIMENSION));
}

#[tokio::test]
async fn data_out_of_order_is_put_back_by_index() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_embeddings_reply(FakeModelReply::Malformed {
        body: json!({
            "object": "list",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        })
        .to_string(),
    });
    let mut config = config(&fake);
    config.dimension = None;
    let embedder = OpenAiEmbedder::new(config).unwrap();

    let vectors = embedder.embed(&texts(&["first", "second"])).await.unwrap();

    assert_eq!(vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
}

#[tokio::test]
async fn answers_that_do_not_match_the_inputs_are_malformed() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let bodies = [
        // Not JSON.
        r#"{"object": "list", "data": ["#.to_owned(),
        // One vector for two inputs.
        json!({"data": [{"index": 0, "embedding": [1.0]}]}).to_string(),
        // An index repeated.
        json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]})
            .to_string(),
        // Not the configured dimension.
        json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]})
            .to_string(),
    ];
    for body in &bodies {
        fake.push_embeddings_reply(FakeModelReply::Malformed { body: body.clone() });
    }
    let (embedder, _) = embedder(&fake);

    for body in &bodies {
        let err = embedder.embed(&texts(&["a", "b"])).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::MalformedResponse { .. }),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_input_list_makes_no_request() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let (embedder, _) = embedder(&fake);

    assert_eq!(embedder.embed(&[]).await.unwrap(), Vec::<Vec<f32>>::new());
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_embeddings_reply(FakeModelReply::RateLimited {
        retry_after_secs: Some(2),
    });
    fake.push_embeddings_reply(FakeModelReply::ServerError { status: 503 });
    let (embedder, sleeper) = embedder(&fake);

    let vectors = embedder.embed(&texts(&["hello"])).await.unwrap();

    assert_eq!(vectors.len(), 1);
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(
        sleeper.waits(),
        vec![Duration::from_secs(2), Duration::from_millis(200)]
    );
}

#[tokio::test]
async fn auth_failures_never_carry_the_key() {
    let fake = FakeOpenAi::start("sk-some-other-key").await.unwrap();
    let (embedder, sleeper) = embedder(&fake);

    let err = embedder.embed(&texts(&["hello"])).await.unwrap_err();

    assert!(
        matches!(&err, ProviderError::Auth { status: 401, kind, .. } if kind == "invalid_api_key"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(!format!("{err:?}").contains(KEY), "{err:?}");
    assert!(!format!("{embedder:?}").contains(KEY));
    assert_eq!(fake.requests().len(), 1);
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn a_request_the_server_refuses_is_a_bad_request() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let (embedder, _) = embedder(&fake);

    // OpenAI refuses an empty string as input.
    let err = embedder.embed(&texts(&["ok", ""])).await.unwrap_err();

    assert!(
        matches!(&err, ProviderError::BadRequest { status: 400, message, .. } if message.contains("input")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_embeddings_reply(FakeModelReply::text("").delayed(Duration::from_secs(5)));
    let mut config = config(&fake);
    config.http.timeout = Duration::from_millis(200);
    let embedder = OpenAiEmbedder::new(config).unwrap();

    let err = embedder.embed(&texts(&["hello"])).await.unwrap_err();

    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn a_loopback_base_url_is_refused_unless_allowed() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let mut config = config(&fake);
    config.http.allow_private_network = false;
    let embedder = OpenAiEmbedder::new(config).unwrap();

    let err = embedder.embed(&texts(&["hello"])).await.unwrap_err();

    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn compatible_servers_take_no_key_and_a_v1_base() {
    let fake = FakeOpenAi::start_without_key().await.unwrap();
    let mut config =
        OpenAiEmbeddingConfig::compatible(format!("{}/v1", fake.url()), None, "nomic-embed-text");
    config.http.allow_private_network = true;
    let embedder = OpenAiEmbedder::new(config).unwrap();

    let vectors = embedder.embed(&texts(&["hi there"])).await.unwrap();

    assert_eq!(vectors[0].len(), FAKE_EMBEDDING_DIMENSION);
    assert_eq!(embedder.dimension(), None);
    let request = &fake.requests()[0];
    assert_eq!(request.uri.path(), "/v1/embeddings");
    assert_eq!(request.header("authorization"), None);
    assert_eq!(fake.request_bodies()[0]["model"], "nomic-embed-text");
}
