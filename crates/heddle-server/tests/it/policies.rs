//! Custom Cedar policies: validated before they are accepted, effective at once, removable.

use heddle_types::Role;
use reqwest::Method;

use crate::harness::{TestServer, expect_problem, json};

const FORBID_COMPLIANCE_USERS: &str = r#"forbid (
  principal in Heddle::Role::"ComplianceOfficer",
  action == Heddle::Action::"view_users",
  resource
);"#;

#[tokio::test]
async fn a_custom_forbid_takes_a_permission_away_until_deleted() {
    let server = TestServer::start().await;
    let before = server
        .as_role(Role::ComplianceOfficer, Method::GET, "/v1/users")
        .send()
        .await
        .unwrap();
    json(before, 200).await;

    let policy = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/policies")
            .json(&serde_json::json!({
                "name": "no user list for compliance",
                "description": "they use the audit log instead",
                "cedar": FORBID_COMPLIANCE_USERS
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let during = server
        .as_role(Role::ComplianceOfficer, Method::GET, "/v1/users")
        .send()
        .await
        .unwrap();
    expect_problem(during, 403).await;

    let id = policy["id"].as_str().unwrap();
    let listed = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/policies")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"][0]["cedar"], FORBID_COMPLIANCE_USERS);
    let deleted = server
        .as_role(Role::Admin, Method::DELETE, &format!("/v1/policies/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let after = server
        .as_role(Role::ComplianceOfficer, Method::GET, "/v1/users")
        .send()
        .await
        .unwrap();
    json(after, 200).await;
}

#[tokio::test]
async fn invalid_policies_are_rejected_with_diagnostics() {
    let server = TestServer::start().await;
    for cedar in [
        "permit(principal, action, resource",
        r#"permit(principal, action == Heddle::Action::"fly_to_moon", resource);"#,
        r#"permit(principal, action, resource) when { principal.salary > 5 };"#,
    ] {
        let response = server
            .as_role(Role::Admin, Method::POST, "/v1/policies")
            .json(&serde_json::json!({"name": "bad", "cedar": cedar}))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 422).await;
        assert_eq!(problem["type"], "urn:heddle:problem:invalid-policy");
        assert!(
            !problem["errors"].as_array().unwrap().is_empty(),
            "{cedar}: {problem}"
        );
    }
    let listed = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/policies")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_custom_permit_shows_in_the_role_matrix() {
    let server = TestServer::start().await;
    json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/policies")
            .json(&serde_json::json!({
                "name": "viewers read audit",
                "cedar": r#"permit(principal in Heddle::Role::"Viewer", action == Heddle::Action::"view_audit_log", resource);"#
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let roles = json(
        server
            .as_role(Role::Viewer, Method::GET, "/v1/roles")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let viewer = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["role"] == "viewer")
        .unwrap();
    assert!(
        viewer["allowed"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("view_audit_log"))
    );
}

#[tokio::test]
async fn a_permissive_custom_policy_cannot_mint_admin_keys() {
    let server = TestServer::start().await;
    json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/policies")
            .json(&serde_json::json!({
                "name": "builders manage keys",
                "cedar": r#"permit(principal in Heddle::Role::"Builder", action == Heddle::Action::"manage_api_keys", resource);"#
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let own_role = server
        .as_role(Role::Builder, Method::POST, "/v1/api-keys")
        .json(&serde_json::json!({"name": "ci", "role": "builder"}))
        .send()
        .await
        .unwrap();
    json(own_role, 201).await;
    let escalation = server
        .as_role(Role::Builder, Method::POST, "/v1/api-keys")
        .json(&serde_json::json!({"name": "root", "role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_problem(escalation, 409).await;
}
