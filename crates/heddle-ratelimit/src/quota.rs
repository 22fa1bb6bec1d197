use std::num::NonZeroU32;
use std::time::Duration;

/// A GCRA quota: `per_minute` requests per minute sustained, up to `burst` at once.
///
/// One request is replenished every [`Quota::emission_interval`]; a caller idle for
/// `burst` intervals can send `burst` requests back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Quota {
    pub const fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        Self { per_minute, burst }
    }

    /// The time it takes to replenish one request.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.get()
    }

    pub(crate) fn to_governor(self) -> governor::Quota {
        governor::Quota::per_minute(self.per_minute).allow_burst(self.burst)
    }
}

/// The outcome of one [`crate::RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// The request fits; `remaining` more could be sent right now.
    Allowed { remaining: u32 },
    /// Over quota; the next request fits after `retry_after` (for a `Retry-After` header).
    Limited { retry_after: Duration },
}

impl RateDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}
