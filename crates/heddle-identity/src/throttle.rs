//! Records a repeated refusal of the same credential at most once per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before old ones are swept; bounds memory under a flood of distinct ids.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
pub(crate) struct RefusalThrottle {
    window: Duration,
    last_recorded: Mutex<HashMap<String, Instant>>,
}

impl RefusalThrottle {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            last_recorded: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a refusal of `credential_id` should be recorded now (and remembers it).
    pub(crate) fn should_record(&self, credential_id: &str) -> bool {
        let now = Instant::now();
        let mut seen = self
            .last_recorded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, at| now.duration_since(*at) < self.window);
        }
        match seen.get(credential_id) {
            Some(at) if now.duration_since(*at) < self.window => false,
            _ => {
                seen.insert(credential_id.to_owned(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_credential_per_window() {
        let throttle = RefusalThrottle::new(Duration::from_secs(60));
        assert!(throttle.should_record("key-1"));
        assert!(!throttle.should_record("key-1"));
        assert!(
            throttle.should_record("key-2"),
            "other credentials are independent"
        );
    }

    #[test]
    fn the_window_expires() {
        let throttle = RefusalThrottle::new(Duration::ZERO);
        assert!(throttle.should_record("key-1"));
        assert!(throttle.should_record("key-1"));
    }
}
