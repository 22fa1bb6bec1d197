//! One integration-test binary for heddle-ratelimit: the in-memory limiter with real time,
//! and the Redis limiter against `HEDDLE_TEST_REDIS_URL`.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

mod in_memory;
mod redis_shared;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use heddle_ratelimit::{Quota, RateLimiter};

fn quota(per_minute: u32, burst: u32) -> Quota {
    Quota::new(
        NonZeroU32::new(per_minute).unwrap(),
        NonZeroU32::new(burst).unwrap(),
    )
}

/// A scope no other test (or earlier run against the same Redis) uses.
fn unique_scope(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test-{name}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn count_allowed(
    limiter: &dyn RateLimiter,
    scope: &str,
    key: &str,
    q: Quota,
    checks: usize,
) -> usize {
    let mut allowed = 0;
    for _ in 0..checks {
        if limiter.check(scope, key, q).await.is_allowed() {
            allowed += 1;
        }
    }
    allowed
}
