use std::time::Duration;

use heddle_ratelimit::{InMemoryRateLimiter, RateDecision, RateLimiter};

use crate::{count_allowed, quota};

#[tokio::test]
async fn burst_is_allowed_then_limited_with_a_sensible_retry_after() {
    let limiter = InMemoryRateLimiter::new();
    let q = quota(60, 5);
    assert_eq!(count_allowed(&limiter, "api_key", "k1", q, 5).await, 5);
    match limiter.check("api_key", "k1", q).await {
        RateDecision::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO);
            assert!(retry_after <= q.emission_interval(), "{retry_after:?}");
        }
        other => panic!("expected limited, got {other:?}"),
    }
}

#[tokio::test]
async fn different_keys_are_independent() {
    let limiter = InMemoryRateLimiter::new();
    let q = quota(60, 2);
    assert_eq!(count_allowed(&limiter, "ip", "10.0.0.1", q, 5).await, 2);
    assert_eq!(count_allowed(&limiter, "ip", "10.0.0.2", q, 5).await, 2);
}

#[tokio::test]
async fn different_scopes_are_independent() {
    let limiter = InMemoryRateLimiter::new();
    let q = quota(60, 2);
    assert_eq!(count_allowed(&limiter, "login", "alice", q, 5).await, 2);
    assert_eq!(count_allowed(&limiter, "user", "alice", q, 5).await, 2);
}

#[tokio::test]
async fn budget_refills_over_time() {
    let limiter = InMemoryRateLimiter::new();
    let q = quota(6000, 2); // one request per 10 ms
    assert_eq!(count_allowed(&limiter, "ip", "10.0.0.1", q, 5).await, 2);
    // Several intervals pass: at least one request refills, never more than the burst.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let allowed = count_allowed(&limiter, "ip", "10.0.0.1", q, 5).await;
    assert!((1..=2).contains(&allowed), "{allowed}");
}
