//! `heddle serve` from a fresh directory, restart, and graceful shutdown on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{Server, login, temp_dir};

#[tokio::test]
async fn fresh_start_on_sqlite_needs_no_setup() {
    let (_guard, dir) = temp_dir();
    let mut server = Server::start(&dir, &[], &[]);
    assert!(dir.join("heddle-data/heddle.db").exists());
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready: serde_json::Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "sqlite");

    let password = server
        .banner_value("password:")
        .expect("first start prints a password");
    assert!(password.len() >= 20);
    let token = login(&server.base, "default", "admin@heddle.local", &password).await;
    server.terminate();
    assert!(server.wait().success());

    // A restart keeps the data and prints no new password.
    let server = Server::start(&dir, &[], &[]);
    assert_eq!(server.banner_value("password:"), None);
    let me = reqwest::Client::new()
        .get(server.url("/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200, "login tokens survive a restart");
}

#[tokio::test]
async fn demo_flag_creates_one_account_per_role() {
    let (_guard, dir) = temp_dir();
    let server = Server::start(&dir, &["--demo"], &[]);
    let viewer_line = server
        .banner
        .iter()
        .find(|line| line.trim_start().starts_with("viewer "))
        .expect("a viewer demo account");
    let api_key = viewer_line.split_whitespace().last().unwrap();
    assert!(api_key.starts_with("hdl_"));
    let me: serde_json::Value = reqwest::Client::new()
        .get(server.url("/v1/users/me"))
        .bearer_auth(api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "viewer");
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let (_guard, dir) = temp_dir();
    let mut server = Server::start(&dir, &[], &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = br#"{"email":"admin@heddle.local","password":"definitely wrong"}"#;

    // Start a request and send only part of its body.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..10]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    server.terminate();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server waits for the in-flight request"
    );

    // The in-flight request completes normally.
    stream.write_all(&body[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");

    assert!(server.wait().success(), "exits cleanly after draining");
}

/// Even at the most verbose log level, no password, key or token reaches the logs.
#[tokio::test]
async fn logs_never_contain_secrets() {
    let (_guard, dir) = temp_dir();
    let mut server = Server::start(&dir, &[], &[("HEDDLE_LOG__LEVEL", "trace")]);
    let password = server.banner_value("password:").unwrap();
    let token = login(&server.base, "default", "admin@heddle.local", &password).await;
    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(server.url("/v1/api-keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "canary", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = created["token"].as_str().unwrap().to_owned();
    let user_password = "canary-password-Zq9!x";
    let response = client
        .post(server.url("/v1/users"))
        .bearer_auth(&api_key)
        .json(&serde_json::json!({
            "email": "canary@acme.io", "display_name": "Canary", "role": "viewer",
            "password": user_password
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        403,
        "a viewer key cannot create users"
    );
    // A failed login with a secret-looking password, and a query string with a secret.
    let _ = client
        .post(server.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": "admin@heddle.local", "password": user_password}))
        .send()
        .await
        .unwrap();
    let _ = client
        .get(server.url(&format!("/v1/users?api_key={api_key}")))
        .send()
        .await
        .unwrap();
    server.terminate();
    server.wait();
    let logs = server.logs();
    assert!(logs.contains("listening"), "logging works at all: {logs}");
    assert!(logs.lines().count() > 10, "trace level logs a lot");
    for secret in [
        password.as_str(),
        token.as_str(),
        api_key.as_str(),
        user_password,
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
