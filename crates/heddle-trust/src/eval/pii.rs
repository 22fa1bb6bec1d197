//! Span-level scoring of a PII detector against the labeled JSONL set (format in the eval
//! set's README). Exact match is the headline number; overlap is reported beside it so a
//! detector that finds the right thing with a slightly different boundary is visible as such.
//! Hard negatives (record ids, money, versions, bad-checksum numbers) never overlap a gold
//! span, so any prediction touching one is a false positive of the predicted type and is also
//! counted on its own.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::finding::{EntityKind, PiiFinding};

/// One labeled text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PiiItem {
    pub id: String,
    pub text: String,
    pub spans: Vec<GoldSpan>,
    #[serde(default)]
    pub negatives: Vec<HardNegative>,
    #[serde(default)]
    pub template: String,
}

/// A span that must be found. Offsets are UTF-8 byte offsets, end exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GoldSpan {
    pub start_byte: usize,
    pub end_byte: usize,
    #[serde(rename = "type")]
    pub kind: EntityKind,
}

/// A value that must not be masked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HardNegative {
    pub start_byte: usize,
    pub end_byte: usize,
    pub kind: String,
}

/// Why a JSONL file could not be read as an evaluation set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// A line is not a valid item (bad JSON, missing field, unknown type).
    Parse { line: usize, message: String },
    /// An item's offsets do not fit its text or do not fall on character boundaries.
    Offsets { line: usize, id: String },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Parse { line, message } => write!(f, "line {line}: {message}"),
            EvalError::Offsets { line, id } => {
                write!(
                    f,
                    "line {line} ({id}): span offsets outside the text or off a char boundary"
                )
            }
        }
    }
}

impl std::error::Error for EvalError {}

/// Parses a JSONL evaluation set; blank lines are skipped. Line numbers in errors are 1-based.
pub fn parse_pii_items(jsonl: &str) -> Result<Vec<PiiItem>, EvalError> {
    let mut items = Vec::new();
    for (index, line) in jsonl.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let item: PiiItem = serde_json::from_str(line).map_err(|e| EvalError::Parse {
            line: line_no,
            message: e.to_string(),
        })?;
        let fits = |s: usize, e: usize| {
            s <= e
                && e <= item.text.len()
                && item.text.is_char_boundary(s)
                && item.text.is_char_boundary(e)
        };
        let spans_fit = item.spans.iter().all(|g| fits(g.start_byte, g.end_byte))
            && item
                .negatives
                .iter()
                .all(|n| fits(n.start_byte, n.end_byte));
        if !spans_fit {
            return Err(EvalError::Offsets {
                line: line_no,
                id: item.id.clone(),
            });
        }
        items.push(item);
    }
    Ok(items)
}

/// The scores of one entity type (or of all types together).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeScore {
    /// Gold spans of this type.
    pub support: usize,
    /// Predictions of this type.
    pub predicted: usize,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Share of predictions that overlap a gold span of the same type.
    pub overlap_precision: f64,
    /// Share of gold spans overlapped by a prediction of the same type.
    pub overlap_recall: f64,
    #[serde(skip)]
    overlap_pred_hits: usize,
    #[serde(skip)]
    overlap_gold_hits: usize,
}

impl TypeScore {
    fn finish(&mut self) {
        self.precision = ratio(self.tp, self.tp + self.fp);
        self.recall = ratio(self.tp, self.tp + self.fn_);
        self.f1 = if self.precision + self.recall > 0.0 {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        } else {
            0.0
        };
        self.overlap_precision = ratio(self.overlap_pred_hits, self.predicted);
        self.overlap_recall = ratio(self.overlap_gold_hits, self.support);
    }

    fn add(&mut self, other: &TypeScore) {
        self.support += other.support;
        self.predicted += other.predicted;
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.overlap_pred_hits += other.overlap_pred_hits;
        self.overlap_gold_hits += other.overlap_gold_hits;
    }
}

/// An empty denominator scores 1.0: nothing was claimed, so nothing was wrong.
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

/// The result of scoring a detector over a set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PiiReport {
    pub items: usize,
    /// Every entity type, in [`EntityKind::ALL`] order, including those without support.
    pub per_type: BTreeMap<EntityKind, TypeScore>,
    /// Micro-averaged over all types.
    pub total: TypeScore,
    pub hard_negatives_total: usize,
    /// Hard negatives overlapped by at least one prediction.
    pub hard_negatives_masked: usize,
}

impl PiiReport {
    /// The masked share of hard negatives (0 when there are none).
    pub fn hard_negative_rate(&self) -> f64 {
        if self.hard_negatives_total == 0 {
            0.0
        } else {
            self.hard_negatives_masked as f64 / self.hard_negatives_total as f64
        }
    }

    pub fn score(&self, kind: EntityKind) -> Option<&TypeScore> {
        self.per_type.get(&kind)
    }

    /// A fixed-width table, one row per type plus the micro-averaged total.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<15} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>8} {:>8}",
            "type", "support", "tp", "fp", "fn", "prec", "recall", "f1", "ov_prec", "ov_rec"
        );
        let row = |out: &mut String, name: &str, s: &TypeScore| {
            let _ = writeln!(
                out,
                "{:<15} {:>7} {:>6} {:>6} {:>6} {:>7.3} {:>7.3} {:>7.3} {:>8.3} {:>8.3}",
                name,
                s.support,
                s.tp,
                s.fp,
                s.fn_,
                s.precision,
                s.recall,
                s.f1,
                s.overlap_precision,
                s.overlap_recall
            );
        };
        for (kind, score) in &self.per_type {
            row(&mut out, kind.as_str(), score);
        }
        row(&mut out, "MICRO", &self.total);
        let _ = writeln!(
            out,
            "items {}; hard negatives masked {}/{} ({:.2}%)",
            self.items,
            self.hard_negatives_masked,
            self.hard_negatives_total,
            100.0 * self.hard_negative_rate()
        );
        out
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Scores `detect` over `items`.
pub fn score_pii(items: &[PiiItem], detect: impl Fn(&str) -> Vec<PiiFinding>) -> PiiReport {
    let mut per_type: BTreeMap<EntityKind, TypeScore> = EntityKind::ALL
        .iter()
        .map(|k| (*k, TypeScore::default()))
        .collect();
    let mut hard_negatives_total = 0;
    let mut hard_negatives_masked = 0;
    for item in items {
        let predictions = detect(&item.text);
        for gold in &item.spans {
            let score = per_type.entry(gold.kind).or_default();
            score.support += 1;
            let span = (gold.start_byte, gold.end_byte);
            let exact = predictions
                .iter()
                .any(|p| p.kind == gold.kind && (p.start, p.end) == span);
            if !exact {
                score.fn_ += 1;
            }
            if predictions
                .iter()
                .any(|p| p.kind == gold.kind && overlaps((p.start, p.end), span))
            {
                score.overlap_gold_hits += 1;
            }
        }
        for p in &predictions {
            let score = per_type.entry(p.kind).or_default();
            score.predicted += 1;
            let span = (p.start, p.end);
            let exact = item
                .spans
                .iter()
                .any(|g| g.kind == p.kind && (g.start_byte, g.end_byte) == span);
            if exact {
                score.tp += 1;
            } else {
                score.fp += 1;
            }
            if item
                .spans
                .iter()
                .any(|g| g.kind == p.kind && overlaps((g.start_byte, g.end_byte), span))
            {
                score.overlap_pred_hits += 1;
            }
        }
        for negative in &item.negatives {
            hard_negatives_total += 1;
            let span = (negative.start_byte, negative.end_byte);
            if predictions.iter().any(|p| overlaps((p.start, p.end), span)) {
                hard_negatives_masked += 1;
            }
        }
    }
    let mut total = TypeScore::default();
    for score in per_type.values_mut() {
        score.finish();
        total.add(score);
    }
    total.finish();
    PiiReport {
        items: items.len(),
        per_type,
        total,
        hard_negatives_total,
        hard_negatives_masked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"id": "a", "text": "mail bob@x.io now", "spans": [{"start": 5, "end": 13, "start_byte": 5, "end_byte": 13, "type": "EMAIL", "value": "bob@x.io"}], "negatives": [{"start": 14, "end": 17, "start_byte": 14, "end_byte": 17, "kind": "WORD", "value": "now"}], "template": "t"}
{"id": "b", "text": "nothing here", "spans": [], "negatives": []}
"#;

    #[test]
    fn scores_exact_overlap_and_hard_negatives() {
        let items = parse_pii_items(SAMPLE).unwrap();
        assert_eq!(items.len(), 2);
        let report = score_pii(&items, |text| {
            if text.starts_with("mail") {
                vec![
                    PiiFinding {
                        kind: EntityKind::Email,
                        start: 5,
                        end: 12,
                    },
                    PiiFinding {
                        kind: EntityKind::Person,
                        start: 14,
                        end: 17,
                    },
                ]
            } else {
                Vec::new()
            }
        });
        let email = report.score(EntityKind::Email).unwrap();
        assert_eq!((email.support, email.tp, email.fp, email.fn_), (1, 0, 1, 1));
        assert!((email.overlap_recall - 1.0).abs() < 1e-9);
        assert!((email.overlap_precision - 1.0).abs() < 1e-9);
        let person = report.score(EntityKind::Person).unwrap();
        assert_eq!((person.support, person.fp), (0, 1));
        assert_eq!(
            (report.hard_negatives_total, report.hard_negatives_masked),
            (1, 1)
        );
        assert_eq!(report.per_type.len(), EntityKind::ALL.len());
        assert!(report.to_table().contains("DATE_OF_BIRTH"));
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let err = parse_pii_items("\n{\"id\": 1}\n").unwrap_err();
        assert!(matches!(err, EvalError::Parse { line: 2, .. }), "{err}");
        let bad_offsets = r#"{"id": "x", "text": "ab", "spans": [{"start_byte": 0, "end_byte": 9, "type": "EMAIL"}]}"#;
        let err = parse_pii_items(bad_offsets).unwrap_err();
        assert!(matches!(err, EvalError::Offsets { line: 1, .. }), "{err}");
        let bad_type = r#"{"id": "x", "text": "ab", "spans": [{"start_byte": 0, "end_byte": 1, "type": "NOPE"}]}"#;
        assert!(parse_pii_items(bad_type).is_err());
    }
}
