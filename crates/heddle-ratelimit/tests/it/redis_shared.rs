use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heddle_ratelimit::{RateDecision, RateLimitError, RateLimiter, RedisRateLimiter};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::{count_allowed, quota, unique_scope};

/// The Redis URL for these tests; `None` skips them locally, CI must provide it.
fn redis_url() -> Option<String> {
    match std::env::var("HEDDLE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("HEDDLE_TEST_REDIS_URL must be set in CI (e.g. redis://127.0.0.1:6379)")
        }
        _ => {
            eprintln!("skipping: HEDDLE_TEST_REDIS_URL is not set");
            None
        }
    }
}

#[tokio::test]
async fn burst_is_allowed_then_limited() {
    let Some(url) = redis_url() else { return };
    let limiter = RedisRateLimiter::connect(&url).await.unwrap();
    let scope = unique_scope("burst");
    let q = quota(60, 5);

    let mut remaining = Vec::new();
    for _ in 0..5 {
        match limiter.check(&scope, "k1", q).await {
            RateDecision::Allowed { remaining: r } => remaining.push(r),
            other => panic!("expected allowed, got {other:?}"),
        }
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    assert!(!limiter.check(&scope, "k1", q).await.is_allowed());
    assert_eq!(count_allowed(&limiter, &scope, "k2", q, 10).await, 5);
    assert_eq!(limiter.fallbacks(), 0);
}

#[tokio::test]
async fn retry_after_is_positive_and_bounded() {
    let Some(url) = redis_url() else { return };
    let limiter = RedisRateLimiter::connect(&url).await.unwrap();
    let scope = unique_scope("retry");
    let q = quota(30, 3);
    assert_eq!(count_allowed(&limiter, &scope, "k", q, 3).await, 3);
    match limiter.check(&scope, "k", q).await {
        RateDecision::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO);
            assert!(
                retry_after <= q.emission_interval() * q.burst.get(),
                "{retry_after:?}"
            );
        }
        other => panic!("expected limited, got {other:?}"),
    }
}

#[tokio::test]
async fn two_limiters_like_two_processes_share_one_budget() {
    let Some(url) = redis_url() else { return };
    let first = RedisRateLimiter::connect(&url).await.unwrap();
    let second = RedisRateLimiter::connect(&url).await.unwrap();
    let scope = unique_scope("shared");
    let q = quota(1, 5); // one per minute: nothing refills during the test

    let mut allowed = 0;
    for i in 0..20 {
        let limiter = if i % 2 == 0 { &first } else { &second };
        if limiter.check(&scope, "caller", q).await.is_allowed() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
    assert_eq!(first.fallbacks() + second.fallbacks(), 0);
}

#[tokio::test]
async fn concurrent_checks_never_exceed_the_burst() {
    let Some(url) = redis_url() else { return };
    let limiters = [
        Arc::new(RedisRateLimiter::connect(&url).await.unwrap()),
        Arc::new(RedisRateLimiter::connect(&url).await.unwrap()),
    ];
    let scope = unique_scope("concurrent");
    let q = quota(1, 7);

    let mut tasks = Vec::new();
    for i in 0..40 {
        let limiter = Arc::clone(&limiters[i % 2]);
        let scope = scope.clone();
        tasks.push(tokio::spawn(async move {
            limiter.check(&scope, "caller", q).await.is_allowed()
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 7);
}

#[tokio::test]
async fn keys_and_scopes_with_separators_stay_independent() {
    let Some(url) = redis_url() else { return };
    let limiter = RedisRateLimiter::connect(&url).await.unwrap();
    let scope = unique_scope("sep");
    let q = quota(1, 1);
    // Without escaping both would be `heddle:rl:{scope}:a:b`.
    assert!(
        limiter
            .check(&format!("{scope}:a"), "b", q)
            .await
            .is_allowed()
    );
    assert!(limiter.check(&scope, "a:b", q).await.is_allowed());
    assert!(
        limiter
            .check(&scope, "{a}*\r\n\0 ünïcode", q)
            .await
            .is_allowed()
    );
    assert!(!limiter.check(&scope, "a:b", q).await.is_allowed());
}

#[tokio::test]
async fn budget_keys_expire_once_refilled() {
    let Some(url) = redis_url() else { return };
    let limiter = RedisRateLimiter::connect(&url).await.unwrap();
    let scope = unique_scope("ttl");
    let q = quota(60, 3);
    assert_eq!(count_allowed(&limiter, &scope, "client1", q, 2).await, 2);

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(format!("heddle:rl:{scope}:client1"))
        .query_async(&mut connection)
        .await
        .unwrap();
    // Two requests of one second each: the budget is full again in at most two seconds.
    assert!(ttl_ms > 0, "the key exists and has an expiry: {ttl_ms}");
    assert!(ttl_ms <= 2_000, "{ttl_ms}");
}

#[tokio::test]
async fn unreachable_redis_still_limits_through_the_fallback() {
    let limiter = RedisRateLimiter::connect_lazy("redis://127.0.0.1:1").unwrap();
    let scope = unique_scope("fallback");
    let q = quota(60, 3);
    assert_eq!(count_allowed(&limiter, &scope, "caller", q, 10).await, 3);
    assert!(matches!(
        limiter.check(&scope, "caller", q).await,
        RateDecision::Limited { retry_after } if retry_after > Duration::ZERO
    ));
    assert_eq!(limiter.fallbacks(), 11);
}

#[tokio::test]
async fn connect_fails_fast_for_an_unreachable_redis() {
    let result = RedisRateLimiter::connect("redis://127.0.0.1:1").await;
    assert!(
        matches!(
            result,
            Err(RateLimitError::Redis(_) | RateLimitError::Timeout(_))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn connect_rejects_a_malformed_url_without_echoing_it() {
    let result = RedisRateLimiter::connect("not a url:secret-password").await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, RateLimitError::InvalidRedisUrl(_)),
        "{error:?}"
    );
    assert!(!error.to_string().contains("secret-password"));
}

#[test]
fn connect_lazy_outside_a_runtime_is_an_error_not_a_panic() {
    let result = RedisRateLimiter::connect_lazy("redis://127.0.0.1:6379");
    assert!(
        matches!(result, Err(RateLimitError::NoTokioRuntime)),
        "{result:?}"
    );
}

/// A TCP proxy in front of Redis that can drop every connection and refuse new ones, as a
/// Redis restart or network partition would.
struct FlakyProxy {
    url: String,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl FlakyProxy {
    /// `None` when the test URL does not name `host:port` literally (then the test skips).
    async fn start(redis_url: &str) -> Option<Self> {
        let client = redis::Client::open(redis_url).unwrap();
        let redis::ConnectionAddr::Tcp(host, port) = client.get_connection_info().addr().clone()
        else {
            return None;
        };
        let redis_addr = format!("{host}:{port}");
        if !redis_url.contains(&redis_addr) {
            return None;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = redis_url.replace(&redis_addr, &listener.local_addr().unwrap().to_string());
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (accept_up, accept_connections) = (Arc::clone(&up), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let Ok(mut outbound) = TcpStream::connect(&redis_addr).await else {
                    continue;
                };
                let task = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                accept_connections.lock().unwrap().push(task.abort_handle());
            }
        });
        Some(Self {
            url,
            up,
            connections,
        })
    }

    fn go_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn come_back(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn falls_back_during_an_outage_and_returns_to_redis_after() {
    let Some(url) = redis_url() else { return };
    let Some(proxy) = FlakyProxy::start(&url).await else {
        eprintln!("skipping: HEDDLE_TEST_REDIS_URL has no literal host:port to proxy");
        return;
    };
    let limiter = RedisRateLimiter::connect(&proxy.url).await.unwrap();
    let scope = unique_scope("outage");
    let q = quota(1, 1000);

    assert!(limiter.check(&scope, "caller", q).await.is_allowed());
    assert_eq!(limiter.fallbacks(), 0);

    proxy.go_down();
    for _ in 0..5 {
        assert!(limiter.check(&scope, "caller", q).await.is_allowed());
    }
    assert_eq!(
        limiter.fallbacks(),
        5,
        "every check during the outage fell back"
    );

    proxy.come_back();
    // Redis is skipped for a while after a failure; well past that, checks reach it again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut reached_redis = false;
    for _ in 0..20 {
        let before = limiter.fallbacks();
        assert!(limiter.check(&scope, "caller", q).await.is_allowed());
        if limiter.fallbacks() == before {
            reached_redis = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(reached_redis, "{limiter:?}");
}
