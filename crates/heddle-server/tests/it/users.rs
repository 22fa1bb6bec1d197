//! User management over HTTP.

use heddle_types::Role;
use reqwest::Method;

use crate::harness::{TestServer, expect_problem, json};

#[tokio::test]
async fn create_get_update_list() {
    let server = TestServer::start().await;
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/users")
            .json(&serde_json::json!({"email": " Ana@Acme.IO ", "display_name": "Ana Núñez", "role": "builder"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(created["email"], "ana@acme.io");
    assert_eq!(created["display_name"], "Ana Núñez");
    assert!(created.get("password_hash").is_none());
    let id = created["id"].as_str().unwrap();

    let duplicate = server
        .as_role(Role::Admin, Method::POST, "/v1/users")
        .json(
            &serde_json::json!({"email": "ana@acme.io", "display_name": "Again", "role": "viewer"}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(duplicate, 409).await;

    let updated = json(
        server
            .as_role(Role::Admin, Method::PATCH, &format!("/v1/users/{id}"))
            .json(&serde_json::json!({"role": "operator", "display_name": "Ana N."}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(updated["role"], "operator");
    assert_eq!(updated["display_name"], "Ana N.");

    let fetched = json(
        server
            .as_role(
                Role::ComplianceOfficer,
                Method::GET,
                &format!("/v1/users/{id}"),
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(fetched, updated);

    // Pages of one, walked with the cursor, see every user exactly once.
    let mut seen = Vec::new();
    let mut path = "/v1/users?limit=1".to_owned();
    loop {
        let page = json(
            server
                .as_role(Role::Admin, Method::GET, &path)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["email"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/users?limit=1&after={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["admin@heddle.local", "ana@acme.io"]);
}

#[tokio::test]
async fn weak_passwords_and_bad_emails_are_422() {
    let server = TestServer::start().await;
    for body in [
        serde_json::json!({"email": "a@acme.io", "display_name": "A", "role": "viewer", "password": "short"}),
        serde_json::json!({"email": "not-an-email", "display_name": "A", "role": "viewer"}),
        serde_json::json!({"email": "a@acme.io", "display_name": "   ", "role": "viewer"}),
    ] {
        let response = server
            .as_role(Role::Admin, Method::POST, "/v1/users")
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 422).await;
        assert_eq!(problem["type"], "urn:heddle:problem:invalid-field");
    }
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let server = TestServer::start().await;
    let users = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/users")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let admin_id = users["items"][0]["id"].as_str().unwrap().to_owned();
    for change in [
        serde_json::json!({"role": "viewer"}),
        serde_json::json!({"disabled": true}),
    ] {
        let response = server
            .as_role(Role::Admin, Method::PATCH, &format!("/v1/users/{admin_id}"))
            .json(&change)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 409).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("last enabled admin")
        );
    }
}

#[tokio::test]
async fn a_viewer_can_read_themselves_but_not_others() {
    let server = TestServer::start().await;
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/users")
            .json(&serde_json::json!({"email": "v@acme.io", "display_name": "V", "role": "viewer", "password": "viewer password 1"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let token = json(
        server
            .login("default", "v@acme.io", "viewer password 1")
            .await,
        200,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = format!("/v1/users/{}", created["id"].as_str().unwrap());
    let response = server
        .request(Method::GET, &own)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    json(response, 200).await;
    let users = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/users")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let admin = format!("/v1/users/{}", users["items"][0]["id"].as_str().unwrap());
    let response = server
        .request(Method::GET, &admin)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(response, 403).await;
}
