use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;

use crate::{Quota, RateDecision, RateLimiter};

/// Every this many checks, drop keys whose budget is full again, so memory stays proportional
/// to the callers active in the last few emission intervals, not to every caller ever seen.
const SWEEP_EVERY_CHECKS: u64 = 4096;

type KeyedLimiter<C> =
    governor::RateLimiter<String, DashMapStateStore<String>, C, StateInformationMiddleware>;
/// scope → quota → limiter; nested so a lookup by `&str` scope allocates nothing.
type LimitersByScope<C> = HashMap<String, HashMap<Quota, Arc<KeyedLimiter<C>>>>;

/// Per-process GCRA limits: one governor keyed limiter per (scope, quota).
///
/// A quota change for a scope starts fresh budgets (governor fixes a limiter's quota); the
/// old limiter is dropped once it is empty. Generic over the clock so tests can use
/// governor's `FakeRelativeClock`; everyone else uses the default.
pub struct InMemoryRateLimiter<C: Clock = DefaultClock> {
    clock: C,
    limiters: RwLock<LimitersByScope<C>>,
    checks: AtomicU64,
}

impl InMemoryRateLimiter {
    pub fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl Default for InMemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock + Clone> InMemoryRateLimiter<C> {
    pub fn with_clock(clock: C) -> Self {
        Self {
            clock,
            limiters: RwLock::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// Checks without awaiting; the trait's `check` and the Redis fallback share it.
    pub(crate) fn check_now(&self, scope: &str, key: &str, quota: Quota) -> RateDecision {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY_CHECKS
            == SWEEP_EVERY_CHECKS - 1
        {
            self.retain_recent();
        }
        let limiter = self.limiter_for(scope, quota);
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => RateDecision::Allowed {
                remaining: snapshot.remaining_burst_capacity(),
            },
            // Measured after the decision, so it can round to zero; a limited caller must wait.
            Err(not_until) => RateDecision::Limited {
                retry_after: not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_micros(1)),
            },
        }
    }

    /// Forgets keys whose budget is full again and limiters left with no keys.
    ///
    /// Runs by itself every few thousand checks; call it from a timer for tighter memory bounds.
    pub fn retain_recent(&self) {
        let mut any_empty = false;
        {
            let limiters = self.limiters.read().unwrap_or_else(PoisonError::into_inner);
            for limiter in limiters.values().flat_map(HashMap::values) {
                limiter.retain_recent();
                limiter.shrink_to_fit();
                any_empty |= limiter.is_empty();
            }
        }
        if any_empty {
            let mut limiters = self
                .limiters
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            // A strong count of 1 under the write lock means no check holds this limiter, so
            // dropping it loses no state a concurrent check just wrote.
            for by_quota in limiters.values_mut() {
                by_quota
                    .retain(|_, limiter| !(limiter.is_empty() && Arc::strong_count(limiter) == 1));
            }
            limiters.retain(|_, by_quota| !by_quota.is_empty());
        }
    }

    /// How many (scope, quota, key) budgets are held right now.
    pub fn tracked_keys(&self) -> usize {
        let limiters = self.limiters.read().unwrap_or_else(PoisonError::into_inner);
        limiters
            .values()
            .flat_map(HashMap::values)
            .map(|limiter| limiter.len())
            .sum()
    }

    fn limiter_for(&self, scope: &str, quota: Quota) -> Arc<KeyedLimiter<C>> {
        {
            let limiters = self.limiters.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(limiter) = limiters
                .get(scope)
                .and_then(|by_quota| by_quota.get(&quota))
            {
                return Arc::clone(limiter);
            }
        }
        let mut limiters = self
            .limiters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let limiter = limiters
            .entry(scope.to_owned())
            .or_default()
            .entry(quota)
            .or_insert_with(|| {
                Arc::new(
                    governor::RateLimiter::dashmap_with_clock(
                        quota.to_governor(),
                        self.clock.clone(),
                    )
                    .with_middleware::<StateInformationMiddleware>(),
                )
            });
        Arc::clone(limiter)
    }
}

#[async_trait::async_trait]
impl<C> RateLimiter for InMemoryRateLimiter<C>
where
    C: Clock + Clone + Send + Sync + fmt::Debug,
{
    async fn check(&self, scope: &str, key: &str, quota: Quota) -> RateDecision {
        self.check_now(scope, key, quota)
    }
}

impl<C: Clock> fmt::Debug for InMemoryRateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limiters = self.limiters.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("InMemoryRateLimiter")
            .field("scopes", &limiters.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
