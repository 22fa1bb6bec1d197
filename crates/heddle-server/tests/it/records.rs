//! The record API as people of a small org: sharing, field-level security, writes in strict
//! and partial mode, customers, refusals, and system mode marked in the audit log.

use heddle_crypto::SecretString;
use heddle_identity::{Caller, CreateUser};
use heddle_records::RecordId;
use heddle_records::config::OrgConfig;
use heddle_records::import::ImportRow;
use heddle_recordsource::{EmbeddedRecords, RecordError, RecordSettings, RecordSource};
use heddle_store::AuditFilter;
use heddle_types::{Role, TenantId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, expect_problem, json};

const PASSWORD: &str = "a long enough demo password";

fn id(prefix: &str, n: u64) -> String {
    RecordId::generate(prefix, n).unwrap().as_str().to_owned()
}

fn user_id(n: u64) -> String {
    id("005", n)
}

/// Two reps under a VP, a customer linked to contact 1, and a service user.
fn org() -> Value {
    let rw = json!({"read": true, "edit": true});
    let r = json!({"read": true});
    json!({
        "roles": [{"id": "sales_vp"}, {"id": "sales_rep", "parent": "sales_vp"}],
        "profiles": [
            {
                "id": "rep",
                "objects": {
                    "Account": {"read": true, "create": true, "edit": true, "delete": true},
                    "Case": {"read": true}
                },
                "fields": {
                    "Account": {"Name": rw, "Industry": rw, "Phone": r},
                    "Case": {"Subject": r, "Status": r, "ContactId": r}
                }
            },
            {
                "id": "customer",
                "objects": {"Case": {"read": true, "create": true}, "Contact": {"read": true}},
                "fields": {
                    "Case": {"Subject": rw, "Status": r, "ContactId": rw},
                    "Contact": {"LastName": r}
                }
            }
        ],
        "users": [
            {"id": user_id(1), "login": "vp@acme.test", "role": "sales_vp", "profile": "rep"},
            {"id": user_id(2), "login": "ana@acme.test", "role": "sales_rep", "profile": "rep"},
            {"id": user_id(3), "login": "ben@acme.test", "role": "sales_rep", "profile": "rep"},
            {"id": user_id(4), "login": "ivy@customer.test", "profile": "customer",
             "kind": "customer", "contact_id": id("003", 1)},
            {"id": user_id(5), "profile": "rep"}
        ],
        "service_users": [
            {"user": user_id(5), "justification": "Nightly ERP sync updates accounts as itself"}
        ]
    })
}

fn row(id: &str, owner: &str, fields: Value) -> ImportRow {
    ImportRow {
        id: Some(RecordId::parse(id).unwrap()),
        owner_id: heddle_records::UserId::new(owner),
        fields: serde_json::from_value(fields).unwrap(),
    }
}

struct World {
    server: TestServer,
    records: EmbeddedRecords,
    tenant: TenantId,
    a1: String,
    a2: String,
    k1: String,
    k2: String,
    /// Logins are rate limited: one token per person per test.
    tokens: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl World {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let tenant = server.identity.tenant_by_slug("default").await.unwrap().id;
        let records = EmbeddedRecords::new(server.identity.clone(), RecordSettings::default());
        let admin = server.key(Role::Admin).to_owned();
        let applied = json(
            server
                .request(Method::PUT, "/v1/record-org")
                .bearer_auth(&admin)
                .json(&json!({"config": org()}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(applied["version"], 1);
        for email in [
            "vp@acme.test",
            "ana@acme.test",
            "ben@acme.test",
            "ivy@customer.test",
        ] {
            server
                .identity
                .create_user(
                    &Caller::local_operator(),
                    CreateUser {
                        tenant_id: tenant,
                        email: email.to_owned(),
                        display_name: email.to_owned(),
                        role: Role::Viewer,
                        password: Some(SecretString::from(PASSWORD.to_owned())),
                    },
                )
                .await
                .unwrap();
        }
        let (a1, a2) = (id("001", 1), id("001", 2));
        let (c1, c2) = (id("003", 1), id("003", 2));
        let (k1, k2) = (id("500", 1), id("500", 2));
        let operator = Caller::local_operator();
        let imports = [
            (
                "Account",
                vec![
                    row(
                        &a1,
                        &user_id(2),
                        json!({"Name": "Alpine", "Phone": "555-0100", "AnnualRevenue": 5_000_000}),
                    ),
                    row(
                        &a2,
                        &user_id(3),
                        json!({"Name": "Borealis", "AnnualRevenue": 7_000_000}),
                    ),
                ],
            ),
            (
                "Contact",
                vec![
                    row(
                        &c1,
                        &user_id(2),
                        json!({"LastName": "Chen", "AccountId": a1}),
                    ),
                    row(
                        &c2,
                        &user_id(3),
                        json!({"LastName": "Diaz", "AccountId": a2}),
                    ),
                ],
            ),
            (
                "Case",
                vec![
                    row(
                        &k1,
                        &user_id(3),
                        json!({"Subject": "Broken zipper", "Status": "New", "ContactId": c1}),
                    ),
                    row(
                        &k2,
                        &user_id(3),
                        json!({"Subject": "Late delivery", "Status": "New", "ContactId": c2}),
                    ),
                ],
            ),
        ];
        for (object, rows) in imports {
            records
                .import_records(&operator, tenant, object, rows)
                .await
                .unwrap();
        }
        Self {
            server,
            records,
            tenant,
            a1,
            a2,
            k1,
            k2,
            tokens: std::sync::Mutex::default(),
        }
    }

    async fn token(&self, email: &str) -> String {
        if let Some(token) = self.tokens.lock().unwrap().get(email) {
            return token.clone();
        }
        let token =
            json(self.server.login("default", email, PASSWORD).await, 200).await["access_token"]
                .as_str()
                .unwrap()
                .to_owned();
        self.tokens
            .lock()
            .unwrap()
            .insert(email.to_owned(), token.clone());
        token
    }

    /// A request as a person of the org, with an optional JSON body.
    async fn call(
        &self,
        email: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let token = self.token(email).await;
        let request = self.server.request(method, path).bearer_auth(token);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.server
            .request(Method::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

fn ids(page: &Value) -> Vec<&str> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_rep_sees_their_own_account_and_their_manager_sees_both() {
    let w = World::start().await;
    let ana = w.token("ana@acme.test").await;
    let get = |token: &str, id: &str| {
        w.server
            .request(Method::GET, &format!("/v1/records/Account/{id}"))
            .bearer_auth(token.to_owned())
            .send()
    };
    let own = json(get(&ana, &w.a1).await.unwrap(), 200).await;
    assert_eq!(own["fields"]["Name"], "Alpine");
    // No FLS read on AnnualRevenue: removed and named, never returned.
    assert!(own["fields"].get("AnnualRevenue").is_none(), "{own}");
    assert_eq!(own["removed_fields"], json!(["AnnualRevenue"]));
    expect_problem(get(&ana, &w.a2).await.unwrap(), 404).await;

    let vp = w.token("vp@acme.test").await;
    assert_eq!(
        json(get(&vp, &w.a2).await.unwrap(), 200).await["fields"]["Name"],
        "Borealis"
    );
    let list = json(w.get_as(&vp, "/v1/records/Account").await, 200).await;
    assert_eq!(ids(&list), vec![w.a1.as_str(), w.a2.as_str()]);
    let list = json(w.get_as(&ana, "/v1/records/Account").await, 200).await;
    assert_eq!(ids(&list), vec![w.a1.as_str()]);
}

#[tokio::test]
async fn filtering_or_sorting_on_an_unreadable_field_is_refused() {
    let w = World::start().await;
    for body in [
        json!({"filter": {"field": "AnnualRevenue", "op": "gt", "value": 1}}),
        json!({"order_by": [{"field": "AnnualRevenue", "direction": "desc"}]}),
        json!({"fields": ["AnnualRevenue"]}),
    ] {
        let problem = expect_problem(
            w.call(
                "ana@acme.test",
                Method::POST,
                "/v1/records/Account/query",
                Some(body),
            )
            .await,
            422,
        )
        .await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("AnnualRevenue"),
            "{problem}"
        );
    }
    let vp_sees = json(
        w.call(
            "vp@acme.test",
            Method::POST,
            "/v1/records/Account/query",
            Some(json!({"filter": {"field": "Name", "op": "starts_with", "value": "Bor"}})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ids(&vp_sees), vec![w.a2.as_str()]);
}

#[tokio::test]
async fn writes_refuse_uneditable_fields_or_drop_them_in_partial_mode() {
    let w = World::start().await;
    let path = format!("/v1/records/Account/{}", w.a1);
    // Phone is read-only for reps: strict mode refuses the whole write and names the field.
    let problem = expect_problem(
        w.call(
            "ana@acme.test",
            Method::PATCH,
            &path,
            Some(json!({"fields": {"Phone": "555-0199", "Industry": "Retail"}})),
        )
        .await,
        403,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("`Phone`"),
        "{problem}"
    );
    let unchanged = json(w.call("ana@acme.test", Method::GET, &path, None).await, 200).await;
    assert_eq!(unchanged["fields"]["Phone"], "555-0100");
    assert!(unchanged["fields"].get("Industry").is_none());

    let partial = json(
        w.call(
            "ana@acme.test",
            Method::PATCH,
            &path,
            Some(json!({"fields": {"Phone": "555-0199", "Industry": "Retail"}, "mode": "partial"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(partial["dropped_fields"], json!(["Phone"]));
    assert_eq!(partial["record"]["fields"]["Industry"], "Retail");
    assert_eq!(partial["record"]["fields"]["Phone"], "555-0100");

    // A bad value is refused without quoting it.
    let problem = expect_problem(
        w.call(
            "ana@acme.test",
            Method::PATCH,
            &path,
            Some(json!({"fields": {"Industry": "secret-value-7"}})),
        )
        .await,
        422,
    )
    .await;
    assert!(!problem.to_string().contains("secret-value-7"), "{problem}");

    let created = json(
        w.call(
            "ana@acme.test",
            Method::POST,
            "/v1/records/Account",
            Some(json!({"fields": {"Name": "Cirrus"}})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["record"]["owner_id"], user_id(2));
    assert!(created["record"]["id"].as_str().unwrap().starts_with("001"));
    // A peer's account does not exist for her, for deletes too.
    expect_problem(
        w.call(
            "ana@acme.test",
            Method::DELETE,
            &format!("/v1/records/Account/{}", w.a2),
            None,
        )
        .await,
        404,
    )
    .await;
    // Audit events name the fields written and dropped, never a value.
    let events = w
        .server
        .identity
        .list_audit_events(&Caller::local_operator(), w.tenant, &AuditFilter::default())
        .await
        .unwrap();
    let texts: Vec<String> = events
        .iter()
        .filter_map(|e| e.canonical.as_deref())
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let update = texts
        .iter()
        .find(|t| t.contains("\"record.update\"") && t.contains("\"success\""))
        .expect("a recorded update");
    assert!(
        update.contains("\"dropped_fields\":[\"Phone\"]"),
        "{update}"
    );
    for text in &texts {
        for value in ["555-0199", "secret-value-7", "Cirrus", "Retail"] {
            assert!(!text.contains(value), "{value} in {text}");
        }
    }
    let own_new = format!(
        "/v1/records/Account/{}",
        created["record"]["id"].as_str().unwrap()
    );
    let deleted = w
        .call("ana@acme.test", Method::DELETE, &own_new, None)
        .await;
    assert_eq!(deleted.status().as_u16(), 204);
}

#[tokio::test]
async fn a_customer_sees_only_their_own_cases_whatever_id_they_ask_for() {
    let w = World::start().await;
    let ivy = w.token("ivy@customer.test").await;
    let list = json(w.get_as(&ivy, "/v1/records/Case").await, 200).await;
    assert_eq!(ids(&list), vec![w.k1.as_str()]);
    expect_problem(
        w.get_as(&ivy, &format!("/v1/records/Case/{}", w.k2)).await,
        404,
    )
    .await;
    let objects = json(w.get_as(&ivy, "/v1/objects").await, 200).await;
    let names: Vec<&str> = objects["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["api_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Contact", "Case"]);
}

#[tokio::test]
async fn api_keys_unmapped_people_and_malformed_ids_get_clear_refusals() {
    let w = World::start().await;
    let problem = expect_problem(
        w.server
            .as_role(Role::Admin, Method::GET, "/v1/objects")
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert_eq!(problem["type"], "urn:heddle:problem:forbidden");
    let admin = json(
        w.server
            .login(
                "default",
                crate::harness::ADMIN_EMAIL,
                crate::harness::ADMIN_PASSWORD,
            )
            .await,
        200,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let problem = expect_problem(w.get_as(&admin, "/v1/objects").await, 403).await;
    assert_eq!(problem["type"], "urn:heddle:problem:no-record-identity");
    let problem = expect_problem(
        w.call(
            "ana@acme.test",
            Method::GET,
            "/v1/records/Account/001-not-an-id",
            None,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(problem["type"], "urn:heddle:problem:invalid-record-id");
}

#[tokio::test]
async fn an_invalid_org_is_refused_with_every_problem_and_only_admins_apply() {
    let w = World::start().await;
    let mut bad = org();
    bad["users"][1]["role"] = json!("no_such_role");
    bad["users"][2]["profile"] = json!("no_such_profile");
    let problem = expect_problem(
        w.server
            .as_role(Role::Admin, Method::PUT, "/v1/record-org")
            .json(&json!({"expected_version": 1, "config": bad}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"users[1].role"), "{problem}");
    assert!(pointers.contains(&"users[2].profile"), "{problem}");
    // A stale version is a conflict, not an overwrite.
    expect_problem(
        w.server
            .as_role(Role::Admin, Method::PUT, "/v1/record-org")
            .json(&json!({"config": org()}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    expect_problem(
        w.server
            .as_role(Role::Builder, Method::PUT, "/v1/record-org")
            .json(&json!({"expected_version": 1, "config": org()}))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    let read = json(
        w.server
            .as_role(Role::Builder, Method::GET, "/v1/record-org")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(read["expected_version"], 1);
    let round_trip: OrgConfig = serde_json::from_value(read["config"].clone()).unwrap();
    assert_eq!(round_trip.users.len(), 5);
}

#[tokio::test]
async fn system_mode_is_only_for_service_users_and_is_marked_in_the_audit_log() {
    let w = World::start().await;
    let operator = Caller::local_operator();
    let not_a_service_user = heddle_records::UserId::new(user_id(2));
    let refused = w
        .records
        .system_actor(&operator, w.tenant, &not_a_service_user)
        .await
        .unwrap_err();
    assert!(matches!(refused, RecordError::Invalid(_)), "{refused:?}");

    let service = heddle_records::UserId::new(user_id(5));
    let actor = w
        .records
        .system_actor(&operator, w.tenant, &service)
        .await
        .unwrap();
    let query: heddle_records::query::RecordQuery =
        serde_json::from_value(json!({"object": "Account", "fields": ["Name", "AnnualRevenue"]}))
            .unwrap();
    let page = w.records.query(&actor, &query).await.unwrap();
    // No sharing, no FLS: both accounts, revenue included.
    assert_eq!(page.records.len(), 2);
    assert!(
        page.records
            .iter()
            .all(|r| r.fields.contains_key("AnnualRevenue"))
    );

    let events = w
        .server
        .identity
        .list_audit_events(
            &operator,
            w.tenant,
            &AuditFilter {
                action: Some("record.query".to_owned()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let event: Value =
        serde_json::from_slice(events.last().unwrap().canonical.as_deref().unwrap()).unwrap();
    assert_eq!(event["actor"]["identity_mode"], "service_user", "{event}");
    assert_eq!(
        event["details"]["justification"],
        "Nightly ERP sync updates accounts as itself"
    );
    assert_eq!(event["details"]["org_user"], user_id(5));
}
