//! Retry delays: exponential backoff with full jitter (a uniformly random delay between zero
//! and an exponentially growing ceiling), so many sinks failing at once do not retry in step.

use std::time::Duration;

/// Ceiling of the first retry's delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// No delay is longer than this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Delay before retry number `attempt` (0 for the first retry): uniform in
/// `[0, min(BACKOFF_CAP, BACKOFF_BASE · 2^attempt)]`. A server's `Retry-After`
/// ([`DeliveryError::retry_after`](crate::DeliveryError::retry_after)) is a floor on top.
pub fn backoff(attempt: u32) -> Duration {
    backoff_with(attempt, BACKOFF_BASE, BACKOFF_CAP)
}

/// [`backoff`] with another base and cap (tests use milliseconds).
pub fn backoff_with(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(2u32.saturating_pow(attempt)).min(cap);
    let mut bytes = [0u8; 8];
    // Jitter is not a secret; if the OS generator fails, waiting the full ceiling is safe.
    if heddle_crypto::fill_random(&mut bytes).is_err() {
        return ceiling;
    }
    // 53 random bits give a uniform f64 in [0, 1).
    let fraction = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    ceiling.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_ceiling_and_the_cap() {
        for attempt in 0..40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(BACKOFF_CAP);
            for _ in 0..50 {
                let delay = backoff(attempt);
                assert!(
                    delay <= ceiling,
                    "attempt {attempt}: {delay:?} > {ceiling:?}"
                );
            }
        }
        assert!(backoff(u32::MAX) <= BACKOFF_CAP);
    }

    #[test]
    fn delays_are_jittered() {
        let delays: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(10)).collect();
        assert!(delays.len() > 1, "full jitter must vary the delay");
    }

    #[test]
    fn custom_base_and_cap() {
        for _ in 0..50 {
            let delay = backoff_with(3, Duration::from_millis(10), Duration::from_millis(50));
            assert!(delay <= Duration::from_millis(50));
        }
    }
}
