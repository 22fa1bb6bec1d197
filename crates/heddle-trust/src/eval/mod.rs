//! Scoring the detectors on labeled sets in the format of `shared/eval/`.

pub mod injection;
pub mod pii;
