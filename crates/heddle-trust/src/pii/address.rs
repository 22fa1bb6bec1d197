//! Street addresses: a US/UK street line (number, name, street-type suffix, unit) with an
//! optional city/state/ZIP or UK postcode tail, on one line or over several; and, for the
//! other languages, the value after an address label up to the end of its clause.

use aho_corasick::AhoCorasick;
use regex::Regex;

use super::text::{find_byte, gate, gated_lines, is_cjk, is_word, next_char, prev_char, re};
use super::{Cand, Cands};
use crate::finding::EntityKind;

/// A French-style street line: the number first, then the street type and its name.
const EU_NUMBER_FIRST: &str = concat!(
    r"[0-9]{1,4}(?:[ ]?(?:bis|ter|[A-Za-z]))?,?[ ]",
    r"(?i:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|route|cours|square|passage|voie)",
    r"(?:[ ][^\s,]+){1,6}",
);

/// A street name (capitalized words and the particles between them) followed by its number
/// and an optional floor or door: German, Dutch, Spanish, Italian and Portuguese lines.
const EU_NAME_FIRST: &str = concat!(
    r"\p{Lu}[\p{L}'’.-]*(?:[ ](?:\p{Lu}[\p{L}'’.-]*|de|del|de[ ]la|da|do|dos|das|di|della|delle|dei|",
    r"degli|van|von|der|den|la|le|du|des|y|e|i)){0,5}",
    r",?[ ](?:n[º°o]\.?[ ]?)?[0-9]{1,5}[a-zA-Z]?(?:[/-][0-9]{1,4}[a-zA-Z]?)?",
    r"(?:,?[ ](?:Piano|Piso|Planta|Etage|Stock|Apt\.?|Apto\.?|Bloco|Bloque|Escalera|Esc\.|Puerta|Int\.|Scala)",
    r"[ ]?[0-9A-Za-zº°]+)*",
);

/// Street-type words of the countries with four-digit postcodes and their neighbours,
/// lowercase, as parts of words ("Isebaan", "Schäferallee").
const STREET_WORDS: &[&str] = &[
    "straat",
    "laan",
    "baan",
    "weg",
    "gracht",
    "plein",
    "kade",
    "dijk",
    "steeg",
    "singel",
    "gasse",
    "strasse",
    "straße",
    "str.",
    "allee",
    "platz",
    "ring",
    "vej",
    "gade",
    "gatan",
    "gata",
    "väg",
    "rue",
    "avenue",
    "chemin",
    "boulevard",
    "place",
    "via",
    "viale",
    "piazza",
    "calle",
    "avenida",
    "rua",
    "praça",
    "travessa",
    "ulica",
    "ul.",
];

/// Street-type words (USPS suffixes and common UK ones).
const SUFFIXES: &str = concat!(
    "Alley|Annex|Arcade|Avenue|Ave|Bayou|Beach|Bend|Bluffs?|Bottom|Boulevard|Blvd|Branch|Bridge|Brooks?|",
    "Burgs?|Bypass|Camp|Canyon|Cape|Causeway|Centers?|Centre|Circles?|Cliffs?|Close|Club|Commons?|",
    "Corners?|Course|Courts?|Coves?|Creek|Crescent|Crest|Crossing|Crossroads?|Curve|Dale|Dam|Divide|",
    "Drives?|Dr|Drove|Estates?|Expressway|Extensions?|Falls?|Ferry|Fields?|Flats?|Fords?|Forest|",
    "Forges?|Forks?|Fort|Freeway|Gardens?|Gate|Gateway|Glens?|Greens?|Groves?|Harbou?rs?|Haven|Heights|",
    "Highway|Hills?|Hollow|Inlet|Islands?|Isle|Junctions?|Keys?|Knolls?|Lakes?|Land|Landing|Lane|Ln|",
    "Lights?|Loaf|Locks?|Lodge|Loop|Mall|Manors?|Meadows?|Mews|Mills?|Mission|Motorway|Mount|",
    "Mountains?|Neck|Orchard|Oval|Overpass|Parade|Parks?|Parkways?|Pass|Passage|Path|Pike|Pines?|Place|",
    "Plains?|Plaza|Points?|Ports?|Prairie|Radial|Ramp|Ranch|Rapids?|Rest|Ridges?|Rise|River|Roads?|Rd|",
    "Route|Row|Rue|Run|Shoals?|Shores?|Skyway|Springs?|Spurs?|Squares?|Station|Stravenue|Stream|",
    "Streets?|St|Summit|Terrace|Throughway|Trace|Track|Trafficway|Trail|Tunnel|Turnpike|Underpass|",
    "Unions?|Valleys?|Via|Viaduct|Views?|Villages?|Ville|Vista|Walks?|Wall|Ways?|Wells?|Wharf|Yard",
);

#[derive(Debug)]
pub(crate) struct AddressPatterns {
    /// The street pattern anchored at the start of its haystack: run only where a match can
    /// start (see [`street_starts`]).
    street: Regex,
    label: Regex,
    /// A word every `label` match contains.
    label_gate: Option<AhoCorasick>,
    /// A whole line (or a segment of one) that is a street and a postcode with its town, as
    /// continental Europe writes them: "Hauptstraße 5, 10115 Berlin", "8, avenue de Denis,
    /// 09519 Thibault", "Strada Baldassare, 8 Piano 6, 28028 Caprino".
    european: Regex,
    /// A Japanese address: prefecture, municipality, then chōme, block and number.
    japanese: Regex,
    /// [`UNIT_WORDS`], found in one pass (a constant list: if building failed, no unit line
    /// would start a street, nothing else).
    unit_words: Option<AhoCorasick>,
}

impl AddressPatterns {
    pub(crate) fn new() -> Self {
        let uk_postcode = r"[A-Z]{1,2}[0-9][A-Z0-9]?[ ][0-9][A-Z]{2}";
        let city = r"[A-Z][A-Za-z'.-]*(?:[ ][A-Z][A-Za-z'.-]*){0,3}";
        let street = format!(
            concat!(
                r"(?:(?:Flat|Studio|Apartment|Unit|Suite)[ ][0-9]+[A-Za-z]?(?:,[ ]|\n)[0-9]{{0,6}}[ ]?|[0-9]{{1,6}}[A-Za-z]?[ ])",
                r"(?:[A-Z][A-Za-z'-]+[ ]){{1,3}}(?:{suf})(?-u:\b)\.?",
                r"(?:[ ](?:Apt\.?|Suite|Ste\.?|Unit|\#)[ ]?[0-9A-Za-z-]+)?",
                r"(?:,[ ]?{city},[ ]?[A-Z]{{2}}[ ][0-9]{{5}}(?:-[0-9]{{4}})?",
                r"|\n{city}\n[A-Z]{{2}}[ ][0-9]{{5}}(?:-[0-9]{{4}})?",
                r"|(?:,[ ]?|\n){city}[ ]{pc})?",
            ),
            suf = SUFFIXES,
            city = city,
            pc = uk_postcode,
        );
        AddressPatterns {
            street: re(&format!("^(?:{street})")),
            european: re(&format!(
                concat!(
                    "^(?:{number_first}|{name_first})",
                    r"[ ]?,[ ]?(?P<postcode>[0-9]{{5}}(?:-[0-9]{{3}})?|[0-9]{{4}}(?:[ ]?[A-Z]{{2}})?|[0-9]{{2}}-[0-9]{{3}})",
                    // The town: no full stops, so a sentence after it is not taken for it.
                    r"[ ]\p{{Lu}}[\p{{L}}'’-]*(?:[ -]\p{{L}}[\p{{L}}'’-]*){{0,5}}$",
                ),
                number_first = EU_NUMBER_FIRST,
                name_first = EU_NAME_FIRST,
            )),
            japanese: re(concat!(
                r"(?:北海道|東京都|京都府|大阪府|\p{Han}{2,3}県)[\p{Han}\p{Hiragana}\p{Katakana}ー]{1,12}?",
                r"[0-9０-９]{1,4}丁目[0-9０-９]{1,4}番地?(?:[0-9０-９]{1,4}号)?",
                r"(?:[ 　][\p{Katakana}\p{Han}ー]{1,10}[0-9０-９]{1,5}(?:号室)?)?",
            )),
            unit_words: AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                .build(UNIT_WORDS)
                .ok(),
            label_gate: gate(&[
                "address",
                "adres",
                "direcci",
                "indirizzo",
                "anschrift",
                "endere",
                "morada",
                "hq",
                "住所",
                "地址",
                "주소",
            ]),
            label: re(concat!(
                r"(?i:home address|mailing address|billing address|shipping address|street address|",
                r"address on file|new address is|address|adresse|direcci[oó]n|indirizzo|lieferadresse|",
                r"rechnungsadresse|anschrift|adress|adresa|adres|endere[cç]o|morada|hq)",
                r"[ \t]*[:：][ \t]*|住所[:：][ \t]*|地址[:：][ \t]*|주소[ \t]*[:：][ \t]*",
                // A sentence that gives an address: "my new address is …", "o endereço para …".
                r"|(?i:address is|endere[cç]o (?:para|é|e)|indirizzo (?:in|è|e)|direcci[oó]n (?:es|a)|",
                r"adresse (?:est|ist|lautet)|adres is)[ \t]+",
            )),
        }
    }

    /// Every match of the label pattern, searched only on lines holding a gate word: a label
    /// and its colon never span a line, and every label contains a gate word.
    pub(super) fn labels(&self, text: &str, lower: &str) -> Vec<(usize, usize)> {
        let lines = match &self.label_gate {
            Some(gate) => gated_lines(lower, gate),
            None => vec![(0, text.len())],
        };
        let mut labels = Vec::new();
        for (ls, le) in lines {
            for m in self.label.find_iter(&text[ls..le]) {
                labels.push((ls + m.start(), ls + m.end()));
            }
        }
        labels
    }

    /// The label pattern, for tests of [`AddressPatterns::labels`] against a full scan.
    #[cfg(test)]
    pub(crate) fn label_pattern(&self) -> &Regex {
        &self.label
    }

    /// European street lines: each line that has a comma and a digit is cut where an address
    /// cannot continue (a label's colon, a house emoji, a tag, a pipe or tab), and a segment
    /// that is entirely a street and a postcode with its town is a finding.
    fn european_lines(&self, text: &str, out: &mut Cands) {
        let mut line_start = 0;
        for line in text.split('\n') {
            let start = line_start;
            line_start += line.len() + 1;
            if line.len() > 160 || !line.contains(',') || !line.bytes().any(|b| b.is_ascii_digit())
            {
                continue;
            }
            let mut seg_start = 0;
            let cuts = line
                .match_indices([':', '🏠', '<', '>', '|', '\t', '：'])
                .map(|(i, sep)| (i, i + sep.len()))
                .chain(std::iter::once((line.len(), line.len())));
            for (cut, next) in cuts {
                let segment = &line[seg_start..cut];
                // A full stop or comma after the town ends the sentence, not the address.
                let trimmed = segment.trim().trim_end_matches(['.', ',', ';']);
                if !trimmed.is_empty() && self.is_european_street(trimmed) {
                    let lead = segment.len() - segment.trim_start().len();
                    let s = start + seg_start + lead;
                    out.push(Cand::new(EntityKind::StreetAddress, s, s + trimmed.len()));
                }
                seg_start = next;
            }
        }
    }

    /// Whether `segment` is all a European street line. A bare four-digit postcode reads as
    /// a year too ("Release 4, 2024 Roadmap"), so then the line must name a street type.
    fn is_european_street(&self, segment: &str) -> bool {
        let Some(caps) = self.european.captures(segment) else {
            return false;
        };
        let postcode = caps.name("postcode").map_or("", |m| m.as_str());
        if postcode.len() != 4 {
            return true;
        }
        let lower = segment.to_lowercase();
        STREET_WORDS.iter().any(|w| lower.contains(w))
    }

    /// Where a street can start in `bytes` (see [`street_starts`]).
    pub(super) fn street_starts(&self, bytes: &[u8]) -> Vec<usize> {
        street_starts(bytes, self.unit_words.as_ref())
    }

    /// The anchored street pattern, for tests of [`street_starts`] against a full scan.
    #[cfg(test)]
    pub(crate) fn street_pattern(&self) -> &Regex {
        &self.street
    }

    /// `lower` is `text` with ASCII letters lowercased.
    pub(crate) fn scan(&self, text: &str, lower: &str, out: &mut Cands) {
        let mut at = 0;
        for p in self.street_starts(text.as_bytes()) {
            if p < at {
                continue;
            }
            let Some(m) = text.get(p..).and_then(|rest| self.street.find(rest)) else {
                continue;
            };
            let (start, end) = (p, p + m.end());
            at = end;
            if prev_char(text, start)
                .is_some_and(|c| is_word(c) || matches!(c, '-' | '.' | '$' | '#'))
                || next_char(text, end).is_some_and(is_word)
            {
                continue;
            }
            out.push(Cand::new(EntityKind::StreetAddress, start, end));
        }
        self.european_lines(text, out);
        if memchr::memmem::find(text.as_bytes(), "丁目".as_bytes()).is_some() {
            for m in self.japanese.find_iter(text) {
                out.push(Cand::new(EntityKind::StreetAddress, m.start(), m.end()));
            }
        }
        for (label_start, label_end) in self.labels(text, lower) {
            if prev_char(text, label_start).is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            // "IP address:", "email address:" label other things.
            let head = lower.get(..label_start).unwrap_or("").trim_end();
            if ["ip", "email", "e-mail", "mac", "web", "mail"]
                .iter()
                .any(|w| head.ends_with(w))
            {
                continue;
            }
            if let Some((start, end)) = clause_after(text, label_end) {
                let value = &text[start..end];
                let has_digit = value.bytes().any(|b| b.is_ascii_digit());
                let cjk = value.chars().any(is_cjk);
                if (has_digit || cjk)
                    && !value.contains('@')
                    && !value.contains("://")
                    && value.parse::<std::net::IpAddr>().is_err()
                {
                    out.push(Cand::new(EntityKind::StreetAddress, start, end));
                }
            }
        }
    }
}

/// Every position where the street pattern can match, in order: inside a digit run at most
/// six digits from its end when the run is followed by `[A-Za-z]?[ ][A-Z]` (the only way
/// `[0-9]{1,6}[A-Za-z]?[ ]` and a capitalized word can follow), and at a unit word followed
/// by a space and a digit. The pattern has no look-around, so an anchored match at each
/// such position, skipping those inside the previous match, finds what a scan finds.
fn street_starts(bytes: &[u8], unit_words: Option<&AhoCorasick>) -> Vec<usize> {
    let mut starts = Vec::new();
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < bytes.len() {
        let Some(run) = find_byte(bytes, i, |b| b.is_ascii_digit()) else {
            break;
        };
        let mut end = run;
        while at(end).is_ascii_digit() {
            end += 1;
        }
        let tail = (at(end) == b' ' && at(end + 1).is_ascii_uppercase())
            || (at(end).is_ascii_alphabetic()
                && at(end + 1) == b' '
                && at(end + 2).is_ascii_uppercase());
        if tail {
            starts.extend(run.max(end.saturating_sub(6))..end);
        }
        i = end;
    }
    let mut units = false;
    if let Some(unit_words) = unit_words {
        // The words share no prefix or suffix, so non-overlapping matches are all of them.
        for m in unit_words.find_iter(bytes) {
            if at(m.end()).is_ascii_digit() {
                starts.push(m.start());
                units = true;
            }
        }
    }
    if units {
        starts.sort_unstable();
    }
    starts
}

/// The unit words that start a street line ("Flat 4, 12 High Street"), each with its space.
const UNIT_WORDS: [&str; 5] = ["Flat ", "Studio ", "Apartment ", "Unit ", "Suite "];

/// The value after a label: to the end of the line, the sentence or the field. A label
/// followed directly by a line break takes the following lines up to a blank line.
fn clause_after(text: &str, from: usize) -> Option<(usize, usize)> {
    let rest = text.get(from..)?;
    let (start, multiline) = if let Some(stripped) = rest.strip_prefix('\n') {
        (from + rest.len() - stripped.len(), true)
    } else {
        (from, false)
    };
    let body = text.get(start..)?;
    let mut end = body.len();
    let mut lines = 1;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let stop = match c {
            '\n' if multiline => {
                lines += 1;
                next == Some('\n') || next.is_none() || lines > 4
            }
            '\n' | '。' | '|' | '"' | ';' | '\t' => true,
            // "Kohlstr. 9", "Apt. 554", "ul. Długa 5" go on; a full stop after the number ends it.
            '.' => {
                next.is_none_or(|n| n == '\n')
                    || (next == Some(' ')
                        && !digit_follows(body, i + 2)
                        && body[..i].bytes().any(|b| b.is_ascii_digit()))
            }
            _ => false,
        };
        if stop {
            end = i;
            break;
        }
    }
    let value = body.get(..end)?.trim_end_matches([' ', ',', '\n']);
    (!value.trim().is_empty() && value.len() <= 160).then(|| (start, start + value.len()))
}

fn digit_follows(body: &str, at: usize) -> bool {
    body.get(at..)
        .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_digit()))
}
