//! 401 without a key, 403 with a key of too small a role: every guarded route × every role.

use heddle_types::Role;
use reqwest::Method;

use crate::harness::{TestServer, expect_problem};

const ALL: &[Role] = &Role::ALL;
const ADMIN: &[Role] = &[Role::Admin];
const ADMIN_COMPLIANCE: &[Role] = &[Role::Admin, Role::ComplianceOfficer];

#[tokio::test]
async fn every_route_by_every_role() {
    let server = TestServer::start().await;
    let routes: &[(Method, &str, Option<serde_json::Value>, &[Role])] = &[
        (Method::GET, "/v1/users/me", None, ALL),
        (Method::GET, "/v1/tenant", None, ALL),
        (Method::GET, "/v1/roles", None, ALL),
        (Method::GET, "/v1/policies/schema", None, ALL),
        (Method::GET, "/v1/users", None, ADMIN_COMPLIANCE),
        (Method::GET, "/v1/policies", None, ADMIN_COMPLIANCE),
        (Method::GET, "/v1/audit/events", None, ADMIN_COMPLIANCE),
        (Method::GET, "/v1/audit/sinks", None, ADMIN_COMPLIANCE),
        (Method::GET, "/v1/audit/checkpoints", None, ADMIN_COMPLIANCE),
        (
            Method::GET,
            "/v1/secrets",
            None,
            &[
                Role::Admin,
                Role::Builder,
                Role::Operator,
                Role::ComplianceOfficer,
            ],
        ),
        (Method::GET, "/v1/api-keys", None, ADMIN),
        (Method::GET, "/v1/tenants", None, ADMIN),
        // Bodies are invalid on purpose: authorization comes before validation for the
        // caller without the role (403), and the admin gets 422, proving they passed it.
        (
            Method::POST,
            "/v1/users",
            Some(serde_json::json!({"email": "x", "display_name": "x", "role": "viewer"})),
            ADMIN,
        ),
        (
            Method::POST,
            "/v1/api-keys",
            Some(serde_json::json!({"name": "", "role": "viewer"})),
            ADMIN,
        ),
        (
            Method::POST,
            "/v1/tenants",
            Some(
                serde_json::json!({"slug": "X", "name": "x", "admin_email": "a@b.io", "admin_display_name": "a"}),
            ),
            ADMIN,
        ),
        (
            Method::POST,
            "/v1/policies",
            Some(serde_json::json!({"name": "p", "cedar": "nonsense"})),
            ADMIN,
        ),
    ];
    for (method, path, body, allowed) in routes {
        let unauthenticated = with_body(server.request(method.clone(), path), body)
            .send()
            .await
            .unwrap();
        expect_problem(unauthenticated, 401).await;
        for role in Role::ALL {
            let response = with_body(server.as_role(role, method.clone(), path), body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if allowed.contains(&role) {
                assert!(
                    status == 200 || status == 422,
                    "{role} {method} {path}: expected success or validation error, got {status}"
                );
            } else {
                let problem = expect_problem(response, 403).await;
                assert_eq!(
                    problem["type"], "urn:heddle:problem:forbidden",
                    "{role} {method} {path}"
                );
            }
        }
    }
}

fn with_body(
    request: reqwest::RequestBuilder,
    body: &Option<serde_json::Value>,
) -> reqwest::RequestBuilder {
    match body {
        Some(body) => request.json(body),
        None => request,
    }
}

#[tokio::test]
async fn roles_endpoint_reports_the_seed_matrix() {
    let server = TestServer::start().await;
    let roles: serde_json::Value = server
        .as_role(Role::Viewer, Method::GET, "/v1/roles")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let allowed = |role: &str| -> Vec<String> {
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["role"] == role)
            .unwrap()["allowed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|action| action.as_str().unwrap().to_owned())
            .collect()
    };
    let viewer = allowed("viewer");
    assert!(viewer.contains(&"view_executions".to_owned()));
    assert!(!viewer.contains(&"execute_agent".to_owned()));
    let operator = allowed("operator");
    assert!(operator.contains(&"execute_agent".to_owned()));
    assert!(!operator.contains(&"create_agent".to_owned()));
    let compliance = allowed("compliance_officer");
    assert!(compliance.contains(&"view_audit_log".to_owned()));
    assert!(compliance.contains(&"view_playbooks".to_owned()));
    assert!(!compliance.contains(&"start_adversarial_scan".to_owned()));
    let builder = allowed("builder");
    assert!(builder.contains(&"start_adversarial_scan".to_owned()));
    assert!(!builder.contains(&"manage_users".to_owned()));
    assert!(allowed("admin").contains(&"manage_billing".to_owned()));
}
