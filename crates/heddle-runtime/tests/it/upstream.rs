//! The MCP gateway's service functions on both store engines, against the official Python
//! SDK's MCPServer over stdio: pins written with their audit events, Cedar on approval and
//! on calls, a vault secret reaching the child's environment, calls audited without values.
//! And over streamable HTTP: refused on loopback unless the server opts in, the bearer
//! secret opened from the vault and sent, never shown. Skipped without the SDK unless
//! `HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1` (CI sets it).

use std::process::{Command, Stdio};

use heddle_identity::IdentityError;
use heddle_runtime::{RuntimeError, RuntimeSettings, UpstreamCall, UpstreamReach};
use heddle_store::AuditFilter;
use heddle_types::{Environment, Role};
use serde_json::json;

use crate::harness::World;

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::harness::World::start().await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(world) = crate::harness::World::postgres().await {
                        super::$name(world).await;
                    }
                }
            }
        )*
    };
}

on_both_engines!(
    approvals_and_calls_are_authorized_pinned_and_audited,
    personal_data_is_redacted_or_refused_and_audited_by_kind,
);

const ADMIN: &str = "admin@acme.test";

const SCRIPT: &str = r#"
import os
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("files")

@mcp.tool(name="read_file", description="Read a file under docs/.")
def read_file(path: str) -> str:
    return "contents of " + path + " with " + os.environ.get("FILES_TOKEN", "no token")

mcp.run("stdio")
"#;

fn python() -> Option<String> {
    let required = std::env::var("HEDDLE_TEST_REQUIRE_PYTHON_SDKS").is_ok_and(|v| v == "1");
    let found = Command::new("python3")
        .args(["-c", "import mcp, sys; print(sys.executable)"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if found.is_none() {
        assert!(
            !required,
            "HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1 but `python3 -c \"import mcp\"` fails"
        );
        eprintln!("skipped: the MCP Python SDK is not installed");
    }
    found
}

async fn audit(world: &World, action: &str) -> Vec<String> {
    world.identity.audit_log().flush().await.unwrap();
    let mut out = Vec::new();
    for _ in 0..50 {
        out = world
            .identity
            .store()
            .list_audit_events(
                world.tenant,
                &AuditFilter {
                    action: Some(action.to_owned()),
                    ..AuditFilter::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| e.canonical.map(|c| String::from_utf8(c).unwrap()))
            .collect();
        if !out.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    out
}

async fn approvals_and_calls_are_authorized_pinned_and_audited(world: World) {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("files_server.py");
    std::fs::write(&script, SCRIPT).unwrap();
    world
        .store_api_key_secret("files_token", "vault-held-token")
        .await;
    let server = format!(
        "api_version: heddle/v1
kind: McpServer
name: files
spec:
  transport:
    stdio:
      command: {python}
      args: [{}]
      env:
        FILES_TOKEN: {{ secret: files_token }}
  allow: [read_file]
  timeout_seconds: 20
",
        script.display()
    );
    world.apply(&[("files.yaml", server)]).await;
    let (env, name) = (Environment::Dev, "files");
    let admin = world.person(ADMIN).await;
    let operator = world.api_key(Role::Operator).await;
    let viewer = world.api_key(Role::Viewer).await;

    let view = world
        .runtime
        .mcp_server_tools(&admin, world.tenant, env, name)
        .await
        .unwrap();
    assert!(view.exposed.is_empty());
    let fingerprint = view.withheld[0]["fingerprint"].as_str().unwrap().to_owned();

    // Only admins approve; a stale fingerprint is refused.
    let forbidden = world
        .runtime
        .approve_mcp_tool(
            &operator,
            world.tenant,
            env,
            name,
            "read_file",
            &fingerprint,
        )
        .await;
    assert!(
        matches!(
            forbidden,
            Err(RuntimeError::Identity(IdentityError::Forbidden { .. }))
        ),
        "{forbidden:?}"
    );
    let stale = world
        .runtime
        .approve_mcp_tool(
            &admin,
            world.tenant,
            env,
            name,
            "read_file",
            &"0".repeat(64),
        )
        .await;
    assert!(matches!(stale, Err(RuntimeError::Refused(_))), "{stale:?}");
    world
        .runtime
        .approve_mcp_tool(&admin, world.tenant, env, name, "read_file", &fingerprint)
        .await
        .unwrap();
    let pins = world
        .identity
        .store()
        .list_mcp_pins(world.tenant, env, name)
        .await
        .unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(pins[0].fingerprint, fingerprint);
    assert!(
        pins[0].approved_by.starts_with("user:"),
        "{}",
        pins[0].approved_by
    );

    // Operators call; viewers may not.
    let outcome = world
        .runtime
        .call_upstream_tool(
            &operator,
            world.tenant,
            env,
            name,
            "read_file",
            json!({"path": "docs/a.md"}),
        )
        .await
        .unwrap();
    let UpstreamCall::Result(result) = outcome else {
        panic!("a result expected: {outcome:?}");
    };
    let text = result.to_string();
    assert!(text.contains("contents of docs/a.md"), "{text}");
    assert!(
        text.contains("vault-held-token"),
        "the vault secret reached the child"
    );
    let refused = world
        .runtime
        .call_upstream_tool(&viewer, world.tenant, env, name, "read_file", json!({}))
        .await;
    assert!(
        matches!(
            refused,
            Err(RuntimeError::Identity(IdentityError::Forbidden { .. }))
        ),
        "{refused:?}"
    );

    let approved = audit(&world, "mcp.tool.approved").await;
    assert_eq!(approved.len(), 1);
    assert!(approved[0].contains(&fingerprint));
    let calls = audit(&world, "mcp.tool.call").await;
    assert!(calls.iter().any(|c| c.contains("\"success\"")), "{calls:?}");
    assert!(calls.iter().any(|c| c.contains("\"denied\"")), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| !c.contains("docs/a.md") && !c.contains("vault-held-token")),
        "no values in audit events"
    );

    world
        .runtime
        .revoke_mcp_tool(&admin, world.tenant, env, name, "read_file")
        .await
        .unwrap();
    assert!(
        world
            .identity
            .store()
            .list_mcp_pins(world.tenant, env, name)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit(&world, "mcp.tool.revoked").await.len(), 1);
}

const CONTACTS_SCRIPT: &str = r#"
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("contacts")

@mcp.tool(name="find_contact", description="Find a contact by a search text.")
def find_contact(query: str) -> dict[str, str]:
    return {
        "name": "Ana Lopez",
        "email": "ana.lopez@example.com",
        "phone": "+1 415 555 0134",
        "card": "4111 1111 1111 1111",
    }

mcp.run("stdio")
"#;

const CONTACT_VALUES: [&str; 3] = [
    "ana.lopez@example.com",
    "415 555 0134",
    "4111 1111 1111 1111",
];

/// The `pii` object of a call's audit event, wherever the canonical form nests the details.
fn pii_of(canonical: &str) -> serde_json::Value {
    fn find(value: &serde_json::Value) -> Option<&serde_json::Value> {
        let object = value.as_object()?;
        object.get("pii").or_else(|| object.values().find_map(find))
    }
    let event: serde_json::Value = serde_json::from_str(canonical).unwrap();
    find(&event).cloned().unwrap_or_default()
}

async fn personal_data_is_redacted_or_refused_and_audited_by_kind(world: World) {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("contacts_server.py");
    std::fs::write(&script, CONTACTS_SCRIPT).unwrap();
    // Two servers over the same program: one redacts results, one refuses personal data.
    let document = |name: &str, action: &str| {
        format!(
            "api_version: heddle/v1
kind: McpServer
name: {name}
spec:
  transport:
    stdio:
      command: {python}
      args: [{}]
  allow: [find_contact]
  timeout_seconds: 20
  trust:
    pii: {{ action: {action} }}
",
            script.display()
        )
    };
    world
        .apply(&[
            ("redacting.yaml", document("redacting", "redact")),
            ("blocking.yaml", document("blocking", "block")),
        ])
        .await;
    let env = Environment::Dev;
    let admin = world.person(ADMIN).await;
    let operator = world.api_key(Role::Operator).await;
    for server in ["redacting", "blocking"] {
        let view = world
            .runtime
            .mcp_server_tools(&admin, world.tenant, env, server)
            .await
            .unwrap();
        let fingerprint = view.withheld[0]["fingerprint"].as_str().unwrap().to_owned();
        world
            .runtime
            .approve_mcp_tool(
                &admin,
                world.tenant,
                env,
                server,
                "find_contact",
                &fingerprint,
            )
            .await
            .unwrap();
    }

    // Redact: the client sees placeholders, in the text and the structured content.
    let outcome = world
        .runtime
        .call_upstream_tool(
            &operator,
            world.tenant,
            env,
            "redacting",
            "find_contact",
            json!({"query": "Ana"}),
        )
        .await
        .unwrap();
    let UpstreamCall::Result(result) = outcome else {
        panic!("a result expected: {outcome:?}");
    };
    let text = result.to_string();
    assert!(
        CONTACT_VALUES.iter().all(|value| !text.contains(value)),
        "{text}"
    );
    assert!(text.contains("<EMAIL_1>"), "{text}");
    assert_eq!(result["structuredContent"]["card"], "<CREDIT_CARD_1>");

    // Block: arguments carrying an address never reach the upstream.
    let outcome = world
        .runtime
        .call_upstream_tool(
            &operator,
            world.tenant,
            env,
            "blocking",
            "find_contact",
            json!({"query": "ana.lopez@example.com"}),
        )
        .await
        .unwrap();
    let UpstreamCall::Refused { stage, reason } = outcome else {
        panic!("a refusal expected: {outcome:?}");
    };
    assert_eq!(stage, "arguments");
    assert!(reason.contains("pii:EMAIL"), "{reason}");

    // The events carry kinds and counts, never values.
    let calls = audit(&world, "mcp.tool.call").await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        assert!(
            CONTACT_VALUES.iter().all(|value| !call.contains(value)),
            "a value in {call}"
        );
    }
    let redacted = calls
        .iter()
        .map(|c| pii_of(c))
        .find(|pii| pii["handling"] == "redact")
        .expect("the redacting call's event");
    assert_eq!(redacted["redacted"], true);
    for kind in ["EMAIL", "PHONE", "CREDIT_CARD"] {
        assert!(
            redacted["result"][kind].as_u64().is_some_and(|n| n >= 1),
            "{kind}: {redacted}"
        );
    }
    let blocked = calls
        .iter()
        .map(|c| pii_of(c))
        .find(|pii| pii["handling"] == "block")
        .expect("the blocking call's event");
    assert_eq!(blocked["arguments"], json!({"EMAIL": 1}));
    assert_eq!(blocked["result"], json!({}));
}

/// MCPServer over streamable HTTP on `argv[1]`, refusing any request without
/// `Authorization: Bearer $TOKEN` (and echoing what it got, as a careless server might).
const HTTP_SCRIPT: &str = r#"
import os, sys
import uvicorn
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("files")
TOKEN = os.environ["TOKEN"]

@mcp.tool(name="read_file", description="Read a file under docs/.")
def read_file(path: str) -> str:
    return "contents of " + path

app = mcp.streamable_http_app()

async def guarded(scope, receive, send):
    if scope["type"] == "http":
        got = dict(scope["headers"]).get(b"authorization", b"")
        if got != ("Bearer " + TOKEN).encode():
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"refused " + got})
            return
    await app(scope, receive, send)

uvicorn.run(guarded, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"#;

const BEARER: &str = "vault-held-bearer-8812";

async fn http_upstream(python: &str, script: &std::path::Path) -> (tokio::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .env("TOKEN", BEARER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, port);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the Python MCP server did not listen on {port}");
}

fn http_server_config(name: &str, port: u16, secret: &str) -> String {
    format!(
        "api_version: heddle/v1
kind: McpServer
name: {name}
spec:
  transport:
    http: {{ url: \"http://127.0.0.1:{port}/mcp?tenant=query-value\", bearer_secret: {secret} }}
  allow: [read_file]
  timeout_seconds: 20
"
    )
}

/// On SQLite only: what differs from stdio is the connection, not the store.
#[tokio::test]
async fn an_http_upstream_is_refused_on_loopback_by_default_and_reached_with_the_opt_in() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("files_http_server.py");
    std::fs::write(&script, HTTP_SCRIPT).unwrap();
    let (_child, port) = http_upstream(&python, &script).await;
    let env = Environment::Dev;

    // Default settings: the SSRF rules refuse the loopback address, and say what to set.
    let world = World::start().await;
    world.store_api_key_secret("files_bearer", BEARER).await;
    world
        .apply(&[(
            "files.yaml",
            http_server_config("files", port, "files_bearer"),
        )])
        .await;
    let admin = world.person(ADMIN).await;
    let refused = world
        .runtime
        .mcp_server_tools(&admin, world.tenant, env, "files")
        .await
        .unwrap_err();
    let RuntimeError::Unavailable(message) = &refused else {
        panic!("unavailable expected: {refused:?}");
    };
    assert!(message.contains("loopback"), "{message}");
    assert!(
        message.contains("mcp.upstream_allow_private_network"),
        "{message}"
    );
    assert!(
        !message.contains("query-value") && !message.contains(BEARER),
        "{message}"
    );

    // With the opt-in: listed, approved, called, the bearer opened from the vault.
    let settings = RuntimeSettings {
        mcp_upstreams: UpstreamReach {
            allow_private_network: true,
            ..UpstreamReach::default()
        },
        ..RuntimeSettings::default()
    };
    let world = World::start_with(settings).await;
    world.store_api_key_secret("files_bearer", BEARER).await;
    world
        .store_api_key_secret("stale_bearer", "stale-bearer-0042")
        .await;
    world
        .apply(&[
            (
                "files.yaml",
                http_server_config("files", port, "files_bearer"),
            ),
            (
                "stale.yaml",
                http_server_config("stale", port, "stale_bearer"),
            ),
        ])
        .await;
    let admin = world.person(ADMIN).await;
    let operator = world.api_key(Role::Operator).await;
    let view = world
        .runtime
        .mcp_server_tools(&admin, world.tenant, env, "files")
        .await
        .unwrap();
    assert!(view.exposed.is_empty());
    let fingerprint = view.withheld[0]["fingerprint"].as_str().unwrap().to_owned();
    world
        .runtime
        .approve_mcp_tool(
            &admin,
            world.tenant,
            env,
            "files",
            "read_file",
            &fingerprint,
        )
        .await
        .unwrap();
    let outcome = world
        .runtime
        .call_upstream_tool(
            &operator,
            world.tenant,
            env,
            "files",
            "read_file",
            json!({"path": "docs/a.md"}),
        )
        .await
        .unwrap();
    let UpstreamCall::Result(result) = outcome else {
        panic!("a result expected: {outcome:?}");
    };
    assert!(
        result.to_string().contains("contents of docs/a.md"),
        "{result}"
    );

    // A secret the upstream refuses: the failure names the status, never the secret.
    let stale = world
        .runtime
        .mcp_server_tools(&admin, world.tenant, env, "stale")
        .await
        .unwrap_err();
    let text = stale.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("stale-bearer-0042"), "{text}");

    let calls = audit(&world, "mcp.tool.call").await;
    assert!(calls.iter().any(|c| c.contains("\"success\"")), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| !c.contains(BEARER) && !c.contains("docs/a.md")),
        "{calls:?}"
    );
}
