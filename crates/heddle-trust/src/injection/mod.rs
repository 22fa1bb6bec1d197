//! Prompt-injection detection: families, severities and a graded score, plus the datamarking
//! that wraps indirect content before a model reads it.
//!
//! How a scan runs, cheapest first:
//! 1. JSON/YAML escapes (`\n`, `\"`, line-continuation backslashes) are blanked to whitespace
//!    of the same length, so offsets do not move.
//! 2. One byte pass over the text finds the trigger words of the rules (a hashed lookup at
//!    word starts) and notes whether the folded view and the decoders are worth running; only
//!    rules with a trigger run their regex, and only on windows around the triggers.
//! 3. If the text has disguises worth folding (non-ASCII look-alikes, invisible characters,
//!    spaced-out letters, leetspeak), the same rules run over a normalized view whose matches
//!    map back to the original offsets; a match only the view shows is a normalization trick.
//! 4. Candidate encoded runs (base64, hex, base32, percent, quoted-printable, ascii85,
//!    character escapes, ROT13, reversed text, Unicode tag characters) are decoded and the
//!    decoded text is scanned again; only a decoding that holds an injection counts.
//!
//! The score sums the weighted evidence (repeated hits of one rule add little, indirect
//! channels weigh text that addresses the model more, discussion of attacks is discounted)
//! and squashes it with `1 - e^-x`: one strong signal lands near 0.85, one high signal near
//! 0.6, a lone weak cue stays under 0.5, the default operating point.

mod datamark;
mod decode;
mod normalize;
mod rules;

use std::borrow::Cow;
use std::fmt;

use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

pub use datamark::{DATAMARK_CLOSE, DATAMARK_OPEN_PREFIX, datamark};

use crate::finding::{Channel, Severity};

/// What kind of injection a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectionFamily {
    InstructionOverride,
    JailbreakPersona,
    SystemPromptExtraction,
    RoleReassignment,
    FakeMarkup,
    ForgedToolCall,
    Exfiltration,
    EncodedPayload,
    InvisibleUnicode,
    NormalizationTrick,
}

impl InjectionFamily {
    pub const ALL: [InjectionFamily; 10] = [
        InjectionFamily::InstructionOverride,
        InjectionFamily::JailbreakPersona,
        InjectionFamily::SystemPromptExtraction,
        InjectionFamily::RoleReassignment,
        InjectionFamily::FakeMarkup,
        InjectionFamily::ForgedToolCall,
        InjectionFamily::Exfiltration,
        InjectionFamily::EncodedPayload,
        InjectionFamily::InvisibleUnicode,
        InjectionFamily::NormalizationTrick,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            InjectionFamily::InstructionOverride => "instruction_override",
            InjectionFamily::JailbreakPersona => "jailbreak_persona",
            InjectionFamily::SystemPromptExtraction => "system_prompt_extraction",
            InjectionFamily::RoleReassignment => "role_reassignment",
            InjectionFamily::FakeMarkup => "fake_markup",
            InjectionFamily::ForgedToolCall => "forged_tool_call",
            InjectionFamily::Exfiltration => "exfiltration",
            InjectionFamily::EncodedPayload => "encoded_payload",
            InjectionFamily::InvisibleUnicode => "invisible_unicode",
            InjectionFamily::NormalizationTrick => "normalization_trick",
        }
    }
}

impl fmt::Display for InjectionFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of injection evidence. Offsets are UTF-8 byte offsets into the scanned text,
/// on character boundaries, end exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectionFinding {
    pub family: InjectionFamily,
    pub severity: Severity,
    pub start: usize,
    pub end: usize,
    /// The rule that fired, for audit and tuning.
    pub rule: &'static str,
}

/// The result of scanning one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InjectionScan {
    /// 0.0 (nothing) to 1.0 (certain), monotone in the weight of the evidence. The detector's
    /// default operating point is `score >= 0.5`.
    pub score: f32,
    pub findings: Vec<InjectionFinding>,
}

impl InjectionScan {
    /// The default operating point of the score.
    pub const DEFAULT_THRESHOLD: f32 = 0.5;

    /// The most severe finding's severity.
    pub fn severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether a finding at or above `threshold` exists.
    pub fn is_injection_at(&self, threshold: Severity) -> bool {
        self.severity().is_some_and(|s| s >= threshold)
    }
}

/// One match with its evidence weight, before aggregation.
#[derive(Debug, Clone)]
struct Hit {
    family: InjectionFamily,
    severity: Severity,
    start: usize,
    end: usize,
    rule: &'static str,
    weight: f32,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Rule(usize),
    Rot13,
    Reversed,
}

/// How far around a trigger a windowed rule's regex looks.
const WINDOW_BEFORE: usize = 112;
const WINDOW_AFTER: usize = 256;
/// The longest match an anchored rule looks for.
const ANCHORED_SPAN: usize = 400;
/// The shortest run of the base64 alphabet the decoders look at.
const LONG_B64_RUN: usize = decode::MIN_RUN;
/// Decoded payloads are rescanned at most this deep (base64 inside hex inside ...).
const MAX_DEPTH: u8 = 2;
/// Evidence a decoded text must carry to make its encoding an injection.
const DECODED_MIN_EVIDENCE: f32 = 0.45;
/// Discount for text that discusses attacks rather than performing one.
const DISCUSSION_FACTOR: f32 = 0.45;
/// Further discount for a quoted example inside such a discussion.
const QUOTED_EXAMPLE_FACTOR: f32 = 0.2;

/// Buckets of the trigger table (a power of two).
const TRIGGER_BUCKETS: usize = 2048;

/// One trigger word in a bucket: its first (up to) eight lowercase bytes and their mask, so
/// most candidates are rejected with one comparison.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    prefix: u64,
    mask: u64,
    word: u32,
}

/// The trigger words, hashed by their first three bytes (words of one or two bytes are kept
/// apart). A lookup at a position costs a hash and a few masked comparisons.
#[derive(Debug)]
struct Triggers {
    /// Lowercase trigger words.
    words: Vec<Box<[u8]>>,
    /// Per bucket: a range of `items`.
    buckets: Vec<(u32, u32)>,
    items: Vec<Candidate>,
    /// Words shorter than three bytes, and a bitset of their first two bytes.
    short: Vec<Candidate>,
    short_pairs: Vec<u64>,
    /// Bytes that begin a trigger which may start anywhere (not only at a word start).
    anywhere: [bool; 256],
}

/// ASCII-lowercases the eight bytes of a little-endian word.
fn lower8(x: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let heptets = x & !HI;
    let ge_a = heptets.wrapping_add(LO * u64::from(0x80 - b'A'));
    let gt_z = heptets.wrapping_add(LO * u64::from(0x7f - b'Z'));
    let upper = !x & (ge_a ^ gt_z) & HI;
    x | (upper >> 2)
}

/// The first (up to) eight bytes at `i`, lowercased, zero-padded past the end.
fn prefix8(bytes: &[u8], i: usize) -> u64 {
    if let Some(word) = bytes
        .get(i..i + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
    {
        return lower8(u64::from_le_bytes(word));
    }
    let mut buf = [0u8; 8];
    let rest = bytes.get(i..).unwrap_or(&[]);
    let n = rest.len().min(8);
    buf[..n].copy_from_slice(&rest[..n]);
    lower8(u64::from_le_bytes(buf))
}

fn bucket_of(prefix: u64) -> usize {
    let key = (prefix & 0xFF_FFFF) as u32;
    (key.wrapping_mul(0x9E37_79B1) >> 21) as usize & (TRIGGER_BUCKETS - 1)
}

impl Triggers {
    fn new(words: Vec<String>) -> Self {
        let words: Vec<Box<[u8]>> = words
            .into_iter()
            .map(|w| w.into_bytes().into_boxed_slice())
            .collect();
        let mut anywhere = [false; 256];
        let mut lists: Vec<Vec<Candidate>> = vec![Vec::new(); TRIGGER_BUCKETS];
        let mut short = Vec::new();
        let mut short_pairs = vec![0u64; 1024];
        for (p, w) in words.iter().enumerate() {
            let Some(&b0) = w.first() else { continue };
            if !b0.is_ascii_alphanumeric() {
                anywhere[usize::from(b0)] = true;
            }
            let n = w.len().min(8);
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(&w[..n]);
            let cand = Candidate {
                prefix: lower8(u64::from_le_bytes(buf)),
                mask: if n == 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * n)) - 1
                },
                word: p as u32,
            };
            if w.len() >= 3 {
                lists[bucket_of(cand.prefix)].push(cand);
            } else {
                short.push(cand);
                let seconds: Vec<u8> = match w.get(1) {
                    Some(&b1) => vec![b1],
                    None => (0..=255u8).collect(),
                };
                for b1 in seconds {
                    let pair = usize::from(b0) | usize::from(b1) << 8;
                    short_pairs[pair >> 6] |= 1 << (pair & 63);
                }
            }
        }
        let mut buckets = Vec::with_capacity(TRIGGER_BUCKETS);
        let mut items = Vec::new();
        for l in lists {
            let start = items.len() as u32;
            items.extend(l);
            buckets.push((start, items.len() as u32));
        }
        Triggers {
            words,
            buckets,
            items,
            short,
            short_pairs,
            anywhere,
        }
    }

    /// Reports every trigger word that starts at `i` (ASCII case-insensitive).
    #[inline]
    fn at(&self, bytes: &[u8], i: usize, on: &mut impl FnMut(usize, usize)) {
        let text = prefix8(bytes, i);
        let (s, e) = self.buckets[bucket_of(text)];
        let bucket = self.items.get(s as usize..e as usize).unwrap_or(&[]);
        let pair = (text & 0xFFFF) as usize;
        let short: &[Candidate] = if self.short_pairs[pair >> 6] & (1 << (pair & 63)) != 0 {
            &self.short
        } else {
            &[]
        };
        for c in bucket.iter().chain(short) {
            if text & c.mask != c.prefix {
                continue;
            }
            let p = c.word as usize;
            let w = &self.words[p];
            if w.len() <= 8
                || bytes
                    .get(i..i + w.len())
                    .is_some_and(|hay| hay.eq_ignore_ascii_case(w))
            {
                on(p, i);
            }
        }
    }
}

/// What the trigger pass learns about a text besides its triggers.
#[derive(Debug, Clone, Copy, Default)]
struct Features {
    /// Four or more spaced-out letters ("i g n o r e").
    spaced: bool,
    /// A leetspeak token that reads as an injection word.
    leet: bool,
    /// A run of the base64 alphabet long enough to be an encoding.
    long_b64: bool,
}

/// The injection detector: rules compiled once, shareable across threads.
#[derive(Debug)]
pub struct InjectionDetector {
    triggers: Triggers,
    targets: Vec<Vec<Target>>,
    regexes: Vec<Regex>,
    /// Per rule: searched in a window around the trigger (else anchored at the trigger).
    windowed: Vec<bool>,
    discussion: Regex,
}

impl Default for InjectionDetector {
    fn default() -> Self {
        Self::new()
    }
}

/// Compiles a literal pattern of this module (anchored at the search start if asked). The
/// patterns are constants exercised by every test, so a failure is a programming error
/// caught before release.
#[allow(clippy::expect_used, reason = "literal pattern, covered by tests")]
fn compile(pattern: &str, anchored: bool) -> Regex {
    let expanded = pattern.replace(" ?", r"\s*").replace(' ', r"\s+");
    // ASCII patterns run without Unicode classes and case folding, which keeps them on the
    // fast DFA path; the multilingual ones need Unicode.
    let flags = if pattern.is_ascii() { "(?i-u)" } else { "(?i)" };
    let anchor = if anchored { "^" } else { "" };
    regex::bytes::RegexBuilder::new(&format!("{flags}{anchor}(?:{expanded})"))
        .size_limit(32 << 20)
        .build()
        .expect("injection rule pattern compiles")
}

impl InjectionDetector {
    pub fn new() -> Self {
        let mut words: Vec<String> = Vec::new();
        let mut targets: Vec<Vec<Target>> = Vec::new();
        let mut add = |word: &str, target: Target| {
            let word = word.to_ascii_lowercase();
            match words.iter().position(|w| *w == word) {
                Some(i) => targets[i].push(target),
                None => {
                    words.push(word);
                    targets.push(vec![target]);
                }
            }
        };
        for (i, rule) in rules::RULES.iter().enumerate() {
            for t in rule.triggers {
                add(t, Target::Rule(i));
            }
        }
        for t in rules::ROT13_TRIGGERS {
            add(t, Target::Rot13);
        }
        for t in rules::REVERSED_TRIGGERS {
            add(t, Target::Reversed);
        }
        let triggers = Triggers::new(words);
        let windowed: Vec<bool> = rules::RULES
            .iter()
            .map(|r| rules::WINDOWED.contains(&r.id))
            .collect();
        let regexes = rules::RULES
            .iter()
            .zip(&windowed)
            .map(|(r, w)| compile(r.pattern, !w))
            .collect();
        InjectionDetector {
            triggers,
            targets,
            regexes,
            windowed,
            discussion: compile(rules::DISCUSSION_PATTERN, false),
        }
    }

    /// Scans `text` as content arriving on `channel`.
    pub fn scan(&self, text: &str, channel: Channel) -> InjectionScan {
        let mut hits = self.hits(text, channel, 0);
        let mut total = total_weight(&hits);
        if total > 0.0 && self.discussion.is_match(text.as_bytes()) {
            // A quoted attack inside a discussion of attacks is an example, not an order.
            for h in &mut hits {
                if is_quoted(text, h.start, h.end) {
                    h.weight *= QUOTED_EXAMPLE_FACTOR;
                }
            }
            total = total_weight(&hits) * DISCUSSION_FACTOR;
        }
        let mut findings: Vec<InjectionFinding> = hits
            .into_iter()
            .map(|h| InjectionFinding {
                family: h.family,
                severity: h.severity,
                start: h.start,
                end: h.end,
                rule: h.rule,
            })
            .collect();
        findings.sort_by(|a, b| (a.start, a.end, a.rule).cmp(&(b.start, b.end, b.rule)));
        findings.dedup();
        InjectionScan {
            score: squash(total),
            findings,
        }
    }

    /// All evidence in `text`, offsets into `text`.
    fn hits(&self, text: &str, channel: Channel, depth: u8) -> Vec<Hit> {
        let prepared = match normalize::unescape_same_len(text) {
            Some(s) => Cow::Owned(s),
            None => Cow::Borrowed(text),
        };
        let text = prepared.as_ref();
        let (mut hits, rot13, reversed, features) = self.rule_hits(text, channel);

        if !text.is_ascii() {
            self.invisible_hits(text, channel, depth, &mut hits);
        }
        if features.spaced || features.leet || normalize::any_folds(text) {
            let view = normalize::build(text);
            let (view_hits, _, _, _) = self.rule_hits(&view.text, channel);
            for mut h in view_hits {
                let (s, e) = view.to_original(text, h.start, h.end);
                h.start = s;
                h.end = e;
                let seen_raw = hits
                    .iter()
                    .any(|r| r.rule == h.rule && r.start < e && s < r.end);
                if !seen_raw {
                    let trick = Hit {
                        family: InjectionFamily::NormalizationTrick,
                        severity: Severity::High,
                        start: s,
                        end: e,
                        rule: "normalization_trick",
                        weight: 0.5,
                    };
                    hits.push(h);
                    hits.push(trick);
                }
            }
        }
        if depth < MAX_DEPTH {
            for d in decode::candidates(text, features.long_b64) {
                let inner = self.hits(&d.text, channel, depth + 1);
                let evidence = total_weight(&inner);
                if evidence >= DECODED_MIN_EVIDENCE {
                    hits.push(Hit {
                        family: InjectionFamily::EncodedPayload,
                        severity: Severity::High,
                        start: d.start,
                        end: d.end,
                        rule: encoded_rule(d.scheme),
                        weight: (0.6 + evidence).min(3.0),
                    });
                }
            }
            if rot13 {
                let rotated = decode::rot13(text);
                self.transformed_hits(&rotated, channel, depth, "encoded_rot13", false, &mut hits);
            }
            if reversed {
                let rev: String = text.chars().rev().collect();
                self.transformed_hits(&rev, channel, depth, "encoded_reversed", true, &mut hits);
            }
        }
        hits
    }

    /// Rescans a length-preserving transform of the text (ROT13, reversal) and reports the
    /// span it covers in the original.
    fn transformed_hits(
        &self,
        transformed: &str,
        channel: Channel,
        depth: u8,
        rule: &'static str,
        reversed: bool,
        hits: &mut Vec<Hit>,
    ) {
        let inner = self.hits(transformed, channel, depth + 1);
        let evidence = total_weight(&inner);
        if evidence < DECODED_MIN_EVIDENCE {
            return;
        }
        let len = transformed.len();
        let start = inner.iter().map(|h| h.start).min().unwrap_or(0);
        let end = inner.iter().map(|h| h.end).max().unwrap_or(len);
        let (start, end) = if reversed {
            (len - end, len - start)
        } else {
            (start, end)
        };
        hits.push(Hit {
            family: InjectionFamily::EncodedPayload,
            severity: Severity::High,
            start,
            end,
            rule,
            weight: (0.6 + evidence).min(3.0),
        });
    }

    /// Zero-width characters inside words, bidi controls and tag-character smuggling.
    fn invisible_hits(&self, text: &str, channel: Channel, depth: u8, hits: &mut Vec<Hit>) {
        let mut prev: Option<char> = None;
        let mut chars = text.char_indices().peekable();
        let mut zw_span: Option<(usize, usize)> = None;
        let mut bidi_span: Option<(usize, usize)> = None;
        while let Some((at, c)) = chars.next() {
            let next = chars.peek().map(|(_, n)| *n);
            if normalize::is_zero_width(c)
                && prev.is_some_and(char::is_alphanumeric)
                && next.is_some_and(|n| n.is_alphanumeric() || normalize::is_zero_width(n))
            {
                let end = at + c.len_utf8();
                zw_span = Some(zw_span.map_or((at, end), |(s, _)| (s, end)));
            } else if normalize::is_bidi_control(c) {
                let end = at + c.len_utf8();
                bidi_span = Some(bidi_span.map_or((at, end), |(s, _)| (s, end)));
            }
            if !normalize::is_zero_width(c) {
                prev = Some(c);
            }
        }
        if let Some((start, end)) = zw_span {
            hits.push(Hit {
                family: InjectionFamily::InvisibleUnicode,
                severity: Severity::High,
                start,
                end,
                rule: "invisible_zero_width_in_word",
                weight: 0.6,
            });
        }
        if let Some((start, end)) = bidi_span {
            hits.push(Hit {
                family: InjectionFamily::InvisibleUnicode,
                severity: Severity::High,
                start,
                end,
                rule: "invisible_bidi_control",
                weight: 0.45,
            });
        }
        if let Some((start, end, msg)) = decode::tag_message(text) {
            let inner = if depth < MAX_DEPTH && msg.len() >= 4 {
                total_weight(&self.hits(&msg, channel, depth + 1))
            } else {
                0.0
            };
            let (severity, weight) = if inner >= DECODED_MIN_EVIDENCE {
                (Severity::Critical, (1.0 + inner).min(3.0))
            } else {
                (Severity::High, 0.8)
            };
            hits.push(Hit {
                family: InjectionFamily::InvisibleUnicode,
                severity,
                start,
                end,
                rule: "invisible_tag_characters",
                weight,
            });
        }
    }

    /// One pass over the bytes: every trigger word (a word start for those beginning with a
    /// letter or digit, anywhere for the rest), plus the features that decide whether the
    /// folded view and the decoders are worth running.
    fn trigger_pass(&self, bytes: &[u8], on: &mut impl FnMut(usize, usize)) -> Features {
        use normalize::{C_ALNUM, C_ALPHA, C_B64, C_LEET_DIGIT, C_TOKX, CLASS};
        let mut f = Features::default();
        let mut prev_alnum = false;
        let mut word_start = 0usize;
        let mut word_bits = 0u8;
        let mut b64_start = 0usize;
        // Leetspeak tokens already judged end before this offset.
        let mut tok_done = 0usize;
        for (i, &b) in bytes.iter().enumerate() {
            let c = CLASS[usize::from(b)];
            if c & C_ALNUM != 0 {
                if !prev_alnum {
                    prev_alnum = true;
                    word_start = i;
                    word_bits = 0;
                    self.triggers.at(bytes, i, on);
                    if !f.spaced && c & C_ALPHA != 0 && normalize::spaced_run_at(bytes, i) {
                        f.spaced = true;
                    }
                }
                word_bits |= c;
                continue;
            }
            if prev_alnum {
                prev_alnum = false;
                if word_bits & (C_ALPHA | C_LEET_DIGIT) == C_ALPHA | C_LEET_DIGIT
                    && !f.leet
                    && word_start >= tok_done
                {
                    let (leet, end) = normalize::leet_token_at(bytes, word_start);
                    f.leet = leet;
                    tok_done = end;
                }
            }
            if c & C_TOKX != 0 && !f.leet && i >= tok_done {
                let (leet, end) = normalize::leet_token_at(bytes, i);
                f.leet = leet;
                tok_done = end;
            }
            if c & C_B64 == 0 {
                f.long_b64 |= i - b64_start >= LONG_B64_RUN;
                b64_start = i + 1;
            }
            if self.triggers.anywhere[usize::from(b)] {
                self.triggers.at(bytes, i, on);
            }
        }
        if prev_alnum
            && word_bits & (C_ALPHA | C_LEET_DIGIT) == C_ALPHA | C_LEET_DIGIT
            && !f.leet
            && word_start >= tok_done
        {
            f.leet = normalize::leet_token_at(bytes, word_start).0;
        }
        f.long_b64 |= bytes.len() - b64_start.min(bytes.len()) >= LONG_B64_RUN;
        f
    }

    /// Runs the triggered rules over `text`. Also reports whether ROT13 or reversed trigger
    /// words were seen, and the features of the text.
    fn rule_hits(&self, text: &str, channel: Channel) -> (Vec<Hit>, bool, bool, Features) {
        let bytes = text.as_bytes();
        let mut windows: Vec<(usize, usize)> = Vec::new();
        let mut rot13 = false;
        let mut reversed = false;
        let features = self.trigger_pass(bytes, &mut |p, at| {
            for t in &self.targets[p] {
                match *t {
                    Target::Rule(i) => windows.push((i, at)),
                    Target::Rot13 => rot13 = true,
                    Target::Reversed => reversed = true,
                }
            }
        });
        windows.sort_unstable();
        windows.dedup();
        let mut hits = Vec::new();
        let mut i = 0usize;
        while i < windows.len() {
            let rule_idx = windows[i].0;
            let rule = &rules::RULES[rule_idx];
            let regex = &self.regexes[rule_idx];
            let weight = if channel.is_indirect() {
                rule.w_indirect
            } else {
                rule.w_user
            };
            if !self.windowed[rule_idx] {
                let mut covered = 0usize;
                while let Some(&(_, at)) = windows.get(i).filter(|w| w.0 == rule_idx) {
                    i += 1;
                    if at < covered {
                        continue;
                    }
                    let hi = (at + ANCHORED_SPAN).min(bytes.len());
                    let Some(m) = bytes.get(at..hi).and_then(|hay| regex.find(hay)) else {
                        continue;
                    };
                    let s = floor_boundary(text, at + m.start());
                    let e = ceil_boundary(text, at + m.end());
                    if e == s {
                        continue;
                    }
                    if let Some(check) = rule.check
                        && !check(&String::from_utf8_lossy(m.as_bytes()).to_lowercase())
                    {
                        continue;
                    }
                    covered = e;
                    hits.push(Hit {
                        family: rule.family,
                        severity: rule.severity,
                        start: s,
                        end: e,
                        rule: rule.id,
                        weight,
                    });
                }
                continue;
            }
            // Merge this rule's overlapping windows and search each merged range once.
            let mut lo = floor_boundary(text, windows[i].1.saturating_sub(WINDOW_BEFORE));
            let mut hi = ceil_boundary(text, windows[i].1 + WINDOW_AFTER);
            let mut last_end = 0usize;
            loop {
                i += 1;
                let next = windows.get(i).filter(|w| w.0 == rule_idx);
                if let Some(&(_, at)) = next {
                    let next_lo = at.saturating_sub(WINDOW_BEFORE);
                    if next_lo <= hi {
                        hi = ceil_boundary(text, at + WINDOW_AFTER);
                        continue;
                    }
                }
                let start_at = lo.max(last_end);
                if let Some(hay) = bytes.get(start_at..hi) {
                    for m in regex.find_iter(hay) {
                        // Byte-level matches are widened to character boundaries.
                        let s = floor_boundary(text, start_at + m.start());
                        let e = ceil_boundary(text, start_at + m.end());
                        if e == s {
                            continue;
                        }
                        if let Some(check) = rule.check
                            && !check(&String::from_utf8_lossy(m.as_bytes()).to_lowercase())
                        {
                            continue;
                        }
                        hits.push(Hit {
                            family: rule.family,
                            severity: rule.severity,
                            start: s,
                            end: e,
                            rule: rule.id,
                            weight,
                        });
                        last_end = e;
                    }
                }
                match next {
                    Some(&(_, at)) => {
                        lo = floor_boundary(text, at.saturating_sub(WINDOW_BEFORE));
                        hi = ceil_boundary(text, at + WINDOW_AFTER);
                    }
                    None => break,
                }
            }
        }
        (hits, rot13, reversed, features)
    }
}

fn encoded_rule(scheme: &str) -> &'static str {
    match scheme {
        "hex" => "encoded_hex",
        "base32" => "encoded_base32",
        "base64" => "encoded_base64",
        "percent" => "encoded_percent",
        "quoted_printable" => "encoded_quoted_printable",
        "ascii85" => "encoded_ascii85",
        _ => "encoded_char_escapes",
    }
}

/// Whether a span is a cited example: inside quotes on its line (an opening quote before
/// it, a closing one after it, apostrophes inside words do not count), or introduced by an
/// example marker ("e.g.", "such as", "things like", "for example").
fn is_quoted(text: &str, start: usize, end: usize) -> bool {
    const SPAN: usize = 160;
    const MARKERS: [&str; 7] = [
        "e.g.",
        "eg.",
        "such as",
        "things like",
        "for example",
        "for instance",
        "like typing",
    ];
    let is_quote = |c: char| matches!(c, '\'' | '"' | '‘' | '’' | '“' | '”' | '`');
    let before = text.get(..start).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let before = before.get(line_start..).unwrap_or("");
    let before: Vec<char> = before.chars().rev().take(SPAN).collect();
    // Reversed: an opening quote has a non-letter on its left (next in this order).
    let opened = before
        .iter()
        .enumerate()
        .any(|(i, &c)| is_quote(c) && before.get(i + 1).is_none_or(|p| !p.is_alphanumeric()));
    let after: Vec<char> = text
        .get(end..)
        .unwrap_or("")
        .chars()
        .take_while(|&c| c != '\n')
        .take(SPAN)
        .collect();
    let closed = after
        .iter()
        .enumerate()
        .any(|(i, &c)| is_quote(c) && after.get(i + 1).is_none_or(|n| !n.is_alphanumeric()));
    if opened && closed {
        return true;
    }
    let lead: String = before
        .iter()
        .take(60)
        .rev()
        .collect::<String>()
        .to_lowercase();
    MARKERS.iter().any(|m| lead.contains(m))
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Sums evidence. Per rule the first hit counts fully and two more a quarter each, so one
/// phrase repeated fifty times is not fifty times the evidence; hits of one family that
/// overlap (one phrase seen by several rules) count as the strongest plus a quarter of the
/// rest.
fn total_weight(hits: &[Hit]) -> f32 {
    let mut seen: Vec<(&'static str, usize)> = Vec::new();
    let mut weighted: Vec<(InjectionFamily, usize, usize, f32)> = Vec::with_capacity(hits.len());
    for h in hits {
        let n = match seen.iter_mut().find(|(r, _)| *r == h.rule) {
            Some(entry) => {
                entry.1 += 1;
                entry.1
            }
            None => {
                seen.push((h.rule, 1));
                1
            }
        };
        let factor = match n {
            1 => 1.0,
            2 | 3 => 0.25,
            _ => 0.0,
        };
        weighted.push((h.family, h.start, h.end, h.weight * factor));
    }
    weighted.sort_by_key(|w| (w.0, w.1));
    let mut total = 0.0f32;
    let mut cluster: Option<(InjectionFamily, usize, f32, f32)> = None;
    for (family, start, end, w) in weighted {
        cluster = match cluster {
            Some((f, c_end, max, sum)) if f == family && start < c_end => {
                Some((f, c_end.max(end), max.max(w), sum + w))
            }
            Some((_, _, max, sum)) => {
                total += max + 0.25 * (sum - max);
                Some((family, end, w, w))
            }
            None => Some((family, end, w, w)),
        };
    }
    if let Some((_, _, max, sum)) = cluster {
        total += max + 0.25 * (sum - max);
    }
    total
}

fn squash(total: f32) -> f32 {
    (1.0 - (-total).exp()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests;
