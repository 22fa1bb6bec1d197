//! The canary test: a full secrets scenario against the real binary, at the most verbose log
//! level, with values unique to this run. None of them may show up in an API response, the
//! audit log (listing or export), the logs, or any file the server wrote — the database holds
//! them only as ciphertext.

use std::path::Path;

use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};
use sqlx::{Connection, Row, SqliteConnection};

use crate::harness::{Server, login, temp_dir};

/// Every response body the scenario received, for the final check.
#[derive(Default)]
struct Responses(Vec<String>);

impl Responses {
    async fn send(&mut self, request: RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.0.push(text);
        (status, body)
    }
}

fn canary(label: &str) -> String {
    format!("CANARY-{label}-{}", uuid::Uuid::now_v7().simple())
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn canary_secrets_appear_in_no_response_audit_record_log_or_file() {
    let (_guard, dir) = temp_dir();
    let mut server = Server::start(&dir, &[], &[("HEDDLE_LOG__LEVEL", "trace")]);
    let password = server.banner_value("password:").unwrap();
    let token = login(&server.base, "default", "admin@heddle.local", &password).await;
    let client = Client::new();
    let mut responses = Responses::default();
    let mut canaries = Vec::new();
    let mut fresh = |label: &str| {
        let value = canary(label);
        canaries.push(value.clone());
        value
    };

    let (status, builder) = responses
        .send(
            client
                .post(server.url("/v1/api-keys"))
                .bearer_auth(&token)
                .json(&json!({"name": "builder", "role": "builder"})),
        )
        .await;
    assert_eq!(status, 201);
    let builder_key = builder["token"].as_str().unwrap().to_owned();

    // Create one secret of every kind, in every environment.
    let bodies = [
        json!({"name": "openai", "environment": "prod",
               "secret": {"kind": "api_key", "key": fresh("api-key")}}),
        json!({"name": "crm", "environment": "staging",
               "secret": {"kind": "oauth_client", "client_id": "crm-app",
                          "client_secret": fresh("client-secret"), "refresh_token": fresh("refresh-token")}}),
        json!({"name": "orders-db", "environment": "dev",
               "secret": {"kind": "database_credential", "username": "orders",
                          "password": fresh("db-password"), "host": "db.internal", "database": "orders"}}),
        json!({"name": "webhook", "environment": "prod",
               "secret": {"kind": "custom", "value": fresh("custom")}}),
    ];
    let mut ids = Vec::new();
    for body in &bodies {
        let (status, created) = responses
            .send(
                client
                    .post(server.url("/v1/secrets"))
                    .bearer_auth(&token)
                    .json(body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }

    // Read them back, one by one and as a list.
    for id in &ids {
        let (status, _) = responses
            .send(
                client
                    .get(server.url(&format!("/v1/secrets/{id}")))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, listed) = responses
        .send(client.get(server.url("/v1/secrets")).bearer_auth(&token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 4);

    // Rotate two, delete two (one of them rotated first).
    let rotations = [
        (
            &ids[0],
            json!({"secret": {"kind": "api_key", "key": fresh("api-key-v2")}}),
        ),
        (
            &ids[2],
            json!({"secret": {"kind": "database_credential", "username": "orders",
                               "password": fresh("db-password-v2")}}),
        ),
    ];
    for (id, body) in rotations {
        let (status, rotated) = responses
            .send(
                client
                    .post(server.url(&format!("/v1/secrets/{id}/rotate")))
                    .bearer_auth(&token)
                    .json(&body),
            )
            .await;
        assert_eq!(status, 200, "{rotated}");
        assert_eq!(rotated["version"], 2);
    }
    for id in [&ids[2], &ids[3]] {
        let (status, _) = responses
            .send(
                client
                    .delete(server.url(&format!("/v1/secrets/{id}")))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(status, 200);
    }

    // Failed requests carrying canaries: refused by policy, invalid, conflicting, malformed.
    let failures = [
        (
            client
                .post(server.url("/v1/secrets"))
                .bearer_auth(&builder_key)
                .json(&json!({"name": "prod-key", "environment": "prod",
                              "secret": {"kind": "api_key", "key": fresh("refused")}})),
            403,
        ),
        (
            client
                .post(server.url("/v1/secrets"))
                .bearer_auth(&token)
                .json(&json!({"name": "misplaced", "environment": "dev", "secret": fresh("misplaced")})),
            422,
        ),
        (
            client
                .post(server.url("/v1/secrets"))
                .bearer_auth(&token)
                .json(&json!({"name": "typed", "environment": "dev",
                              "secret": {"kind": "api_key", "key": [fresh("in-array")]}})),
            422,
        ),
        (
            client
                .post(server.url("/v1/secrets"))
                .bearer_auth(&token)
                .json(&json!({"name": "openai", "environment": "prod",
                              "secret": {"kind": "api_key", "key": fresh("conflict")}})),
            409,
        ),
        (
            client
                .post(server.url(&format!("/v1/secrets/{}/rotate", ids[1])))
                .bearer_auth(&token)
                .json(&json!({"secret": {"kind": "custom", "value": fresh("wrong-kind")}})),
            422,
        ),
        (
            client
                .post(server.url("/v1/secrets"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"name":"broken","environment":"dev","secret":{{"kind":"api_key","key":"{}"}}"#,
                    fresh("malformed")
                )),
            400,
        ),
    ];
    for (request, want) in failures {
        let (status, problem) = responses.send(request).await;
        assert_eq!(status, want, "{problem}");
    }

    // The audit log, as auditors read it and as it is exported.
    let (status, events) = responses
        .send(
            client
                .get(server.url("/v1/audit/events?limit=500"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 200);
    let secret_events = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| {
            item["event"]["action"]
                .as_str()
                .is_some_and(|action| action.starts_with("secret."))
        })
        .count();
    // 4 creates, 2 rotations, 2 deletions and the 3 refusals the service saw (bodies that do
    // not parse never reach it).
    assert_eq!(secret_events, 11, "{events}");
    let (status, _) = responses
        .send(
            client
                .get(server.url("/v1/audit/export"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        responses.0.last().unwrap().contains("secret.rotate"),
        "the export holds the secret events"
    );

    server.terminate();
    assert!(server.wait().success());

    for canary in &canaries {
        for body in &responses.0 {
            assert!(
                !body.contains(canary.as_str()),
                "a canary reached a response: {body}"
            );
        }
    }
    let logs = server.logs();
    assert!(logs.contains("/v1/secrets"), "requests are logged at all");
    for canary in &canaries {
        assert!(!logs.contains(canary.as_str()), "a canary reached the logs");
    }
    // The database (with its WAL), the master key file, the logs: no canary in any of them.
    let files = files_under(&dir);
    assert!(
        files
            .iter()
            .any(|path| path.ends_with("heddle-data/heddle.db")),
        "{files:?}"
    );
    // The scan does see stored text: the (non-secret) names are there in clear.
    assert!(
        files
            .iter()
            .any(|path| contains(&std::fs::read(path).unwrap(), b"orders-db")),
        "the scan reads the database content"
    );
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        for canary in &canaries {
            assert!(
                !contains(&bytes, canary.as_bytes()),
                "a canary is in clear in `{}`",
                path.display()
            );
        }
    }
    // The live secrets are there, as ciphertext; the deleted ones' values are gone.
    let url = format!(
        "sqlite://{}?mode=ro",
        dir.join("heddle-data/heddle.db").display()
    );
    let mut db = SqliteConnection::connect(&url).await.unwrap();
    let rows = sqlx::query("SELECT name, sealed, deleted_at FROM secrets ORDER BY name")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let mut live = Vec::new();
    for row in &rows {
        let name: String = row.get("name");
        let sealed: Option<Vec<u8>> = row.get("sealed");
        let deleted: Option<i64> = row.get("deleted_at");
        assert_eq!(sealed.is_none(), deleted.is_some(), "{name}");
        if let Some(sealed) = sealed {
            assert!(sealed.len() > 28, "{name}: nonce, ciphertext and tag");
            live.push(name);
        }
    }
    assert_eq!(live, ["crm", "openai"]);
    assert_eq!(rows.len(), 4);
    db.close().await.unwrap();
}
