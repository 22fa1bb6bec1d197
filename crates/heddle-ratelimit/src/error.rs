use std::time::Duration;

/// Why a Redis rate limiter could not be set up. Checks themselves never fail: they fall back.
///
/// Messages never contain the Redis URL, because it may hold a password; they do carry the
/// Redis client's own message (which does not), so `to_string()` alone is actionable.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("invalid redis url (not shown: it may hold a password): {0}")]
    InvalidRedisUrl(redis::RedisError),
    #[error("cannot use redis for rate limits: {0}")]
    Redis(redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the redis rate limiter must be created inside a tokio runtime")]
    NoTokioRuntime,
}
