use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{InMemoryRateLimiter, Quota, RateDecision, RateLimitError, RateLimiter};

/// A check that Redis does not answer within this falls back, so a slow Redis adds at most
/// this much latency to a request.
const CHECK_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, checks skip Redis for this long, so an outage does not cost every
/// request the full timeout.
const RETRY_REDIS_AFTER: Duration = Duration::from_secs(1);
/// `connect` waits this long for the first connection (startup, not a request path).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

const DEFAULT_KEY_PREFIX: &str = "heddle";

/// One GCRA budget per (scope, key) shared by every process using the same Redis.
///
/// Keys are `heddle:rl:{scope}:{key}` with scope and key escaped (see [`redis_key`]) and a
/// PX expiry of the time until the budget is full again. The quota is not part of the key: a
/// changed quota continues from the caller's current state.
///
/// # Failure behaviour
///
/// A check that errors or takes longer than 250 ms is answered by an embedded
/// [`InMemoryRateLimiter`] instead: limits stay enforced, but per process (so across N
/// processes a caller gets up to N budgets while Redis is down). For one second after a
/// failure, checks go straight to the fallback rather than each waiting for Redis again.
/// Every check answered by the fallback is counted in [`RedisRateLimiter::fallbacks`]; the
/// switch to and back from the fallback is logged once each (scope and error, never keys).
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    /// `<prefix>:rl:` with the prefix escaped; see [`RedisRateLimiter::with_key_prefix`].
    key_prefix: String,
    script: redis::Script,
    fallback: InMemoryRateLimiter,
    fallbacks: AtomicU64,
    degraded: AtomicBool,
    /// Milliseconds since `created` before which checks skip Redis.
    skip_redis_until_ms: AtomicU64,
    created: Instant,
}

impl RedisRateLimiter {
    /// Connects now and loads the script; errors if Redis is unreachable or refuses scripts,
    /// so a wrong `--redis-url` stops `heddle serve` at startup. Later outages fall back.
    pub async fn connect(url: &str) -> Result<Self, RateLimitError> {
        let limiter = Self::connect_lazy(url)?;
        let mut connection = limiter.connection.clone();
        let load = limiter.script.load_async(&mut connection);
        match tokio::time::timeout(CONNECT_TIMEOUT, load).await {
            Ok(Ok(_sha)) => Ok(limiter),
            Ok(Err(error)) => Err(RateLimitError::Redis(error)),
            Err(_elapsed) => Err(RateLimitError::Timeout(CONNECT_TIMEOUT)),
        }
    }

    /// Does not contact Redis: the first check connects, and until Redis answers checks fall
    /// back. Errors only for a malformed URL or outside a tokio runtime.
    pub fn connect_lazy(url: &str) -> Result<Self, RateLimitError> {
        let client = redis::Client::open(url).map_err(RateLimitError::InvalidRedisUrl)?;
        // The connection manager spawns a task; without a runtime that would panic.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RateLimitError::NoTokioRuntime);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CHECK_TIMEOUT))
            .set_response_timeout(Some(CHECK_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(100));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RateLimitError::Redis)?;
        Ok(Self {
            connection,
            key_prefix: key_prefix(DEFAULT_KEY_PREFIX),
            script: redis::Script::new(include_str!("redis_backed/gcra.lua")),
            fallback: InMemoryRateLimiter::new(),
            fallbacks: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            skip_redis_until_ms: AtomicU64::new(0),
            created: Instant::now(),
        })
    }

    /// Puts every key under `<prefix>:rl:` instead of `heddle:rl:`, so several deployments
    /// (or parallel test runs) can share one Redis without sharing budgets.
    pub fn with_key_prefix(mut self, prefix: &str) -> Self {
        self.key_prefix = key_prefix(prefix);
        self
    }

    /// How many checks the in-memory fallback answered since this limiter was created.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    async fn check_in_redis(
        &self,
        scope: &str,
        key: &str,
        quota: Quota,
    ) -> Result<RateDecision, CheckFailure> {
        let mut connection = self.connection.clone();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(redis_key(&self.key_prefix, scope, key))
            .arg(emission_interval_micros(quota))
            .arg(quota.burst.get());
        let reply = tokio::time::timeout(
            CHECK_TIMEOUT,
            invocation.invoke_async::<(i64, i64)>(&mut connection),
        )
        .await
        .map_err(|_elapsed| CheckFailure::Timeout)?
        .map_err(CheckFailure::Redis)?;
        Ok(decision_from_reply(reply))
    }

    fn fall_back(&self, scope: &str, key: &str, quota: Quota) -> RateDecision {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.fallback.check_now(scope, key, quota)
    }

    fn millis_since_created(&self) -> u64 {
        u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn redis_paused(&self) -> bool {
        self.millis_since_created() < self.skip_redis_until_ms.load(Ordering::Relaxed)
    }

    fn note_failure(&self, scope: &str, failure: &CheckFailure) {
        let retry_at = self
            .millis_since_created()
            .saturating_add(u64::try_from(RETRY_REDIS_AFTER.as_millis()).unwrap_or(u64::MAX));
        self.skip_redis_until_ms.store(retry_at, Ordering::Relaxed);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                scope,
                error = %failure,
                "redis rate limiter unavailable; enforcing limits per process until it answers"
            );
        } else {
            tracing::debug!(scope, error = %failure, "redis rate limiter still unavailable");
        }
    }

    fn note_success(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("redis rate limiter answering again; limits shared across processes");
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, scope: &str, key: &str, quota: Quota) -> RateDecision {
        if self.redis_paused() {
            return self.fall_back(scope, key, quota);
        }
        match self.check_in_redis(scope, key, quota).await {
            Ok(decision) => {
                self.note_success();
                decision
            }
            Err(failure) => {
                self.note_failure(scope, &failure);
                self.fall_back(scope, key, quota)
            }
        }
    }
}

impl fmt::Debug for RedisRateLimiter {
    // No URL: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("degraded", &self.degraded.load(Ordering::Relaxed))
            .field("fallbacks", &self.fallbacks())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum CheckFailure {
    Timeout,
    Redis(redis::RedisError),
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => write!(f, "no answer within {CHECK_TIMEOUT:?}"),
            Self::Redis(error) => write!(f, "{error}"),
        }
    }
}

/// The script works in whole µs; quotas above a million per second per key are clamped.
fn emission_interval_micros(quota: Quota) -> u64 {
    u64::try_from(quota.emission_interval().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn decision_from_reply((allowed, value): (i64, i64)) -> RateDecision {
    if allowed == 1 {
        RateDecision::Allowed {
            remaining: u32::try_from(value.max(0)).unwrap_or(u32::MAX),
        }
    } else {
        // Never report a zero wait for a limited request.
        RateDecision::Limited {
            retry_after: Duration::from_micros(u64::try_from(value).unwrap_or(0).max(1)),
        }
    }
}

/// `heddle:rl:{scope}:{key}` with both parts percent-escaped, so `:` only ever separates
/// the parts (scope `a:b` + key `c` and scope `a` + key `b:c` stay distinct) and a `{…}`
/// from a caller cannot become a Redis Cluster hash tag.
fn redis_key(prefix: &str, scope: &str, key: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + scope.len() + key.len() + 1);
    out.push_str(prefix);
    escape_into(&mut out, scope);
    out.push(':');
    escape_into(&mut out, key);
    out
}

fn key_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    escape_into(&mut out, prefix);
    out.push_str(":rl:");
    out
}

fn escape_into(out: &mut String, part: &str) {
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        }
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn keys_escape_separators_and_hash_tags() {
        assert_eq!(
            redis_key("heddle:rl:", "ip", "10.0.0.1"),
            "heddle:rl:ip:10.0.0.1"
        );
        assert_eq!(key_prefix("acme prod"), "acme%20prod:rl:");
        assert_eq!(redis_key("heddle:rl:", "ip", "::1"), "heddle:rl:ip:%3A%3A1");
        assert_eq!(
            redis_key("heddle:rl:", "api_key", "{x}%"),
            "heddle:rl:api_key:%7Bx%7D%25"
        );
        assert_ne!(
            redis_key("heddle:rl:", "a:b", "c"),
            redis_key("heddle:rl:", "a", "b:c")
        );
        assert_eq!(redis_key("heddle:rl:", "s", "é\n"), "heddle:rl:s:%C3%A9%0A");
    }

    #[test]
    fn replies_map_to_decisions() {
        assert_eq!(
            decision_from_reply((1, 4)),
            RateDecision::Allowed { remaining: 4 }
        );
        assert_eq!(
            decision_from_reply((0, 1_500_000)),
            RateDecision::Limited {
                retry_after: Duration::from_millis(1500)
            }
        );
        assert_eq!(
            decision_from_reply((0, 0)),
            RateDecision::Limited {
                retry_after: Duration::from_micros(1)
            }
        );
        assert_eq!(
            decision_from_reply((1, -3)),
            RateDecision::Allowed { remaining: 0 }
        );
    }

    #[test]
    fn emission_interval_is_whole_microseconds_and_never_zero() {
        let q = |per_minute| Quota::new(NonZeroU32::new(per_minute).unwrap(), NonZeroU32::MIN);
        assert_eq!(emission_interval_micros(q(60)), 1_000_000);
        assert_eq!(emission_interval_micros(q(7)), 8_571_428);
        assert_eq!(emission_interval_micros(q(u32::MAX)), 1);
    }
}
