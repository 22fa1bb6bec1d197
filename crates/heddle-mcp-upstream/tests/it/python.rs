//! The official MCP Python SDK's MCPServer (FastMCP in 1.x) as an upstream over stdio (a real
//! child process, its stderr kept out of the protocol) and over streamable HTTP (its
//! Starlette app under uvicorn, behind a bearer check). Skipped without the SDK unless
//! `HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1` (CI sets it).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use heddle_agents::mcp_server::StdioTransport;
use heddle_mcp_upstream::{CallOutcome, Upstream};
use heddle_trust::TrustEngine;
use secrecy::SecretString;
use serde_json::json;

use crate::http_server;
use crate::support::{CONFIG, server};

const SERVER: &str = r#"
import os, sys
from mcp.server.mcpserver import MCPServer
print("noise on stderr that must not break the protocol", file=sys.stderr)
mcp = MCPServer("files")
DESCRIPTION = os.environ.get("READ_DESCRIPTION", "Read a file under docs/.")

@mcp.tool(name="read_file", description=DESCRIPTION)
def read_file(path: str) -> str:
    return "contents of " + path + " token=" + os.environ.get("FILES_TOKEN", "none")

@mcp.tool(name="delete_all", description="Delete every file.")
def delete_all() -> str:
    return "deleted"

mcp.run("stdio")
"#;

/// The interpreter's real path (a pyenv shim needs an environment the child does not get).
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
            "HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1 but `python3 -c \"import mcp\"` fails; \
             install it with `python3 -m pip install mcp==2.3.0`"
        );
        eprintln!("skipped: the MCP Python SDK is not installed");
    }
    found
}

async fn spawn(python: &str, script: &std::path::Path, description: Option<&str>) -> Upstream {
    let stdio = StdioTransport {
        command: python.to_owned(),
        args: vec![script.display().to_string()],
        env: BTreeMap::new(),
    };
    let mut env = BTreeMap::new();
    env.insert(
        "FILES_TOKEN".to_owned(),
        SecretString::from("opened-from-the-vault"),
    );
    if let Some(description) = description {
        env.insert(
            "READ_DESCRIPTION".to_owned(),
            SecretString::from(description.to_owned()),
        );
    }
    Upstream::spawn_stdio(&stdio, &env, Duration::from_secs(20))
        .await
        .expect("MCPServer starts and answers the handshake")
}

#[tokio::test]
async fn the_python_sdk_server_over_stdio_is_pinned_approved_called_and_withheld_after_a_change() {
    let Some(python) = python() else { return };
    let dir = std::env::temp_dir().join(format!("heddle-mcp-upstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("files_server.py");
    std::fs::write(&script, SERVER).unwrap();
    let gateway = server(CONFIG);
    let engine = TrustEngine::new();

    let upstream = spawn(&python, &script, None).await;
    let listed = upstream.list_tools().await.unwrap();
    let reconciled = gateway.reconcile(&listed, &[]);
    assert_eq!(reconciled.not_allowed, ["delete_all"]);
    let fingerprint = reconciled
        .withheld
        .iter()
        .find(|w| w.tool == "read_file")
        .unwrap()
        .fingerprint
        .clone();
    let pins = vec![gateway.approve(&listed, "read_file", &fingerprint).unwrap()];
    let outcome = gateway
        .call(
            &engine,
            &upstream,
            &pins,
            "read_file",
            json!({"path": "docs/a.md"}),
        )
        .await
        .unwrap();
    let CallOutcome::Forwarded { result, .. } = outcome else {
        panic!("forwarded expected: {outcome:?}");
    };
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(text.contains("contents of docs/a.md"), "{text}");
    assert!(
        text.contains("opened-from-the-vault"),
        "the env reached the child"
    );
    let refused = gateway
        .call(&engine, &upstream, &pins, "delete_all", json!({}))
        .await
        .unwrap();
    assert!(matches!(refused, CallOutcome::Refused { .. }));
    // Dropping the connection kills the child.
    let pid = upstream.child_id().expect("a running child");
    drop(upstream);
    let mut gone = false;
    for _ in 0..100 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        // Gone, or a zombie waiting to be reaped: either way no longer running.
        if status.is_empty()
            || status
                .lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the child {pid} outlived its connection");

    // The same server, restarted with another description: withheld until re-approved.
    let changed = spawn(&python, &script, Some("Read any file on the host.")).await;
    let listed = changed.list_tools().await.unwrap();
    let reconciled = gateway.reconcile(&listed, &pins);
    assert!(reconciled.exposed.is_empty());
    assert_eq!(
        serde_json::to_value(&reconciled.withheld).unwrap()[0]["fields"],
        json!(["description"])
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The same tools served over streamable HTTP on `argv[1]` (sessions, answers as event
/// streams: the SDK's defaults), refusing requests without `Authorization: Bearer $TOKEN`
/// and echoing what it got instead, as a careless server might.
const HTTP_SERVER: &str = r#"
import os, sys
import uvicorn
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("files")
TOKEN = os.environ["TOKEN"]
DESCRIPTION = os.environ.get("READ_DESCRIPTION", "Read a file under docs/.")

@mcp.tool(name="read_file", description=DESCRIPTION)
def read_file(path: str) -> str:
    return "contents of " + path

@mcp.tool(name="delete_all", description="Delete every file.")
def delete_all() -> str:
    return "deleted"

app = mcp.streamable_http_app()

async def guarded(scope, receive, send):
    if scope["type"] == "http":
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != ("Bearer " + TOKEN).encode():
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"refused " + headers.get(b"authorization", b"")})
            return
    await app(scope, receive, send)

uvicorn.run(guarded, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"#;

/// Starts the HTTP server on a free loopback port and waits until it accepts connections.
async fn spawn_http(
    python: &str,
    script: &std::path::Path,
    description: Option<&str>,
) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = tokio::process::Command::new(python);
    command
        .arg(script)
        .arg(port.to_string())
        .env("TOKEN", http_server::TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(description) = description {
        command.env("READ_DESCRIPTION", description);
    }
    let child = command.spawn().unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, format!("http://127.0.0.1:{port}/mcp"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Python MCP server did not listen on {port}");
}

#[tokio::test]
async fn the_python_sdk_server_over_streamable_http_is_pinned_approved_called_and_withheld_after_a_change()
 {
    let Some(python) = python() else { return };
    let dir = tempdir("http");
    let script = dir.join("files_http_server.py");
    std::fs::write(&script, HTTP_SERVER).unwrap();
    let gateway = server(CONFIG);
    let engine = TrustEngine::new();

    let (_child, url) = spawn_http(&python, &script, None).await;
    let refused = http_server::connect(&url, Some("not-the-token-5150"))
        .await
        .unwrap_err();
    assert!(refused.contains("401"), "{refused}");
    assert!(!refused.contains("not-the-token-5150"), "{refused}");

    let upstream = http_server::connect(&url, Some(http_server::TOKEN))
        .await
        .expect("MCPServer answers the handshake over HTTP");
    let listed = upstream.list_tools().await.unwrap();
    let reconciled = gateway.reconcile(&listed, &[]);
    assert_eq!(reconciled.not_allowed, ["delete_all"]);
    let fingerprint = reconciled
        .withheld
        .iter()
        .find(|w| w.tool == "read_file")
        .unwrap()
        .fingerprint
        .clone();
    let pins = vec![gateway.approve(&listed, "read_file", &fingerprint).unwrap()];
    for path in ["docs/a.md", "docs/b.md"] {
        let outcome = gateway
            .call(
                &engine,
                &upstream,
                &pins,
                "read_file",
                json!({"path": path}),
            )
            .await
            .unwrap();
        let CallOutcome::Forwarded { result, .. } = outcome else {
            panic!("forwarded expected: {outcome:?}");
        };
        let text = serde_json::to_string(&result.content).unwrap();
        assert!(text.contains(&format!("contents of {path}")), "{text}");
    }
    let refused = gateway
        .call(&engine, &upstream, &pins, "delete_all", json!({}))
        .await
        .unwrap();
    assert!(matches!(refused, CallOutcome::Refused { .. }));
    drop(upstream);

    // Restarted with another description: withheld until re-approved.
    let (_changed_child, changed_url) =
        spawn_http(&python, &script, Some("Read any file on the host.")).await;
    let changed = http_server::connect(&changed_url, Some(http_server::TOKEN))
        .await
        .unwrap();
    let listed = changed.list_tools().await.unwrap();
    let reconciled = gateway.reconcile(&listed, &pins);
    assert!(reconciled.exposed.is_empty());
    assert_eq!(
        serde_json::to_value(&reconciled.withheld).unwrap()[0]["fields"],
        json!(["description"])
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("heddle-mcp-upstream-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
