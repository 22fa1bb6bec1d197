//! Tenants are isolated: nothing of one is visible or changeable from another.

use heddle_types::Role;
use reqwest::Method;

use crate::harness::{TestServer, expect_problem, json};

#[tokio::test]
async fn operator_admin_creates_an_isolated_tenant() {
    let server = TestServer::start().await;
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/tenants")
            .json(&serde_json::json!({
                "slug": "acme", "name": "Acme Corp",
                "admin_email": "boss@acme.io", "admin_display_name": "Boss"
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(created["tenant"]["operator"], false);
    let password = created["admin_password"].as_str().unwrap();
    let token =
        json(server.login("acme", "boss@acme.io", password).await, 200).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();

    // The new tenant sees only itself.
    let users = json(
        server
            .request(Method::GET, "/v1/users")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
    assert_eq!(users["items"][0]["email"], "boss@acme.io");

    // The operator tenant's users do not exist from Acme's point of view.
    let operator_users = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/users")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let operator_admin = operator_users["items"][0]["id"].as_str().unwrap();
    for method in [Method::GET, Method::PATCH] {
        let mut request = server
            .request(method.clone(), &format!("/v1/users/{operator_admin}"))
            .bearer_auth(&token);
        if method == Method::PATCH {
            request = request.json(&serde_json::json!({"disabled": true}));
        }
        expect_problem(request.send().await.unwrap(), 404).await;
    }

    // Acme's admin is not an operator: it cannot list or create tenants.
    let response = server
        .request(Method::GET, "/v1/tenants")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403).await;

    // Same email in two tenants is fine; a taken slug is not.
    let again = server
        .as_role(Role::Admin, Method::POST, "/v1/tenants")
        .json(&serde_json::json!({
            "slug": "acme", "name": "Other", "admin_email": "x@y.io", "admin_display_name": "X"
        }))
        .send()
        .await
        .unwrap();
    expect_problem(again, 409).await;

    let listed = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/tenants")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let slugs: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["default", "acme"]);
}

#[tokio::test]
async fn bad_slug_creates_nothing() {
    let server = TestServer::start().await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/tenants")
        .json(&serde_json::json!({
            "slug": "Bad Slug", "name": "x", "admin_email": "a@b.io", "admin_display_name": "A"
        }))
        .send()
        .await
        .unwrap();
    expect_problem(response, 422).await;
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/tenants")
        .json(&serde_json::json!({
            "slug": "fine", "name": "x", "admin_email": "nope", "admin_display_name": "A"
        }))
        .send()
        .await
        .unwrap();
    expect_problem(response, 422).await;
    let listed = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/tenants")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}
