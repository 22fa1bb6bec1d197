//! Every error is an RFC 9457 problem document carrying the request id.

use heddle_types::Role;
use reqwest::Method;

use crate::harness::{TestServer, expect_problem};

#[tokio::test]
async fn malformed_json_is_400() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/users")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let body = expect_problem(response, 400).await;
    assert_eq!(body["type"], "urn:heddle:problem:malformed-json");
}

#[tokio::test]
async fn wrong_types_are_422_and_name_the_field() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/users")
        .json(&serde_json::json!({"email": 5, "display_name": "x", "role": "admin"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(response, 422).await;
    assert!(body["detail"].as_str().unwrap().contains("email"), "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/email", "{body}");
}

#[tokio::test]
async fn unknown_fields_are_422_and_name_the_field() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/users")
        .json(&serde_json::json!({
            "email": "a@b.io", "display_name": "x", "role": "viewer", "is_root": true
        }))
        .send()
        .await
        .unwrap();
    let body = expect_problem(response, 422).await;
    assert!(
        body["detail"].as_str().unwrap().contains("is_root"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_role_value_is_422() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/api-keys")
        .json(&serde_json::json!({"name": "k", "role": "root"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 422).await;
}

#[tokio::test]
async fn missing_content_type_is_415() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/users")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(response, 415).await;
}

#[tokio::test]
async fn too_large_body_is_413() {
    let server = TestServer::start_with(|config| config.http.max_body_bytes = 2048).await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/users")
        .json(&serde_json::json!({"email": "a@b.io", "display_name": "x".repeat(4096), "role": "viewer"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 413).await;
}

#[tokio::test]
async fn unknown_route_is_404() {
    let server = TestServer::start().await;
    let response = server
        .request(Method::GET, "/v1/nothing-here")
        .send()
        .await
        .unwrap();
    let body = expect_problem(response, 404).await;
    assert_eq!(body["type"], "urn:heddle:problem:not-found");
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let server = TestServer::start().await;
    let response = server
        .request(Method::PUT, "/healthz")
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("allow"));
    expect_problem(response, 405).await;
}

#[tokio::test]
async fn malformed_path_id_is_404() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::GET, "/v1/users/not-a-uuid")
        .send()
        .await
        .unwrap();
    expect_problem(response, 404).await;
}

#[tokio::test]
async fn bad_pagination_is_400() {
    let server = TestServer::start().await;
    for query in [
        "limit=0",
        "limit=5000",
        "after=zzz",
        "limit=abc",
        "colour=blue",
    ] {
        let response = server
            .as_role(Role::Admin, Method::GET, &format!("/v1/users?{query}"))
            .send()
            .await
            .unwrap();
        expect_problem(response, 400).await;
    }
}

#[tokio::test]
async fn request_id_from_the_client_is_kept() {
    let server = TestServer::start().await;
    let response = server
        .request(Method::GET, "/v1/users/me")
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    let body = expect_problem(response, 401).await;
    assert_eq!(body["request_id"], "trace-me-123");
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let server = TestServer::start().await;
    for (path, status) in [("/healthz", 200), ("/v1/users/me", 401), ("/nope", 404)] {
        let response = server.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let headers = response.headers();
        assert!(
            headers["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age=")
        );
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers.contains_key("permissions-policy"));
        assert!(headers.contains_key("x-request-id"));
    }
}
