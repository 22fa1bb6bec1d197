//! The normalized view: what the text says once the disguises are taken off. Fullwidth and
//! mathematical letters, common Cyrillic/Greek look-alikes, accents, zero-width and bidi
//! characters, leetspeak and spaced-out letters are folded so the same rules can run on it.
//! Every byte of the view remembers which character of the original it came from, so matches
//! map back to valid offsets of the original.

use unicode_normalization::UnicodeNormalization;

/// A folded copy of a text with a byte map back into the original.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) text: String,
    /// For every byte of `text`, the byte offset of the original character it came from.
    map: Vec<usize>,
}

impl View {
    /// The original byte range a view range came from, on character boundaries of `original`.
    pub(crate) fn to_original(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let Some(&s) = self.map.get(start) else {
            return (original.len(), original.len());
        };
        let last = self
            .map
            .get(end.saturating_sub(1).max(start))
            .copied()
            .unwrap_or(s);
        let e = original
            .get(last..)
            .and_then(|rest| rest.chars().next())
            .map_or(original.len(), |c| last + c.len_utf8());
        (s, e.max(s))
    }
}

/// Zero-width characters that hide inside words.
pub(crate) fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

/// Bidirectional embedding/override/isolate controls, which can reorder what a reader sees.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode tag characters: invisible, and able to carry a whole ASCII message.
pub(crate) fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}' | '\u{FE00}'..='\u{FE0F}')
}

/// Latin look-alikes among Cyrillic and Greek letters (the ones used in homoglyph attacks).
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        'а' | 'α' => 'a',
        'А' | 'Α' => 'A',
        'в' | 'В' | 'Β' | 'β' => 'B',
        'е' | 'ε' | 'ё' => 'e',
        'Е' | 'Ε' | 'Ё' => 'E',
        'о' | 'ο' | 'σ' => 'o',
        'О' | 'Ο' => 'O',
        'р' | 'ρ' => 'p',
        'Р' | 'Ρ' => 'P',
        'с' | 'ϲ' => 'c',
        'С' | 'Ϲ' => 'C',
        'у' | 'γ' => 'y',
        'У' | 'Υ' => 'Y',
        'х' | 'χ' => 'x',
        'Х' | 'Χ' => 'X',
        'і' | 'ι' | 'ӏ' => 'i',
        'І' | 'Ι' | 'Ӏ' => 'I',
        'ј' => 'j',
        'Ј' => 'J',
        'ѕ' => 's',
        'Ѕ' => 'S',
        'ԁ' => 'd',
        'һ' => 'h',
        'Н' | 'Η' | 'н' => 'H',
        'к' | 'κ' => 'k',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' | 'м' => 'M',
        'Т' | 'Τ' | 'т' | 'τ' => 'T',
        'ν' => 'v',
        'Ν' => 'N',
        'υ' => 'u',
        'Ζ' => 'Z',
        'ɡ' => 'g',
        'ⅰ' => 'i',
        '‘' | '’' | '‚' | '‛' | '`' | '´' | 'ʼ' => '\'',
        '“' | '”' | '„' | '‟' => '"',
        '‐' | '‑' | '‒' | '–' | '—' | '―' => '-',
        _ => return None,
    })
}

fn leet(b: u8) -> Option<u8> {
    Some(match b {
        b'0' => b'o',
        b'1' => b'i',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        b'7' => b't',
        b'@' => b'a',
        b'$' => b's',
        _ => return None,
    })
}

/// Whether a non-ASCII character changes under the fold (so the view is worth building).
fn folds(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    if is_zero_width(c) || is_bidi_control(c) || is_tag(c) || is_combining(c) {
        return true;
    }
    if homoglyph(c).is_some() || ('\u{1F1E6}'..='\u{1F1FF}').contains(&c) {
        return true;
    }
    // Most text in other scripts has no compatibility decomposition: a cheap check first.
    let mut it = c.nfkd();
    !matches!((it.next(), it.next()), (Some(d), None) if d == c)
}

/// Letters separated by single spaces or dots ("i g n o r e"): four in a row is a disguise.
fn has_spaced_letters(bytes: &[u8]) -> bool {
    let mut run = 0usize;
    let mut i = 0usize;
    while i + 1 < bytes.len() {
        let isolated_letter = bytes[i].is_ascii_alphabetic()
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && !bytes[i + 1].is_ascii_alphanumeric();
        if isolated_letter && is_spacing_sep(bytes[i + 1]) {
            run += 1;
            if run >= 4 {
                return true;
            }
            i += 2;
        } else {
            run = 0;
            i += 1;
        }
    }
    false
}

fn is_spacing_sep(b: u8) -> bool {
    matches!(b, b' ' | b'.' | b'-' | b'_' | b'*' | b'|' | b'/')
}

/// Whether a token mixes letters with leetspeak digits.
fn is_leet_token(tok: &[u8]) -> bool {
    tok.len() >= 4
        && tok.iter().any(u8::is_ascii_alphabetic)
        && tok
            .iter()
            .any(|b| leet(*b).is_some() && !b.is_ascii_alphabetic())
}

/// Words whose leetspeak spelling is worth a second look.
const LEET_STEMS: [&str; 14] = [
    "ignor",
    "instruct",
    "previous",
    "prompt",
    "system",
    "disregard",
    "jailbr",
    "reveal",
    "bypass",
    "password",
    "secret",
    "forget",
    "rules",
    "restrict",
];

fn leet_token_hits(tok: &[u8]) -> bool {
    LEET_STEMS.iter().any(|stem| {
        tok.windows(stem.len()).any(|w| {
            w.iter()
                .zip(stem.bytes())
                .all(|(b, s)| leet(*b).unwrap_or(*b).to_ascii_lowercase() == s)
        })
    })
}

/// Byte classes for the single pass that finds trigger words and decides whether the folded
/// view and the decoders are worth running.
pub(crate) const C_ALNUM: u8 = 1;
pub(crate) const C_ALPHA: u8 = 2;
/// A separator of spaced-out letters.
pub(crate) const C_SEP: u8 = 4;
/// `@` and `$`, which belong to leetspeak tokens.
pub(crate) const C_TOKX: u8 = 8;
/// The base64 alphabet (hex and base32 are subsets).
pub(crate) const C_B64: u8 = 16;
/// Digits that leetspeak reads as letters.
pub(crate) const C_LEET_DIGIT: u8 = 32;

pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0usize;
    while i < 256 {
        let b = i as u8;
        let mut c = 0u8;
        if b.is_ascii_alphanumeric() {
            c |= C_ALNUM | C_B64;
        }
        if b.is_ascii_alphabetic() {
            c |= C_ALPHA;
        }
        if matches!(b, b' ' | b'.' | b'-' | b'_' | b'*' | b'|' | b'/') {
            c |= C_SEP;
        }
        if matches!(b, b'@' | b'$') {
            c |= C_TOKX;
        }
        if matches!(b, b'+' | b'/' | b'=' | b'-' | b'_') {
            c |= C_B64;
        }
        if matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7') {
            c |= C_LEET_DIGIT;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Whether four spaced-out letters start at `i`, a word start (what `has_spaced_letters`
/// finds, checked only where such a run can begin).
pub(crate) fn spaced_run_at(bytes: &[u8], i: usize) -> bool {
    (0..4).all(|k| {
        let at = i + 2 * k;
        bytes
            .get(at)
            .is_some_and(|b| CLASS[usize::from(*b)] & C_ALPHA != 0)
            && bytes
                .get(at + 1)
                .is_some_and(|b| CLASS[usize::from(*b)] & C_SEP != 0)
    })
}

fn is_tok_byte(b: u8) -> bool {
    CLASS[usize::from(b)] & (C_ALNUM | C_TOKX) != 0
}

/// The leetspeak token (alphanumerics, `@`, `$`) around `i`: whether it reads as an
/// injection word, and where it ends.
pub(crate) fn leet_token_at(bytes: &[u8], i: usize) -> (bool, usize) {
    let mut start = i.min(bytes.len());
    while start > 0 && is_tok_byte(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = start;
    while end < bytes.len() && is_tok_byte(bytes[end]) {
        end += 1;
    }
    let tok = &bytes[start..end];
    (is_leet_token(tok) && leet_token_hits(tok), end)
}

/// Whether a non-ASCII character of `text` changes under the fold.
pub(crate) fn any_folds(text: &str) -> bool {
    !text.is_ascii() && text.chars().any(folds)
}

/// Cheap decision whether the folded view could show something the raw text hides. The
/// detector computes the same decision inside its trigger pass; this is the reference.
#[cfg(test)]
pub(crate) fn needs_view(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !text.is_ascii() && text.chars().any(folds) {
        return true;
    }
    if has_spaced_letters(bytes) {
        return true;
    }
    bytes
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'@' || *b == b'$'))
        .any(|tok| is_leet_token(tok) && leet_token_hits(tok))
}

/// Builds the folded view of `text`.
pub(crate) fn build(text: &str) -> View {
    let mut out = String::with_capacity(text.len());
    let mut map: Vec<usize> = Vec::with_capacity(text.len());
    let push = |out: &mut String, map: &mut Vec<usize>, c: char, at: usize| {
        out.push(c);
        map.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    for (at, c) in text.char_indices() {
        if c.is_ascii() {
            push(&mut out, &mut map, c, at);
        } else if is_zero_width(c) || is_bidi_control(c) || is_tag(c) || is_combining(c) {
            // dropped: invisible
        } else if let Some(h) = homoglyph(c) {
            push(&mut out, &mut map, h, at);
        } else if ('\u{1F1E6}'..='\u{1F1FF}').contains(&c) {
            let letter = char::from(b'a' + (u32::from(c) - 0x1F1E6) as u8);
            push(&mut out, &mut map, letter, at);
        } else {
            for d in c.nfkd() {
                if !is_combining(d) {
                    let d = homoglyph(d).unwrap_or(d);
                    push(&mut out, &mut map, d, at);
                }
            }
        }
    }
    // Leetspeak: digits inside letter tokens become letters (byte for byte, map unchanged).
    // Once one token reads as an injection word, short ones ("4ll") are folded as well.
    let mut bytes = out.into_bytes();
    let leet_mode = bytes
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'@' || *b == b'$'))
        .any(|tok| is_leet_token(tok) && leet_token_hits(tok));
    let mut start = 0usize;
    while start < bytes.len() {
        let is_tok = |b: u8| b.is_ascii_alphanumeric() || b == b'@' || b == b'$';
        if !is_tok(bytes[start]) {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && is_tok(bytes[end]) {
            end += 1;
        }
        let tok = &bytes[start..end];
        let short_leet = tok.iter().any(u8::is_ascii_alphabetic)
            && tok.iter().any(|b| b.is_ascii_digit() && leet(*b).is_some());
        if leet_mode && (is_leet_token(tok) || short_leet) {
            for b in &mut bytes[start..end] {
                if let Some(l) = leet(*b) {
                    *b = l;
                }
            }
        }
        start = end;
    }
    // Spaced-out letters: "i g n o r e" becomes "ignore". In spaced-out text short words
    // ("a l l") are collapsed too; elsewhere only runs of four letters, which prose lacks.
    let min_letters = if has_spaced_letters(&bytes) { 2 } else { 4 };
    let mut text_out = Vec::with_capacity(bytes.len());
    let mut map_out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let starts_run = b.is_ascii_alphabetic()
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && i + 1 < bytes.len()
            && is_spacing_sep(bytes[i + 1]);
        if starts_run {
            let sep = bytes[i + 1];
            let mut j = i;
            let mut letters = 1usize;
            while j + 2 < bytes.len()
                && bytes[j + 1] == sep
                && bytes[j + 2].is_ascii_alphabetic()
                && (j + 3 >= bytes.len() || !bytes[j + 3].is_ascii_alphanumeric())
            {
                j += 2;
                letters += 1;
            }
            if letters >= min_letters {
                let mut k = i;
                while k <= j {
                    text_out.push(bytes[k]);
                    map_out.push(map[k]);
                    k += 2;
                }
                i = j + 1;
                continue;
            }
        }
        text_out.push(b);
        map_out.push(map[i]);
        i += 1;
    }
    // Only ASCII bytes were changed or removed, so the result is still UTF-8; the fallback
    // keeps the function total without a panic path.
    match String::from_utf8(text_out) {
        Ok(text) => View { text, map: map_out },
        Err(_) => View {
            text: text.to_owned(),
            map: (0..text.len()).collect(),
        },
    }
}

/// JSON and YAML escapes (`\n`, `\t`, `\"`, line-continuation backslashes) turned into
/// whitespace of the same byte length, so phrases split by them still read as phrases and
/// every offset stays the same.
pub(crate) fn unescape_same_len(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    memchr::memchr(b'\\', bytes)?;
    let mut out = bytes.to_vec();
    let mut i = 0usize;
    while i < out.len() {
        if out[i] == b'\\' {
            match out.get(i + 1).copied() {
                Some(b'n') => {
                    out[i] = b' ';
                    out[i + 1] = b'\n';
                    i += 2;
                    continue;
                }
                Some(b't' | b'r') => {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    i += 2;
                    continue;
                }
                Some(b'"' | b'\'') => {
                    out[i] = b' ';
                    i += 2;
                    continue;
                }
                Some(b' ' | b'\n' | b'\r' | b'\\') | None => out[i] = b' ',
                _ => {}
            }
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_disguises() {
        for (raw, want) in [
            ("ｉｇｎｏｒｅ", "ignore"),
            ("𝐢𝐠𝐧𝐨𝐫𝐞", "ignore"),
            ("іgnоrе", "ignore"),
            ("i\u{200B}g\u{200B}nore", "ignore"),
            ("i g n o r e all", "ignore all"),
            ("1gn0r3 pr3v10us", "ignore previous"),
            ("ïgnörë", "ignore"),
        ] {
            assert!(needs_view(raw), "{raw}");
            assert_eq!(build(raw).text, want, "{raw}");
        }
        assert!(!needs_view("Case 5003h0000emULix: plain ASCII text."));
    }

    #[test]
    fn maps_back_to_char_boundaries() {
        let raw = "xx ｉｇｎｏｒｅ yy";
        let view = build(raw);
        let at = view.text.find("ignore").unwrap_or(0);
        let (s, e) = view.to_original(raw, at, at + "ignore".len());
        assert_eq!(&raw[s..e], "ｉｇｎｏｒｅ");
    }

    #[test]
    fn unescape_keeps_length() {
        let raw = r#"{"a": "x.\n\nsystem: go\"q\"", "b": "y\   \ z"}"#;
        let out = unescape_same_len(raw).unwrap_or_default();
        assert_eq!(out.len(), raw.len());
        assert!(out.contains("\nsystem: go"));
    }
}
