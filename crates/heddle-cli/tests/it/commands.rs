//! `heddle config check`, `migrate`, `admin create-user` and `keys create|list|revoke`.

use crate::harness::{Server, run, stderr, stdout, temp_dir};

#[test]
fn config_check_reports_each_problem_with_its_source() {
    let (_guard, dir) = temp_dir();
    std::fs::write(
        dir.join("heddle.toml"),
        "[http]\nmax_body_bytes = 10\ncors_allowed_origins = [\"*\"]\n[auth]\naccess_token_ttl_minutes = 0\n",
    )
    .unwrap();
    let mut command = crate::harness::heddle(&dir);
    let output = command
        .args(["config", "check"])
        .env("HEDDLE_REDIS_URL", "memcached://nope")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("4 problem(s)"), "{text}");
    let line_of = |key: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(&format!("- {key} (from ")))
            .unwrap_or_else(|| panic!("no problem reported for {key} in:\n{text}"))
            .to_owned()
    };
    for key in [
        "http.max_body_bytes",
        "http.cors_allowed_origins",
        "auth.access_token_ttl_minutes",
    ] {
        let line = line_of(key);
        assert!(
            line.contains("TOML file `") && line.contains("heddle.toml`)"),
            "{line}"
        );
    }
    assert!(line_of("redis_url").contains("`HEDDLE_` environment variable"));
}

#[test]
fn config_check_accepts_a_good_file_and_redacts_passwords() {
    let (_guard, dir) = temp_dir();
    std::fs::write(
        dir.join("heddle.toml"),
        "database_url = \"postgres://heddle:s3cret@db.internal/heddle\"\n",
    )
    .unwrap();
    let output = run(&dir, &["config", "check"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("configuration OK"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn an_explicit_config_file_must_exist() {
    let (_guard, dir) = temp_dir();
    let output = run(&dir, &["--config", "missing.toml", "config", "check"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("missing.toml"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn admin_and_key_commands_work_on_a_fresh_database() {
    let (_guard, dir) = temp_dir();
    let output = run(&dir, &["migrate"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("migrations applied (sqlite"));

    let output = run(
        &dir,
        &[
            "admin",
            "create-user",
            "--email",
            "Ops@Acme.io",
            "--password-stdin",
        ],
        Some("a strong enough password\n"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("operator tenant"),
        "{}",
        stdout(&output)
    );
    assert!(!stdout(&output).contains("password (shown once)"));

    let output = run(
        &dir,
        &[
            "admin",
            "create-user",
            "--email",
            "viewer@acme.io",
            "--role",
            "viewer",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("password (shown once): "));

    let output = run(
        &dir,
        &[
            "admin",
            "create-user",
            "--email",
            "x@acme.io",
            "--role",
            "root",
        ],
        None,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("`root` is not a role"),
        "{}",
        stderr(&output)
    );

    let output = run(
        &dir,
        &[
            "keys", "create", "--name", "crm sync", "--role", "operator", "--json",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let created: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["key"]["id"].as_str().unwrap().to_owned();

    // A key pinned to one gateway route of one environment.
    let output = run(
        &dir,
        &[
            "keys",
            "create",
            "--name",
            "helpdesk",
            "--role",
            "operator",
            "--route",
            "support_gpt",
            "--env",
            "staging",
            "--json",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let pinned: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        pinned["key"]["route"],
        serde_json::json!({"environment": "staging", "route": "support_gpt"})
    );
    let output = run(
        &dir,
        &[
            "keys",
            "create",
            "--name",
            "bad",
            "--role",
            "operator",
            "--route",
            "Not A Route",
        ],
        None,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("route name"),
        "{}",
        stderr(&output)
    );

    let output = run(&dir, &["keys", "list", "--json"], None);
    assert!(output.status.success());
    let listed = stdout(&output);
    assert!(listed.contains(&id));
    assert!(!listed.contains(&token), "list never shows secrets");

    let server = Server::start(&dir, &[], &[]);
    let client = reqwest::Client::new();
    let me = client
        .get(server.url("/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let token_for_login = crate::harness::login(
        &server.base,
        "default",
        "ops@acme.io",
        "a strong enough password",
    )
    .await;
    assert!(token_for_login.starts_with("hdt_"));

    let output = run(&dir, &["keys", "revoke", &id], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let me = client
        .get(server.url("/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status().as_u16(),
        401,
        "a revoked key stops working at once"
    );

    let output = run(&dir, &["keys", "list"], None);
    assert!(stdout(&output).contains("revoked"), "{}", stdout(&output));
    let output = run(&dir, &["keys", "revoke", "not-a-uuid"], None);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("`not-a-uuid` is not a valid api key id"));
}
