//! Small text helpers shared by the detectors: boundary checks on `&str` byte offsets and the
//! one place regexes are compiled.

use aho_corasick::AhoCorasick;
use regex::Regex;

/// Compiles a pattern written in this crate. Every call site passes a literal that the unit
/// tests compile (any `PiiDetector::new()` in a test does), so a failure is a programming
/// error caught before release, not a runtime condition.
#[allow(
    clippy::expect_used,
    reason = "literal patterns, all compiled by the unit tests"
)]
pub(crate) fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in PII pattern must compile")
}

pub(crate) fn prev_char(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|s| s.chars().next_back())
}

pub(crate) fn next_char(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|s| s.chars().next())
}

pub(crate) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Scripts written without spaces between words, where word boundaries cannot be checked.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Whether `start..end` stands alone as a word (CJK edges always do).
pub(crate) fn word_bounded(text: &str, start: usize, end: usize) -> bool {
    let left = prev_char(text, start).is_none_or(|c| !is_word(c) || is_cjk(c))
        || next_char(text, start).is_some_and(is_cjk);
    let right = next_char(text, end).is_none_or(|c| !is_word(c) || is_cjk(c))
        || prev_char(text, end).is_some_and(is_cjk);
    left && right
}

/// The up to `max` bytes before `at`, snapped to a char boundary.
pub(crate) fn before(text: &str, at: usize, max: usize) -> &str {
    let mut from = at.saturating_sub(max);
    while from < at && !text.is_char_boundary(from) {
        from += 1;
    }
    text.get(from..at).unwrap_or("")
}

/// The up to `max` bytes after `at`, snapped to a char boundary.
pub(crate) fn after(text: &str, at: usize, max: usize) -> &str {
    let mut to = (at + max).min(text.len());
    while to > at && !text.is_char_boundary(to) {
        to -= 1;
    }
    text.get(at..to).unwrap_or("")
}

/// A fast, non-cryptographic hasher (FxHash) for the small static word sets: the keys are
/// built-in word lists, not attacker-chosen, and SipHash dominated the name heuristics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type WordSet =
    std::collections::HashSet<&'static str, std::hash::BuildHasherDefault<FxHasher>>;

/// Runs `f` on the lowercase form of `s` without allocating when `s` is short ASCII (the
/// usual case); other text goes through `str::to_lowercase`, so results are identical.
pub(crate) fn with_lowercase<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    if s.len() <= buf.len() && s.is_ascii() {
        let out = &mut buf[..s.len()];
        out.copy_from_slice(s.as_bytes());
        out.make_ascii_lowercase();
        if let Ok(lower) = std::str::from_utf8(out) {
            return f(lower);
        }
    }
    f(&s.to_lowercase())
}

/// Whether `text` holds one of the two non-ASCII letters that Unicode case folding equates
/// with ASCII ones (`ſ` ~ `s`, Kelvin `K` ~ `k`). Literal prefilters for `(?i)` patterns
/// are exact only without them.
pub(crate) fn has_ascii_fold_variants(text: &str) -> bool {
    !text.is_ascii() && (text.contains('\u{17F}') || text.contains('\u{212A}'))
}

/// The first position at or after `from` whose byte satisfies `pred`. Prose has few digits
/// and capitals, so whole 16-byte blocks are ruled out first: the block test has no early
/// exit, which lets it compile to vector instructions.
pub(crate) fn find_byte(bytes: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
    const BLOCK: usize = 16;
    let rest = bytes.get(from..)?;
    let mut skipped = 0;
    for block in rest.chunks_exact(BLOCK) {
        if block.iter().fold(false, |any, &b| any | pred(b)) {
            break;
        }
        skipped += BLOCK;
    }
    rest[skipped..]
        .iter()
        .position(|&b| pred(b))
        .map(|i| from + skipped + i)
}

/// The line (without its `\n`) around byte `at`.
pub(crate) fn line_around(text: &str, at: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
    (start, end)
}

/// The distinct lines holding a match of `gate`, in order; the whole text (as one span) when
/// fold variants make the ASCII-case-insensitive gate inexact. `lower` is the text with ASCII
/// letters lowercased (same length, same line breaks). For patterns whose matches never span
/// a line and always contain a gate word, searching these lines finds exactly what searching
/// the whole text finds.
pub(crate) fn gated_lines(lower: &str, gate: &AhoCorasick) -> Vec<(usize, usize)> {
    if has_ascii_fold_variants(lower) {
        return vec![(0, lower.len())];
    }
    let mut lines: Vec<(usize, usize)> = Vec::new();
    for m in gate.find_iter(lower) {
        if lines.last().is_some_and(|&(_, end)| m.start() <= end) {
            continue;
        }
        lines.push(line_around(lower, m.start()));
    }
    lines
}

/// A matcher for gate words in ASCII-lowercased text (see [`gated_lines`]). Matching the
/// lowercased words case-sensitively in lowercased text is ASCII case insensitivity, and
/// unlike an `ascii_case_insensitive` automaton it keeps the fast literal prefilter (which
/// also needs leftmost semantics; every line holding a gate word still gets a match, since a
/// word never spans a line). Constant lists: building cannot fail in practice; if it did,
/// the gate lets the whole text through.
pub(crate) fn gate(words: &[&str]) -> Option<AhoCorasick> {
    AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(words.iter().map(|w| w.to_ascii_lowercase()))
        .ok()
}
