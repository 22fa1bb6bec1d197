//! Dates of birth. A date is personal data only when the text says it is a birth date, so
//! every date shape is found first and a date becomes a finding only when it is the first date
//! after a birth keyword, close by. Business dates, timestamps and close dates stay.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

use super::text::{next_char, prev_char, re};
use super::{Cand, Cands};
use crate::finding::EntityKind;

const MONTHS: &str = concat!(
    "january|february|march|april|may|june|july|august|september|october|november|december",
    "|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec",
    "|januar|februar|märz|mai|juni|juli|oktober|dezember",
    "|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre",
    "|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre",
    "|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre",
    "|januari|februari|maart|mei|augustus",
    "|janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|dezembro",
);

/// Words that mark the next date as a birth date, in the languages the gateway sees.
const KEYWORDS: &[&str] = &[
    "dob",
    "d.o.b",
    "date of birth",
    "birth date",
    "birthdate",
    "birth_date",
    "date_of_birth",
    "birthday",
    "born",
    "geburtsdatum",
    "geboren",
    "geb.",
    "fecha de nacimiento",
    "nacido",
    "nacida",
    "data di nascita",
    "nato il",
    "nata il",
    "date de naissance",
    "né le",
    "née le",
    "geboortedatum",
    "data de nascimento",
    "nascido",
    "nascida",
    "生年月日",
    "出生日期",
    "생년월일",
    "誕生日",
    "生日",
    "data urodzenia",
    "datum narození",
    "födelsedatum",
    "fødselsdato",
    "syntymäaika",
    "doğum tarihi",
    "дата рождения",
    "geboren am",
    "née",
    "né",
];

#[derive(Debug)]
pub(crate) struct DatePatterns {
    date: Regex,
    keywords: Option<AhoCorasick>,
}

impl DatePatterns {
    pub(crate) fn new() -> Self {
        let date = re(&format!(
            concat!(
                r"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}",
                r"|[0-9]{{4}}[/.][0-9]{{1,2}}[/.][0-9]{{1,2}}",
                r"|[0-9]{{1,2}}[/.-][0-9]{{1,2}}[/.-][0-9]{{4}}",
                r"|[0-9]{{1,2}}(?:\.|er|º|°)?[ ](?:de[ ])?(?i:{m})\.?,?(?:[ ]de)?[ ][0-9]{{4}}",
                r"|(?i:{m})\.?[ ][0-9]{{1,2}}(?:st|nd|rd|th)?,?[ ][0-9]{{4}}",
                r"|[0-9]{{4}}年[0-9]{{1,2}}月[0-9]{{1,2}}日",
                r"|[0-9]{{4}}년[ ]?[0-9]{{1,2}}월[ ]?[0-9]{{1,2}}일",
            ),
            m = MONTHS
        ));
        // Searched in ASCII-lowercased text: case-insensitive for ASCII letters, with the
        // literal prefilter an `ascii_case_insensitive` automaton gives up.
        let keywords = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(KEYWORDS.iter().map(|k| k.to_ascii_lowercase()));
        DatePatterns {
            date,
            // A constant list of plain strings: building does not fail in practice, and if it
            // did the detector would find no birth keywords rather than stop.
            keywords: keywords.ok(),
        }
    }

    /// The date pattern, for tests of [`DatePatterns::first_date_from`] against a full scan.
    #[cfg(test)]
    pub(crate) fn date_pattern(&self) -> &Regex {
        &self.date
    }

    pub(crate) fn is_date(&self, value: &str) -> bool {
        self.date
            .find(value)
            .is_some_and(|m| m.start() == 0 && m.end() == value.len())
    }

    /// The first date shape starting at or after `from` and at most `reach` bytes past it,
    /// as [`DatePatterns::dates`] would list it. No date shape can contain a birth keyword's
    /// last character, so no date straddles a keyword's end and a search from there sees the
    /// same matches as a search over the whole text; a date is far shorter than `MARGIN`, so
    /// cutting the haystack that far past the reach changes no match that starts in reach.
    pub(crate) fn first_date_from(
        &self,
        text: &str,
        from: usize,
        reach: usize,
    ) -> Option<(usize, usize)> {
        const MARGIN: usize = 256;
        let mut limit = (from + reach + MARGIN).min(text.len());
        while limit < text.len() && !text.is_char_boundary(limit) {
            limit += 1;
        }
        let hay = text.get(..limit)?;
        let mut at = from;
        while let Some(m) = self.date.find_at(hay, at) {
            if m.start() > from + reach {
                return None;
            }
            if !prev_char(text, m.start()).is_some_and(|c| c.is_ascii_alphanumeric())
                && !next_char(text, m.end()).is_some_and(|c| c.is_ascii_alphanumeric() || c == ':')
            {
                return Some((m.start(), m.end()));
            }
            at = m.end().max(at + 1);
            while at < hay.len() && !hay.is_char_boundary(at) {
                at += 1;
            }
            if at > hay.len() {
                return None;
            }
        }
        None
    }

    /// `lower` is `text` with ASCII letters lowercased.
    pub(crate) fn scan(&self, text: &str, lower: &str, out: &mut Cands) {
        let Some(keywords) = &self.keywords else {
            return;
        };
        for k in keywords.find_iter(lower) {
            // `born` inside `stubborn`, `dob` inside `Dobson`; `_` joins key parts
            // (`contact_birthdate`, `Birthdate__c`) and is fine.
            let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
            let keyword = KEYWORDS.get(k.pattern().as_usize()).copied().unwrap_or("");
            if keyword.is_ascii()
                && (glued(prev_char(text, k.start())) || glued(next_char(text, k.end())))
            {
                continue;
            }
            if let Some((start, end)) = self.first_date_from(text, k.end(), 80) {
                let gap = text.get(k.end()..start).unwrap_or("");
                // The date shares the cue's line, or follows a cue that ends its line.
                let same_clause = match gap.find('\n') {
                    None => true,
                    Some(nl) => {
                        let rest = gap[..nl].trim_matches([' ', '\t', ':', '-', '.', '\r']);
                        (rest.is_empty() || rest.ends_with('?')) && gap.matches('\n').count() <= 1
                    }
                };
                if gap.len() <= 80 && same_clause {
                    out.push(Cand::new(EntityKind::DateOfBirth, start, end));
                }
            }
        }
    }
}
