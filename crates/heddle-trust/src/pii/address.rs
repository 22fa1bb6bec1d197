//! Street addresses: a US/UK street line (number, name, street-type suffix, unit) with an
//! optional city/state/ZIP or UK postcode tail, on one line or over several; and, for the
//! other languages, the value after an address label up to the end of its clause.

use regex::Regex;

use super::text::{is_cjk, is_word, next_char, prev_char, re};
use super::{Cand, Cands};
use crate::finding::EntityKind;

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
    street: Regex,
    label: Regex,
}

impl AddressPatterns {
    pub(crate) fn new() -> Self {
        let uk_postcode = r"[A-Z]{1,2}[0-9][A-Z0-9]?[ ][0-9][A-Z]{2}";
        let city = r"[A-Z][A-Za-z'.-]*(?:[ ][A-Z][A-Za-z'.-]*){0,3}";
        let street = format!(
            concat!(
                r"(?:(?:Flat|Studio|Apartment|Unit|Suite)[ ][0-9]+[A-Za-z]?(?:,[ ]|\n)[0-9]{{0,6}}[ ]?|[0-9]{{1,6}}[A-Za-z]?[ ])",
                r"(?:[A-Z][A-Za-z'-]+[ ]){{1,3}}(?:{suf})\.?",
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
            street: re(&street),
            label: re(concat!(
                r"(?i:home address|mailing address|billing address|shipping address|street address|",
                r"address on file|new address is|address|adresse|direcci[oó]n|indirizzo|lieferadresse|",
                r"rechnungsadresse|anschrift|adress|adresa|adres|endere[cç]o|morada|hq)",
                r"[ \t]*[:：][ \t]*|住所[:：][ \t]*|地址[:：][ \t]*|주소[ \t]*[:：][ \t]*",
            )),
        }
    }

    pub(crate) fn scan(&self, text: &str, out: &mut Cands) {
        for m in self.street.find_iter(text) {
            let (start, end) = (m.start(), m.end());
            if prev_char(text, start)
                .is_some_and(|c| is_word(c) || matches!(c, '-' | '.' | '$' | '#'))
                || next_char(text, end).is_some_and(is_word)
            {
                continue;
            }
            out.push(Cand::new(EntityKind::StreetAddress, start, end));
        }
        for m in self.label.find_iter(text) {
            if prev_char(text, m.start()).is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            // "IP address:", "email address:" label other things.
            let head = text
                .get(..m.start())
                .unwrap_or("")
                .trim_end()
                .to_ascii_lowercase();
            if ["ip", "email", "e-mail", "mac", "web", "mail"]
                .iter()
                .any(|w| head.ends_with(w))
            {
                continue;
            }
            if let Some((start, end)) = clause_after(text, m.end()) {
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
