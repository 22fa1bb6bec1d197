//! `kind: McpServer`: loading, strict validation, hashing and argument constraints.

use heddle_agents::ConfigSet;
use heddle_agents::mcp_server::{EnvValue, McpTransport};
use serde_json::json;

use crate::support::{base, errors, load, with};

const SERVER: &str = "\
api_version: heddle/v1
kind: McpServer
name: files
spec:
  transport:
    stdio:
      command: /usr/bin/files-mcp
      args: [--read-only]
      env:
        FILES_TOKEN: { secret: files_token }
        LOG_LEVEL: { value: warn }
  allow: [read_file, \"search_*\"]
  tools:
    read_file:
      arguments:
        schema:
          type: object
          properties:
            path: { type: string, pattern: \"^docs/\" }
        forbidden_values:
          path: [docs/secret.md]
  timeout_seconds: 10
";

#[test]
fn an_upstream_server_loads_with_its_transport_allow_list_and_constraints() {
    let set = load(&with("files.yaml", SERVER));
    let server = set.mcp_server("files").expect("the server");
    let McpTransport::Stdio(stdio) = &server.spec.transport else {
        panic!("stdio expected");
    };
    assert_eq!(stdio.command, "/usr/bin/files-mcp");
    assert_eq!(
        stdio.env.get("FILES_TOKEN"),
        Some(&EnvValue::Secret("files_token".to_owned()))
    );
    assert_eq!(server.spec.timeout_seconds(), 10);
    let spec = &server.spec;
    assert!(
        spec.check_arguments("read_file", &json!({"path": "docs/a.md"}))
            .is_empty()
    );
    let pattern = spec.check_arguments("read_file", &json!({"path": "/etc/passwd"}));
    assert_eq!(pattern.len(), 1, "{pattern:?}");
    assert_eq!(pattern[0].path, "path");
    let forbidden = spec.check_arguments("read_file", &json!({"path": "docs/secret.md"}));
    assert_eq!(forbidden.len(), 1, "{forbidden:?}");
    assert!(
        !forbidden[0].message.contains("secret.md"),
        "never the value"
    );
    assert!(
        spec.check_arguments("search_docs", &json!({"q": 1}))
            .is_empty()
    );
    assert_eq!(spec.check_arguments("search_docs", &json!([1])).len(), 1);
}

#[test]
fn a_set_without_servers_hashes_as_before_and_a_server_changes_the_hash() {
    let plain = load(&base());
    let with_server = load(&with("files.yaml", SERVER));
    assert_ne!(plain.content_hash(), with_server.content_hash());
    // Stored and read back under its hash, the server survives.
    let json: serde_json::Value =
        serde_json::from_slice(&with_server.canonical_json()).expect("json");
    let back = ConfigSet::from_canonical(json, with_server.content_hash()).expect("reads back");
    assert_eq!(back.mcp_server("files"), with_server.mcp_server("files"));
    let plain_json: serde_json::Value =
        serde_json::from_slice(&plain.canonical_json()).expect("json");
    assert!(plain_json.get("mcp_servers").is_none());
}

fn messages(text: &str) -> Vec<(String, String)> {
    errors(&with("files.yaml", text))
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

#[test]
fn a_lone_star_an_empty_allow_list_and_a_relative_command_are_refused() {
    let star = SERVER.replace("allow: [read_file, \"search_*\"]", "allow: [\"*\"]");
    let found = messages(&star);
    assert!(
        found
            .iter()
            .any(|(f, m)| f == "spec.allow" && m.contains("`*` alone")),
        "{found:?}"
    );
    let empty = SERVER.replace("allow: [read_file, \"search_*\"]", "allow: []");
    assert!(
        messages(&empty)
            .iter()
            .any(|(f, m)| f == "spec.allow" && m.contains("exposes nothing"))
    );
    let relative = SERVER.replace("/usr/bin/files-mcp", "files-mcp");
    assert!(
        messages(&relative)
            .iter()
            .any(|(f, m)| f == "spec.transport.stdio.command" && m.contains("absolute"))
    );
}

#[test]
fn constraints_on_a_tool_outside_the_allow_list_and_bad_fields_are_refused() {
    let outside = SERVER.replace(
        "    read_file:\n      arguments",
        "    write_file:\n      arguments",
    );
    assert!(
        messages(&outside)
            .iter()
            .any(|(f, m)| f == "spec.tools.write_file" && m.contains("not in `allow`"))
    );
    let bad_env = SERVER.replace("LOG_LEVEL", "log-level");
    assert!(
        messages(&bad_env)
            .iter()
            .any(|(f, _)| f.starts_with("spec.transport.stdio.env"))
    );
    let timeout = SERVER.replace("timeout_seconds: 10", "timeout_seconds: 0");
    assert!(
        messages(&timeout)
            .iter()
            .any(|(f, _)| f == "spec.timeout_seconds")
    );
    let unknown = SERVER.replace("  timeout_seconds: 10", "  timeout_secs: 10");
    assert!(!messages(&unknown).is_empty(), "unknown fields are errors");
    let bad_schema = SERVER.replace(
        "type: object\n          properties",
        "type: array\n          properties",
    );
    assert!(
        messages(&bad_schema)
            .iter()
            .any(|(f, _)| f == "spec.tools.read_file.arguments.schema")
    );
    let judge = format!("{SERVER}  trust:\n    content: {{ moderation: m }}\n");
    assert!(
        messages(&judge)
            .iter()
            .any(|(f, m)| f == "spec.trust.content.moderation" && m.contains("cannot"))
    );
}

#[test]
fn an_http_transport_loads_and_its_url_is_checked() {
    let http = SERVER.replace(
        "    stdio:\n      command: /usr/bin/files-mcp\n      args: [--read-only]\n      env:\n        FILES_TOKEN: { secret: files_token }\n        LOG_LEVEL: { value: warn }\n",
        "    http: { url: \"https://mcp.example.com/mcp\", bearer_secret: tok }\n",
    );
    let set = load(&with("files.yaml", &http));
    let McpTransport::Http(transport) =
        &set.mcp_server("files").expect("the server").spec.transport
    else {
        panic!("http expected");
    };
    assert_eq!(transport.url, "https://mcp.example.com/mcp");
    assert_eq!(transport.bearer_secret.as_deref(), Some("tok"));

    for (url, expected) in [
        ("ftp://mcp.example.com", "http:// or https://"),
        ("https://mcp.example.com/a b", "http:// or https://"),
        ("https://user:pw@mcp.example.com/mcp", "credentials"),
        ("https://tok@mcp.example.com", "credentials"),
        ("https:///mcp", "no host"),
    ] {
        let bad = http.replace("https://mcp.example.com/mcp", url);
        let found = messages(&bad);
        assert_eq!(found.len(), 1, "{url}: {found:?}");
        assert_eq!(found[0].0, "spec.transport.http.url", "{url}");
        assert!(found[0].1.contains(expected), "{url}: {found:?}");
        assert!(!found[0].1.contains("pw@"), "the url is not echoed");
    }
    // A credential in the query is the server's business (the URL is never logged whole).
    let query = http.replace("/mcp\"", "/mcp?x=1\"");
    assert!(
        load(&with("files.yaml", &query))
            .mcp_server("files")
            .is_some()
    );
    let empty_secret = http.replace("bearer_secret: tok", "bearer_secret: \" \"");
    assert_eq!(
        messages(&empty_secret)[0].0,
        "spec.transport.http.bearer_secret"
    );
}
