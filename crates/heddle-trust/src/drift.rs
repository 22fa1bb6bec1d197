//! Drift detection over embeddings: has what an agent says (or is asked) moved away from what
//! it used to be? The runtime embeds texts and hands the vectors here; this module keeps a
//! baseline centroid, a bounded window of recent samples, and decides by cosine distance.
//!
//! Every sample is scaled to unit length before it is averaged, so the centroid is the mean
//! direction and a long vector does not outweigh a short one (most embedders already return
//! unit vectors; this makes the others behave the same).

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Cosine distance, `1 - cos θ`, in `[0, 2]`: 0 for the same direction, 1 for orthogonal,
/// 2 for opposite. `None` when the lengths differ, a vector is empty or zero, or a component
/// is not finite.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    // f64 accumulation: long f32 dot products lose the digits that separate near-identical
    // vectors.
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a == 0.0 || norm_b == 0.0 || !norm_a.is_finite() || !norm_b.is_finite() {
        return None;
    }
    let cosine = dot / (norm_a.sqrt() * norm_b.sqrt());
    Some((1.0 - cosine).clamp(0.0, 2.0) as f32)
}

/// Why a vector cannot join a baseline or window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "error")]
pub enum DriftError {
    /// No samples to build a baseline from.
    NoSamples,
    /// A vector with no components.
    Empty,
    /// A vector of another dimension than the baseline's.
    Dimension { expected: usize, found: usize },
    /// A NaN or infinite component.
    NonFinite,
    /// An all-zero vector has no direction.
    ZeroVector,
    /// A window must hold at least one sample.
    ZeroCapacity,
    /// A stored baseline whose centroid does not match its dimension or count.
    Corrupt,
}

impl fmt::Display for DriftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriftError::NoSamples => f.write_str("no samples"),
            DriftError::Empty => f.write_str("the vector is empty"),
            DriftError::Dimension { expected, found } => {
                write!(
                    f,
                    "expected a vector of dimension {expected}, found {found}"
                )
            }
            DriftError::NonFinite => f.write_str("the vector has a NaN or infinite component"),
            DriftError::ZeroVector => f.write_str("the vector is all zeros"),
            DriftError::ZeroCapacity => f.write_str("a drift window holds at least one sample"),
            DriftError::Corrupt => f.write_str("the stored baseline is inconsistent"),
        }
    }
}

impl std::error::Error for DriftError {}

/// `v` scaled to unit length, in f64.
fn unit(v: &[f32]) -> Result<Vec<f64>, DriftError> {
    if v.is_empty() {
        return Err(DriftError::Empty);
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(DriftError::NonFinite);
    }
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(DriftError::ZeroVector);
    }
    Ok(v.iter().map(|&x| f64::from(x) / norm).collect())
}

/// The mean direction of the samples an agent was judged normal on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredBaseline")]
pub struct DriftBaseline {
    centroid: Vec<f32>,
    count: u64,
    dimension: usize,
}

/// The serialized form, checked before it becomes a baseline.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBaseline {
    centroid: Vec<f32>,
    count: u64,
    dimension: usize,
}

impl TryFrom<StoredBaseline> for DriftBaseline {
    type Error = DriftError;

    fn try_from(stored: StoredBaseline) -> Result<Self, Self::Error> {
        if stored.dimension == 0
            || stored.centroid.len() != stored.dimension
            || stored.count == 0
            || stored.centroid.iter().any(|x| !x.is_finite())
        {
            return Err(DriftError::Corrupt);
        }
        Ok(DriftBaseline {
            centroid: stored.centroid,
            count: stored.count,
            dimension: stored.dimension,
        })
    }
}

impl DriftBaseline {
    /// The baseline of `samples`, which must all have the same dimension.
    pub fn from_samples(samples: &[Vec<f32>]) -> Result<Self, DriftError> {
        let (first, rest) = samples.split_first().ok_or(DriftError::NoSamples)?;
        let mut baseline = DriftBaseline::from_first(first)?;
        for sample in rest {
            baseline.add_sample(sample)?;
        }
        Ok(baseline)
    }

    fn from_first(sample: &[f32]) -> Result<Self, DriftError> {
        let unit = unit(sample)?;
        Ok(DriftBaseline {
            dimension: unit.len(),
            centroid: unit.into_iter().map(|x| x as f32).collect(),
            count: 1,
        })
    }

    /// Folds one more sample into the running mean.
    pub fn add_sample(&mut self, sample: &[f32]) -> Result<(), DriftError> {
        if sample.len() != self.dimension {
            return Err(DriftError::Dimension {
                expected: self.dimension,
                found: sample.len(),
            });
        }
        let unit = unit(sample)?;
        let count = self.count.saturating_add(1);
        let weight = 1.0 / count as f64;
        for (c, x) in self.centroid.iter_mut().zip(unit) {
            let mean = f64::from(*c);
            *c = (mean + (x - mean) * weight) as f32;
        }
        self.count = count;
        Ok(())
    }

    pub fn centroid(&self) -> &[f32] {
        &self.centroid
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }
}

/// The outcome of comparing a sample, or a window's mean, with a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum DriftVerdict {
    /// The baseline has fewer samples than the check requires; no judgement yet.
    InsufficientBaseline {
        count: u64,
        needed: u64,
    },
    /// The window is not full yet; no judgement yet.
    InsufficientWindow {
        len: usize,
        needed: usize,
    },
    /// The sample cannot be compared: another dimension, a zero vector, a NaN.
    Incomparable,
    Within {
        distance: f32,
    },
    Drifted {
        distance: f32,
    },
}

impl DriftVerdict {
    pub fn is_drifted(&self) -> bool {
        matches!(self, DriftVerdict::Drifted { .. })
    }
}

/// When a distance from the baseline counts as drift.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftCheck {
    /// Cosine distance above which the sample has drifted.
    pub threshold: f32,
    /// Baseline samples needed before any verdict.
    pub min_baseline: u64,
}

impl DriftCheck {
    /// Compares one sample with the baseline.
    pub fn assess(&self, baseline: &DriftBaseline, sample: &[f32]) -> DriftVerdict {
        if baseline.count < self.min_baseline {
            return DriftVerdict::InsufficientBaseline {
                count: baseline.count,
                needed: self.min_baseline,
            };
        }
        match cosine_distance(&baseline.centroid, sample) {
            Some(distance) if distance > self.threshold => DriftVerdict::Drifted { distance },
            Some(distance) => DriftVerdict::Within { distance },
            None => DriftVerdict::Incomparable,
        }
    }

    /// Compares the mean of a full window with the baseline: drift that lasts, not one odd
    /// answer. A window that is not full yet gives no verdict.
    pub fn assess_window(&self, baseline: &DriftBaseline, window: &DriftWindow) -> DriftVerdict {
        if baseline.count < self.min_baseline {
            return DriftVerdict::InsufficientBaseline {
                count: baseline.count,
                needed: self.min_baseline,
            };
        }
        if !window.is_full() {
            return DriftVerdict::InsufficientWindow {
                len: window.len(),
                needed: window.capacity,
            };
        }
        match window.mean() {
            Some(mean) => self.assess(baseline, &mean),
            None => DriftVerdict::Incomparable,
        }
    }
}

/// The last `capacity` samples (unit-scaled) and their running sum, so the recent centroid
/// costs one pass over the dimension, not over the window.
#[derive(Debug, Clone)]
pub struct DriftWindow {
    capacity: usize,
    dimension: usize,
    samples: VecDeque<Vec<f64>>,
    sum: Vec<f64>,
    /// Evictions since the sum was last recomputed: subtracting floats drifts by itself.
    evictions: usize,
}

impl DriftWindow {
    /// A window of the last `capacity` samples of vectors of `dimension` components.
    pub fn new(capacity: usize, dimension: usize) -> Result<Self, DriftError> {
        if capacity == 0 {
            return Err(DriftError::ZeroCapacity);
        }
        if dimension == 0 {
            return Err(DriftError::Empty);
        }
        Ok(DriftWindow {
            capacity,
            dimension,
            samples: VecDeque::with_capacity(capacity),
            sum: vec![0.0; dimension],
            evictions: 0,
        })
    }

    /// Adds a sample, evicting the oldest when full.
    pub fn push(&mut self, sample: &[f32]) -> Result<(), DriftError> {
        if sample.len() != self.dimension {
            return Err(DriftError::Dimension {
                expected: self.dimension,
                found: sample.len(),
            });
        }
        let unit = unit(sample)?;
        if self.samples.len() == self.capacity
            && let Some(oldest) = self.samples.pop_front()
        {
            for (s, x) in self.sum.iter_mut().zip(&oldest) {
                *s -= x;
            }
            self.evictions += 1;
        }
        for (s, x) in self.sum.iter_mut().zip(&unit) {
            *s += x;
        }
        self.samples.push_back(unit);
        if self.evictions >= self.capacity {
            self.recompute();
        }
        Ok(())
    }

    fn recompute(&mut self) {
        self.sum.iter_mut().for_each(|s| *s = 0.0);
        for sample in &self.samples {
            for (s, x) in self.sum.iter_mut().zip(sample) {
                *s += x;
            }
        }
        self.evictions = 0;
    }

    /// The mean of the samples in the window; `None` when empty.
    pub fn mean(&self) -> Option<Vec<f32>> {
        if self.samples.is_empty() {
            return None;
        }
        let n = self.samples.len() as f64;
        Some(self.sum.iter().map(|s| (s / n) as f32).collect())
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.samples.len() == self.capacity
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn clear(&mut self) {
        self.samples.clear();
        self.sum.iter_mut().for_each(|s| *s = 0.0);
        self.evictions = 0;
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn cosine_distance_examples() {
        assert!(close(
            cosine_distance(&[1.0, 0.0], &[2.0, 0.0]).unwrap(),
            0.0
        ));
        assert!(close(
            cosine_distance(&[1.0, 0.0], &[0.0, 3.0]).unwrap(),
            1.0
        ));
        assert!(close(
            cosine_distance(&[1.0, 1.0], &[-1.0, -1.0]).unwrap(),
            2.0
        ));
        assert_eq!(cosine_distance(&[1.0], &[1.0, 0.0]), None);
        assert_eq!(cosine_distance(&[], &[]), None);
        assert_eq!(cosine_distance(&[0.0, 0.0], &[1.0, 0.0]), None);
        assert_eq!(cosine_distance(&[f32::NAN, 1.0], &[1.0, 0.0]), None);
        assert_eq!(cosine_distance(&[f32::INFINITY, 1.0], &[1.0, 0.0]), None);
    }

    #[test]
    fn baseline_is_the_mean_direction() {
        let baseline = DriftBaseline::from_samples(&[vec![2.0, 0.0], vec![0.0, 5.0]]).unwrap();
        assert_eq!(baseline.count(), 2);
        assert_eq!(baseline.dimension(), 2);
        // Both samples weigh the same despite their lengths.
        assert!(close(baseline.centroid()[0], 0.5));
        assert!(close(baseline.centroid()[1], 0.5));
    }

    #[test]
    fn baseline_errors() {
        assert_eq!(DriftBaseline::from_samples(&[]), Err(DriftError::NoSamples));
        assert_eq!(
            DriftBaseline::from_samples(&[vec![1.0, 0.0], vec![1.0]]),
            Err(DriftError::Dimension {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            DriftBaseline::from_samples(&[vec![0.0, 0.0]]),
            Err(DriftError::ZeroVector)
        );
        assert_eq!(
            DriftBaseline::from_samples(&[vec![f32::NAN]]),
            Err(DriftError::NonFinite)
        );
        assert_eq!(
            DriftBaseline::from_samples(&[vec![]]),
            Err(DriftError::Empty)
        );
        let mut baseline = DriftBaseline::from_samples(&[vec![1.0, 0.0]]).unwrap();
        assert!(baseline.add_sample(&[0.0, 0.0]).is_err());
        assert_eq!(baseline.count(), 1);
    }

    #[test]
    fn baseline_round_trips_and_refuses_corrupt_copies() {
        let baseline = DriftBaseline::from_samples(&[vec![1.0, 2.0, 3.0]]).unwrap();
        let json = serde_json::to_value(&baseline).unwrap();
        let back: DriftBaseline = serde_json::from_value(json).unwrap();
        assert_eq!(back, baseline);
        let corrupt = serde_json::json!({"centroid": [1.0, 0.0], "count": 3, "dimension": 3});
        assert!(serde_json::from_value::<DriftBaseline>(corrupt).is_err());
        let empty = serde_json::json!({"centroid": [1.0], "count": 0, "dimension": 1});
        assert!(serde_json::from_value::<DriftBaseline>(empty).is_err());
    }

    #[test]
    fn assess_single_samples() {
        let check = DriftCheck {
            threshold: 0.3,
            min_baseline: 3,
        };
        let mut baseline = DriftBaseline::from_samples(&[vec![1.0, 0.1, 0.0]]).unwrap();
        assert_eq!(
            check.assess(&baseline, &[1.0, 0.0, 0.0]),
            DriftVerdict::InsufficientBaseline {
                count: 1,
                needed: 3
            }
        );
        baseline.add_sample(&[1.0, 0.0, 0.1]).unwrap();
        baseline.add_sample(&[0.9, 0.1, 0.1]).unwrap();
        assert!(matches!(
            check.assess(&baseline, &[1.0, 0.05, 0.05]),
            DriftVerdict::Within { distance } if distance < 0.05
        ));
        assert!(check.assess(&baseline, &[0.0, 0.0, 1.0]).is_drifted());
        assert_eq!(
            check.assess(&baseline, &[1.0, 0.0]),
            DriftVerdict::Incomparable
        );
    }

    #[test]
    fn window_alerts_on_sustained_drift_only() {
        let check = DriftCheck {
            threshold: 0.2,
            min_baseline: 1,
        };
        let baseline = DriftBaseline::from_samples(&[vec![1.0, 0.0], vec![0.95, 0.05]]).unwrap();
        let mut window = DriftWindow::new(4, 2).unwrap();
        window.push(&[1.0, 0.0]).unwrap();
        assert_eq!(
            check.assess_window(&baseline, &window),
            DriftVerdict::InsufficientWindow { len: 1, needed: 4 }
        );
        window.push(&[1.0, 0.02]).unwrap();
        window.push(&[0.98, 0.0]).unwrap();
        // One odd answer: the single sample drifts, the window does not.
        window.push(&[0.0, 1.0]).unwrap();
        assert!(check.assess(&baseline, &[0.0, 1.0]).is_drifted());
        assert!(matches!(
            check.assess_window(&baseline, &window),
            DriftVerdict::Within { .. }
        ));
        // It lasts: the window follows.
        for _ in 0..3 {
            window.push(&[0.0, 1.0]).unwrap();
        }
        assert_eq!(window.len(), 4);
        assert!(check.assess_window(&baseline, &window).is_drifted());
        // And recovers when the answers do.
        for _ in 0..4 {
            window.push(&[1.0, 0.0]).unwrap();
        }
        assert!(matches!(
            check.assess_window(&baseline, &window),
            DriftVerdict::Within { distance } if distance < 0.01
        ));
    }

    #[test]
    fn window_errors_and_long_runs_stay_accurate() {
        assert_eq!(
            DriftWindow::new(0, 3).unwrap_err(),
            DriftError::ZeroCapacity
        );
        assert_eq!(DriftWindow::new(3, 0).unwrap_err(), DriftError::Empty);
        let mut window = DriftWindow::new(3, 2).unwrap();
        assert!(window.mean().is_none());
        assert!(window.push(&[1.0]).is_err());
        assert!(window.push(&[0.0, 0.0]).is_err());
        assert!(window.is_empty());
        for i in 0..10_000u32 {
            let angle = f32::from(u16::try_from(i % 360).unwrap()).to_radians();
            window.push(&[angle.cos(), angle.sin()]).unwrap();
        }
        for _ in 0..3 {
            window.push(&[0.6, 0.8]).unwrap();
        }
        let mean = window.mean().unwrap();
        assert!(close(mean[0], 0.6) && close(mean[1], 0.8), "{mean:?}");
        window.clear();
        assert!(window.is_empty());
    }

    fn vector() -> impl Strategy<Value = Vec<f32>> {
        prop::collection::vec(-100.0f32..100.0, 1..48)
    }

    fn pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
        (1usize..48).prop_flat_map(|n| {
            (
                prop::collection::vec(-100.0f32..100.0, n),
                prop::collection::vec(-100.0f32..100.0, n),
            )
        })
    }

    proptest! {
        #[test]
        fn distance_is_bounded_and_symmetric((a, b) in pair()) {
            if let Some(d) = cosine_distance(&a, &b) {
                prop_assert!((0.0..=2.0).contains(&d));
                let back = cosine_distance(&b, &a).unwrap();
                prop_assert!(close(d, back));
            }
        }

        #[test]
        fn identical_vectors_are_at_zero(a in vector()) {
            if a.iter().any(|&x| x != 0.0) {
                prop_assert!(cosine_distance(&a, &a).unwrap() < 1e-5);
            } else {
                prop_assert_eq!(cosine_distance(&a, &a), None);
            }
        }

        #[test]
        fn distance_is_scale_invariant((a, b) in pair(), k in 0.001f32..1000.0) {
            let scaled: Vec<f32> = a.iter().map(|x| x * k).collect();
            match (cosine_distance(&a, &b), cosine_distance(&scaled, &b)) {
                (Some(d), Some(e)) => prop_assert!(close(d, e), "{d} vs {e}"),
                (None, None) => {}
                // Scaling a tiny vector may underflow it to zero.
                (Some(_), None) => prop_assert!(scaled.iter().all(|&x| x == 0.0) || a.iter().all(|&x| x.abs() < 1e-30)),
                (None, Some(_)) => prop_assert!(false, "scaling made a vector comparable"),
            }
        }
    }
}
