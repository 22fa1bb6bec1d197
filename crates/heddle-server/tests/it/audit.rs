//! Every state change and every refusal leaves an audit event with who, what, outcome and
//! where from; auditors read them, others cannot.

use heddle_types::Role;
use reqwest::Method;
use serde_json::Value;

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer, expect_problem, json};

async fn events(server: &TestServer, query: &str) -> Vec<Value> {
    let page = json(
        server
            .as_role(
                Role::ComplianceOfficer,
                Method::GET,
                &format!("/v1/audit/events?{query}"),
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn state_changes_are_recorded_with_actor_target_and_request() {
    let server = TestServer::start().await;
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/users")
            .header("user-agent", "audit-test/1.0")
            .header("x-request-id", "req-audit-1")
            .json(&serde_json::json!({"email": "ana@acme.io", "display_name": "Ana", "role": "builder"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let recorded = events(&server, "action=user.create&outcome=success").await;
    let event = recorded
        .iter()
        .map(|item| &item["event"])
        .find(|event| event["target"]["id"] == created["id"])
        .expect("a user.create event for the new user");
    assert_eq!(event["actor"]["kind"], "api_key");
    assert_eq!(event["actor"]["identity_mode"], "user");
    assert_eq!(event["details"]["email"], "ana@acme.io");
    assert_eq!(event["details"]["role"], "builder");
    assert_eq!(event["request_id"], "req-audit-1");
    assert_eq!(event["user_agent"], "audit-test/1.0");
    assert_eq!(event["client_ip"], "127.0.0.1");
    assert!(event["occurred_at"].is_string());
    assert!(event["duration_ms"].is_u64());
}

#[tokio::test]
async fn refusals_are_recorded_and_failed_changes_leave_no_success() {
    let server = TestServer::start().await;
    // Forbidden: a viewer tries to create a key.
    let response = server
        .as_role(Role::Viewer, Method::POST, "/v1/api-keys")
        .json(&serde_json::json!({"name": "x", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 403).await;
    // Conflict: a duplicate email rolls back, and only the refusal is recorded.
    for _ in 0..2 {
        server
            .as_role(Role::Admin, Method::POST, "/v1/users")
            .json(
                &serde_json::json!({"email": "dup@acme.io", "display_name": "D", "role": "viewer"}),
            )
            .send()
            .await
            .unwrap();
    }
    let denied = events(&server, "outcome=denied").await;
    let reasons: Vec<&str> = denied
        .iter()
        .map(|item| item["event"]["details"]["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"forbidden:manage_api_keys"),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"conflict:user.email"), "{reasons:?}");
    let created = events(&server, "action=user.create&outcome=success").await;
    let dup_successes = created
        .iter()
        .filter(|item| item["event"]["details"]["email"] == "dup@acme.io")
        .count();
    assert_eq!(dup_successes, 1);
}

#[tokio::test]
async fn logins_are_recorded_without_passwords() {
    let server = TestServer::start().await;
    json(
        server.login("default", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        200,
    )
    .await;
    expect_problem(
        server
            .login("default", ADMIN_EMAIL, "not the password!")
            .await,
        401,
    )
    .await;
    let logins = events(&server, "action=auth.login").await;
    let outcomes: Vec<&str> = logins
        .iter()
        .map(|item| item["event"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["success", "denied"]);
    assert_eq!(logins[1]["event"]["details"]["reason"], "bad_password");
    let text = serde_json::to_string(&logins).unwrap();
    assert!(!text.contains(ADMIN_PASSWORD) && !text.contains("not the password!"));
}

#[tokio::test]
async fn only_auditors_read_the_log_and_attempts_are_recorded() {
    let server = TestServer::start().await;
    for role in [Role::Builder, Role::Operator, Role::Viewer] {
        let response = server
            .as_role(role, Method::GET, "/v1/audit/events")
            .send()
            .await
            .unwrap();
        expect_problem(response, 403).await;
    }
    json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/audit/events")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let attempts = events(&server, "action=audit.list&outcome=denied").await;
    assert_eq!(attempts.len(), 3);
}

#[tokio::test]
async fn sequence_numbers_are_contiguous_and_pages_walk_them() {
    let server = TestServer::start().await;
    for i in 0..5 {
        server
            .as_role(Role::Admin, Method::POST, "/v1/api-keys")
            .json(&serde_json::json!({"name": format!("k{i}"), "role": "viewer"}))
            .send()
            .await
            .unwrap();
    }
    let mut seqs = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = json(
            server
                .as_role(
                    Role::ComplianceOfficer,
                    Method::GET,
                    &format!("/v1/audit/events?{query}"),
                )
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        for item in page["items"].as_array().unwrap() {
            seqs.push(item["seq"].as_u64().unwrap());
            assert_eq!(item["leaf_hash"].as_str().unwrap().len(), 64);
        }
        match page["next_cursor"].as_u64() {
            Some(cursor) => query = format!("limit=2&after={cursor}"),
            None => break,
        }
    }
    let expected: Vec<u64> = (0..seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "gap-free from the first event");
    assert!(
        seqs.len() >= 5 + 6,
        "bootstrap, role keys and the five new keys"
    );
}

#[tokio::test]
async fn checkpoints_and_proofs_verify_against_the_published_key() {
    let server = TestServer::start().await;
    let auditor =
        |method: Method, path: &str| server.as_role(Role::ComplianceOfficer, method, path);
    let first = json(
        auditor(Method::POST, "/v1/audit/checkpoints")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    for i in 0..3 {
        server
            .as_role(Role::Admin, Method::POST, "/v1/api-keys")
            .json(&serde_json::json!({"name": format!("p{i}"), "role": "viewer"}))
            .send()
            .await
            .unwrap();
    }
    let second = json(
        auditor(Method::POST, "/v1/audit/checkpoints")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let (old_size, new_size) = (
        first["tree_size"].as_u64().unwrap(),
        second["tree_size"].as_u64().unwrap(),
    );
    assert!(new_size > old_size);
    // Asking again without new events returns the same checkpoint.
    let again = json(
        auditor(Method::POST, "/v1/audit/checkpoints")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(again["tree_size"], second["tree_size"]);
    assert_eq!(again["signature"], second["signature"]);

    let keys = json(
        auditor(Method::GET, "/v1/audit/public-keys")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let key =
        heddle_crypto::PublicKey::from_base64(keys[0]["public_key"].as_str().unwrap()).unwrap();
    let decode = |v: &Value| -> [u8; 32] {
        heddle_crypto::hex_decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let root_of = |cp: &Value| -> [u8; 32] {
        heddle_crypto::base64_decode(cp["root_hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let signed =
        heddle_audit::SignedCheckpoint::from_note(second["note"].as_str().unwrap()).unwrap();
    heddle_audit::verify_checkpoint(&key, &signed).unwrap();

    // Inclusion of an early event in the newest tree.
    let proof = json(
        auditor(Method::GET, "/v1/audit/proofs/inclusion?seq=1")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let path: Vec<[u8; 32]> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(decode)
        .collect();
    let size = proof["checkpoint"]["tree_size"].as_u64().unwrap();
    heddle_audit::verify_inclusion(
        &decode(&proof["leaf_hash"]),
        1,
        size,
        &path,
        &root_of(&proof["checkpoint"]),
    )
    .unwrap();

    // Consistency between the two checkpoints.
    let consistency = json(
        auditor(
            Method::GET,
            &format!("/v1/audit/proofs/consistency?from={old_size}&to={new_size}"),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let path: Vec<[u8; 32]> = consistency["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(decode)
        .collect();
    heddle_audit::verify_consistency(
        old_size,
        new_size,
        &root_of(&first),
        &root_of(&second),
        &path,
    )
    .unwrap();

    // Unknown event or checkpoint: 404 problems.
    expect_problem(
        auditor(Method::GET, "/v1/audit/proofs/inclusion?seq=999999")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_problem(
        auditor(Method::GET, "/v1/audit/proofs/consistency?from=1&to=999999")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn an_export_verifies_offline_and_tampering_is_caught() {
    let server = TestServer::start().await;
    for i in 0..4 {
        server
            .as_role(Role::Admin, Method::POST, "/v1/api-keys")
            .json(&serde_json::json!({"name": format!("e{i}"), "role": "viewer"}))
            .send()
            .await
            .unwrap();
    }
    let export = server
        .as_role(Role::ComplianceOfficer, Method::GET, "/v1/audit/export")
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let text = export.text().await.unwrap();
    let keys = json(
        server
            .as_role(
                Role::ComplianceOfficer,
                Method::GET,
                "/v1/audit/public-keys",
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let key =
        heddle_crypto::PublicKey::from_base64(keys[0]["public_key"].as_str().unwrap()).unwrap();
    let report = heddle_audit::verify_export(text.as_bytes(), Some(&key)).unwrap();
    assert!(report.events >= 10, "{report:?}");
    assert_eq!(
        report.unanchored(),
        0,
        "the export ends at a fresh checkpoint"
    );

    // One changed byte inside an event is caught and located.
    let tampered = text.replacen("\"name\":\"e2\"", "\"name\":\"e3\"", 1);
    assert_ne!(tampered, text);
    let failure = heddle_audit::verify_export(tampered.as_bytes(), Some(&key)).unwrap_err();
    assert!(failure.to_string().contains("seq"), "{failure}");
}

#[tokio::test]
async fn a_revoked_key_cannot_flood_the_audit_log() {
    let server = TestServer::start().await;
    let created = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/api-keys")
            .json(&serde_json::json!({"name": "leaked", "role": "viewer"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = created["key"]["id"].as_str().unwrap();
    let token = created["token"].as_str().unwrap();
    json(
        server
            .as_role(Role::Admin, Method::DELETE, &format!("/v1/api-keys/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    for _ in 0..5 {
        let response = server
            .request(Method::GET, "/v1/users/me")
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        expect_problem(response, 401).await;
    }
    let refusals = events(&server, "action=auth.api_key&outcome=denied").await;
    assert_eq!(refusals.len(), 1, "recorded once per minute per credential");
    assert_eq!(refusals[0]["event"]["details"]["reason"], "revoked");
    assert_eq!(refusals[0]["event"]["actor"]["id"], id);
}
