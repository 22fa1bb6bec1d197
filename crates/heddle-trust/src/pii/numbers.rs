//! Detectors for values with a shape and, where the format has one, a checksum: emails,
//! payment cards, US SSNs/ITINs, IBANs, phone numbers and IP addresses. A shape alone is never
//! enough where a checksum exists: that is what leaves order numbers, record ids, routing
//! numbers and amounts untouched.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::{Regex, RegexSet};

use super::text::{after, before, find_byte, is_word, next_char, prev_char, re};
use super::{Cand, Cands};
use crate::finding::EntityKind;
use crate::validate;

#[derive(Debug)]
pub(crate) struct NumberPatterns {
    email: Regex,
    iban: Regex,
    phones: [Regex; 6],
    /// The same five patterns: one pass over a window says which can match there.
    phone_set: Option<RegexSet>,
    bare_phone: Regex,
    ipv4: Regex,
    ipv6: Regex,
    date_shape: Regex,
    ssn_shape: Regex,
}

const EXTENSION: &str = r"(?:[ ]?(?:[Ee]xt\.?|EXT\.?|x|X|\#)[ ]?[0-9]{1,6}|;ext=[0-9]{1,6})?";

impl NumberPatterns {
    pub(crate) fn new() -> Self {
        let mut patterns = NumberPatterns {
            email: re(
                r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}",
            ),
            iban: re(r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?"),
            phones: [
                // International: +CC then groups, optional "(0)" trunk and extension.
                re(&format!(
                    r"\+[0-9]{{1,3}}(?:[ .-]?(?:\([0-9]{{1,4}}\)|[0-9]{{1,6}})){{1,6}}{EXTENSION}"
                )),
                // North American: 1-xxx-xxx-xxxx, (xxx) xxx-xxxx, xxx.xxx.xxxx, xxx xxx xxxx.
                re(&format!(
                    r"(?:1[-. ])?(?:\([0-9]{{3}}\)[ ]?|[0-9]{{3}}[-. ])[0-9]{{3}}[-. ][0-9]{{4}}{EXTENSION}"
                )),
                // Area code in parentheses, other countries: (21) 90964-9809.
                re(&format!(
                    r"\([0-9]{{2,5}}\)[ ]?[0-9]{{3,5}}[-. ]?[0-9]{{4}}{EXTENSION}"
                )),
                // National numbers with a trunk 0: 030 2827947, 06-18321851, 010-2502-3020,
                // 030/96397515, 09.55.45.67.95 (date shapes are ruled out after matching).
                re(&format!(
                    r"0[0-9]{{1,4}}(?:[ -][0-9]{{2,8}}){{1,4}}{EXTENSION}|0[0-9]{{1,4}}/[0-9]{{5,9}}{EXTENSION}|0[1-9](?:\.[0-9]{{2}}){{4}}{EXTENSION}"
                )),
                // Brazilian style without the country code: 11 94708-2372.
                re(&format!(r"[1-9][0-9][ ]9?[0-9]{{4}}-[0-9]{{4}}{EXTENSION}")),
                // Spanish numbers, which have no trunk 0: 91 805 90 17, 612 34 56 78.
                re(&format!(
                    r"[6789][0-9][ ][0-9]{{3}}[ ][0-9]{{2}}[ ][0-9]{{2}}{EXTENSION}|[6789][0-9]{{2}}(?:[ ][0-9]{{2}}){{3}}{EXTENSION}"
                )),
            ],
            // Unformatted national numbers, only right after a phone label.
            bare_phone: re(concat!(
                r"(?i:phone|tel|telephone|mobile|mobil|cell|handy|telefon|tel[eé]fono|telefono|",
                r"telefoon|bel|contatti|joignable au|rückruf unter|whatsapp)\.?[ \t]*:?[ \t]*(?:[☎📞📱👉]\u{FE0F}?[ ]?)?",
                r"|联系电话[:：]|电话[:：]|手机[:：]|連絡先[:：]|電話[:：]|연락처[ ]?:[ ]?",
            )),
            ipv4: re(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"),
            ipv6: re(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.[0-9]{1,3}){0,3}"),
            ssn_shape: re(r"^[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}$"),
            date_shape: re(
                r"^(?:[0-9]{1,2}[-./][0-9]{1,2}[-./][0-9]{2,4}|[0-9]{4}[-./][0-9]{1,2}[-./][0-9]{1,2})$",
            ),
            phone_set: None,
        };
        // Built from the compiled patterns, so it cannot fail where they did not; if it
        // somehow did, every pattern runs on every window.
        patterns.phone_set = RegexSet::new(patterns.phones.iter().map(Regex::as_str)).ok();
        patterns
    }

    pub(crate) fn scan(&self, text: &str, out: &mut Cands) {
        if memchr::memchr(b'@', text.as_bytes()).is_some() {
            self.emails(text, out);
        }
        // Every detector below but IPv6 needs digits: find the digit runs once and look only
        // at the few stretches around them that could hold a match.
        let runs = digit_runs_of(text.as_bytes());
        if !runs.is_empty() {
            self.digit_runs(text, &runs, out);
            self.ibans(text, &runs, out);
            self.phones(text, &runs, out);
            self.bare_phones(text, &runs, out);
            self.ipv4(text, &runs, out);
        }
        self.ipv6(text, out);
    }

    /// Searches only the stretch of address characters around each `@`: the pattern has no
    /// look-around and its matches consist of those characters, so it finds there exactly
    /// what a scan of the whole text finds, without walking the prose between addresses.
    fn emails(&self, text: &str, out: &mut Cands) {
        let bytes = text.as_bytes();
        let in_address = |b: u8| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'@')
        };
        let mut done_to = 0;
        for at in memchr::memchr_iter(b'@', bytes) {
            if at < done_to {
                continue;
            }
            let mut ws = at;
            while ws > 0 && in_address(bytes[ws - 1]) {
                ws -= 1;
            }
            let mut we = at + 1;
            while we < bytes.len() && in_address(bytes[we]) {
                we += 1;
            }
            done_to = we;
            self.emails_in(text, ws, we, out);
        }
    }

    fn emails_in(&self, text: &str, ws: usize, we: usize, out: &mut Cands) {
        for m in self.email.find_iter(&text[ws..we]) {
            let (start, end) = (ws + m.start(), ws + m.end());
            if next_char(text, end).is_some_and(|c| is_word(c) || c == '@') {
                continue;
            }
            // `user:pass@host` inside a URL is a credential, not a mailbox.
            if prev_char(text, start) == Some(':') && before(text, start, 80).contains("://") {
                continue;
            }
            out.push(Cand::new(EntityKind::Email, start, end));
        }
    }

    /// Payment cards and SSNs: maximal runs of digits joined by single spaces or dashes (what
    /// `[0-9]+(?:[ -][0-9]+)*` finds), built from the digit runs.
    fn digit_runs(&self, text: &str, runs: &[(usize, usize)], out: &mut Cands) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&(start, first_end)) = runs.get(i) {
            let mut end = first_end;
            i += 1;
            while let Some(&(next_start, next_end)) = runs.get(i)
                && next_start == end + 1
                && matches!(bytes[end], b' ' | b'-')
            {
                end = next_end;
                i += 1;
            }
            let run = &text[start..end];
            let prev = prev_char(text, start);
            if prev.is_some_and(|c| {
                is_word(c) || matches!(c, '+' | '.' | '/' | '-' | '#' | '$' | '€' | '£')
            }) {
                continue;
            }
            let next = next_char(text, end);
            if next.is_some_and(is_word) {
                continue;
            }
            // A decimal or a version continues past the run.
            if matches!(next, Some('.' | ',' | '/' | ':'))
                && after(text, end + 1, 1).starts_with(|c: char| c.is_ascii_digit())
            {
                continue;
            }
            let digits = run.bytes().filter(u8::is_ascii_digit).count();
            let groups: Vec<usize> = run.split([' ', '-']).map(str::len).collect();
            let separators_uniform = !(run.contains(' ') && run.contains('-'));
            if (13..=19).contains(&digits)
                && separators_uniform
                && (groups.len() == 1 || groups.iter().all(|g| (3..=6).contains(g)))
                && validate::card_number(run).is_some()
            {
                out.push(Cand::new(EntityKind::CreditCard, start, end));
                continue;
            }
            if digits == 9 && validate::taxpayer_number(run).is_some() {
                let shaped = groups == [3, 2, 4] && separators_uniform;
                if shaped || (groups.len() == 1 && ssn_context(before(text, start, 120))) {
                    out.push(Cand::new(EntityKind::UsSsn, start, end));
                }
            }
        }
    }

    fn ibans(&self, text: &str, runs: &[(usize, usize)], out: &mut Cands) {
        let bytes = text.as_bytes();
        let windows = windows(bytes, runs, |b| {
            b.is_ascii_digit() || b.is_ascii_uppercase() || b == b' '
        });
        for (ws, we, _) in windows {
            // Needs a country code and check digits somewhere: `[A-Z]{2}[0-9]{2}`.
            let w = &bytes[ws..we];
            if w.len() < 12
                || !w.windows(4).any(|q| {
                    q[0].is_ascii_uppercase()
                        && q[1].is_ascii_uppercase()
                        && q[2].is_ascii_digit()
                        && q[3].is_ascii_digit()
                })
            {
                continue;
            }
            self.ibans_in(text, ws, we, out);
        }
    }

    fn ibans_in(&self, text: &str, ws: usize, we: usize, out: &mut Cands) {
        for m in self.iban.find_iter(&text[ws..we]) {
            let start = ws + m.start();
            if prev_char(text, start).is_some_and(is_word) {
                continue;
            }
            // Shorten group by group: a following word can look like one more group.
            let mut candidate = m.as_str();
            loop {
                let end = start + candidate.len();
                if validate::iban(candidate)
                    && !next_char(text, end).is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    out.push(Cand::new(EntityKind::Iban, start, end));
                    break;
                }
                match candidate.rfind(' ') {
                    Some(cut) if cut >= 15 => candidate = &candidate[..cut],
                    _ => break,
                }
            }
        }
    }

    fn phones(&self, text: &str, runs: &[(usize, usize)], out: &mut Cands) {
        // Everything a phone pattern (extension included) can contain; every phone has at
        // least eight digits.
        let windows = windows(text.as_bytes(), runs, |b| {
            b.is_ascii_digit()
                || matches!(
                    b,
                    b' ' | b'.'
                        | b'-'
                        | b'/'
                        | b'('
                        | b')'
                        | b'+'
                        | b'E'
                        | b'e'
                        | b'x'
                        | b'X'
                        | b't'
                        | b'T'
                        | b'#'
                        | b';'
                        | b'='
                )
        });
        for &(ws, we, digits) in &windows {
            if digits < 8 {
                continue;
            }
            let hits = self
                .phone_set
                .as_ref()
                .map(|set| set.matches(&text[ws..we]));
            for (index, pattern) in self.phones.iter().enumerate() {
                if hits.as_ref().is_none_or(|h| h.matched(index)) {
                    self.phones_in(text, ws, we, index, pattern, out);
                }
            }
        }
    }

    fn phones_in(
        &self,
        text: &str,
        ws: usize,
        we: usize,
        index: usize,
        pattern: &Regex,
        out: &mut Cands,
    ) {
        {
            for m in pattern.find_iter(&text[ws..we]) {
                let (start, end) = (ws + m.start(), ws + m.end());
                let value = m.as_str();
                let prev = prev_char(text, start);
                if prev.is_some_and(|c| is_word(c) || matches!(c, '-' | '.' | '/' | '+' | '$'))
                    // "1,234 567 8901" continues a number; a CSV cell after a comma is fine.
                    || (prev == Some(',') && prev_char(text, start - 1).is_some_and(|c| c.is_ascii_digit()))
                {
                    continue;
                }
                let next = next_char(text, end);
                if next.is_some_and(|c| is_word(c) || c == '@') {
                    continue;
                }
                if matches!(next, Some('-' | '.' | '/' | ':'))
                    && after(text, end + 1, 1).starts_with(|c: char| c.is_ascii_digit())
                {
                    continue;
                }
                // "851-596-7235-A": a reference number with a suffix, not a phone.
                if next == Some('-')
                    && after(text, end + 1, 1).starts_with(|c: char| c.is_ascii_alphabetic())
                {
                    continue;
                }
                let core = strip_extension(value);
                let digits = core.bytes().filter(u8::is_ascii_digit).count();
                let ok = match index {
                    0 => (8..=15).contains(&digits),
                    1 => (10..=11).contains(&digits) && nanp_area_ok(core),
                    2 => (9..=12).contains(&digits),
                    4 => digits == 10 || digits == 11,
                    5 => digits == 9,
                    _ => {
                        (9..=12).contains(&digits)
                            && !self.date_shape.is_match(core)
                            && !self.ssn_shape.is_match(core)
                    }
                };
                if ok {
                    out.push(Cand::new(EntityKind::Phone, start, end));
                }
            }
        }
    }

    /// After a phone label, a plain run of 9–12 digits (a Chinese mobile, a national number
    /// without separators) is a phone number.
    fn bare_phones(&self, text: &str, runs: &[(usize, usize)], out: &mut Cands) {
        // A label match never spans a line and must end where a 9–12 digit run starts: look
        // only at lines holding such a run.
        let mut done_to = 0;
        for &(rs, re) in runs {
            if !(9..=12).contains(&(re - rs)) || rs < done_to {
                continue;
            }
            let line_start = text[..rs].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[re..].find('\n').map_or(text.len(), |i| re + i);
            done_to = line_end;
            self.bare_phones_in(text, line_start, line_end, out);
        }
    }

    fn bare_phones_in(&self, text: &str, ls: usize, le: usize, out: &mut Cands) {
        for m in self.bare_phone.find_iter(&text[ls..le]) {
            let m_end = ls + m.end();
            let rest = text.get(m_end..).unwrap_or("");
            let run = rest.bytes().take_while(u8::is_ascii_digit).count();
            if (9..=12).contains(&run) && !next_char(text, m_end + run).is_some_and(is_word) {
                out.push(Cand::new(EntityKind::Phone, m_end, m_end + run));
            }
        }
    }

    fn ipv4(&self, text: &str, runs: &[(usize, usize)], out: &mut Cands) {
        let bytes = text.as_bytes();
        for (ws, we, _) in windows(bytes, runs, |b| b.is_ascii_digit() || b == b'.') {
            if bytes[ws..we].iter().filter(|b| **b == b'.').count() >= 3 {
                self.ipv4_in(text, ws, we, out);
            }
        }
    }

    fn ipv4_in(&self, text: &str, ws: usize, we: usize, out: &mut Cands) {
        for m in self.ipv4.find_iter(&text[ws..we]) {
            let (start, end) = (ws + m.start(), ws + m.end());
            if prev_char(text, start).is_some_and(|c| is_word(c) || matches!(c, '.' | '/' | '-'))
                || next_char(text, end).is_some_and(|c| is_word(c) || c == '-')
                || (next_char(text, end) == Some('.')
                    && after(text, end + 1, 1).starts_with(|c: char| c.is_ascii_alphanumeric()))
            {
                continue;
            }
            if m.as_str().parse::<Ipv4Addr>().is_err() || version_context(before(text, start, 12)) {
                continue;
            }
            out.push(Cand::new(EntityKind::IpAddress, start, end));
        }
    }

    fn ipv6(&self, text: &str, out: &mut Cands) {
        // Matches are runs of hex digits, colons and dots with at least two colons.
        let bytes = text.as_bytes();
        let hexish = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
        let mut done_to = 0;
        for colon in memchr::memchr_iter(b':', bytes) {
            if colon < done_to {
                continue;
            }
            let mut ws = colon;
            while ws > 0 && hexish(bytes[ws - 1]) {
                ws -= 1;
            }
            let mut we = colon + 1;
            while we < bytes.len() && hexish(bytes[we]) {
                we += 1;
            }
            done_to = we;
            if memchr::memchr_iter(b':', &bytes[ws..we]).count() >= 2 {
                self.ipv6_in(text, ws, we, out);
            }
        }
    }

    fn ipv6_in(&self, text: &str, ws: usize, we: usize, out: &mut Cands) {
        for m in self.ipv6.find_iter(&text[ws..we]) {
            let (start, end) = (ws + m.start(), ws + m.end());
            let value = m.as_str();
            if value.len() < 6 || value.bytes().filter(|b| *b == b':').count() < 2 {
                continue;
            }
            if prev_char(text, start).is_some_and(|c| is_word(c) || matches!(c, ':' | '.' | '-'))
                || next_char(text, end).is_some_and(|c| is_word(c) || c == '.')
            {
                continue;
            }
            if value.parse::<Ipv6Addr>().is_ok() {
                out.push(Cand::new(EntityKind::IpAddress, start, end));
            }
        }
    }
}

/// Maximal runs of ASCII digits, in order.
fn digit_runs_of(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut from = 0;
    while let Some(start) = find_byte(bytes, from, |b| b.is_ascii_digit()) {
        let len = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(bytes.len() - start);
        runs.push((start, start + len));
        from = start + len;
    }
    runs
}

/// The maximal stretches of `allowed` bytes that contain a digit run, with their digit
/// counts. A pattern whose matches consist only of `allowed` bytes (ASCII, no look-around)
/// finds the same matches in these stretches as in the whole text.
fn windows(
    bytes: &[u8],
    runs: &[(usize, usize)],
    allowed: impl Fn(u8) -> bool,
) -> Vec<(usize, usize, usize)> {
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for &(rs, re) in runs {
        if let Some(last) = out.last_mut()
            && rs < last.1
        {
            last.2 += re - rs;
            continue;
        }
        let mut ws = rs;
        while ws > 0 && allowed(bytes[ws - 1]) {
            ws -= 1;
        }
        let mut we = re;
        while we < bytes.len() && allowed(bytes[we]) {
            we += 1;
        }
        out.push((ws, we, re - rs));
    }
    out
}

/// North American area codes start with 2–9.
fn nanp_area_ok(core: &str) -> bool {
    let digits: Vec<u8> = core.bytes().filter(u8::is_ascii_digit).collect();
    let area = if digits.len() == 11 {
        digits.get(1)
    } else {
        digits.first()
    };
    (digits.len() == 10 || digits.first() == Some(&b'1')) && area.is_some_and(|d| *d >= b'2')
}

fn strip_extension(value: &str) -> &str {
    let cut = value
        .find(|c: char| c.is_ascii_alphabetic() || c == '#' || c == ';')
        .unwrap_or(value.len());
    &value[..cut]
}

/// A nine-digit number is an SSN only when the nearest identifier label before it says so.
fn ssn_context(before: &str) -> bool {
    let lower = before.to_ascii_lowercase();
    let ssn = ["ssn", "social security", "taxpayer", "itin", "tax id"]
        .iter()
        .filter_map(|k| lower.rfind(k))
        .max();
    let other = [
        "routing", "aba", "phone", "order", "invoice", "case", "po ", "ticket",
    ]
    .iter()
    .filter_map(|k| lower.rfind(k))
    .max();
    match (ssn, other) {
        (Some(s), Some(o)) => s > o,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Dotted quads after "version", "build", "v", a product name, a release tag or a
/// "fixed in" note are versions.
fn version_context(before: &str) -> bool {
    let trimmed = before.trim_end();
    if trimmed.ends_with(['v', 'V']) {
        return true;
    }
    let key = trimmed.trim_end_matches([' ', '=', ':', '"', '\'']);
    [
        "version",
        "build",
        "release",
        "ver",
        "firmware",
        "chrome",
        "v.",
        "tag",
        "fixed in",
        "upgrade to",
        "upgraded to",
        "released in",
        "bump to",
        "rev",
    ]
    .iter()
    .any(|k| {
        let cut = key.len().saturating_sub(k.len());
        key.get(cut..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(k))
            && !key
                .get(..cut)
                .and_then(|head| head.chars().next_back())
                .is_some_and(char::is_alphanumeric)
    })
}
