//! The runtime through a real `heddle serve`: the org, records and agents set up with the CLI
//! (`records apply`, `records import`, `apply --env dev`), a rep's turn that calls a
//! capability as her, its execution record, and a customer verified on a support channel by
//! a code that travels over SMTP (to a fake server on loopback) before a private capability
//! runs as that customer.

use std::path::Path;

use heddle_testkit::FakeSmtp;
use serde_json::{Value, json};

use crate::harness::{Server, login, run, stderr, stdout, temp_dir};

const ORG: &str = r#"
roles:
  - id: sales_rep
profiles:
  - id: rep
    objects:
      Account: { read: true, create: true, edit: true }
    fields:
      Account:
        Name: { read: true, edit: true }
        Industry: { read: true, edit: true }
  - id: customer
    objects:
      Case: { read: true }
    fields:
      Case:
        Subject: { read: true }
        Status: { read: true }
        ContactId: { read: true }
users:
  - { id: 005000000000001, login: ana@acme.test, role: sales_rep, profile: rep }
  - { id: 005000000000002, login: ben@acme.test, role: sales_rep, profile: rep }
  - { id: 005000000000003, login: ivy@customer.test, profile: customer, kind: customer, contact_id: 003000000000001 }
"#;

const ACCOUNTS: &str = "Id,OwnerId,Name,Industry\n\
    001000000000001,005000000000001,Alpine,Retail\n\
    001000000000002,005000000000002,Borealis,Retail\n";

const CASES: &str = "Id,OwnerId,Subject,Status,ContactId\n\
    500000000000001,005000000000002,Broken zipper,New,003000000000001\n\
    500000000000002,005000000000002,Late delivery,New,003000000000002\n";

const AGENTS: [(&str, &str); 6] = [
    (
        "model-rep.yaml",
        "api_version: heddle/v1
kind: ModelBinding
name: rep_model
spec:
  provider: scripted
  model: scripted-e2e
  script:
    - tool_calls:
        - name: list_my_accounts
          arguments: { industry: Retail }
    - expect:
        last_tool_result_contains: Alpine
        last_tool_result_excludes: Borealis
      text: You have one Retail account, Alpine.
",
    ),
    (
        "model-support.yaml",
        "api_version: heddle/v1
kind: ModelBinding
name: support_model
spec:
  provider: scripted
  model: scripted-e2e
  script:
    - tool_calls:
        - name: list_my_cases
          arguments: { status: New }
    - expect:
        last_tool_result_contains: Broken zipper
        last_tool_result_excludes: Late delivery
      text: You have one new case, Broken zipper.
",
    ),
    (
        "rep.yaml",
        "api_version: heddle/v1
kind: Agent
name: rep_assistant
spec:
  kind: employee
  model: rep_model
  system_prompt: Help reps with their own accounts.
  capabilities: [list_my_accounts]
",
    ),
    (
        "support.yaml",
        "api_version: heddle/v1
kind: Agent
name: support
spec:
  kind: service
  model: support_model
  system_prompt: Help customers with their support cases. Ask them to verify first.
  capabilities: [list_my_cases]
",
    ),
    (
        "list-accounts.yaml",
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
",
    ),
    (
        "list-cases.yaml",
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
",
    ),
];

/// Runs a `heddle` command that must succeed, returning what it printed.
fn heddle_ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args, None);
    assert!(
        output.status.success(),
        "heddle {args:?} failed:\n{}",
        stderr(&output)
    );
    stdout(&output)
}

/// Sends a request and returns the status and JSON body.
async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn kinds(execution: &Value) -> Vec<&str> {
    execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect()
}

fn tool_results(execution: &Value) -> Vec<&Value> {
    execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "tool_result")
        .map(|s| &s["detail"])
        .collect()
}

#[tokio::test]
async fn a_served_runtime_runs_turns_as_the_caller_and_verifies_customers_by_mail() {
    let smtp = FakeSmtp::start().await.unwrap();
    let (_guard, dir) = temp_dir();

    // First start: a database and its admin. Then the org, records and agents by the CLI.
    let admin_password = {
        let server = Server::start(&dir, &[], &[]);
        server.banner_value("password:").unwrap()
    };
    std::fs::write(dir.join("org.yaml"), ORG).unwrap();
    std::fs::write(dir.join("accounts.csv"), ACCOUNTS).unwrap();
    std::fs::write(dir.join("cases.csv"), CASES).unwrap();
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    for (name, text) in AGENTS {
        std::fs::write(agents.join(name), text).unwrap();
    }
    heddle_ok(&dir, &["records", "apply", "-f", "org.yaml"]);
    heddle_ok(
        &dir,
        &["records", "import", "--object", "Account", "accounts.csv"],
    );
    heddle_ok(
        &dir,
        &["records", "import", "--object", "Case", "cases.csv"],
    );
    let applied = heddle_ok(&dir, &["apply", "-f", "agents", "--env", "dev"]);
    assert!(applied.contains("dev: applied version 1"), "{applied}");

    // Serve again, mailing codes through the fake SMTP server.
    let port = smtp.port().to_string();
    let server = Server::start(
        &dir,
        &[],
        &[
            ("HEDDLE_MAIL__TRANSPORT", "smtp"),
            ("HEDDLE_MAIL__HOST", "127.0.0.1"),
            ("HEDDLE_MAIL__PORT", &port),
            ("HEDDLE_MAIL__TLS", "none"),
            (
                "HEDDLE_MAIL__FROM",
                "Northwind support <no-reply@northwind.test>",
            ),
            (
                "HEDDLE_RUNTIME__VERIFICATION_SENDER_NAME",
                "Northwind support",
            ),
        ],
    );
    let client = reqwest::Client::new();
    let admin = login(
        &server.base,
        "default",
        "admin@heddle.local",
        &admin_password,
    )
    .await;
    let (status, created) = call(
        client
            .post(server.url("/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({
                "email": "ana@acme.test",
                "display_name": "Ana",
                "role": "operator",
                "password": "a long enough e2e password"
            })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, key) = call(
        client
            .post(server.url("/v1/api-keys"))
            .bearer_auth(&admin)
            .json(&json!({"name": "support channel", "role": "operator"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let channel = key["token"].as_str().unwrap().to_owned();
    let ana = login(
        &server.base,
        "default",
        "ana@acme.test",
        "a long enough e2e password",
    )
    .await;

    // A rep's turn: the capability runs as Ana and sees only her account.
    let (status, session) = call(
        client
            .post(server.url("/v1/sessions"))
            .bearer_auth(&ana)
            .json(&json!({"agent": "rep_assistant"})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let session_id = session["id"].as_str().unwrap();
    let question = "Which Retail accounts are mine?";
    let (status, outcome) = call(
        client
            .post(server.url(&format!("/v1/sessions/{session_id}/messages")))
            .bearer_auth(&ana)
            .json(&json!({"content": question})),
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["status"], "completed", "{outcome}");
    assert_eq!(outcome["reply"], "You have one Retail account, Alpine.");
    let execution_path = format!(
        "/v1/executions/{}",
        outcome["execution_id"].as_str().unwrap()
    );
    let (status, execution) =
        call(client.get(server.url(&execution_path)).bearer_auth(&admin)).await;
    assert_eq!(status, 200, "{execution}");
    assert_eq!(
        kinds(&execution),
        [
            "status",
            "user_message",
            "model_request",
            "model_response",
            "tool_call",
            "policy_decision",
            "tool_result",
            "model_request",
            "model_response",
            "status"
        ]
    );
    let result = tool_results(&execution)[0];
    assert_eq!(result["ok"], true, "{result}");
    let ids = result["record_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{result}");
    assert!(
        ids[0].as_str().unwrap().starts_with("001000000000001"),
        "{result}"
    );
    assert!(execution["input_tokens"].as_i64().unwrap() > 0);
    assert!(!execution.to_string().contains(question), "{execution}");

    // A support channel: the customer verifies by a code sent over SMTP.
    let (status, session) = call(
        client
            .post(server.url("/v1/sessions"))
            .bearer_auth(&channel)
            .json(&json!({"agent": "support"})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let base = format!("/v1/sessions/{}", session["id"].as_str().unwrap());
    let (status, started) = call(
        client
            .post(server.url(&format!("{base}/verification")))
            .bearer_auth(&channel)
            .json(&json!({"email": "ivy@customer.test"})),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["sent_to"], "i***@customer.test");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "one code was mailed");
    let mail = &messages[0];
    assert_eq!(mail.recipients, ["ivy@customer.test"]);
    assert_eq!(mail.mail_from, "no-reply@northwind.test");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your Northwind support verification code")
    );
    let body = mail.body();
    let code: String = body
        .split_once("code is ")
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert_eq!(code.len(), 6, "{body}");

    let confirm = server.url(&format!("{base}/verification/confirm"));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, problem) = call(
        client
            .post(&confirm)
            .bearer_auth(&channel)
            .json(&json!({"code": wrong})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("4 attempt(s) left"),
        "{problem}"
    );
    let (status, verified) = call(
        client
            .post(&confirm)
            .bearer_auth(&channel)
            .json(&json!({"code": code})),
    )
    .await;
    assert_eq!((status, verified), (200, json!({"verified": true})));

    // The private capability now runs as Ivy: her case, not another customer's.
    let (status, outcome) = call(
        client
            .post(server.url(&format!("{base}/messages")))
            .bearer_auth(&channel)
            .json(&json!({"content": "What are my open cases?"})),
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(
        outcome["reply"], "You have one new case, Broken zipper.",
        "{outcome}"
    );
    let (status, execution) = call(
        client
            .get(server.url(&format!(
                "/v1/executions/{}",
                outcome["execution_id"].as_str().unwrap()
            )))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, 200, "{execution}");
    let result = tool_results(&execution)[0];
    let ids = result["record_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{result}");
    assert!(
        ids[0].as_str().unwrap().starts_with("500000000000001"),
        "{result}"
    );

    // Neither the code nor what people said reached the logs.
    let logs = server.logs();
    assert!(!logs.contains(&format!("is {code}")), "{logs}");
    assert!(!logs.contains(question), "{logs}");
}
