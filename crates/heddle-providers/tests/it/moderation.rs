//! The OpenAI Moderations client against the fake, which flags inputs by keyword in the
//! documented format. The client returns the raw answer; reading it is heddle-trust's job.

use std::sync::Arc;
use std::time::Duration;

use heddle_crypto::SecretString;
use heddle_providers::{
    OpenAiModeration, OpenAiModerationConfig, ProviderError, RecordingSleeper, RetryPolicy,
};
use heddle_testkit::{FakeModelReply, FakeOpenAi, MODERATION_CATEGORIES};
use serde_json::json;

use crate::KEY;

fn client(fake: &FakeOpenAi) -> (OpenAiModeration, RecordingSleeper) {
    let mut config = OpenAiModerationConfig::openai(SecretString::from(KEY));
    config.http.base_url = fake.url();
    config.http.allow_private_network = true;
    config.http.retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(30),
        jitter: false,
    };
    let sleeper = RecordingSleeper::new();
    let client = OpenAiModeration::new(config)
        .unwrap()
        .with_sleeper(Arc::new(sleeper.clone()));
    (client, sleeper)
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[tokio::test]
async fn sends_the_documented_request_and_returns_the_raw_answer() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.flag_moderation_keyword("wire the money", "illicit");
    let (client, _) = client(&fake);
    let inputs = texts(&[
        "Please update the billing address for Acme.",
        "I will kill the deal if they do not sign.",
        "Wire the money to this account now.",
    ]);

    let answer = client.moderate(&inputs).await.unwrap();

    let request = &fake.requests()[0];
    assert_eq!(request.uri.path(), "/v1/moderations");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        fake.request_bodies()[0],
        json!({"model": "omni-moderation-latest", "input": inputs})
    );
    assert_eq!(answer["model"], "omni-moderation-latest");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["flagged"], false);
    assert_eq!(results[1]["flagged"], true);
    assert_eq!(results[1]["categories"]["violence"], true);
    assert_eq!(results[1]["category_scores"]["violence"], 0.97);
    assert_eq!(results[2]["categories"]["illicit"], true);
    for category in MODERATION_CATEGORIES {
        assert!(
            results[0]["category_scores"][category].is_f64(),
            "{category}"
        );
        assert_eq!(
            results[0]["category_applied_input_types"][category],
            json!(["text"])
        );
    }
}

#[tokio::test]
async fn an_answer_without_a_result_per_input_is_malformed() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_moderations_reply(FakeModelReply::Malformed {
        body: json!({"id": "modr-1", "model": "omni-moderation-latest"}).to_string(),
    });
    fake.push_moderations_reply(FakeModelReply::Malformed {
        body: json!({"id": "modr-2", "results": []}).to_string(),
    });
    fake.push_moderations_reply(FakeModelReply::Malformed {
        body: "not json".into(),
    });
    let (client, _) = client(&fake);

    for _ in 0..3 {
        let err = client.moderate(&texts(&["hello"])).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::MalformedResponse { .. }),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn errors_are_classified_and_never_carry_the_key() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_moderations_reply(FakeModelReply::ServerError { status: 500 });
    fake.push_moderations_reply(FakeModelReply::ServerError { status: 500 });
    let (failing, sleeper) = client(&fake);

    let err = failing.moderate(&texts(&["hello"])).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Upstream {
                status: 500,
                attempts: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sleeper.waits(), vec![Duration::from_millis(100)]);

    let other = FakeOpenAi::start("sk-some-other-key").await.unwrap();
    let (refused, _) = client(&other);
    let err = refused.moderate(&texts(&["hello"])).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Auth { status: 401, .. }),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains(KEY));
}

#[tokio::test]
async fn nothing_to_moderate_is_refused_without_a_request() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let (client, _) = client(&fake);

    let err = client.moderate(&[]).await.unwrap_err();

    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(fake.requests().is_empty());
}
