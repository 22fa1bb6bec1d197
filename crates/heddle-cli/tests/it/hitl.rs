//! Human in the loop through the real binary: an approved action runs exactly once whatever
//! point its process is SIGKILLed at (the test-only failpoints of `heddle-runtime`), once a
//! restarted `heddle serve` takes it up; a rejected one never runs; and two processes on one
//! PostgreSQL database, both with their action worker on, run each approved action once.
//!
//! The capability creates an Account, so running an action twice would leave two records
//! behind. Each action's effect is also keyed in `action_effects` by the action's id, and the
//! database says how many times an action was claimed (`attempts`).
//!
//! A runner's lease lasts two minutes. Where a process died holding one, the test first shows
//! that the live lease keeps the action from running again, then moves the lease's end into
//! the past in the database, as those two minutes would, instead of waiting them out.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::harness::{Server, login, temp_dir};

const ANA: &str = "ana@acme.test";
const ANA_PASSWORD: &str = "a long enough hitl password";
/// The action worker looks every second.
const WORKER_EVERY_SECOND: (&str, &str) = ("HEDDLE_RUNTIME__ACTION_WORKER_INTERVAL_SECS", "1");

/// Ana, a rep who may create accounts.
fn org() -> Value {
    json!({
        "roles": [{"id": "sales_rep"}],
        "profiles": [{
            "id": "rep",
            "objects": {"Account": {"read": true, "create": true, "edit": true}},
            "fields": {"Account": {"Name": {"read": true, "edit": true}}}
        }],
        "users": [
            {"id": "005000000000001", "login": ANA, "role": "sales_rep", "profile": "rep"}
        ]
    })
}

/// An agent whose model asks to create an account named `name`, which needs an admin's
/// approval.
fn agent_files(name: &str) -> Value {
    let documents = [
        (
            "model.yaml",
            format!(
                "api_version: heddle/v1
kind: ModelBinding
name: m
spec:
  provider: scripted
  model: scripted-e2e
  script:
    - tool_calls:
        - name: create_account
          arguments: {{ name: \"{name}\" }}
    - text: Created.
"
            ),
        ),
        (
            "agent.yaml",
            "api_version: heddle/v1
kind: Agent
name: rep_assistant
spec:
  kind: employee
  model: m
  system_prompt: Help reps with their accounts.
  capabilities: [create_account]
"
            .to_owned(),
        ),
        (
            "create.yaml",
            "api_version: heddle/v1
kind: Capability
name: create_account
spec:
  description: Create an account owned by the rep.
  classification: { effect: write, data: private, audience: employee }
  human_in_the_loop: approval
  approval: { approver_role: admin }
  input_schema:
    type: object
    additionalProperties: false
    required: [name]
    properties:
      name: { type: string, maxLength: 80 }
  backend:
    records.create: { object: Account, fields: { Name: \"{{name}}\" } }
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

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The tenant as the tests use it: an admin and Ana, logged in. Access tokens live in the
/// database, so they outlive the process that issued them.
struct Tenant {
    client: reqwest::Client,
    admin: String,
    ana: String,
}

impl Tenant {
    /// Applies the record org, adds Ana and logs both in.
    async fn set_up(server: &Server, admin_password: &str) -> Self {
        let client = reqwest::Client::new();
        let admin = login(
            &server.base,
            "default",
            "admin@heddle.local",
            admin_password,
        )
        .await;
        let (status, body) = call(
            client
                .put(server.url("/v1/record-org"))
                .bearer_auth(&admin)
                .json(&json!({"config": org()})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(
            client
                .post(server.url("/v1/users"))
                .bearer_auth(&admin)
                .json(&json!({
                    "email": ANA, "display_name": "Ana", "role": "operator", "password": ANA_PASSWORD
                })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let ana = login(&server.base, "default", ANA, ANA_PASSWORD).await;
        Self { client, admin, ana }
    }

    /// Applies the agent creating accounts named `name` as the next `dev` version.
    async fn apply(&self, server: &Server, name: &str) {
        let (status, body) = call(
            self.client
                .post(server.url("/v1/configs/dev"))
                .bearer_auth(&self.admin)
                .json(&agent_files(name)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Ana asks in a new session; returns the id of the action waiting for approval.
    async fn ask(&self, server: &Server) -> String {
        let (status, session) = call(
            self.client
                .post(server.url("/v1/sessions"))
                .bearer_auth(&self.ana)
                .json(&json!({"agent": "rep_assistant"})),
        )
        .await;
        assert_eq!(status, 201, "{session}");
        let path = format!("/v1/sessions/{}/messages", session["id"].as_str().unwrap());
        let (status, outcome) = call(
            self.client
                .post(server.url(&path))
                .bearer_auth(&self.ana)
                .json(&json!({"content": "Create the account, please."})),
        )
        .await;
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["status"], "awaiting_approval", "{outcome}");
        outcome["pending_action"]["id"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/approvals/{id}/{verb}` as the admin.
    fn decide(
        &self,
        server: &Server,
        id: &str,
        verb: &str,
        body: Value,
    ) -> reqwest::RequestBuilder {
        self.client
            .post(server.url(&format!("/v1/approvals/{id}/{verb}")))
            .bearer_auth(&self.admin)
            .timeout(Duration::from_secs(60))
            .json(&body)
    }

    async fn action(&self, server: &Server, id: &str) -> Value {
        let (status, view) = call(
            self.client
                .get(server.url(&format!("/v1/approvals/{id}")))
                .bearer_auth(&self.admin),
        )
        .await;
        assert_eq!(status, 200, "{view}");
        view
    }

    /// Polls the action until it has `status`.
    async fn wait_for(&self, server: &Server, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let view = self.action(server, id).await;
            if view["status"] == status {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "the action never became {status}: {view}\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls a turn's execution until it completed.
    async fn wait_for_execution(&self, server: &Server, execution_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, execution) = call(
                self.client
                    .get(server.url(&format!("/v1/executions/{execution_id}")))
                    .bearer_auth(&self.admin),
            )
            .await;
            assert_eq!(status, 200, "{execution}");
            if execution["status"] == "completed" {
                return execution;
            }
            assert!(Instant::now() < deadline, "{execution}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The accounts named `name`, as Ana (who owns what the agent creates) sees them.
    async fn accounts_named(&self, server: &Server, name: &str) -> Vec<Value> {
        let (status, result) = call(
            self.client
                .post(server.url("/v1/records/Account/query"))
                .bearer_auth(&self.ana)
                .json(&json!({"filter": {"field": "Name", "op": "eq", "value": name}})),
        )
        .await;
        assert_eq!(status, 200, "{result}");
        result["records"].as_array().unwrap().clone()
    }

    /// Audit events with `action`, optionally only those about `target`.
    async fn events(&self, server: &Server, action: &str, target: Option<&str>) -> Vec<Value> {
        let (status, page) = call(
            self.client
                .get(server.url(&format!("/v1/audit/events?action={action}&limit=500")))
                .bearer_auth(&self.admin),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| target.is_none_or(|id| e["event"]["target"]["id"] == id))
            .cloned()
            .collect()
    }
}

/// The approval request sent before a kill: cut off when its own handler reached the
/// failpoint, or answered 200 when A's worker had claimed the action first (and stopped at
/// the failpoint instead). Never an error answer.
async fn answered_or_cut_off(
    approving: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    if let Ok(response) = approving.await.unwrap() {
        assert_eq!(response.status().as_u16(), 200);
    }
}

/// What the database holds about an action: its status, how many runners claimed it, and
/// how many effects were applied under its id.
#[derive(Debug, PartialEq)]
struct Stored {
    status: String,
    attempts: i64,
    effects: i64,
}

/// The embedded SQLite database of `dir` (the server may be running: WAL, busy timeout).
async fn sqlite(dir: &Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("heddle-data").join("heddle.db"))
        .busy_timeout(Duration::from_secs(5));
    sqlx::SqlitePool::connect_with(options).await.unwrap()
}

async fn stored_in_sqlite(dir: &Path, id: &str) -> Stored {
    let pool = sqlite(dir).await;
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    let (status, attempts): (String, i64) =
        sqlx::query_as("SELECT status, attempts FROM pending_actions WHERE id = $1")
            .bind(uuid)
            .fetch_one(&pool)
            .await
            .unwrap();
    let effects: i64 =
        sqlx::query_scalar("SELECT count(*) FROM action_effects WHERE idempotency_key = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    Stored {
        status,
        attempts,
        effects,
    }
}

/// Moves the end of the lease a dead runner holds on `id` ten minutes into the past.
async fn expire_lease_in_sqlite(dir: &Path, id: &str) {
    let pool = sqlite(dir).await;
    let updated = sqlx::query(
        "UPDATE pending_actions SET lease_expires_at = lease_expires_at - 600000000 \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(uuid::Uuid::parse_str(id).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    pool.close().await;
}

/// Where the process dies, what the database holds then, and how many claims it takes.
struct Crash {
    point: &'static str,
    /// Status and effects at the crash.
    status_at_crash: &'static str,
    effects_at_crash: i64,
    /// Claims once completed: a second one means a new process took over a dead one's lease.
    attempts: i64,
    /// Whether the turn ends with the model's answer after the restart (the new process
    /// hands the result to the turn that waited for it, wherever the old one died).
    turn_resumes_after_restart: bool,
}

const CRASHES: [Crash; 4] = [
    Crash {
        point: "before_claim",
        status_at_crash: "approved",
        effects_at_crash: 0,
        attempts: 1,
        turn_resumes_after_restart: true,
    },
    Crash {
        point: "after_claim",
        status_at_crash: "running",
        effects_at_crash: 0,
        attempts: 2,
        turn_resumes_after_restart: true,
    },
    Crash {
        point: "after_effect",
        status_at_crash: "running",
        effects_at_crash: 1,
        attempts: 2,
        turn_resumes_after_restart: true,
    },
    Crash {
        point: "after_finish",
        status_at_crash: "completed",
        effects_at_crash: 1,
        attempts: 1,
        turn_resumes_after_restart: true,
    },
];

#[tokio::test]
async fn an_approved_action_runs_exactly_once_wherever_its_process_is_killed() {
    let (_guard, dir) = temp_dir();
    let armed = |point: &'static str| [("HEDDLE_TEST_FAILPOINT", point), WORKER_EVERY_SECOND];
    let mut server = Server::start(&dir, &[], &armed(CRASHES[0].point));
    let admin_password = server.banner_value("password:").unwrap();
    let tenant = Tenant::set_up(&server, &admin_password).await;

    for (done, crash) in CRASHES.iter().enumerate() {
        let point = crash.point;
        if done > 0 {
            server = Server::start(&dir, &[], &armed(point));
        }
        let name = format!("Created at {point}");
        tenant.apply(&server, &name).await;
        let id = tenant.ask(&server).await;

        // The approval runs the action before it answers; the process stops at the
        // failpoint and is killed there.
        let approving = tokio::spawn(tenant.decide(&server, &id, "approve", json!({})).send());
        server
            .wait_for_log(
                &format!("heddle-failpoint {point}"),
                1,
                Duration::from_secs(30),
            )
            .await;
        server.kill9();
        answered_or_cut_off(approving).await;
        let at_crash = stored_in_sqlite(&dir, &id).await;
        assert_eq!(
            (at_crash.status.as_str(), at_crash.effects),
            (crash.status_at_crash, crash.effects_at_crash),
            "{point}: {at_crash:?}"
        );

        // A new process, without the failpoint, on the same data.
        server = Server::start(&dir, &[], &[WORKER_EVERY_SECOND]);
        if crash.status_at_crash == "running" {
            // The dead runner's lease is live: nobody runs the action meanwhile.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            assert_eq!(tenant.action(&server, &id).await["status"], "running");
            assert_eq!(stored_in_sqlite(&dir, &id).await.attempts, 1);
            expire_lease_in_sqlite(&dir, &id).await;
        }
        let action = tenant.wait_for(&server, &id, "completed").await;

        // Exactly one record, the one the action reports.
        let accounts = tenant.accounts_named(&server, &name).await;
        assert_eq!(accounts.len(), 1, "{point}: {accounts:?}");
        assert_eq!(action["result"]["ok"], true, "{point}: {action}");
        assert_eq!(
            action["result"]["record_ids"],
            json!([accounts[0]["id"]]),
            "{point}: {action}"
        );
        assert!(action["decided_by"].as_str().unwrap().starts_with("user:"));
        let stored = stored_in_sqlite(&dir, &id).await;
        assert_eq!(
            stored,
            Stored {
                status: "completed".to_owned(),
                attempts: crash.attempts,
                effects: 1,
            },
            "{point}"
        );
        for audited in ["action.request", "action.approve", "action.complete"] {
            assert_eq!(
                tenant.events(&server, audited, Some(&id)).await.len(),
                1,
                "{point}: {audited}"
            );
        }
        assert!(
            tenant
                .events(&server, "action.fail", Some(&id))
                .await
                .is_empty()
        );
        // One record per action so far, across every crash.
        assert_eq!(
            tenant.events(&server, "record.create", None).await.len(),
            done + 1,
            "{point}"
        );
        if crash.turn_resumes_after_restart {
            let execution = tenant
                .wait_for_execution(&server, action["execution_id"].as_str().unwrap())
                .await;
            let results: Vec<&Value> = execution["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["kind"] == "tool_result")
                .collect();
            assert_eq!(results.len(), 1, "{point}: {execution}");
            assert_eq!(results[0]["detail"]["action_id"], id.as_str());
        }
        if done + 1 < CRASHES.len() {
            server.terminate();
            assert!(server.wait().success());
        }
    }

    // A rejected action never runs, however often the worker looks.
    tenant.apply(&server, "Rejected").await;
    let id = tenant.ask(&server).await;
    let (status, rejected) =
        call(tenant.decide(&server, &id, "reject", json!({"comment": "Not this one."}))).await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["action"]["status"], "rejected");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let view = tenant.action(&server, &id).await;
    assert_eq!(view["status"], "rejected", "{view}");
    assert_eq!(view["comment"], "Not this one.");
    assert!(view["result"].is_null());
    assert!(tenant.accounts_named(&server, "Rejected").await.is_empty());
    assert_eq!(stored_in_sqlite(&dir, &id).await.effects, 0);
    assert!(
        tenant
            .events(&server, "action.complete", Some(&id))
            .await
            .is_empty()
    );
    let (status, _) = call(tenant.decide(&server, &id, "approve", json!({}))).await;
    assert_eq!(status, 409);
    assert_eq!(
        tenant.events(&server, "record.create", None).await.len(),
        CRASHES.len()
    );
}

/// Status, claims and lease owner of an action in PostgreSQL.
async fn action_row(pool: &sqlx::PgPool, id: uuid::Uuid) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT status, attempts, lease_owner FROM pending_actions WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Two servers on one fresh PostgreSQL schema, sharing a master key, workers every second.
fn start_pair(dir: &Path, url: &str, master_key: &str) -> (Server, Server) {
    let env = [
        ("HEDDLE_DATABASE_URL", url),
        ("HEDDLE_MASTER_KEY", master_key),
        WORKER_EVERY_SECOND,
    ];
    let first = Server::start(dir, &[], &env);
    let second = Server::start(dir, &[], &env);
    (first, second)
}

#[tokio::test]
async fn two_processes_on_one_postgres_run_each_approved_action_once() {
    let Some(url) = crate::postgres::fresh_database_url().await else {
        return;
    };
    let (_guard, dir) = temp_dir();
    let master_key = heddle_crypto::MasterKey::generate().unwrap().to_encoded();
    let (mut a, b) = start_pair(&dir, &url, &master_key);
    let admin_password = a
        .banner_value("password:")
        .or_else(|| b.banner_value("password:"))
        .unwrap();
    let tenant = Tenant::set_up(&a, &admin_password).await;
    tenant.apply(&a, "Raced").await;

    // Four actions, each approved through both processes at once while both workers run:
    // one decision wins, the other is refused, and each action runs once.
    let mut ids = Vec::new();
    for n in 0..4 {
        let server = if n % 2 == 0 { &a } else { &b };
        ids.push(tenant.ask(server).await);
    }
    let decisions = ids.iter().flat_map(|id| {
        [&a, &b].map(|server| call(tenant.decide(server, id, "approve", json!({}))))
    });
    let answers = join_all(decisions).await;
    for (id, pair) in ids.iter().zip(answers.chunks(2)) {
        let mut statuses: Vec<u16> = pair.iter().map(|(status, _)| *status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{id}: {pair:?}");
        let (_, refused) = pair.iter().find(|(status, _)| *status == 409).unwrap();
        assert_eq!(refused["type"], "urn:heddle:problem:refused", "{refused}");
    }
    let mut created = Vec::new();
    for id in &ids {
        let server = if created.len() % 2 == 0 { &b } else { &a };
        let action = tenant.wait_for(server, id, "completed").await;
        assert_eq!(action["result"]["ok"], true, "{action}");
        created.push(
            action["result"]["record_ids"][0]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let accounts = tenant.accounts_named(&b, "Raced").await;
    let mut found: Vec<String> = accounts
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    created.sort();
    assert_eq!(found, created, "one record per action, each its own");
    for id in &ids {
        assert_eq!(
            tenant.events(&a, "action.complete", Some(id)).await.len(),
            1
        );
    }
    assert_eq!(tenant.events(&a, "record.create", None).await.len(), 4);

    // A dies right after the effect of an action it claimed. B's worker leaves it alone
    // while A's lease lasts, then takes it over and finishes it without running it again.
    a.kill9();
    let mut a = Server::start(
        &dir,
        &[],
        &[
            ("HEDDLE_DATABASE_URL", url.as_str()),
            ("HEDDLE_MASTER_KEY", master_key.as_str()),
            ("HEDDLE_TEST_FAILPOINT", "after_effect"),
            WORKER_EVERY_SECOND,
        ],
    );
    tenant.apply(&a, "Taken over").await;
    // B's worker may claim the action between A's decision and A's claim (a window of
    // milliseconds against its one-second tick); then it simply runs it, once, and the
    // test asks again.
    let mut held_by_a = None;
    let mut asked = 0;
    for _ in 0..5 {
        let id = tenant.ask(&a).await;
        asked += 1;
        let approving = tokio::spawn(tenant.decide(&a, &id, "approve", json!({})).send());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if a.logs().contains("heddle-failpoint after_effect") {
                held_by_a = Some((id.clone(), approving));
                break;
            }
            let view = tenant.action(&b, &id).await;
            if view["status"] == "completed" {
                break;
            }
            assert!(Instant::now() < deadline, "{view}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if held_by_a.is_some() {
            break;
        }
    }
    let (id, approving) = held_by_a.expect("A never claimed an action itself");
    a.kill9();
    answered_or_cut_off(approving).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    let (status, attempts, dead_owner) = action_row(&pool, uuid).await;
    assert_eq!((status.as_str(), attempts), ("running", 1));
    let effects: i64 =
        sqlx::query_scalar("SELECT count(*) FROM action_effects WHERE idempotency_key = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(effects, 1, "A applied the effect before it died");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(tenant.action(&b, &id).await["status"], "running");
    let updated = sqlx::query(
        "UPDATE pending_actions SET lease_expires_at = lease_expires_at - interval '10 minutes' \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(uuid)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    let action = tenant.wait_for(&b, &id, "completed").await;
    let (status, attempts, owner) = action_row(&pool, uuid).await;
    assert_eq!((status.as_str(), attempts), ("completed", 2));
    assert_ne!(owner, dead_owner, "B finished it");
    pool.close().await;
    // One record per action asked for (B ran any it got first), the taken-over one among them.
    let accounts = tenant.accounts_named(&b, "Taken over").await;
    assert_eq!(accounts.len(), asked, "{accounts:?}");
    let record = action["result"]["record_ids"][0].clone();
    assert_eq!(
        accounts.iter().filter(|r| r["id"] == record).count(),
        1,
        "{action}"
    );
    assert_eq!(
        tenant.events(&b, "record.create", None).await.len(),
        ids.len() + asked
    );
    assert_eq!(
        tenant.events(&b, "action.complete", Some(&id)).await.len(),
        1
    );
}
