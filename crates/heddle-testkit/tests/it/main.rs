//! One integration-test binary for heddle-testkit: the fakes answer malformed or
//! unauthenticated requests the way the documented services do, and a stopped fake refuses
//! connections until it restarts on the same port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use heddle_outbound::{
    HeaderName, OutboundClient, OutboundError, OutboundPolicy, OutboundRequest, OutboundResponse,
    header,
};
use heddle_testkit::{
    FakeAnthropic, FakeDatadogIntake, FakeElasticsearch, FakeModelReply, FakeOpenAi, FakeSplunkHec,
    FakeWebhookReceiver, ReceiverMode,
};
use serde_json::{Value, json};

const TENANT: &str = "01900000-0000-7000-8000-000000000001";

fn client() -> OutboundClient {
    OutboundClient::new(OutboundPolicy::allowing_loopback()).unwrap()
}

async fn post(
    url: &str,
    headers: &[(&str, &str)],
    content_type: &'static str,
    body: &str,
) -> OutboundResponse {
    let mut request = OutboundRequest::post(url)
        .unwrap()
        .body(content_type, body.as_bytes().to_vec());
    for (name, value) in headers {
        request = request
            .header_str(HeaderName::from_bytes(name.as_bytes()).unwrap(), value)
            .unwrap();
    }
    client().send(request).await.unwrap()
}

fn json_body(response: &OutboundResponse) -> Value {
    response.json().unwrap()
}

fn envelope(seq: u64) -> Value {
    json!({"tenant_id": TENANT, "seq": seq, "leaf_hash": "00", "event": {}})
}

#[tokio::test]
async fn splunk_answers_with_hec_status_codes() {
    let fake = FakeSplunkHec::start("tok").await.unwrap();
    let url = format!("{}/services/collector/event", fake.url());
    let auth = [("authorization", "Splunk tok")];

    let missing = post(&url, &[], "application/json", "{}").await;
    assert_eq!(
        (
            missing.status().as_u16(),
            json_body(&missing)["code"].clone()
        ),
        (401, json!(2))
    );
    let malformed = post(
        &url,
        &[("authorization", "Bearer tok")],
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(json_body(&malformed)["code"], 3);
    let wrong = post(
        &url,
        &[("authorization", "Splunk nope")],
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(
        (wrong.status().as_u16(), json_body(&wrong)["code"].clone()),
        (403, json!(4))
    );

    let empty = post(&url, &auth, "application/json", "").await;
    assert_eq!(json_body(&empty)["code"], 5);
    let no_event = post(&url, &auth, "application/json", r#"{"time": 1}"#).await;
    assert_eq!(json_body(&no_event)["code"], 12);
    let blank = post(&url, &auth, "application/json", r#"{"event": ""}"#).await;
    assert_eq!(json_body(&blank)["code"], 13);
    let second_bad = format!("{}\n{{not json", json!({"event": envelope(1)}));
    let invalid = post(&url, &auth, "application/json", &second_bad).await;
    assert_eq!(
        json_body(&invalid),
        json!({"text": "Invalid data format", "code": 6, "invalid-event-number": 1})
    );
    assert!(
        fake.received_seqs().is_empty(),
        "a refused request stores nothing"
    );

    let two = format!(
        "{}{}",
        json!({"event": envelope(1)}),
        json!({"time": "1.5", "event": envelope(2)})
    );
    let ok = post(&url, &auth, "application/json", &two).await;
    assert_eq!(
        (ok.status().as_u16(), json_body(&ok)),
        (200, json!({"text": "Success", "code": 0}))
    );
    assert_eq!(fake.received_seqs(), vec![1, 2]);

    let health = client()
        .send(OutboundRequest::get(&format!("{}/services/collector/health", fake.url())).unwrap())
        .await
        .unwrap();
    assert_eq!(json_body(&health)["code"], 17);
}

#[tokio::test]
async fn elasticsearch_enforces_bulk_framing_and_create_semantics() {
    let fake = FakeElasticsearch::start_with_api_key("a2V5").await.unwrap();
    let url = format!("{}/_bulk", fake.url());
    let auth = [("authorization", "ApiKey a2V5")];
    let action = json!({"create": {"_index": "audit", "_id": "t-1"}});
    let body = format!("{action}\n{}\n", envelope(1));

    let unauthenticated = post(&url, &[], "application/x-ndjson", &body).await;
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let wrong_type = post(&url, &auth, "text/plain", &body).await;
    assert_eq!(wrong_type.status().as_u16(), 406);
    let no_newline = post(&url, &auth, "application/x-ndjson", body.trim_end()).await;
    assert_eq!(no_newline.status().as_u16(), 400);

    let first = post(&url, &auth, "application/x-ndjson", &body).await;
    assert_eq!(json_body(&first)["errors"], false);
    assert_eq!(json_body(&first)["items"][0]["create"]["status"], 201);
    let again = post(&url, &auth, "application/x-ndjson", &body).await;
    assert_eq!(again.status().as_u16(), 200);
    let answer = json_body(&again);
    assert_eq!(answer["errors"], true);
    assert_eq!(answer["items"][0]["create"]["status"], 409);
    assert_eq!(
        answer["items"][0]["create"]["error"]["type"],
        "version_conflict_engine_exception"
    );
    assert_eq!(fake.documents().len(), 1);
}

#[tokio::test]
async fn datadog_enforces_keys_and_the_entry_limit() {
    let fake = FakeDatadogIntake::start("key").await.unwrap();
    let url = format!("{}/api/v2/logs", fake.url());
    let log = |seq: u64| json!({"message": "m", "heddle": {"tenant_id": TENANT, "seq": seq}});

    let missing = post(&url, &[], "application/json", "[]").await;
    assert_eq!(missing.status().as_u16(), 401);
    let wrong = post(&url, &[("dd-api-key", "nope")], "application/json", "[]").await;
    assert_eq!(wrong.status().as_u16(), 403);
    let too_many = Value::Array((0..1001).map(log).collect()).to_string();
    let refused = post(
        &url,
        &[("dd-api-key", "key")],
        "application/json",
        &too_many,
    )
    .await;
    assert_eq!(refused.status().as_u16(), 400);

    let accepted = post(
        &url,
        &[("dd-api-key", "key")],
        "application/json",
        &json!([log(1)]).to_string(),
    )
    .await;
    assert_eq!(accepted.status().as_u16(), 202);
    assert_eq!(fake.received_seqs(), vec![1]);
}

#[tokio::test]
async fn the_webhook_receiver_refuses_unsigned_requests() {
    let fake = FakeWebhookReceiver::start("secret").await.unwrap();
    let body = json!({"events": [envelope(1)]}).to_string();
    let response = post(
        &fake.endpoint(),
        &[("x-heddle-delivery", "d"), ("idempotency-key", "k")],
        "application/json",
        &body,
    )
    .await;
    assert_eq!(response.status().as_u16(), 401);
    let forged = post(
        &fake.endpoint(),
        &[
            ("x-heddle-signature", "t=1,v1=00"),
            ("x-heddle-delivery", "d"),
            ("idempotency-key", "k"),
        ],
        "application/json",
        &body,
    )
    .await;
    assert_eq!(forged.status().as_u16(), 401);
    assert!(fake.received_seqs().is_empty());
}

#[tokio::test]
async fn a_stopped_fake_refuses_connections_until_it_restarts_on_the_same_port() {
    let fake = FakeSplunkHec::start("tok").await.unwrap();
    let health = format!("{}/services/collector/health", fake.url());
    let port = fake.addr().port();
    let get = || async { client().send(OutboundRequest::get(&health).unwrap()).await };
    assert!(get().await.is_ok());

    fake.stop().await;
    assert!(matches!(get().await, Err(OutboundError::Connect { .. })));

    fake.restart().await.unwrap();
    assert_eq!(fake.addr().port(), port);
    assert_eq!(get().await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn failure_modes_answer_in_the_service_format() {
    let fake = FakeSplunkHec::start("tok").await.unwrap();
    let url = format!("{}/services/collector/event", fake.url());
    let body = json!({"event": envelope(1)}).to_string();
    let auth = [("authorization", "Splunk tok")];

    fake.set_mode(ReceiverMode::Unavailable);
    let busy = post(&url, &auth, "application/json", &body).await;
    assert_eq!(
        (busy.status().as_u16(), json_body(&busy)["code"].clone()),
        (503, json!(9))
    );
    assert!(fake.received_seqs().is_empty());

    fake.set_mode(ReceiverMode::TooManyRequests);
    let slow_down = post(&url, &auth, "application/json", &body).await;
    assert_eq!(slow_down.status().as_u16(), 429);
    assert_eq!(slow_down.headers().get(header::RETRY_AFTER).unwrap(), "1");

    fake.set_mode(ReceiverMode::LoseAck);
    let lost = post(&url, &auth, "application/json", &body).await;
    assert_eq!(lost.status().as_u16(), 503);
    assert_eq!(
        fake.received_seqs(),
        vec![1],
        "stored although the answer was an error"
    );
    assert_eq!(fake.mode(), ReceiverMode::LoseAck);
}

#[tokio::test]
async fn the_fake_model_providers_refuse_what_the_real_apis_refuse() {
    let openai = FakeOpenAi::start("sk-good").await.unwrap();
    let url = format!("{}/v1/chat/completions", openai.url());
    let bearer = [("authorization", "Bearer sk-good")];
    let orphan_tool_result = r#"{"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_1", "content": "x"}]}"#;
    let refused = post(&url, &bearer, "application/json", orphan_tool_result).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        json_body(&refused)["error"]["type"],
        "invalid_request_error"
    );
    let wrong_key = [("authorization", "Bearer sk-bad")];
    let refused = post(
        &url,
        &wrong_key,
        "application/json",
        r#"{"model": "m", "messages": []}"#,
    )
    .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(json_body(&refused)["error"]["code"], "invalid_api_key");
    // With no reply queued the fake says so in the provider's format.
    let empty = post(
        &url,
        &bearer,
        "application/json",
        r#"{"model": "m", "messages": []}"#,
    )
    .await;
    assert_eq!(empty.status(), 500);
    openai.push_reply(FakeModelReply::tool_call(
        "call_9",
        "lookup",
        json!({"q": 1}),
    ));
    let answered = post(
        &url,
        &bearer,
        "application/json",
        r#"{"model": "m", "messages": []}"#,
    )
    .await;
    let body = json_body(&answered);
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        r#"{"q":1}"#
    );
    assert_eq!(openai.requests().len(), 4);

    let anthropic = FakeAnthropic::start("sk-ant").await.unwrap();
    let url = format!("{}/v1/messages", anthropic.url());
    let valid =
        r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}"#;
    let no_version = post(&url, &[("x-api-key", "sk-ant")], "application/json", valid).await;
    assert_eq!(no_version.status(), 400);
    assert_eq!(json_body(&no_version)["type"], "error");
    let headers = [("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")];
    let system_message =
        r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}"#;
    let refused = post(&url, &headers, "application/json", system_message).await;
    assert_eq!(
        json_body(&refused)["error"]["type"],
        "invalid_request_error"
    );
    anthropic.push_reply(FakeModelReply::RateLimited {
        retry_after_secs: Some(7),
    });
    let limited = post(&url, &headers, "application/json", valid).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(
        limited.retry_after(),
        Some(std::time::Duration::from_secs(7))
    );
    assert_eq!(json_body(&limited)["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn the_fake_openai_embeddings_and_moderations_speak_the_documented_formats() {
    let openai = FakeOpenAi::start("sk-good").await.unwrap();
    let bearer = [("authorization", "Bearer sk-good")];
    let embeddings = format!("{}/v1/embeddings", openai.url());
    for refused_body in [
        r#"{"input": ["a"]}"#,
        r#"{"model": "m"}"#,
        r#"{"model": "m", "input": []}"#,
        r#"{"model": "m", "input": [""]}"#,
        r#"{"model": "m", "input": [[1, 2]]}"#,
        r#"{"model": "m", "input": "a", "encoding_format": "binary"}"#,
        r#"{"model": "m", "input": "a", "dimensions": 0}"#,
    ] {
        let refused = post(&embeddings, &bearer, "application/json", refused_body).await;
        assert_eq!(refused.status(), 400, "{refused_body}");
        assert_eq!(
            json_body(&refused)["error"]["type"],
            "invalid_request_error"
        );
    }
    let wrong_key = post(
        &embeddings,
        &[("authorization", "Bearer sk-bad")],
        "application/json",
        r#"{"model": "m", "input": "a"}"#,
    )
    .await;
    assert_eq!(wrong_key.status(), 401);

    let answered = post(
        &embeddings,
        &bearer,
        "application/json",
        r#"{"model": "m", "input": "Reset my password", "dimensions": 8}"#,
    )
    .await;
    assert_eq!(answered.status(), 200);
    let body = json_body(&answered);
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "m");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );
    let vector: Vec<f32> = serde_json::from_value(body["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(
        vector,
        heddle_testkit::fake_embedding("Reset my password", 8)
    );

    let moderations = format!("{}/v1/moderations", openai.url());
    let refused = post(
        &moderations,
        &bearer,
        "application/json",
        r#"{"input": []}"#,
    )
    .await;
    assert_eq!(refused.status(), 400);
    // `model` is optional there.
    let answered = post(
        &moderations,
        &bearer,
        "application/json",
        r#"{"input": "how do I build a bomb"}"#,
    )
    .await;
    let body = json_body(&answered);
    assert_eq!(body["model"], "omni-moderation-latest");
    assert!(body["id"].as_str().unwrap().starts_with("modr-"));
    let result = &body["results"][0];
    assert_eq!(result["flagged"], true);
    assert_eq!(result["categories"]["illicit/violent"], true);
    assert_eq!(result["categories"]["hate"], false);
    assert_eq!(
        result["categories"].as_object().unwrap().len(),
        heddle_testkit::MODERATION_CATEGORIES.len()
    );

    // A queued reply replaces the computed answer once.
    openai.push_moderations_reply(FakeModelReply::RateLimited {
        retry_after_secs: Some(3),
    });
    let limited = post(
        &moderations,
        &bearer,
        "application/json",
        r#"{"input": "x"}"#,
    )
    .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(
        limited.retry_after(),
        Some(std::time::Duration::from_secs(3))
    );
    let again = post(
        &moderations,
        &bearer,
        "application/json",
        r#"{"input": "x"}"#,
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_eq!(openai.requests().len(), 13);
}
