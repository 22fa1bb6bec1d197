use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::FakeRelativeClock;

use super::*;

fn quota(per_minute: u32, burst: u32) -> Quota {
    Quota::new(
        NonZeroU32::new(per_minute).unwrap(),
        NonZeroU32::new(burst).unwrap(),
    )
}

#[test]
fn burst_then_limited_with_retry_after_of_one_interval() {
    let limiter = InMemoryRateLimiter::with_clock(FakeRelativeClock::default());
    let q = quota(60, 3); // one per second
    let remaining: Vec<_> = (0..3)
        .map(|_| match limiter.check_now("ip", "10.0.0.1", q) {
            RateDecision::Allowed { remaining } => remaining,
            other => panic!("expected allowed, got {other:?}"),
        })
        .collect();
    assert_eq!(remaining, [2, 1, 0]);
    assert_eq!(
        limiter.check_now("ip", "10.0.0.1", q),
        RateDecision::Limited {
            retry_after: Duration::from_secs(1)
        }
    );
}

#[test]
fn refills_one_request_per_emission_interval() {
    let clock = FakeRelativeClock::default();
    let limiter = InMemoryRateLimiter::with_clock(clock.clone());
    let q = quota(60, 2);
    assert!(limiter.check_now("login", "alice", q).is_allowed());
    assert!(limiter.check_now("login", "alice", q).is_allowed());
    assert!(!limiter.check_now("login", "alice", q).is_allowed());

    clock.advance(Duration::from_millis(1500));
    assert!(limiter.check_now("login", "alice", q).is_allowed());
    assert_eq!(
        limiter.check_now("login", "alice", q),
        RateDecision::Limited {
            retry_after: Duration::from_millis(500)
        }
    );

    // A long pause refills up to the burst, not beyond.
    clock.advance(Duration::from_secs(600));
    let allowed = (0..10)
        .filter(|_| limiter.check_now("login", "alice", q).is_allowed())
        .count();
    assert_eq!(allowed, 2);
}

#[test]
fn different_quotas_in_one_scope_are_separate_budgets() {
    let limiter = InMemoryRateLimiter::with_clock(FakeRelativeClock::default());
    assert!(
        limiter
            .check_now("api_key", "k1", quota(60, 1))
            .is_allowed()
    );
    assert!(
        !limiter
            .check_now("api_key", "k1", quota(60, 1))
            .is_allowed()
    );
    assert!(
        limiter
            .check_now("api_key", "k1", quota(120, 1))
            .is_allowed()
    );
}

#[test]
fn retain_recent_forgets_refilled_keys_and_empty_limiters() {
    let clock = FakeRelativeClock::default();
    let limiter = InMemoryRateLimiter::with_clock(clock.clone());
    let q = quota(60, 5);
    for i in 0..100 {
        limiter.check_now("ip", &format!("10.0.0.{i}"), q);
    }
    assert_eq!(limiter.tracked_keys(), 100);

    limiter.retain_recent();
    assert_eq!(limiter.tracked_keys(), 100, "budgets not yet refilled stay");

    clock.advance(Duration::from_secs(60));
    limiter.retain_recent();
    assert_eq!(limiter.tracked_keys(), 0);
    assert!(
        limiter.limiters.read().unwrap().is_empty(),
        "an empty limiter is dropped too"
    );
}

#[test]
fn sweeps_by_itself_as_checks_go_by() {
    let clock = FakeRelativeClock::default();
    let limiter = InMemoryRateLimiter::with_clock(clock.clone());
    let q = quota(6000, 1); // refilled after 10 ms
    for i in 0..SWEEP_EVERY_CHECKS {
        limiter.check_now("ip", &format!("old-{i}"), q);
    }
    clock.advance(Duration::from_secs(1));
    for i in 0..SWEEP_EVERY_CHECKS {
        limiter.check_now("ip", &format!("new-{i}"), q);
    }
    assert!(
        limiter.tracked_keys() <= SWEEP_EVERY_CHECKS as usize,
        "old keys were swept: {}",
        limiter.tracked_keys()
    );
}
