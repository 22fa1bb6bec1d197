//! MCP through the real binary: `heddle serve`'s streamable HTTP endpoint and `heddle mcp`
//! over stdio, driven by the official MCP Python SDK (PyPI `mcp`, `tests/python/
//! mcp_sdk_client.py`) — list tools, call one, a call that waits for an admin's approval and
//! its result afterwards — and `heddle mcp` spoken to directly: only protocol messages on
//! stdout, a clear refusal without a credential.
//!
//! The SDK test says why and passes when `python3 -c "import mcp"` fails, unless
//! `HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1` (CI sets it), in which case it fails.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{BIN, Server, heddle, login, run, stderr, stdout, temp_dir};

/// A rep who owns Alpine, and the back office's service user, who owns Cobalt.
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
users:
  - { id: 005000000000001, login: ana@acme.test, role: sales_rep, profile: rep }
  - { id: 005000000000004, profile: rep }
service_users:
  - { user: 005000000000004, justification: The back office renames accounts on request. }
"#;

const ACCOUNTS: &str = "Id,OwnerId,Name,Industry\n\
    001000000000001,005000000000001,Alpine,Retail\n\
    001000000000003,005000000000004,Cobalt,Finance\n";

const ACCOUNT: &str = "001000000000001";

/// `desk`: a service agent acting as the declared service user, for applications (API
/// keys); a read by id, a query bound to its own user id, and a rename an admin approves.
const AGENTS: [(&str, &str); 5] = [
    (
        "model.yaml",
        "api_version: heddle/v1
kind: ModelBinding
name: m
spec:
  provider: scripted
  model: scripted-e2e
  script:
    - text: unused
",
    ),
    (
        "desk.yaml",
        "api_version: heddle/v1
kind: Agent
name: desk
spec:
  kind: service
  identity:
    mode: service_user
    service_user: \"005000000000004AAA\"
    justification: The back office renames accounts on request.
  model: m
  system_prompt: unused
  capabilities: [show_account, list_owned_accounts, retitle_account]
",
    ),
    (
        "show.yaml",
        "api_version: heddle/v1
kind: Capability
name: show_account
spec:
  description: Show one account by its id.
  classification: { effect: read, data: public, audience: service }
  input_schema:
    type: object
    additionalProperties: false
    required: [account_id]
    properties:
      account_id: { type: string, pattern: \"^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\", maxLength: 18 }
  backend:
    records.get: { object: Account, record_id: \"{{account_id}}\", fields: [Name, Industry] }
",
    ),
    (
        "owned.yaml",
        "api_version: heddle/v1
kind: Capability
name: list_owned_accounts
spec:
  description: List the accounts the back office owns in one industry.
  classification: { effect: read, data: public, audience: service }
  input_schema:
    type: object
    additionalProperties: false
    required: [industry]
    properties:
      industry: { type: string, enum: [Retail, Finance] }
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
        "retitle.yaml",
        "api_version: heddle/v1
kind: Capability
name: retitle_account
spec:
  description: Rename one account.
  classification: { effect: write, data: public, audience: service }
  human_in_the_loop: approval
  approval: { approver_role: admin }
  input_schema:
    type: object
    additionalProperties: false
    required: [account_id, name]
    properties:
      account_id: { type: string, pattern: \"^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\", maxLength: 18 }
      name: { type: string, maxLength: 80 }
  backend:
    records.update: { object: Account, record_id: \"{{account_id}}\", fields: { Name: \"{{name}}\" } }
",
    ),
];

fn heddle_ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args, None);
    assert!(
        output.status.success(),
        "heddle {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// A database with the org, records and agents, and an operator API key; the admin's
/// password.
fn prepare(dir: &Path) -> (String, String) {
    let admin_password = {
        let server = Server::start(dir, &[], &[]);
        server.banner_value("password:").unwrap()
    };
    std::fs::write(dir.join("org.yaml"), ORG).unwrap();
    std::fs::write(dir.join("accounts.csv"), ACCOUNTS).unwrap();
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    for (name, text) in AGENTS {
        std::fs::write(agents.join(name), text).unwrap();
    }
    heddle_ok(dir, &["records", "apply", "-f", "org.yaml"]);
    heddle_ok(
        dir,
        &["records", "import", "--object", "Account", "accounts.csv"],
    );
    heddle_ok(dir, &["apply", "-f", "agents", "--env", "dev"]);
    let created = heddle_ok(
        dir,
        &[
            "keys",
            "create",
            "--name",
            "mcp client",
            "--role",
            "operator",
            "--json",
        ],
    );
    let key: Value = serde_json::from_str(created.trim()).unwrap();
    (admin_password, key["token"].as_str().unwrap().to_owned())
}

/// Whether the SDK can be used here; without it the test is skipped, unless CI requires it.
fn python_sdk_available() -> bool {
    let required = std::env::var("HEDDLE_TEST_REQUIRE_PYTHON_SDKS").is_ok_and(|v| v == "1");
    let found = Command::new("python3")
        .args(["-c", "import mcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            !required,
            "HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1 but `python3 -c \"import mcp\"` fails; \
             install it with `python3 -m pip install mcp==2.3.0`"
        );
        eprintln!(
            "skipped: the MCP Python SDK is not installed (python3 -m pip install mcp==2.3.0)"
        );
    }
    found
}

#[tokio::test]
async fn the_official_python_sdk_lists_calls_and_follows_an_approval_over_http_and_stdio() {
    if !python_sdk_available() {
        return;
    }
    let (_guard, dir) = temp_dir();
    let (admin_password, key) = prepare(&dir);
    let server = Server::start(&dir, &[], &[]);
    let admin = login(
        &server.base,
        "default",
        "admin@heddle.local",
        &admin_password,
    )
    .await;

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/mcp_sdk_client.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .env("HEDDLE_TEST_MCP_URL", server.url("/mcp/dev/desk"))
        .env("HEDDLE_TEST_MCP_KEY", &key)
        .env("HEDDLE_TEST_MCP_BASE", &server.base)
        .env("HEDDLE_TEST_MCP_ADMIN_TOKEN", &admin)
        .env("HEDDLE_TEST_MCP_BIN", BIN)
        .env("HEDDLE_TEST_MCP_DIR", &dir)
        .env("HEDDLE_TEST_MCP_ACCOUNT", ACCOUNT)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the SDK client failed:\n{report}\nserver logs:\n{}",
        server.logs()
    );
    eprintln!("{report}");
    for line in [
        "ok: streamable HTTP (auto",
        "ok: streamable HTTP (legacy",
        "ok: stdio",
    ] {
        assert!(report.contains(line), "{report}");
    }

    // What the SDK did is on record like any call: MCP sessions of the API key, each call an
    // execution, the approved rename run as the service user.
    let client = reqwest::Client::new();
    let sessions: Value = client
        .get(server.url("/v1/sessions?agent=desk"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = sessions["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{sessions}");
    assert!(
        items
            .iter()
            .all(|s| s["channel"] == "mcp" && s["principal_kind"] == "api_key"),
        "{sessions}"
    );
    let approvals: Value = client
        .get(server.url("/v1/approvals?status=completed"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        approvals["items"].as_array().map(Vec::len),
        Some(2),
        "one approved rename per HTTP mode: {approvals}"
    );
}

/// One JSON-RPC message on a line, as the stdio transport frames them.
fn send(stdin: &mut impl Write, message: &Value) {
    writeln!(stdin, "{message}").unwrap();
    stdin.flush().unwrap();
}

#[tokio::test]
async fn heddle_mcp_speaks_only_protocol_on_stdout_and_needs_a_credential() {
    let (_guard, dir) = temp_dir();
    let (_, key) = prepare(&dir);

    let refused = run(&dir, &["mcp", "--env", "dev", "--agent", "desk"], None);
    assert!(!refused.status.success());
    assert_eq!(stdout(&refused), "", "nothing but protocol on stdout");
    assert!(
        stderr(&refused).contains("HEDDLE_API_KEY"),
        "{}",
        stderr(&refused)
    );

    let mut child = heddle(&dir)
        .args(["mcp", "--env", "dev", "--agent", "desk"])
        .env("HEDDLE_API_KEY", &key)
        .env("HEDDLE_LOG__LEVEL", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "heddle-test", "version": "1"}
        }}),
    );
    let initialized: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        initialized["result"]["serverInfo"]["name"], "heddle",
        "{initialized}"
    );
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "show_account", "arguments": {"account_id": ACCOUNT}
        }}),
    );
    let shown: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        shown["result"]["structuredContent"]["record"]["fields"]["Name"], "Alpine",
        "{shown}"
    );
    drop(stdin);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    // Every line on stdout is a JSON-RPC message; the logs went to stderr.
    assert!(
        rest.iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok_and(|m| m["jsonrpc"] == "2.0")),
        "{rest:?}"
    );
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("serving MCP on stdio"), "{logs}");
    assert!(!logs.contains(&key), "the key is never logged");
}
