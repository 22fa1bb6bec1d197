//! Health, readiness, OpenAPI, metrics, security.txt and CORS.

use heddle_server::config::SecurityTxtConfig;
use heddle_types::Role;
use reqwest::Method;

use crate::harness::{TestServer, expect_problem, json};

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let health = json(
        server
            .request(Method::GET, "/healthz")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(health["status"], "ok");
    let ready = json(
        server.request(Method::GET, "/readyz").send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(ready["database"], "sqlite");
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let server = TestServer::start().await;
    let doc = json(
        server
            .request(Method::GET, "/openapi.json")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/v1/auth/login",
        "/v1/users/me",
        "/v1/users",
        "/v1/users/{id}",
        "/v1/api-keys",
        "/v1/api-keys/{id}",
        "/v1/tenants",
        "/v1/roles",
        "/v1/policies",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let server = TestServer::start().await;
    for _ in 0..3 {
        server
            .as_role(Role::Viewer, Method::GET, "/v1/users/me")
            .send()
            .await
            .unwrap();
    }
    let text = server
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("heddle_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v1/users/me\""), "{text}");
    assert!(
        text.contains("heddle_http_request_duration_seconds"),
        "{text}"
    );
}

#[tokio::test]
async fn security_txt_is_served_when_configured() {
    let server = TestServer::start().await;
    expect_problem(
        server
            .request(Method::GET, "/.well-known/security.txt")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let server = TestServer::start_with(|config| {
        config.security_txt = Some(SecurityTxtConfig {
            contact: vec!["mailto:security@example.com".into()],
            expires: "2027-12-31T23:59:59Z".into(),
            policy: Some("https://example.com/security-policy".into()),
            preferred_languages: Some("en, de".into()),
            acknowledgments: None,
        });
    })
    .await;
    let response = server
        .request(Method::GET, "/.well-known/security.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("Contact: mailto:security@example.com\n"));
    assert!(text.contains("Expires: 2027-12-31T23:59:59Z\n"));
    assert!(text.contains("Policy: https://example.com/security-policy\n"));
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let server = TestServer::start_with(|config| {
        config.http.cors_allowed_origins = vec!["https://console.example.com".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        server
            .request(Method::OPTIONS, "/v1/users")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://console.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://console.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let denied = preflight("https://evil.example.net").await.unwrap();
    assert!(!denied.headers().contains_key("access-control-allow-origin"));
}
