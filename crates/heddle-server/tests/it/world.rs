//! A world for HTTP tests of sessions and approvals: a small record org (two reps with
//! private accounts, a customer behind contact 1), agent configurations applied per test with
//! a scripted model playing the part of a (possibly hostile) model, and people logged in with
//! real access tokens.

use std::collections::HashMap;
use std::sync::Mutex;

use heddle_crypto::SecretString;
use heddle_identity::{Caller, CreateUser};
use heddle_records::RecordId;
use heddle_records::import::ImportRow;
use heddle_recordsource::{EmbeddedRecords, RecordSettings};
use heddle_server::config::{Config, QuotaConfig};
use heddle_types::Role;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::harness::{TestServer, json};

pub const PASSWORD: &str = "a long enough session password";
pub const ANA: &str = "ana@acme.test";
pub const BEN: &str = "ben@acme.test";
pub const IVY: &str = "ivy@customer.test";

pub fn id(prefix: &str, n: u64) -> String {
    RecordId::generate(prefix, n).unwrap().as_str().to_owned()
}

pub fn user_id(n: u64) -> String {
    id("005", n)
}

/// Two reps with private accounts, a customer who is contact 1.
pub fn org() -> Value {
    let rw = json!({"read": true, "edit": true});
    let r = json!({"read": true});
    json!({
        "roles": [{"id": "sales_rep"}],
        "profiles": [
            {
                "id": "rep",
                "objects": {
                    "Account": {"read": true, "create": true, "edit": true},
                    "Case": {"read": true}
                },
                "fields": {
                    "Account": {"Name": rw, "Industry": rw},
                    "Case": {"Subject": r, "Status": r, "ContactId": r}
                }
            },
            {
                "id": "customer",
                "objects": {"Case": {"read": true}},
                "fields": {"Case": {"Subject": r, "Status": r, "ContactId": r}}
            }
        ],
        "users": [
            {"id": user_id(1), "login": ANA, "role": "sales_rep", "profile": "rep"},
            {"id": user_id(2), "login": BEN, "role": "sales_rep", "profile": "rep"},
            {"id": user_id(3), "login": IVY, "profile": "customer",
             "kind": "customer", "contact_id": id("003", 1)}
        ]
    })
}

fn row(record: &str, owner: &str, fields: Value) -> ImportRow {
    ImportRow {
        id: Some(RecordId::parse(record).unwrap()),
        owner_id: heddle_records::UserId::new(owner),
        fields: serde_json::from_value(fields).unwrap(),
    }
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|line| format!("{pad}{line}\n")).collect()
}

/// The agent files: `rep_assistant` (employee) on binding `m` playing `rep_script`, with
/// `rep_extra` appended to its spec; `support` (service) on binding `s` playing
/// `support_script`.
pub fn files(rep_script: &str, rep_extra: &str, support_script: &str) -> Value {
    let binding = |name: &str, script: &str| {
        format!(
            "api_version: heddle/v1\nkind: ModelBinding\nname: {name}\nspec:\n  provider: scripted\n  model: scripted-test\n  script:\n{}",
            indent(script, 4)
        )
    };
    let documents = [
        ("model-m.yaml", binding("m", rep_script)),
        ("model-s.yaml", binding("s", support_script)),
        (
            "rep.yaml",
            format!(
                "api_version: heddle/v1
kind: Agent
name: rep_assistant
spec:
  kind: employee
  model: m
  system_prompt: Help reps with their own accounts.
  capabilities: [list_my_accounts, get_account, rename_account]
{rep_extra}"
            ),
        ),
        (
            "support.yaml",
            "api_version: heddle/v1
kind: Agent
name: support
spec:
  kind: service
  model: s
  system_prompt: Help customers with their support cases. Ask them to verify first.
  capabilities: [list_my_cases]
"
            .to_owned(),
        ),
        (
            "list.yaml",
            "api_version: heddle/v1
kind: Capability
name: list_my_accounts
spec:
  description: List the calling rep's accounts in one industry.
  classification: { effect: read, data: private, audience: employee }
  input_schema:
    type: object
    additionalProperties: false
    required: [industry]
    properties:
      industry: { type: string, enum: [Retail, Energy] }
  bound_inputs:
    owner: user_id
  backend:
    records.query:
      query:
        object: Account
        fields: [Name, Industry]
        filter:
          and:
            - { field: OwnerId, op: eq, value: \"{{owner}}\" }
            - { field: Industry, op: eq, value: \"{{industry}}\" }
        limit: 20
"
            .to_owned(),
        ),
        (
            "get.yaml",
            "api_version: heddle/v1
kind: Capability
name: get_account
spec:
  description: Show one account by its id.
  classification: { effect: read, data: private, audience: employee }
  input_schema:
    type: object
    additionalProperties: false
    required: [account_id]
    properties:
      account_id: { type: string, pattern: \"^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\", maxLength: 18 }
  backend:
    records.get: { object: Account, record_id: \"{{account_id}}\", fields: [Name, Industry] }
"
            .to_owned(),
        ),
        (
            "rename.yaml",
            "api_version: heddle/v1
kind: Capability
name: rename_account
spec:
  description: Rename one account.
  classification: { effect: write, data: private, audience: employee }
  human_in_the_loop: confirmation
  input_schema:
    type: object
    additionalProperties: false
    required: [account_id, name]
    properties:
      account_id: { type: string, pattern: \"^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\", maxLength: 18 }
      name: { type: string, maxLength: 80 }
  backend:
    records.update: { object: Account, record_id: \"{{account_id}}\", fields: { Name: \"{{name}}\" } }
"
            .to_owned(),
        ),
        (
            "cases.yaml",
            "api_version: heddle/v1
kind: Capability
name: list_my_cases
spec:
  description: List the verified customer's support cases with a given status.
  classification: { effect: read, data: private, audience: service }
  input_schema:
    type: object
    additionalProperties: false
    required: [status]
    properties:
      status: { type: string, enum: [New, Closed] }
  bound_inputs:
    customer: verified_customer_id
  backend:
    records.query:
      query:
        object: Case
        fields: [Subject, Status]
        filter:
          and:
            - { field: ContactId, op: eq, value: \"{{customer}}\" }
            - { field: Status, op: eq, value: \"{{status}}\" }
        limit: 20
"
            .to_owned(),
        ),
    ];
    json!({
        "files": documents
            .iter()
            .map(|(path, content)| json!({"path": path, "content": content}))
            .collect::<Vec<_>>()
    })
}

/// A script that is never played.
pub const UNUSED: &str = "- text: unused";

pub struct World {
    pub server: TestServer,
    tokens: Mutex<HashMap<String, String>>,
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let server = TestServer::start_with(|config| {
            // Several people log in per test.
            config.rate_limits.login = QuotaConfig {
                per_minute: 600,
                burst: 100,
            };
            configure(config);
        })
        .await;
        let tenant = server.identity.tenant_by_slug("default").await.unwrap().id;
        json(
            server
                .as_role(Role::Admin, Method::PUT, "/v1/record-org")
                .json(&json!({"config": org()}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        for email in [ANA, BEN] {
            server
                .identity
                .create_user(
                    &Caller::local_operator(),
                    CreateUser {
                        tenant_id: tenant,
                        email: email.to_owned(),
                        display_name: email.to_owned(),
                        role: Role::Operator,
                        password: Some(SecretString::from(PASSWORD.to_owned())),
                    },
                )
                .await
                .unwrap();
        }
        let records = EmbeddedRecords::new(server.identity.clone(), RecordSettings::default());
        let operator = Caller::local_operator();
        for (object, rows) in [
            (
                "Account",
                vec![
                    row(
                        &id("001", 1),
                        &user_id(1),
                        json!({"Name": "Alpine", "Industry": "Retail"}),
                    ),
                    row(
                        &id("001", 2),
                        &user_id(2),
                        json!({"Name": "Borealis", "Industry": "Retail"}),
                    ),
                ],
            ),
            (
                "Case",
                vec![
                    row(
                        &id("500", 1),
                        &user_id(1),
                        json!({"Subject": "Broken zipper", "Status": "New", "ContactId": id("003", 1)}),
                    ),
                    row(
                        &id("500", 2),
                        &user_id(1),
                        json!({"Subject": "Late delivery", "Status": "New", "ContactId": id("003", 2)}),
                    ),
                ],
            ),
        ] {
            records
                .import_records(&operator, tenant, object, rows)
                .await
                .unwrap();
        }
        Self {
            server,
            tokens: Mutex::default(),
        }
    }

    /// Applies the agent files to `dev`.
    pub async fn apply(&self, rep_script: &str, rep_extra: &str, support_script: &str) {
        self.apply_files(&files(rep_script, rep_extra, support_script))
            .await;
    }

    /// Applies a `{"files": [..]}` document (as [`files`] makes it) to `dev`.
    pub async fn apply_files(&self, files: &Value) {
        let applied = json(
            self.server
                .as_role(Role::Builder, Method::POST, "/v1/configs/dev")
                .json(files)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(applied["unchanged"], false, "{applied}");
    }

    /// A person's access token (logged in once per test).
    pub async fn token(&self, email: &str) -> String {
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

    pub async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let request = self.server.request(method, path).bearer_auth(token);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Response {
        self.send(token, Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.send(token, Method::GET, path, None).await
    }

    /// Opens a session with `agent` in `dev`.
    pub async fn session(&self, token: &str, agent: &str) -> String {
        let session = json(
            self.post(token, "/v1/sessions", json!({"agent": agent}))
                .await,
            201,
        )
        .await;
        assert_eq!(session["agent"], agent, "{session}");
        session["id"].as_str().unwrap().to_owned()
    }

    /// Sends a message and returns the turn's outcome.
    pub async fn say(&self, token: &str, session: &str, text: &str) -> Value {
        json(
            self.post(
                token,
                &format!("/v1/sessions/{session}/messages"),
                json!({"content": text}),
            )
            .await,
            200,
        )
        .await
    }

    /// The execution of a turn, as an admin reads it.
    pub async fn execution(&self, outcome: &Value) -> Value {
        let path = format!(
            "/v1/executions/{}",
            outcome["execution_id"].as_str().unwrap()
        );
        json(
            self.server
                .as_role(Role::Admin, Method::GET, &path)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    }
}

pub fn kinds(execution: &Value) -> Vec<&str> {
    execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect()
}

/// The `detail` of every step of `kind`, in order.
pub fn details<'a>(execution: &'a Value, kind: &str) -> Vec<&'a Value> {
    execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == kind)
        .map(|s| &s["detail"])
        .collect()
}

pub fn detail_text(problem: &Value) -> &str {
    problem["detail"].as_str().unwrap()
}
