//! `/v1/configs`: lint, apply as the next version (lint errors refuse), read versions.

use heddle_types::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, expect_problem, json};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/agents");

fn files(edit: impl Fn(String) -> String) -> Value {
    let mut entries: Vec<_> = std::fs::read_dir(EXAMPLES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    let files: Vec<Value> = entries
        .iter()
        .map(|path| {
            json!({
                "path": path.file_name().unwrap().to_str().unwrap(),
                "content": edit(std::fs::read_to_string(path).unwrap()),
            })
        })
        .collect();
    json!({ "files": files })
}

fn unconfirmed(text: String) -> String {
    text.replace("human_in_the_loop: confirmation", "human_in_the_loop: none")
}

#[tokio::test]
async fn configurations_are_linted_applied_as_versions_and_read_back() {
    let server = TestServer::start().await;
    let report = json(
        server
            .as_role(Role::Viewer, Method::POST, "/v1/configs/lint")
            .json(&files(unconfirmed))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        report["findings"][0]["rule"], "unconfirmed-write",
        "{report}"
    );
    assert_eq!(report["sarif"]["version"], "2.1.0");

    // Lint errors refuse the apply; viewers may not apply at all.
    let problem = expect_problem(
        server
            .as_role(Role::Builder, Method::POST, "/v1/configs/dev")
            .json(&files(unconfirmed))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unconfirmed-write"),
        "{problem}"
    );
    expect_problem(
        server
            .as_role(Role::Viewer, Method::POST, "/v1/configs/dev")
            .json(&files(|t| t))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;

    let applied = json(
        server
            .as_role(Role::Builder, Method::POST, "/v1/configs/dev")
            .json(&files(|t| t))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (applied["version"].clone(), applied["unchanged"].clone()),
        (json!(1), json!(false))
    );
    let again = json(
        server
            .as_role(Role::Builder, Method::POST, "/v1/configs/dev")
            .json(&files(|t| t))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(again["unchanged"], true);
    let changed = json(
        server
            .as_role(Role::Admin, Method::POST, "/v1/configs/dev")
            .json(&files(|t| t.replace("max_steps: 6", "max_steps: 7")))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let latest = json(
        server
            .as_role(Role::Viewer, Method::GET, "/v1/configs/dev")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(latest["version"], changed["version"]);
    assert_eq!(latest["content_hash"], changed["content_hash"]);
    assert!(latest["documents"].is_object());
    let versions = json(
        server
            .as_role(Role::Viewer, Method::GET, "/v1/configs/dev/versions")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let numbers: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers.first(), changed["version"].as_i64().as_ref());
    expect_problem(
        server
            .as_role(Role::Viewer, Method::GET, "/v1/configs/prod")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn files_that_do_not_load_are_refused_with_file_and_line() {
    let server = TestServer::start().await;
    let body = json!({"files": [{"path": "a.yaml", "content": "api_version: heddle/v1\nkind: Agent\nnam: x\n"}]});
    let problem = expect_problem(
        server
            .as_role(Role::Builder, Method::POST, "/v1/configs/dev")
            .json(&body)
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        problem["errors"][0]["pointer"]
            .as_str()
            .unwrap()
            .starts_with("a.yaml:"),
        "{problem}"
    );
    expect_problem(
        server
            .as_role(Role::Builder, Method::POST, "/v1/configs/qa")
            .json(&body)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}
