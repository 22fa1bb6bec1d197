//! API keys over HTTP: shown once, stored as a hash, revocable, expiring, last-used time.

use heddle_types::Role;
use reqwest::Method;
use time::Duration;

use crate::harness::{TestServer, expect_problem, json};

#[tokio::test]
async fn key_lifecycle() {
    let server = TestServer::start().await;
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/api-keys")
            .json(&serde_json::json!({"name": "crm sync", "role": "operator"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let prefix = created["key"]["prefix"].as_str().unwrap();
    assert!(token.starts_with("hdl_"));
    assert!(
        token.starts_with(prefix),
        "the prefix is the visible start of the key"
    );
    assert!(created["key"]["last_used_at"].is_null());

    let me = json(
        server
            .request(Method::GET, "/v1/users/me")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["role"], "operator");

    // Listed without the secret, with its last use recorded.
    let listed = server
        .as_role(Role::Admin, Method::GET, "/v1/api-keys?limit=200")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&token),
        "a listing must never contain a secret"
    );
    let key = json(
        server
            .as_role(Role::Admin, Method::GET, &format!("/v1/api-keys/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(key["last_used_at"].is_string(), "{key}");
    assert!(key.get("token").is_none() && key.get("secret_hash").is_none());

    let revoked = json(
        server
            .as_role(Role::Admin, Method::DELETE, &format!("/v1/api-keys/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(revoked["revoked_at"].is_string());
    let response = server
        .request(Method::GET, "/v1/users/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 401).await;
}

#[tokio::test]
async fn keys_expire() {
    let server = TestServer::start().await;
    let expires_at = (server.clock_now() + Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/api-keys")
            .json(&serde_json::json!({"name": "short", "role": "viewer", "expires_at": expires_at}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let me = server
        .request(Method::GET, "/v1/users/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    json(me, 200).await;
    server.clock.advance(Duration::hours(2));
    let me = server
        .request(Method::GET, "/v1/users/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(me, 401).await;
}

#[tokio::test]
async fn expiry_in_the_past_is_rejected() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/api-keys")
        .json(&serde_json::json!({"name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(response, 422).await;
    assert!(body["detail"].as_str().unwrap().contains("expires_at"));
}

#[tokio::test]
async fn stored_hash_is_not_the_key() {
    let server = TestServer::start().await;
    let token = server.key(Role::Viewer);
    let parsed = heddle_crypto::parse_token(heddle_crypto::TokenKind::ApiKey, token).unwrap();
    let (_, stored_hash) = server
        .identity
        .store()
        .find_api_key_by_lookup(parsed.lookup())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_hash.len(), 32);
    assert_ne!(stored_hash.as_slice(), token.as_bytes());
    assert_eq!(stored_hash, heddle_crypto::token_hash(token).to_vec());
}

impl TestServer {
    fn clock_now(&self) -> time::OffsetDateTime {
        use heddle_types::Clock;
        self.clock.now()
    }
}
