//! Rate limits for Heddle's HTTP server: per API key, per user, per client IP, and a stricter
//! one for login attempts. One [`RateLimiter`] trait, two implementations: [`InMemoryRateLimiter`]
//! (per process, governor) and [`RedisRateLimiter`] (one budget shared by every `heddle serve`
//! process through Redis).
//!
//! Invariants: both use GCRA with the same meaning of a [`Quota`] (a sustained rate plus a burst);
//! a check never panics and never returns "allowed" just because a backend failed: when Redis is
//! unreachable or slow the Redis limiter falls back to its own in-memory limiter, so limits stay
//! enforced (per process) and the fallback is logged and counted. Keys are caller ids or IPs,
//! never secrets, and are never logged.

mod error;
mod in_memory;
mod quota;
mod redis_backed;

pub use error::RateLimitError;
pub use in_memory::InMemoryRateLimiter;
pub use quota::{Quota, RateDecision};
pub use redis_backed::RedisRateLimiter;

/// Decides whether one more request of a caller fits its quota, and records it if so.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// `scope` names the limit class ("api_key", "ip", "login"…); `key` the caller within it.
    ///
    /// Scopes are independent: the same key in two scopes has two budgets. Keys may contain any
    /// characters; pass ids or IPs, not secrets.
    async fn check(&self, scope: &str, key: &str, quota: Quota) -> RateDecision;
}
