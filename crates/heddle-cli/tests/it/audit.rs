//! `heddle audit export` and `heddle audit verify`: the log leaves the database and is checked
//! with nothing but the file and the tenant's public key.

use crate::harness::{Server, login, run, stderr, stdout, temp_dir};

#[tokio::test]
async fn export_then_verify_offline_and_catch_tampering() {
    let (_guard, dir) = temp_dir();
    let server = Server::start(&dir, &[], &[]);
    assert!(
        dir.join("heddle-data/master.key").exists(),
        "embedded setup generates a master key"
    );
    let password = server.banner_value("password:").unwrap();
    let token = login(&server.base, "default", "admin@heddle.local", &password).await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        let response = client
            .post(server.url("/v1/api-keys"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": format!("k{i}"), "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    let keys: serde_json::Value = client
        .get(server.url("/v1/audit/public-keys"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_key = keys[0]["public_key"].as_str().unwrap().to_owned();
    drop(server);

    let export = dir.join("audit.jsonl");
    let output = run(
        &dir,
        &["audit", "export", "--output", export.to_str().unwrap()],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("checkpoint(s)"),
        "{}",
        stderr(&output)
    );

    let output = run(
        &dir,
        &[
            "audit",
            "verify",
            export.to_str().unwrap(),
            "--public-key",
            &public_key,
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).starts_with("OK: tenant"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("signed by the trusted key"));

    // Change one event and verify again: refused, naming the event.
    let text = std::fs::read_to_string(&export).unwrap();
    let tampered = text.replacen("\"name\":\"k1\"", "\"name\":\"kX\"", 1);
    assert_ne!(text, tampered);
    let bad = dir.join("tampered.jsonl");
    std::fs::write(&bad, tampered).unwrap();
    let output = run(
        &dir,
        &[
            "audit",
            "verify",
            bad.to_str().unwrap(),
            "--public-key",
            &public_key,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).starts_with("FAILED:"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("seq"), "{}", stdout(&output));

    // A key that is not the tenant's: the signatures do not check out.
    let other = heddle_crypto::SigningKey::generate()
        .unwrap()
        .public_key()
        .to_base64();
    let output = run(
        &dir,
        &[
            "audit",
            "verify",
            export.to_str().unwrap(),
            "--public-key",
            &other,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}

#[test]
fn generate_master_prints_a_valid_key_and_bad_keys_stop_the_server() {
    let (_guard, dir) = temp_dir();
    let output = run(&dir, &["keys", "generate-master"], None);
    assert!(output.status.success());
    let key = stdout(&output).trim().to_owned();
    assert!(heddle_crypto::MasterKey::from_encoded(&key).is_ok());

    let mut command = crate::harness::heddle(&dir);
    let output = command
        .args(["migrate"])
        .env(
            "HEDDLE_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("HEDDLE_MASTER_KEY is not a usable master key"),
        "{text}"
    );
    assert!(text.contains("heddle keys generate-master"), "{text}");
}
