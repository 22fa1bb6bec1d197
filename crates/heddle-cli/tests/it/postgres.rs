//! Two `heddle serve` processes on one PostgreSQL database: one bootstrap, no lost or
//! duplicated writes under concurrent requests to both.

use std::collections::HashSet;

use futures::future::join_all;

use crate::harness::{Server, login, temp_dir};

/// A fresh schema in the test database, as a URL whose connections use it.
pub async fn fresh_database_url() -> Option<String> {
    let base = match std::env::var("HEDDLE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("HEDDLE_TEST_DATABASE_URL must be set in CI so PostgreSQL is tested")
        }
        _ => {
            eprintln!("skipping: HEDDLE_TEST_DATABASE_URL is not set");
            return None;
        }
    };
    let schema = format!("cli_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&base).await.unwrap();
    // The schema name is generated above from a UUID, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

#[tokio::test]
async fn two_servers_share_one_database_without_losing_writes() {
    let Some(url) = fresh_database_url().await else {
        return;
    };
    let (_guard, dir) = temp_dir();
    // Every process of a scale-out deployment shares one explicitly configured master key.
    let master_key = heddle_crypto::MasterKey::generate().unwrap().to_encoded();
    let env = [
        ("HEDDLE_DATABASE_URL", url.as_str()),
        ("HEDDLE_MASTER_KEY", master_key.as_str()),
    ];
    // Start both at once: they race on migrations and on the bootstrap.
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| Server::start(&dir, &[], &env));
        let b = scope.spawn(|| Server::start(&dir, &[], &env));
        (a.join().unwrap(), b.join().unwrap())
    });
    let passwords: Vec<String> = [&first, &second]
        .iter()
        .filter_map(|server| server.banner_value("password:"))
        .collect();
    assert_eq!(passwords.len(), 1, "exactly one process bootstraps");
    let ready: serde_json::Value = reqwest::get(first.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "postgres");

    let token = login(&first.base, "default", "admin@heddle.local", &passwords[0]).await;
    let client = reqwest::Client::new();
    let create = |server: &Server, email: String| {
        client
            .post(server.url("/v1/users"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"email": email, "display_name": "Load", "role": "viewer"}))
            .send()
    };

    // 40 distinct users, alternating between the two processes, all at once.
    let distinct = (0..40).map(|i| {
        let server = if i % 2 == 0 { &first } else { &second };
        create(server, format!("user{i}@acme.io"))
    });
    for response in join_all(distinct).await {
        assert_eq!(response.unwrap().status().as_u16(), 201);
    }

    // 10 requests for the same email across both: exactly one wins, the rest conflict.
    let same = (0..10).map(|i| {
        let server = if i % 2 == 0 { &first } else { &second };
        create(server, "contested@acme.io".to_owned())
    });
    let statuses: Vec<u16> = join_all(same)
        .await
        .into_iter()
        .map(|response| response.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );

    // Both processes see the same 42 users.
    for server in [&first, &second] {
        let mut emails = HashSet::new();
        let mut path = "/v1/users?limit=200".to_owned();
        loop {
            let page: serde_json::Value = client
                .get(server.url(&path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for user in page["items"].as_array().unwrap() {
                assert!(emails.insert(user["email"].as_str().unwrap().to_owned()));
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/users?limit=200&after={cursor}"),
                None => break,
            }
        }
        assert_eq!(emails.len(), 42);
    }
}

#[tokio::test]
async fn postgres_without_a_master_key_refuses_to_start() {
    let Some(url) = fresh_database_url().await else {
        return;
    };
    let (_guard, dir) = temp_dir();
    let output = crate::harness::heddle(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HEDDLE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("no master key"), "{text}");
    assert!(
        !dir.join("heddle-data").exists(),
        "nothing generated for a shared database"
    );
}
