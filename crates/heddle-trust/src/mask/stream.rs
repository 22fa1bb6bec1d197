//! Unmasking as a stream: the one scanner both [`super::unmask_text`] and
//! [`StreamUnmasker`] run, so a chunked response unmasks exactly like the whole text.

use std::borrow::Borrow;
use std::sync::Arc;

use super::{
    ESCAPE, MAX_DIGITS, MaskMap, UnmaskPolicy, kind_of_prefix, parse_ordinal, prefix_viable,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Ordinary text: copied through until a `<`.
    #[default]
    Text,
    /// After `<` and any `#`.
    Open,
    /// Inside the `KIND_` letters.
    Name,
    /// Inside the digits.
    Digits,
}

/// A character-level recognizer of `<` `#`* `KIND_` digits{1,MAX_DIGITS} `>`. It holds back
/// only what could still be part of one (at most `MAX_HELD_BYTES`) and releases it the moment
/// it cannot. A run of escapes is released as it arrives except the last `#`, whose fate (kept
/// or removed) depends on what follows; so the hold stays bounded however long the run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scanner {
    phase: Phase,
    /// Verbatim text withheld: `<` (unless already released), at most one `#`, letters,
    /// digits. Placeholder-shaped text only, never a value.
    held: String,
    /// The `<` and all but the last `#` of the escape run were released already.
    lt_released: bool,
    /// At least one `#` followed the `<`: an escaped look-alike, not a placeholder.
    escaped: bool,
    letters_start: usize,
    digits_start: usize,
}

impl Scanner {
    pub(crate) fn held_len(&self) -> usize {
        self.held.len()
    }

    pub(crate) fn feed(
        &mut self,
        chunk: &str,
        map: &MaskMap,
        policy: &UnmaskPolicy,
        out: &mut String,
    ) {
        let mut rest = chunk;
        loop {
            if self.phase == Phase::Text {
                let Some(i) = rest.find('<') else {
                    out.push_str(rest);
                    return;
                };
                let (head, tail) = rest.split_at(i);
                out.push_str(head);
                self.open();
                rest = tail.get(1..).unwrap_or("");
            } else {
                let Some(c) = rest.chars().next() else {
                    return;
                };
                if self.step(c, map, policy, out) {
                    rest = rest.get(c.len_utf8()..).unwrap_or("");
                }
            }
        }
    }

    /// Releases whatever is held: at the end of the text nothing more can complete it.
    pub(crate) fn finish(&mut self, out: &mut String) {
        out.push_str(&self.held);
        self.reset();
    }

    fn open(&mut self) {
        self.reset();
        self.held.push('<');
        self.phase = Phase::Open;
    }

    fn reset(&mut self) {
        self.held.clear();
        self.phase = Phase::Text;
        self.lt_released = false;
        self.escaped = false;
        self.letters_start = 0;
        self.digits_start = 0;
    }

    /// Releases the held text unchanged; the caller hands `c` to the text phase again (it may
    /// be the `<` of the next candidate).
    fn fail(&mut self, out: &mut String) -> bool {
        out.push_str(&self.held);
        self.reset();
        false
    }

    /// Takes one character in a candidate. Returns whether `c` was consumed.
    fn step(&mut self, c: char, map: &MaskMap, policy: &UnmaskPolicy, out: &mut String) -> bool {
        match self.phase {
            Phase::Text => {
                if c == '<' {
                    self.open();
                } else {
                    out.push(c);
                }
                true
            }
            Phase::Open if c == ESCAPE => {
                if self.escaped {
                    // Both outcomes start with what is held: release it, keep one `#`.
                    out.push_str(&self.held);
                    self.held.clear();
                    self.held.push(ESCAPE);
                    self.lt_released = true;
                } else {
                    self.held.push(ESCAPE);
                    self.escaped = true;
                }
                true
            }
            Phase::Open if c.is_ascii_uppercase() => {
                self.letters_start = self.held.len();
                self.push_letter(c, out)
            }
            Phase::Name if c.is_ascii_uppercase() || c == '_' => self.push_letter(c, out),
            Phase::Name if c.is_ascii_digit() => {
                if kind_of_prefix(self.letters()).is_none() {
                    return self.fail(out);
                }
                self.digits_start = self.held.len();
                self.held.push(c);
                self.phase = Phase::Digits;
                true
            }
            Phase::Digits if c.is_ascii_digit() => {
                if self.held.len() - self.digits_start >= MAX_DIGITS {
                    return self.fail(out);
                }
                self.held.push(c);
                true
            }
            Phase::Digits if c == '>' => {
                self.resolve(map, policy, out);
                true
            }
            Phase::Open | Phase::Name | Phase::Digits => self.fail(out),
        }
    }

    fn push_letter(&mut self, c: char, out: &mut String) -> bool {
        self.held.push(c);
        if prefix_viable(self.letters()) {
            self.phase = Phase::Name;
            true
        } else {
            self.held.pop();
            self.fail(out)
        }
    }

    fn letters(&self) -> &str {
        let end = if self.phase == Phase::Digits {
            self.digits_start
        } else {
            self.held.len()
        };
        self.held.get(self.letters_start..end).unwrap_or("")
    }

    /// A complete candidate, its `>` just read.
    fn resolve(&mut self, map: &MaskMap, policy: &UnmaskPolicy, out: &mut String) {
        if self.escaped {
            // An escaped look-alike from the input: drop one `#`.
            let at = usize::from(!self.lt_released);
            out.push_str(self.held.get(..at).unwrap_or(""));
            out.push_str(self.held.get(at + ESCAPE.len_utf8()..).unwrap_or(""));
            out.push('>');
        } else {
            let digits = self.held.get(self.digits_start..).unwrap_or("");
            let value = kind_of_prefix(self.letters())
                .filter(|kind| policy.allows(*kind))
                .and_then(|kind| map.lookup(kind, parse_ordinal(digits)?));
            match value {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str(&self.held);
                    out.push('>');
                }
            }
        }
        self.reset();
    }
}

/// Unmasks a streamed response chunk by chunk. The concatenation of everything [`push`],
/// [`push_bytes`] and [`finish`] return equals [`unmask_text`] of the whole response (for
/// bytes: of its lossy UTF-8 decoding), however the chunks are cut. It holds back at most
/// [`MAX_HELD_BYTES`] of a possible placeholder plus at most 3 bytes of an incomplete UTF-8
/// sequence, and releases held text as soon as it can no longer be a placeholder.
///
/// `M` is how the map is held: `&MaskMap` for a borrow, `Arc<MaskMap>` (the default) for a
/// snapshot shared with a spawned task. Placeholders added to the session after the snapshot
/// was taken are unknown to it and stay as they are.
///
/// [`push`]: StreamUnmasker::push
/// [`push_bytes`]: StreamUnmasker::push_bytes
/// [`finish`]: StreamUnmasker::finish
/// [`unmask_text`]: super::unmask_text
/// [`MAX_HELD_BYTES`]: super::MAX_HELD_BYTES
#[derive(Debug, Clone)]
pub struct StreamUnmasker<M: Borrow<MaskMap> = Arc<MaskMap>> {
    map: M,
    policy: UnmaskPolicy,
    scanner: Scanner,
    /// The start of a UTF-8 sequence cut by a chunk boundary (at most 3 bytes).
    partial: Vec<u8>,
}

impl<M: Borrow<MaskMap>> StreamUnmasker<M> {
    pub fn new(map: M, policy: UnmaskPolicy) -> Self {
        StreamUnmasker {
            map,
            policy,
            scanner: Scanner::default(),
            partial: Vec::new(),
        }
    }

    /// Takes the next chunk; returns the text safe to emit now. An incomplete UTF-8 sequence
    /// left by [`StreamUnmasker::push_bytes`] cannot be completed by a `&str` and becomes
    /// U+FFFD.
    pub fn push(&mut self, chunk: &str) -> String {
        let mut out = String::with_capacity(chunk.len() + 8);
        if !self.partial.is_empty() {
            self.partial.clear();
            self.feed("\u{FFFD}", &mut out);
        }
        self.feed(chunk, &mut out);
        out
    }

    /// Takes the next chunk as bytes, which may end (or start) inside a UTF-8 sequence.
    /// Invalid sequences become U+FFFD as [`String::from_utf8_lossy`] would make them.
    pub fn push_bytes(&mut self, chunk: &[u8]) -> String {
        let mut out = String::with_capacity(chunk.len() + 8);
        let joined;
        let mut bytes = chunk;
        if !self.partial.is_empty() {
            let mut buffer = std::mem::take(&mut self.partial);
            buffer.extend_from_slice(chunk);
            joined = buffer;
            bytes = &joined;
        }
        loop {
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    self.feed(text, &mut out);
                    break;
                }
                Err(error) => {
                    let (valid, after) = bytes.split_at(error.valid_up_to());
                    self.feed(std::str::from_utf8(valid).unwrap_or_default(), &mut out);
                    match error.error_len() {
                        None => {
                            // Cut mid-sequence: fewer than 4 bytes, completed by the next chunk.
                            self.partial.extend_from_slice(after);
                            break;
                        }
                        Some(len) => {
                            self.feed("\u{FFFD}", &mut out);
                            bytes = after.get(len..).unwrap_or_default();
                        }
                    }
                }
            }
        }
        out
    }

    /// Ends the stream: releases what was held (a cut-off placeholder stays as written, an
    /// incomplete UTF-8 sequence becomes U+FFFD). The unmasker can then start a new stream.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if !self.partial.is_empty() {
            self.partial.clear();
            self.feed("\u{FFFD}", &mut out);
        }
        self.scanner.finish(&mut out);
        out
    }

    /// How many bytes are held back right now (a possible placeholder and an incomplete UTF-8
    /// sequence); never more than `MAX_HELD_BYTES + 3`.
    pub fn held_bytes(&self) -> usize {
        self.scanner.held_len() + self.partial.len()
    }

    fn feed(&mut self, text: &str, out: &mut String) {
        self.scanner
            .feed(text, self.map.borrow(), &self.policy, out);
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
    use super::super::{MAX_HELD_BYTES, MaskKey};
    use super::*;
    use crate::finding::EntityKind;

    fn map() -> MaskMap {
        let mut map = MaskMap::new();
        let key = MaskKey::from_bytes([1; 32]);
        map.placeholder_for(&key, EntityKind::Email, "ann@x.example")
            .unwrap();
        map
    }

    #[test]
    fn holds_only_what_could_be_a_placeholder() {
        let map = map();
        let mut s = StreamUnmasker::new(&map, UnmaskPolicy::all_but_secrets());
        assert_eq!(s.push("Hi <EM"), "Hi ");
        assert_eq!(s.held_bytes(), 3);
        assert_eq!(s.push("AIL_"), "");
        assert_eq!(s.push("1> and <EMX"), "ann@x.example and <EMX");
        assert_eq!(s.held_bytes(), 0);
        assert_eq!(s.push("<EMAIL_1"), "");
        assert_eq!(s.finish(), "<EMAIL_1");
    }

    #[test]
    fn long_escape_runs_stay_bounded() {
        let map = map();
        let mut s = StreamUnmasker::new(Arc::new(map), UnmaskPolicy::all_but_secrets());
        let mut out = s.push("<");
        for _ in 0..1000 {
            out.push_str(&s.push("#"));
            assert!(s.held_bytes() <= MAX_HELD_BYTES);
        }
        out.push_str(&s.push("EMAIL_1>"));
        out.push_str(&s.finish());
        assert_eq!(out, format!("<{}EMAIL_1>", "#".repeat(999)));
    }

    #[test]
    fn bytes_split_inside_characters() {
        let map = map();
        let text = "é <EMAIL_1> 😀";
        let mut s = StreamUnmasker::new(&map, UnmaskPolicy::all_but_secrets());
        let mut out = String::new();
        for byte in text.as_bytes() {
            out.push_str(&s.push_bytes(std::slice::from_ref(byte)));
            assert!(s.held_bytes() <= MAX_HELD_BYTES + 3);
        }
        out.push_str(&s.finish());
        assert_eq!(out, "é ann@x.example 😀");

        let mut s = StreamUnmasker::new(&map, UnmaskPolicy::all_but_secrets());
        let mut out = s.push_bytes(&[b'a', 0xF0, 0x9F]);
        out.push_str(&s.push("b"));
        out.push_str(&s.push_bytes(&[0xFF, b'c', 0xE2]));
        out.push_str(&s.finish());
        assert_eq!(out, "a\u{FFFD}b\u{FFFD}c\u{FFFD}");
    }
}
