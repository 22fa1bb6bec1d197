//! Person names. Three sources, combined per text:
//!
//! 1. the [`NameDictionary`] of people the principal's records contain;
//! 2. heuristics for names introduced by their context — email headers (`Name <addr>`),
//!    greetings, sign-offs and signature lines, "this is …", labels ("Applicant:",
//!    "Account holder:"), "… from Company", "… (details)", call-transcript speaker labels,
//!    name fields of JSON/CSV records, CJK honorifics — and capitalized pairs that start
//!    with a common given name;
//! 3. propagation: once a name is known, every other mention of it, and of its given name
//!    alone, is a finding too.

use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

use super::lexicon::{FIRST_NAMES, MORE_FIRST_NAMES, NOT_NAMES, ORG_WORDS};
use super::text::{
    WordSet, before, find_byte, is_cjk, next_char, prev_char, re, with_lowercase, word_bounded,
};
use super::{Cand, Cands};
use crate::finding::EntityKind;

/// Names of people the principal can see (from the record store), matched as whole words.
/// Each full name is an entry, and so is each of its parts that is long enough and not a
/// common word, so "Hi Aurora" is found from "Aurora Gomes".
#[derive(Debug, Clone, Default)]
pub struct NameDictionary {
    entries: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl NameDictionary {
    pub fn empty() -> Self {
        NameDictionary::default()
    }

    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let not_names: HashSet<&str> = NOT_NAMES.split_whitespace().collect();
        let mut entries: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |entry: &str, entries: &mut Vec<String>| {
            if seen.insert(entry.to_owned()) {
                entries.push(entry.to_owned());
            }
        };
        for name in names {
            let full = name
                .as_ref()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if full.chars().count() < 2 {
                continue;
            }
            add(&full, &mut entries);
            for part in full.split(' ') {
                let cjk = part.chars().any(is_cjk);
                let long_enough = part.chars().count() >= if cjk { 2 } else { 3 };
                let capitalized = cjk || part.chars().next().is_some_and(char::is_uppercase);
                if long_enough && capitalized && !not_names.contains(part) {
                    add(part, &mut entries);
                }
            }
        }
        let matcher = if entries.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&entries)
                .ok()
        };
        NameDictionary { entries, matcher }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn scan(&self, text: &str, out: &mut Cands) {
        let Some(matcher) = &self.matcher else {
            return;
        };
        for m in matcher.find_iter(text) {
            if word_bounded(text, m.start(), m.end()) {
                out.push(Cand::new(EntityKind::Person, m.start(), m.end()));
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct NamePatterns {
    name: Regex,
    cjk: [Regex; 4],
    cjk_name: Regex,
    first_names: WordSet,
    strong_cues: WordSet,
    weak_cues: WordSet,
    sign_offs: WordSet,
    not_names: WordSet,
    org_words: WordSet,
}

const PARTICLES: [&str; 18] = [
    "van", "von", "de", "der", "den", "del", "della", "di", "da", "dos", "das", "du", "le", "la",
    "ten", "ter", "bin", "al",
];

/// Surnames that are also capitalized common words, accepted after a known given name.
const SURNAME_WORDS: [&str; 8] = [
    "Case", "May", "Will", "Day", "Young", "Rose", "Close", "Head",
];

/// Given names that are also common words, places, brands or month abbreviations: never a
/// name on the strength of the lexicon alone.
const AMBIGUOUS_GIVEN: &[&str] = &[
    "Amber",
    "Angel",
    "Art",
    "Aurora",
    "Austin",
    "Bill",
    "Carmen",
    "Chase",
    "Chelsea",
    "Christian",
    "Crystal",
    "Dale",
    "Dawn",
    "Dean",
    "Destiny",
    "Don",
    "Eugene",
    "Faith",
    "Florence",
    "Frank",
    "Gary",
    "Georgia",
    "Grace",
    "Guido",
    "Hazel",
    "Holly",
    "Hope",
    "Hunter",
    "Ivy",
    "Jack",
    "Jan",
    "Jean",
    "Jordan",
    "Joy",
    "Kai",
    "Lance",
    "Lee",
    "Logan",
    "Long",
    "Mark",
    "Marshall",
    "Max",
    "May",
    "Miles",
    "Morgan",
    "Nancy",
    "Norman",
    "Per",
    "Pierre",
    "Regina",
    "Rose",
    "Ruby",
    "Rune",
    "Sierra",
    "Sky",
    "Summer",
    "Taylor",
    "Troy",
    "Victoria",
    "Virginia",
    "Will",
    "Milan",
    "Sofia",
    "Sydney",
    "Dakota",
    "Shelby",
    "Ole",
];

/// Roles in a chat speaker label: "Kathleen (agent):".
const SPEAKER_ROLES: &[&str] = &[
    "(agent):",
    "(customer):",
    "(visitor):",
    "(support):",
    "(rep):",
    "(caller):",
    "(bot):",
];

/// Left contexts that introduce a single name ("Hi Diana,", "this is Pamela.").
const STRONG_CUES: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "dear",
    "hallo",
    "hola",
    "bonjour",
    "ciao",
    "olá",
    "oi",
    "liebe",
    "lieber",
    "beste",
    "caro",
    "cara",
    "estimado",
    "estimada",
    "gentile",
    "cher",
    "chère",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "herr",
    "frau",
    "this is",
    "my name is",
    "our ae",
    "ae",
    "i am",
    "👤",
];

/// Left contexts that introduce a full name ("From:", "Applicant:", "Kunde …").
const WEAK_CUES: &[&str] = &[
    "from:",
    "to:",
    "cc:",
    "bcc:",
    "applicant:",
    "co-applicant:",
    "account holder:",
    "holder:",
    "cardholder:",
    "contact:",
    "customer:",
    "client:",
    "owner:",
    "name:",
    "assistant:",
    "attendees:",
    "kunde",
    "kundin",
    "cliente",
    "klant",
    "client",
    "for",
    "with",
    "add",
    "verify",
    "customer is",
    "contact",
    "assigned to",
    "speaking with",
    "patient:",
    "employee:",
    "von:",
    "customer",
    "klient",
    "klientka",
    "kund",
    "o cliente",
    "a cliente",
    "el cliente",
    "la cliente",
    "le client",
    "la cliente",
    "de klant",
    "beneficiary:",
    "payee:",
    "legal name",
    "full name",
    "it's",
    "appunto:",
    "notitie:",
    "anteckning:",
    "notatka:",
    "notiz:",
    "notiz zum kunden:",
    "anotação:",
    "nota:",
    "note:",
];

const SIGN_OFFS: &[&str] = &[
    "thanks,",
    "thank you,",
    "cheers,",
    "regards,",
    "best,",
    "sincerely,",
    "many thanks,",
    "thanks",
    "cheers",
    "saludos,",
    "grüße,",
    "cordialement,",
    "groeten,",
    "atenciosamente,",
    "cordiali saluti,",
    "best wishes,",
];

impl NamePatterns {
    pub(crate) fn new() -> Self {
        let tok = r"\p{Lu}[\p{L}'’-]*\p{Ll}";
        let particle = PARTICLES.join("|");
        NamePatterns {
            name: re(&format!(
                r"{tok}(?:[ ]{tok}){{0,3}}(?:[ ](?:{particle})[ ]{tok})?"
            )),
            cjk: [
                re(r"(?:の|は)(\p{Han}{1,4}(?:[ 　]\p{Han}{1,4})?)(?:様|さん|氏)"),
                re(r"(\p{Hangul}{2,4})[ ]?(?:고객님|님|씨)"),
                re(r"的(\p{Han}{2,3}?)(?:反映|表示|来电|投诉|要求|称|说|报告|询问|希望|申请)"),
                re(
                    r"(?:this is|customer is|my name is|name is)[ ](\p{Han}{1,4}(?:[ ]\p{Han}{1,4})?|\p{Hangul}{2,4})",
                ),
            ],
            cjk_name: re(r"\p{Han}{1,3}[ ]\p{Han}{1,3}|\p{Han}{2,4}|\p{Hangul}{2,4}"),
            first_names: FIRST_NAMES
                .split_whitespace()
                .chain(MORE_FIRST_NAMES.split_whitespace())
                .collect(),
            strong_cues: STRONG_CUES.iter().copied().collect(),
            weak_cues: WEAK_CUES.iter().copied().collect(),
            sign_offs: SIGN_OFFS.iter().copied().collect(),
            not_names: NOT_NAMES.split_whitespace().collect(),
            org_words: ORG_WORDS.split_whitespace().collect(),
        }
    }

    /// The capitalized-name pattern, for tests of the ASCII tokenizer against it.
    #[cfg(test)]
    pub(crate) fn name_pattern(&self) -> &Regex {
        &self.name
    }

    pub(crate) fn is_not_name(&self, word: &str) -> bool {
        self.not_names.contains(word)
    }

    pub(crate) fn is_org_word(&self, word: &str) -> bool {
        self.org_words.contains(word.trim_end_matches([',', ')']))
    }

    /// Whether a field value ("Jeffrey Frank", "Quantum Retail LLC") reads as a person's name.
    pub(crate) fn looks_like_person(&self, value: &str) -> bool {
        let words: Vec<&str> = value.split_whitespace().collect();
        if words.is_empty() || words.len() > 5 {
            return false;
        }
        if value.chars().any(is_cjk) {
            return value.chars().all(|c| is_cjk(c) || c == ' ');
        }
        words.iter().all(|w| {
            !self.is_org_word(w)
                && !self.is_not_name(w)
                && w.chars()
                    .all(|c| c.is_alphabetic() || matches!(c, '\'' | '’' | '-' | '.'))
                && (PARTICLES.contains(w) || w.chars().next().is_some_and(char::is_uppercase))
        })
    }

    /// Finds names in `text`, adding them and every further mention to `out`. `known` holds
    /// names already established (dictionary, record fields); it is extended here.
    pub(crate) fn scan(
        &self,
        text: &str,
        dictionary: &NameDictionary,
        known: &mut Vec<(usize, usize)>,
        out: &mut Cands,
    ) {
        dictionary.scan(text, out);
        // Only a single-word speaker label needs to know; computed on first use.
        let mut transcript: Option<bool> = None;
        let mut is_transcript = || {
            *transcript.get_or_insert_with(|| {
                [
                    "\nCaller:",
                    "\nCustomer:",
                    "\nAgent:",
                    "\nRep:",
                    "transcript",
                ]
                .iter()
                .any(|m| text.contains(m))
            })
        };
        let mut words: Vec<(usize, &str)> = Vec::with_capacity(8);
        if text.is_ascii() {
            let bytes = text.as_bytes();
            let mut at = 0;
            while let Some((s, e)) = next_ascii_name(bytes, at) {
                self.judge(text, s, e, &mut is_transcript, known, &mut words);
                at = e;
            }
        } else {
            for m in self.name.find_iter(text) {
                self.judge(
                    text,
                    m.start(),
                    m.end(),
                    &mut is_transcript,
                    known,
                    &mut words,
                );
            }
        }
        // CJK is three-byte UTF-8: pure ASCII text has none.
        if !text.is_ascii() && text.chars().any(is_cjk) {
            for pattern in &self.cjk {
                for caps in pattern.captures_iter(text) {
                    if let Some(g) = caps.get(1)
                        && g.as_str() != "고객"
                    {
                        known.push((g.start(), g.end()));
                    }
                }
            }
            // A CJK run standing alone in a slot a name fills: "From: 임민서 <…>",
            // "(High): 藤田 春香 from …", a sign-off line.
            for m in self.cjk_name.find_iter(text) {
                let (s, e) = (m.start(), m.end());
                if prev_char(text, s).is_some_and(is_cjk) || next_char(text, e).is_some_and(is_cjk)
                {
                    continue;
                }
                let left = before(text, s, 48);
                let right = text.get(e..).unwrap_or("");
                let line_end = right.starts_with('\n') || right.is_empty();
                let org = ["주식회사", "株式会社", "有限公司", "公司", "集团", "会社"]
                    .iter()
                    .any(|o| m.as_str().contains(o));
                if !org
                    && (right_cue(right)
                        || self.weak_left(left)
                        || (self.strong_left(left) && line_end))
                {
                    known.push((s, e));
                }
            }
        }
        self.names_in_email_addresses(text, known);
        self.propagate(text, known, out);
    }

    /// Decides whether the capitalized sequence at `start..end` is a name.
    fn judge<'t>(
        &self,
        text: &'t str,
        start: usize,
        end: usize,
        transcript: &mut impl FnMut() -> bool,
        known: &mut Vec<(usize, usize)>,
        words: &mut Vec<(usize, &'t str)>,
    ) {
        let Some(span) = text.get(start..end) else {
            return;
        };
        // Drop leading non-name words ("Hi Diana" → "Diana"), then cut at the first one.
        words.clear();
        let mut offset = start;
        for word in span.split(' ') {
            words.push((offset, word));
            offset += word.len() + 1;
        }
        while words.first().is_some_and(|(_, w)| self.is_not_name(w)) {
            words.remove(0);
        }
        if let Some(cut) = words.iter().position(|(_, w)| self.is_not_name(w)) {
            // "Tiffany Case": a given name followed by a surname that is also a common word.
            let surname = cut + 1 == words.len()
                && cut >= 1
                && SURNAME_WORDS.contains(&words[cut].1)
                && self.first_names.contains(words[cut - 1].1);
            if !surname {
                words.truncate(cut);
            }
        }
        // Possessive: "Barbara Diaz's account".
        if let Some(last) = words.last_mut() {
            for suffix in ["'s", "’s"] {
                if let Some(stem) = last.1.strip_suffix(suffix) {
                    last.1 = stem;
                }
            }
        }
        // A trailing particle ("… van") is not part of the name.
        while words.last().is_some_and(|(_, w)| PARTICLES.contains(w)) {
            words.pop();
        }
        let (Some(&(s, _)), Some(&(last_start, last))) = (words.first(), words.last()) else {
            return;
        };
        let mut e = last_start + last.len();
        if words.iter().any(|(_, w)| self.is_org_word(w)) || self.org_follows(text, e) {
            // "Marcel Fabre de Evergreen Pharma": the particle starts the company.
            let Some(p) = words.iter().rposition(|(_, w)| PARTICLES.contains(w)) else {
                return;
            };
            words.truncate(p);
            let Some(&(ls, lw)) = words.last() else {
                return;
            };
            e = ls + lw.len();
            if words.iter().any(|(_, w)| self.is_org_word(w)) {
                return;
            }
        }
        // "Juul Stook van Orion …": a particle tail followed by more capitals is a company.
        if let Some(p) = words.iter().rposition(|(_, w)| PARTICLES.contains(w))
            && next_char(text, e) == Some(' ')
            && next_char(text, e + 1).is_some_and(char::is_uppercase)
        {
            words.truncate(p);
            let Some(&(ls, lw)) = words.last() else {
                return;
            };
            e = ls + lw.len();
        }
        let multi = words.iter().filter(|(_, w)| !PARTICLES.contains(w)).count() >= 2;
        let first_known = words
            .first()
            .is_some_and(|(_, w)| self.first_names.contains(w));
        let left = before(text, s, 48);
        let line_left = left.rsplit('\n').next().unwrap_or("");
        let right = text.get(e..).unwrap_or("");
        let strong = self.strong_left(left);
        let role_line = line_left
            .trim_start_matches([' ', '\t', '-', '—', '>'])
            .is_empty()
            && role_follows(right);
        let label_slot = line_left.trim().is_empty() || bracketed_prefix(line_left);
        let role_label = SPEAKER_ROLES.iter().any(|r| {
            right
                .strip_prefix(' ')
                .and_then(|r2| r2.get(..r.len()))
                .is_some_and(|head| head.eq_ignore_ascii_case(r))
        });
        let speaker = !multi
            && label_slot
            && (role_label || (right.starts_with(": ") && (first_known || transcript())));
        // "Maria.Lopez" or "Anna.de": part of a handle or a domain.
        let glued_dot = right.starts_with('.') && right[1..].starts_with(char::is_alphanumeric);
        let lone_given =
            !multi && first_known && !glued_dot && !AMBIGUOUS_GIVEN.contains(&words[0].1);
        let accept = if multi {
            strong || role_line || first_known || self.weak_left(left) || right_cue(right)
        } else {
            strong
                || role_line
                || speaker
                || lone_given
                || dash_sign_off(line_left, right)
                || attendee_slot(line_left)
        };
        if accept {
            known.push((s, e));
        }
    }

    fn org_follows(&self, text: &str, end: usize) -> bool {
        let rest = text.get(end..).unwrap_or("");
        let Some(rest) = rest.strip_prefix(' ') else {
            return false;
        };
        let word = rest.split([' ', '\n', ',', ')']).next().unwrap_or("");
        self.is_org_word(word)
    }

    fn strong_left(&self, left: &str) -> bool {
        let trimmed = left.trim_end_matches([' ', '\t', '*', '(']);
        with_lowercase(trimmed, |lower| {
            if ends_with_cue(lower, &self.strong_cues) {
                return true;
            }
            // Sign-off on this line or the one before: "Thanks, Name" / "Cheers,\nName".
            let flat = lower.trim_end_matches(['\n', ' ', '-', '—']);
            ends_with_cue(flat, &self.sign_offs)
        })
    }

    fn weak_left(&self, left: &str) -> bool {
        let trimmed = left.trim_end_matches([' ', '\t', '*']);
        // A dot leader: "Legal name ........ Name".
        let trimmed = if trimmed.ends_with("..") {
            trimmed.trim_end_matches(['.', ' '])
        } else {
            trimmed
        };
        let cue = with_lowercase(trimmed, |lower| {
            if ends_with_cue(lower, &self.weak_cues) {
                return true;
            }
            // "Case 12345678 (High) - Name", "Zaak 08041893: Name", an attendee list.
            let line = lower.rsplit('\n').next().unwrap_or("");
            line.contains("attendees:") && (trimmed.ends_with(',') || lower.ends_with(" and"))
        });
        if cue {
            return true;
        }
        let bare = trimmed.trim_end_matches([':', '-', '—', '|', ')', ' ']);
        let before_cue = trimmed.len() != bare.len();
        before_cue
            && (bare.ends_with(|c: char| c.is_ascii_digit())
                || bare.ends_with("Urgent")
                || bare.ends_with("High")
                || bare.ends_with("Medium")
                || bare.ends_with("Low"))
    }

    /// Names from email local parts: `aurora.gomes@…` makes "Aurora Gomes" a name wherever
    /// it appears.
    fn names_in_email_addresses(&self, text: &str, known: &mut Vec<(usize, usize)>) {
        let bytes = text.as_bytes();
        let mut candidates: Vec<String> = Vec::new();
        for at in memchr::memchr_iter(b'@', bytes) {
            let local_start = text
                .get(..at)
                .and_then(|s| {
                    s.rfind(|c: char| {
                        !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
                    })
                })
                .map_or(0, |i| i + 1);
            let local = text.get(local_start..at).unwrap_or("");
            let local = local.split('+').next().unwrap_or("");
            let parts: Vec<&str> = local
                .split(['.', '_', '-'])
                .map(|p| p.trim_end_matches(|c: char| c.is_ascii_digit()))
                .filter(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_alphabetic()))
                .collect();
            if parts.len() == 2 {
                candidates.push(format!("{} {}", capitalize(parts[0]), capitalize(parts[1])));
            }
        }
        for name in candidates {
            for i in memchr::memmem::find_iter(text.as_bytes(), name.as_bytes()) {
                if word_bounded(text, i, i + name.len()) {
                    known.push((i, i + name.len()));
                }
            }
        }
    }

    /// Marks every mention of every known name, and of the given name of known full names.
    fn propagate(&self, text: &str, known: &[(usize, usize)], out: &mut Cands) {
        let mut needles: Vec<&str> = Vec::new();
        for &(s, e) in known {
            let Some(name) = text.get(s..e) else {
                continue;
            };
            out.push(Cand::new(EntityKind::Person, s, e));
            if !needles.contains(&name) {
                needles.push(name);
            }
            let mut parts = name.split(' ');
            if let (Some(first), Some(_)) = (parts.next(), parts.next())
                && first.chars().count() >= 2
                && !self.is_not_name(first)
                && !PARTICLES.contains(&first)
                && !needles.contains(&first)
                && !first.chars().any(is_cjk)
            {
                needles.push(first);
            }
            // "井上 陽一": the given name of a spaced CJK name comes last.
            if let Some((_, given)) = name.rsplit_once(' ')
                && given.chars().all(is_cjk)
                && !needles.contains(&given)
            {
                needles.push(given);
            }
        }
        for needle in needles {
            for i in memchr::memmem::find_iter(text.as_bytes(), needle.as_bytes()) {
                let end = i + needle.len();
                if word_bounded(text, i, end) && !inside_token(text, i, end) {
                    out.push(Cand::new(EntityKind::Person, i, end));
                }
            }
        }
    }
}

/// The next match of the capitalized-name pattern (`NamePatterns::name`) at or after `from`
/// in ASCII text, found without the regex engine. In ASCII the token class is `[A-Za-z'-]`:
/// a token runs from an uppercase letter to the last lowercase letter of the class run that
/// follows it, and only a token ending its run can be followed by `[ ]`, so the regex's
/// leftmost-first choice is always the longest token and the most repetitions.
pub(super) fn next_ascii_name(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    while at < bytes.len() {
        let start = find_byte(bytes, at, |b| b.is_ascii_uppercase())?;
        let Some(first) = ascii_token(bytes, start) else {
            at = start + 1;
            continue;
        };
        let mut end = first.0;
        let mut run_end = first.1;
        let mut reps = 0;
        while reps < 3
            && end == run_end
            && bytes.get(end) == Some(&b' ')
            && let Some((e, r)) = ascii_token(bytes, end + 1)
        {
            end = e;
            run_end = r;
            reps += 1;
        }
        if end == run_end && bytes.get(end) == Some(&b' ') {
            let word_start = end + 1;
            let word_len = bytes.get(word_start..).map_or(0, |r| {
                r.iter().take_while(|b| b.is_ascii_lowercase()).count()
            });
            let word = bytes.get(word_start..word_start + word_len).unwrap_or(&[]);
            let after = word_start + word_len;
            if PARTICLES.iter().any(|p| p.as_bytes() == word)
                && bytes.get(after) == Some(&b' ')
                && let Some((e, _)) = ascii_token(bytes, after + 1)
            {
                end = e;
            }
        }
        return Some((start, end));
    }
    None
}

/// A `\p{Lu}[\p{L}'’-]*\p{Ll}` token at `start` in ASCII text: its greedy end and the end of
/// the class run it sits in.
fn ascii_token(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    if !bytes.get(start)?.is_ascii_uppercase() {
        return None;
    }
    let mut end = None;
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_lowercase() {
            end = Some(i + 1);
        } else if !(b.is_ascii_uppercase() || b == b'\'' || b == b'-') {
            break;
        }
        i += 1;
    }
    end.map(|e| (e, i))
}

/// A mention glued to an address or handle (`x.Diana@`, `@Diana`) is not a name.
fn inside_token(text: &str, start: usize, end: usize) -> bool {
    matches!(prev_char(text, start), Some('@' | '.' | '/' | '_' | '-'))
        || matches!(next_char(text, end), Some('@' | '_'))
        || (next_char(text, end) == Some('.')
            && text
                .get(end + 1..)
                .is_some_and(|r| r.starts_with(|c: char| c.is_alphanumeric())))
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

const fn max_len(list: &[&str]) -> usize {
    let mut max = 0;
    let mut i = 0;
    while i < list.len() {
        if list[i].len() > max {
            max = list[i].len();
        }
        i += 1;
    }
    max
}

/// The longest cue of any list: a longer tail cannot be one.
const MAX_CUE_LEN: usize = {
    let (a, b, c) = (max_len(STRONG_CUES), max_len(WEAK_CUES), max_len(SIGN_OFFS));
    let ab = if a > b { a } else { b };
    if ab > c { ab } else { c }
};

/// Whether `lower` ends, on a word boundary, with one of `cues` (phrases of up to three
/// words): looks up the last one, two and three words instead of scanning the list.
fn ends_with_cue(lower: &str, cues: &WordSet) -> bool {
    let bytes = lower.as_bytes();
    let mut cut = bytes.len();
    for _ in 0..3 {
        let from = bytes
            .get(..cut)
            .and_then(|head| {
                head.iter()
                    .rposition(|b| matches!(b, b' ' | b'\n' | b'\t' | b'(' | b'|' | b'>'))
            })
            .map_or(0, |i| i + 1);
        if bytes.len() - from > MAX_CUE_LEN {
            return false;
        }
        if lower.get(from..).is_some_and(|tail| cues.contains(tail)) {
            return true;
        }
        if from == 0 {
            return false;
        }
        cut = from - 1;
    }
    false
}

/// What follows a name that marks it as one: an address in angle brackets, details in
/// parentheses, "from Company", "born …".
fn right_cue(right: &str) -> bool {
    right.starts_with(" <")
        || right.starts_with(" (")
        || right.starts_with(", born")
        || right.starts_with(", DOB")
        || (right.starts_with(" from ") && right[6..].starts_with(|c: char| c.is_uppercase()))
        || right.starts_with(" at +")
        || right.starts_with("):")
        || right.starts_with("'s ")
        || right.starts_with("’s ")
}

/// Only bracketed stamps before the name on its line: "[2023-04-28T10:00Z] [visitor] ".
fn bracketed_prefix(line_left: &str) -> bool {
    let mut rest = line_left.trim();
    if !rest.starts_with('[') {
        return false;
    }
    while let Some(r) = rest.strip_prefix('[') {
        let Some(close) = r.find(']') else {
            return false;
        };
        rest = r[close + 1..].trim_start();
    }
    rest.is_empty()
}

/// A one-word sign-off after a dash closing a line: "… valor 187,00 CHF. — Name".
fn dash_sign_off(line_left: &str, right: &str) -> bool {
    let trimmed = line_left.trim_end();
    (trimmed.ends_with(" —") || trimmed.ends_with(" –"))
        && trimmed.len() > 2
        && (right.is_empty() || right.starts_with('\n'))
}

/// An item of an attendee list: "attendees: Inna, Jasmina and Stan".
fn attendee_slot(line_left: &str) -> bool {
    let Some(at) = line_left.to_ascii_lowercase().find("attendees:") else {
        return false;
    };
    let list = &line_left[at + "attendees:".len()..];
    let t = list.trim_end();
    (t.is_empty() || t.ends_with(',') || t.ends_with(" and") || t.ends_with(" &"))
        && list
            .split([',', '&'])
            .all(|item| item.trim().split(' ').count() <= 3)
}

/// A signature line: "Name, Tier 2 Support" / "Name, Billing Ops" at the end of a line.
fn role_follows(right: &str) -> bool {
    let Some(rest) = right.strip_prefix(", ") else {
        return false;
    };
    let line = rest.split('\n').next().unwrap_or("");
    line.len() <= 40
        && line.starts_with(|c: char| c.is_uppercase())
        && !line.contains(['@', ':'])
        && line.split(' ').all(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        })
}
