//! Rate limits answer 429 with Retry-After, per IP, per principal and for login; with Redis
//! they are shared by every process.

use heddle_server::config::QuotaConfig;
use heddle_types::Role;
use reqwest::Method;

use crate::harness::{TestServer, expect_problem};

async fn count_until_limited(server: &TestServer, role: Role, attempts: usize) -> usize {
    for sent in 0..attempts {
        let response = server
            .as_role(role, Method::GET, "/v1/users/me")
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            expect_problem(response, 429).await;
            return sent;
        }
    }
    attempts
}

#[tokio::test]
async fn per_principal_limit() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.per_principal = QuotaConfig {
            per_minute: 1,
            burst: 3,
        };
    })
    .await;
    assert_eq!(count_until_limited(&server, Role::Viewer, 10).await, 3);
    // Another key has its own budget.
    assert_eq!(count_until_limited(&server, Role::Builder, 10).await, 3);
}

#[tokio::test]
async fn per_ip_limit_applies_before_authentication() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.per_ip = QuotaConfig {
            per_minute: 1,
            burst: 5,
        };
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = server
            .request(Method::GET, "/v1/users/me")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
}

#[tokio::test]
async fn login_attempts_are_limited() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.login = QuotaConfig {
            per_minute: 1,
            burst: 3,
        };
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = server
            .login("default", "admin@heddle.local", "wrong password!")
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
}

/// Two servers (as two processes would be) share one Redis budget.
#[tokio::test]
async fn redis_limits_are_shared_between_servers() {
    let Some(redis_url) = redis_url() else { return };
    // A namespace of its own, so parallel test processes on the same Redis do not meet.
    let namespace = format!("heddle-test-{}", uuid::Uuid::new_v4());
    let configure = |config: &mut heddle_server::config::Config| {
        config.redis_url = Some(redis_url.clone());
        config.redis_key_prefix = namespace.clone();
        config.rate_limits.per_ip = QuotaConfig {
            per_minute: 1,
            burst: 4,
        };
    };
    let first = TestServer::start_with(configure).await;
    let second = TestServer::start_with(configure).await;
    let mut statuses = Vec::new();
    for round in 0..8 {
        let server = if round % 2 == 0 { &first } else { &second };
        let response = server
            .request(Method::GET, "/healthz")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(allowed, 4, "one budget across both servers: {statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
}

fn redis_url() -> Option<String> {
    match std::env::var("HEDDLE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("HEDDLE_TEST_REDIS_URL must be set in CI so the Redis path is tested")
        }
        _ => {
            eprintln!("skipping: HEDDLE_TEST_REDIS_URL is not set");
            None
        }
    }
}
