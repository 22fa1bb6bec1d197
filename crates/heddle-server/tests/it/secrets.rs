//! Secrets over HTTP: the lifecycle, what each role may do in each environment, validation
//! that never quotes a value back, audit events without values, and ciphertexts that do not
//! open anywhere but where they were sealed.

use heddle_crypto::{CryptoError, ExposeSecret};
use heddle_identity::{Caller, CreateSecret, CreateTenant, IdentityError, SecretValue};
use heddle_store::SecretRotation;
use heddle_types::{Environment, Role, SecretId, TenantId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, expect_problem, json};

/// A value unique to the test run, so finding it anywhere is proof of a leak.
fn canary(label: &str) -> String {
    format!("canary-{label}-{}", uuid::Uuid::now_v7().simple())
}

fn api_key_body(name: &str, environment: &str, key: &str) -> Value {
    json!({"name": name, "environment": environment, "secret": {"kind": "api_key", "key": key}})
}

async fn create(server: &TestServer, role: Role, body: &Value) -> reqwest::Response {
    server
        .as_role(role, Method::POST, "/v1/secrets")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn send_text(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_lifecycle_shows_metadata_and_masked_forms_only() {
    let server = TestServer::start().await;
    let first = canary("first");
    let second = canary("second");
    let created = json(
        create(
            &server,
            Role::Admin,
            &api_key_body("openai", "prod", &first),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["name"], "openai");
    assert_eq!(created["environment"], "prod");
    assert_eq!(created["kind"], "api_key");
    assert_eq!(created["version"], 1);
    let tail: String = first
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(created["masked"], format!("…{tail}"));
    assert!(created["created_by"].is_null(), "created with an API key");
    assert!(created.get("deleted_at").is_none());
    let mut keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "created_by",
            "environment",
            "id",
            "kind",
            "masked",
            "name",
            "tenant_id",
            "updated_at",
            "version"
        ]
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/secrets/{id}");

    let (status, body) = send_text(server.as_role(Role::Admin, Method::GET, &path)).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), created);
    assert!(!body.contains(&first));

    let (status, body) = send_text(server.as_role(Role::Admin, Method::GET, "/v1/secrets")).await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["items"], json!([created.clone()]));
    assert!(!body.contains(&first));

    let tenant_id: TenantId = created["tenant_id"].as_str().unwrap().parse().unwrap();
    let secret_id: SecretId = id.parse().unwrap();
    let revealed = server
        .identity
        .reveal_secret(tenant_id, secret_id)
        .await
        .unwrap();
    assert_eq!(revealed.primary().expose_secret(), first);

    let (status, body) = send_text(
        server
            .as_role(Role::Admin, Method::POST, &format!("{path}/rotate"))
            .json(&json!({"secret": {"kind": "api_key", "key": second}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(&second) && !body.contains(&first));
    let rotated: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rotated["version"], 2);
    assert_ne!(rotated["masked"], created["masked"]);
    assert_eq!(rotated["created_at"], created["created_at"]);
    let revealed = server
        .identity
        .reveal_secret(tenant_id, secret_id)
        .await
        .unwrap();
    assert_eq!(revealed.primary().expose_secret(), second);

    let deleted = json(
        server
            .as_role(Role::Admin, Method::DELETE, &path)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(deleted["id"], id.as_str());
    assert!(deleted["deleted_at"].is_string());
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::DELETE, ""),
        (Method::POST, "/rotate"),
    ] {
        let mut request = server.as_role(Role::Admin, method.clone(), &format!("{path}{suffix}"));
        if suffix == "/rotate" {
            request =
                request.json(&json!({"secret": {"kind": "api_key", "key": "another-value-1234"}}));
        }
        let problem = expect_problem(request.send().await.unwrap(), 404).await;
        assert_eq!(
            problem["type"], "urn:heddle:problem:not-found",
            "{method} {suffix}"
        );
    }
    let listed = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/secrets")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"], json!([]));
    assert!(matches!(
        server.identity.reveal_secret(tenant_id, secret_id).await,
        Err(IdentityError::NotFound { .. })
    ));

    // The name is free again once the secret is deleted.
    json(
        create(
            &server,
            Role::Admin,
            &api_key_body("openai", "prod", &canary("third")),
        )
        .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn every_kind_is_stored_and_masked() {
    let server = TestServer::start().await;
    let cases = [
        (
            json!({"kind": "oauth_client", "client_id": "crm-app", "client_secret": "cs-0123456789-wxyz",
                   "refresh_token": "rt-0123456789"}),
            "client_id=crm-app, client_secret=…wxyz",
        ),
        (
            json!({"kind": "database_credential", "username": "orders", "password": "pw-0123456789-q1w2",
                   "host": "db.internal", "database": "orders"}),
            "username=orders, host=db.internal, password=…q1w2",
        ),
        (
            json!({"kind": "database_credential", "username": "orders", "password": "short"}),
            "username=orders, password=…",
        ),
        (
            json!({"kind": "custom", "value": "whsec_0123456789abcdef"}),
            "…cdef",
        ),
    ];
    for (i, (secret, masked)) in cases.into_iter().enumerate() {
        let kind = secret["kind"].clone();
        let created = json(
            create(
                &server,
                Role::Admin,
                &json!({"name": format!("s{i}"), "environment": "staging", "secret": secret}),
            )
            .await,
            201,
        )
        .await;
        assert_eq!(created["kind"], kind);
        assert_eq!(created["masked"], masked);
    }
    // Filters narrow the list.
    let listed = json(
        server
            .as_role(
                Role::Admin,
                Method::GET,
                "/v1/secrets?environment=staging&kind=database_credential",
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let listed = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/secrets?environment=dev")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"], json!([]));
    let page = json(
        server
            .as_role(Role::Admin, Method::GET, "/v1/secrets?limit=3")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = json(
        server
            .as_role(
                Role::Admin,
                Method::GET,
                &format!("/v1/secrets?limit=3&after={next}"),
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none());
}

#[tokio::test]
async fn roles_and_environments_decide_who_may_touch_a_secret() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for environment in ["dev", "staging", "prod"] {
        let created = json(
            create(
                &server,
                Role::Admin,
                &api_key_body(
                    &format!("{environment}-key"),
                    environment,
                    &canary(environment),
                ),
            )
            .await,
            201,
        )
        .await;
        ids.push((environment, created["id"].as_str().unwrap().to_owned()));
    }

    // Builders: everything outside prod, nothing in it.
    for (environment, want) in [("dev", 201), ("staging", 201), ("prod", 403)] {
        let response = create(
            &server,
            Role::Builder,
            &api_key_body(&format!("builder-{environment}"), environment, &canary("b")),
        )
        .await;
        assert_eq!(
            response.status().as_u16(),
            want,
            "builder create in {environment}"
        );
    }
    for (environment, id) in &ids {
        let path = format!("/v1/secrets/{id}");
        let want = if *environment == "prod" { 403 } else { 200 };
        let get = server
            .as_role(Role::Builder, Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status().as_u16(), want, "builder get {environment}");
        let rotate = server
            .as_role(Role::Builder, Method::POST, &format!("{path}/rotate"))
            .json(&json!({"secret": {"kind": "api_key", "key": canary("rotated")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            rotate.status().as_u16(),
            want,
            "builder rotate {environment}"
        );
    }
    let listed = json(
        server
            .as_role(Role::Builder, Method::GET, "/v1/secrets")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let environments: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["environment"].as_str().unwrap())
        .collect();
    assert!(!environments.contains(&"prod"), "{environments:?}");
    assert_eq!(environments.len(), 4, "{environments:?}");
    let prod_only = json(
        server
            .as_role(Role::Builder, Method::GET, "/v1/secrets?environment=prod")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(prod_only["items"], json!([]));
    let (_, prod_id) = &ids[2];
    let problem = expect_problem(
        server
            .as_role(
                Role::Builder,
                Method::DELETE,
                &format!("/v1/secrets/{prod_id}"),
            )
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert_eq!(problem["type"], "urn:heddle:problem:forbidden");

    // Operators and compliance officers: metadata of every environment, no changes.
    for role in [Role::Operator, Role::ComplianceOfficer] {
        let listed = json(
            server
                .as_role(role, Method::GET, "/v1/secrets")
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 5, "{role}");
        let secret = json(
            server
                .as_role(role, Method::GET, &format!("/v1/secrets/{prod_id}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert!(secret["masked"].as_str().unwrap().starts_with('…'));
        for (environment, id) in &ids {
            let path = format!("/v1/secrets/{id}");
            let rotate = server
                .as_role(role, Method::POST, &format!("{path}/rotate"))
                .json(&json!({"secret": {"kind": "api_key", "key": canary("nope")}}))
                .send()
                .await
                .unwrap();
            expect_problem(rotate, 403).await;
            let delete = server
                .as_role(role, Method::DELETE, &path)
                .send()
                .await
                .unwrap();
            assert_eq!(delete.status().as_u16(), 403, "{role} delete {environment}");
        }
        let response = create(&server, role, &api_key_body("mine", "dev", &canary("o"))).await;
        expect_problem(response, 403).await;
    }

    // Viewers: nothing at all.
    let (_, dev_id) = &ids[0];
    for (method, path) in [
        (Method::GET, "/v1/secrets".to_owned()),
        (Method::GET, format!("/v1/secrets/{dev_id}")),
        (Method::DELETE, format!("/v1/secrets/{dev_id}")),
    ] {
        let response = server
            .as_role(Role::Viewer, method, &path)
            .send()
            .await
            .unwrap();
        expect_problem(response, 403).await;
    }
    let response = create(
        &server,
        Role::Viewer,
        &api_key_body("v", "dev", &canary("v")),
    )
    .await;
    expect_problem(response, 403).await;

    // Nothing changed for prod: the admin still sees version 1.
    let prod = json(
        server
            .as_role(Role::Admin, Method::GET, &format!("/v1/secrets/{prod_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(prod["version"], 1);
}

#[tokio::test]
async fn invalid_requests_are_problems_that_quote_no_value() {
    let server = TestServer::start().await;
    let leak = canary("invalid");
    let cases: Vec<(Value, u16, &str)> = vec![
        (api_key_body("", "dev", &leak), 422, "/name"),
        (api_key_body("has space", "dev", &leak), 422, "/name"),
        (
            api_key_body(&leak.replace('-', " "), "dev", &leak),
            422,
            "/name",
        ),
        (api_key_body("n", "production", &leak), 422, "/environment"),
        (api_key_body("n", "dev", "   "), 422, "/secret/key"),
        (
            api_key_body("n", "dev", &"k".repeat(16 * 1024 + 1)),
            422,
            "/secret/key",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": leak}),
            422,
            "/secret",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": {"kind": "password", "value": leak}}),
            422,
            "/secret",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": {"kind": "api_key", "key": leak, "note": leak}}),
            422,
            "/secret",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": {"kind": "api_key", "value": leak}}),
            422,
            "/secret",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": {"kind": "api_key", "key": [leak]}}),
            422,
            "/secret",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": {"kind": "oauth_client", "client_secret": leak}}),
            422,
            "/secret",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": {"kind": "oauth_client", "client_id": "", "client_secret": leak}}),
            422,
            "/secret/client_id",
        ),
        (
            json!({"name": "n", "environment": "dev", "secret": {"kind": "database_credential", "username": "u", "password": leak, "host": "a b"}}),
            422,
            "/secret/host",
        ),
        (
            json!({"name": "n", "environment": "dev", "extra": leak, "secret": {"kind": "custom", "value": leak}}),
            422,
            "/",
        ),
    ];
    for (body, status, pointer) in cases {
        let response = create(&server, Role::Admin, &body).await;
        let problem = expect_problem(response, status).await;
        let text = problem.to_string();
        assert!(!text.contains(&leak), "{text}");
        assert!(
            problem["errors"][0]["pointer"]
                .as_str()
                .unwrap()
                .starts_with(pointer),
            "{body}: {text}"
        );
    }
    // Malformed JSON around a secret.
    let response = server
        .as_role(Role::Admin, Method::POST, "/v1/secrets")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"name":"n","environment":"dev","secret":{{"kind":"api_key","key":"{leak}"}}"#
        ))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 400).await;
    assert!(!problem.to_string().contains(&leak));

    // A name taken in the environment is a conflict; rotating to another kind is refused.
    let created = json(
        create(
            &server,
            Role::Admin,
            &api_key_body("dup", "dev", &canary("d")),
        )
        .await,
        201,
    )
    .await;
    let problem = expect_problem(
        create(&server, Role::Admin, &api_key_body("dup", "dev", &leak)).await,
        409,
    )
    .await;
    assert_eq!(problem["type"], "urn:heddle:problem:conflict");
    assert!(!problem.to_string().contains(&leak));
    json(
        create(
            &server,
            Role::Admin,
            &api_key_body("dup", "prod", &canary("p")),
        )
        .await,
        201,
    )
    .await;
    let response = server
        .as_role(
            Role::Admin,
            Method::POST,
            &format!("/v1/secrets/{}/rotate", created["id"].as_str().unwrap()),
        )
        .json(&json!({"secret": {"kind": "custom", "value": leak}}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 422).await;
    assert_eq!(problem["errors"][0]["pointer"], "/secret/kind");
    assert!(!problem.to_string().contains(&leak));

    // Bad ids and queries.
    expect_problem(
        server
            .as_role(Role::Admin, Method::GET, "/v1/secrets/not-a-uuid")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_problem(
        server
            .as_role(
                Role::Admin,
                Method::GET,
                &format!("/v1/secrets/{}", SecretId::new()),
            )
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    for query in [
        "environment=production",
        "kind=password",
        "limit=0",
        "color=red",
    ] {
        expect_problem(
            server
                .as_role(Role::Admin, Method::GET, &format!("/v1/secrets?{query}"))
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
    }
}

#[tokio::test]
async fn changes_and_refusals_are_audited_without_values() {
    let server = TestServer::start().await;
    let value = canary("audited");
    let created = json(
        create(
            &server,
            Role::Builder,
            &api_key_body("stripe", "staging", &value),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    json(
        server
            .as_role(
                Role::Builder,
                Method::POST,
                &format!("/v1/secrets/{id}/rotate"),
            )
            .json(&json!({"secret": {"kind": "api_key", "key": canary("rotated")}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    json(
        server
            .as_role(Role::Admin, Method::DELETE, &format!("/v1/secrets/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let denied = create(
        &server,
        Role::Builder,
        &api_key_body("prod-key", "prod", &value),
    )
    .await;
    expect_problem(denied, 403).await;

    let (status, body) =
        send_text(server.as_role(Role::Admin, Method::GET, "/v1/audit/events?limit=500")).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains(&value),
        "a secret value reached the audit log"
    );
    let page: Value = serde_json::from_str(&body).unwrap();
    let events: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["event"])
        .filter(|event| event["action"].as_str().unwrap().starts_with("secret."))
        .collect();
    let find = |action: &str, outcome: &str| {
        events
            .iter()
            .find(|event| event["action"] == action && event["outcome"] == outcome)
            .copied()
            .unwrap_or_else(|| panic!("no {action} {outcome} event in {events:?}"))
    };
    for (action, version) in [
        ("secret.create", 1),
        ("secret.rotate", 2),
        ("secret.delete", 2),
    ] {
        let event = find(action, "success");
        assert_eq!(event["target"], json!({"kind": "secret", "id": id}));
        assert_eq!(event["environment"], "staging");
        assert_eq!(
            event["details"],
            json!({"name": "stripe", "kind": "api_key", "environment": "staging", "version": version})
        );
        assert_eq!(event["actor"]["kind"], "api_key");
    }
    let refused = find("secret.create", "denied");
    assert_eq!(refused["environment"], "prod");
    assert_eq!(refused["details"]["reason"], "forbidden:manage_secrets");
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_version_or_tenant_does_not_open() {
    let server = TestServer::start().await;
    let identity = &server.identity;
    let store = identity.store();
    let operator = Caller::local_operator();
    let home = identity.tenant_by_slug("default").await.unwrap().id;
    let other = identity
        .create_tenant(
            &operator,
            CreateTenant {
                slug: "globex".to_owned(),
                name: "Globex".to_owned(),
                admin_email: "admin@globex.io".to_owned(),
                admin_display_name: "Admin".to_owned(),
            },
        )
        .await
        .unwrap()
        .tenant
        .id;
    let make = |tenant_id: TenantId, name: &str, key: String| CreateSecret {
        tenant_id,
        environment: Environment::Dev,
        name: name.to_owned(),
        value: SecretValue::ApiKey { key: key.into() },
    };
    let a = identity
        .create_secret(&operator, make(home, "a", canary("a")))
        .await
        .unwrap();
    let b = identity
        .create_secret(&operator, make(home, "b", canary("b")))
        .await
        .unwrap();
    let c = identity
        .create_secret(&operator, make(other, "c", canary("c")))
        .await
        .unwrap();
    let (_, a_v1) = store.get_sealed_secret(home, a.id).await.unwrap();

    // Another row: a's ciphertext written into b (as an attacker with database access would).
    store
        .rotate_secret(
            home,
            b.id,
            SecretRotation {
                version: 2,
                sealed: a_v1.clone(),
                masked: b.masked.clone(),
                at: b.updated_at,
            },
            heddle_store_event(home),
        )
        .await
        .unwrap();
    assert_unsealable(identity.reveal_secret(home, b.id).await);

    // Another version: a rotated to v2, then its v1 ciphertext put back as v3.
    identity
        .rotate_secret(
            &operator,
            home,
            a.id,
            SecretValue::ApiKey {
                key: canary("a2").into(),
            },
        )
        .await
        .unwrap();
    assert!(identity.reveal_secret(home, a.id).await.is_ok());
    store
        .rotate_secret(
            home,
            a.id,
            SecretRotation {
                version: 3,
                sealed: a_v1.clone(),
                masked: a.masked.clone(),
                at: a.updated_at,
            },
            heddle_store_event(home),
        )
        .await
        .unwrap();
    assert_unsealable(identity.reveal_secret(home, a.id).await);

    // Another tenant: a's ciphertext written into c. Same data key version number, other key.
    store
        .rotate_secret(
            other,
            c.id,
            SecretRotation {
                version: 2,
                sealed: a_v1,
                masked: c.masked.clone(),
                at: c.updated_at,
            },
            heddle_store_event(other),
        )
        .await
        .unwrap();
    assert_unsealable(identity.reveal_secret(other, c.id).await);
    // And a secret id of one tenant does not resolve in another.
    assert!(matches!(
        identity.reveal_secret(other, a.id).await,
        Err(IdentityError::NotFound { .. })
    ));
}

fn assert_unsealable<T: std::fmt::Debug>(result: Result<T, IdentityError>) {
    match result {
        Err(IdentityError::Crypto(CryptoError::DecryptionFailed)) => {}
        other => panic!("expected the ciphertext not to open, got {other:?}"),
    }
}

/// The event a raw store write needs; its content does not matter here.
fn heddle_store_event(tenant_id: TenantId) -> heddle_store::NewAuditEvent {
    heddle_store::NewAuditEvent {
        tenant_id,
        canonical: format!(
            r#"{{"action":"test.tamper","marker":"{}"}}"#,
            uuid::Uuid::now_v7()
        )
        .into_bytes(),
        occurred_at: time::OffsetDateTime::now_utc(),
        action: "test.tamper".to_owned(),
        actor_kind: "system".to_owned(),
        actor_id: None,
        outcome: "success".to_owned(),
    }
}
