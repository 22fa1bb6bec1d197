//! Authentication: 401 for every kind of bad credential, login and logout.

use heddle_types::Role;
use reqwest::Method;
use time::Duration;

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer, expect_problem, json};

#[tokio::test]
async fn missing_or_bad_credentials_are_401_with_challenge() {
    let server = TestServer::start().await;
    let valid = server.key(Role::Viewer).to_owned();
    let mut corrupted = valid.clone();
    corrupted.pop();
    corrupted.push(if valid.ends_with('A') { 'B' } else { 'A' });
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Basic dXNlcjpwYXNz".into()),
        Some("Bearer ".into()),
        Some("Bearer hdl_nonsense".into()),
        Some(format!("Bearer {corrupted}")),
        Some("Bearer sk-openai-looking-key".into()),
    ];
    for header in cases {
        let mut request = server.request(Method::GET, "/v1/users/me");
        if let Some(value) = &header {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"heddle\"",
            "{header:?}"
        );
        let body = expect_problem(response, 401).await;
        assert_eq!(body["type"], "urn:heddle:problem:unauthenticated");
    }
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let server = TestServer::start().await;
    let response = server
        .request(Method::GET, "/v1/users/me")
        .header(
            "authorization",
            format!("bearer {}", server.key(Role::Viewer)),
        )
        .send()
        .await
        .unwrap();
    json(response, 200).await;
}

#[tokio::test]
async fn login_me_logout() {
    let server = TestServer::start().await;
    let body = json(
        server.login("default", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        200,
    )
    .await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("hdt_"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["principal"]["role"], "admin");

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
    assert_eq!(me["kind"], "user");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["operator_tenant"], true);

    let response = server
        .request(Method::POST, "/v1/auth/logout")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let response = server
        .request(Method::GET, "/v1/users/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 401).await;
}

#[tokio::test]
async fn wrong_password_unknown_user_and_unknown_tenant_look_the_same() {
    let server = TestServer::start().await;
    let mut details = Vec::new();
    for (tenant, email, password) in [
        ("default", ADMIN_EMAIL, "wrong password!!"),
        ("default", "nobody@heddle.local", ADMIN_PASSWORD),
        ("no-such-tenant", ADMIN_EMAIL, ADMIN_PASSWORD),
        ("default", "not an email", ADMIN_PASSWORD),
    ] {
        let body = expect_problem(server.login(tenant, email, password).await, 401).await;
        details.push(body["detail"].as_str().unwrap().to_owned());
    }
    details.dedup();
    assert_eq!(details.len(), 1, "{details:?}");
}

#[tokio::test]
async fn access_tokens_expire() {
    let server = TestServer::start().await;
    let body = json(
        server.login("default", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        200,
    )
    .await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    server.clock.advance(Duration::minutes(61));
    let response = server
        .request(Method::GET, "/v1/users/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 401).await;
}

#[tokio::test]
async fn disabling_a_user_revokes_their_tokens() {
    let server = TestServer::start().await;
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/users")
            .json(&serde_json::json!({
                "email": "op@acme.io", "display_name": "Op", "role": "operator",
                "password": "a long enough password"
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let login = json(
        server
            .login("default", "OP@acme.io", "a long enough password")
            .await,
        200,
    )
    .await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap();
    json(
        server
            .as_role(Role::Admin, Method::PATCH, &format!("/v1/users/{id}"))
            .json(&serde_json::json!({"disabled": true}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let response = server
        .request(Method::GET, "/v1/users/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 401).await;
    expect_problem(
        server
            .login("default", "op@acme.io", "a long enough password")
            .await,
        401,
    )
    .await;
}

#[tokio::test]
async fn logout_with_an_api_key_is_refused() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/auth/logout")
        .send()
        .await
        .unwrap();
    expect_problem(response, 400).await;
}
