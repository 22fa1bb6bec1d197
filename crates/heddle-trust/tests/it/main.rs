//! heddle-trust's integration tests, one binary: the detectors scored on the shared labeled
//! sets (failing, not skipping, when the sets are missing) and the masking round-trip
//! properties.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod holdout;
mod injection_eval;
mod masking;
mod pii_eval;
