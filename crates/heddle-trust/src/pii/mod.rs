//! PII and secret detection. [`PiiDetector::detect`] runs every detector over a text and
//! returns non-overlapping findings in text order, with UTF-8 byte offsets on character
//! boundaries.
//!
//! Where two detectors claim overlapping text, the more specific kind wins (a key beats the
//! secret-context rule that also saw it, a card beats a phone-shaped reading of the same
//! digits, an email beats the name inside it), and within a kind the longer span wins.

mod address;
mod dates;
mod lexicon;
mod names;
mod numbers;
mod secrets;
mod structured;
mod text;

pub use names::NameDictionary;

use crate::finding::{EntityKind, PiiFinding};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    kind: EntityKind,
    start: usize,
    end: usize,
}

impl Cand {
    pub(crate) fn new(kind: EntityKind, start: usize, end: usize) -> Self {
        Cand { kind, start, end }
    }
}

pub(crate) type Cands = Vec<Cand>;

/// Which kind wins an overlap: higher first.
fn priority(kind: EntityKind) -> u8 {
    match kind {
        EntityKind::ApiKey => 11,
        EntityKind::Secret => 10,
        EntityKind::CreditCard => 9,
        EntityKind::Iban => 8,
        EntityKind::UsSsn => 7,
        EntityKind::Email => 6,
        EntityKind::IpAddress => 5,
        EntityKind::Phone => 4,
        EntityKind::DateOfBirth => 3,
        EntityKind::StreetAddress => 2,
        EntityKind::Person => 1,
    }
}

/// The compiled detectors. Build once and share: `Send + Sync`, no interior mutability.
#[derive(Debug)]
pub struct PiiDetector {
    numbers: numbers::NumberPatterns,
    secrets: secrets::SecretPatterns,
    dates: dates::DatePatterns,
    address: address::AddressPatterns,
    structured: structured::StructuredPatterns,
    names: names::NamePatterns,
}

impl Default for PiiDetector {
    fn default() -> Self {
        PiiDetector::new()
    }
}

impl PiiDetector {
    pub fn new() -> Self {
        PiiDetector {
            numbers: numbers::NumberPatterns::new(),
            secrets: secrets::SecretPatterns::new(),
            dates: dates::DatePatterns::new(),
            address: address::AddressPatterns::new(),
            structured: structured::StructuredPatterns::new(),
            names: names::NamePatterns::new(),
        }
    }

    /// Finds personal data and secrets in `text`. `names` are people known from the
    /// principal's records; pass [`NameDictionary::empty`] when there are none.
    pub fn detect(&self, text: &str, names: &NameDictionary) -> Vec<PiiFinding> {
        let mut cands: Cands = Vec::with_capacity(32);
        // One lowercased copy serves every case-insensitive keyword search.
        let lower = text.to_ascii_lowercase();
        self.secrets.scan(text, &lower, &mut cands);
        self.numbers.scan(text, &mut cands);
        self.dates.scan(text, &lower, &mut cands);
        self.address.scan(text, &lower, &mut cands);
        let mut known: Vec<(usize, usize)> = Vec::new();
        self.structured
            .scan(text, &self.names, &self.dates, &mut known, &mut cands);
        self.names.scan(text, names, &mut known, &mut cands);
        resolve(text, cands)
    }
}

/// Keeps the strongest of overlapping candidates and returns them in text order.
fn resolve(text: &str, mut cands: Cands) -> Vec<PiiFinding> {
    cands.retain(|c| {
        c.start < c.end && text.is_char_boundary(c.start) && text.is_char_boundary(c.end)
    });
    cands.sort_by(|a, b| {
        priority(b.kind)
            .cmp(&priority(a.kind))
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<PiiFinding> = Vec::with_capacity(cands.len());
    for c in cands {
        if kept.iter().all(|k| c.end <= k.start || k.end <= c.start) {
            kept.push(PiiFinding {
                kind: c.kind,
                start: c.start,
                end: c.end,
            });
        }
    }
    kept.sort_by_key(|f| f.start);
    kept
}

#[cfg(test)]
mod tests;
