//! Values of records pasted as JSON, CSV or markdown tables: the field name says what the
//! value is ("FirstName", "MailingStreet", "Birthdate", "ssn"), which settles cases the value
//! alone cannot (a bare surname, a street line without a city, a nine-digit SSN).

use regex::Regex;

use super::dates::DatePatterns;
use super::names::NamePatterns;
use super::text::re;
use super::{Cand, Cands};
use crate::finding::EntityKind;
use crate::validate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    FullName,
    NamePart,
    Street,
    Birth,
    Ssn,
}

fn field_of(key: &str) -> Option<Field> {
    // Field names are short ASCII: normalize on the stack. Longer or non-ASCII keys take
    // the general path below; every known name is ASCII and under 32 bytes.
    if key.is_ascii() {
        let mut buf = [0u8; 32];
        let mut len = 0;
        for b in key.bytes().filter(u8::is_ascii_alphanumeric) {
            if len == buf.len() {
                return None;
            }
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        if key.ends_with("__c") && len > 0 && buf[len - 1] == b'c' {
            len -= 1;
        }
        return std::str::from_utf8(&buf[..len])
            .ok()
            .and_then(field_of_normalized);
    }
    let mut k: String = key
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    if key.ends_with("__c")
        && let Some(stripped) = k.strip_suffix('c')
    {
        k = stripped.to_owned();
    }
    field_of_normalized(&k)
}

/// `key` lowercased, alphanumerics only, without a Salesforce `__c` suffix.
fn field_of_normalized(k: &str) -> Option<Field> {
    Some(match k {
        "name" | "fullname" | "suppliedname" | "contactname" | "customername" | "accountholder"
        | "applicant" | "applicantname" | "ownername" | "employeename" | "cardholder"
        | "cardholdername" | "holdername" | "contact" | "customer" | "owner" | "payer"
        | "payee" | "requester" | "requestedby" | "submittedby" | "assignee" | "contactperson"
        | "signatory" | "beneficiary" | "accountholdername" | "primarycontact" | "clientname"
        | "patientname" | "decisionmaker" | "keycontact" | "signer" => Field::FullName,
        "firstname" | "lastname" | "givenname" | "surname" | "familyname" | "middlename" => {
            Field::NamePart
        }
        "street" | "mailingstreet" | "billingstreet" | "shippingstreet" | "otherstreet"
        | "address" | "homeaddress" | "streetaddress" | "addressline1" | "addressline"
        | "address1" | "mailingaddress" | "billingaddress" | "shippingaddress"
        | "residentialaddress" => Field::Street,
        "birthdate" | "dateofbirth" | "dob" | "birthday" => Field::Birth,
        "ssn" | "socialsecuritynumber" | "ussn" => Field::Ssn,
        _ => return None,
    })
}

#[derive(Debug)]
pub(crate) struct StructuredPatterns {
    json_field: Regex,
}

impl StructuredPatterns {
    pub(crate) fn new() -> Self {
        StructuredPatterns {
            json_field: re(r#""([A-Za-z_][A-Za-z0-9_]*)"[ \t]*:[ \t]*"([^"\\\n]*)""#),
        }
    }

    pub(crate) fn scan(
        &self,
        text: &str,
        names: &NamePatterns,
        dates: &DatePatterns,
        known: &mut Vec<(usize, usize)>,
        out: &mut Cands,
    ) {
        let mut emit = |field: Field, start: usize, value: &str, out: &mut Cands| {
            let trimmed = value.trim();
            if trimmed.is_empty() {
                return;
            }
            let start = start + (value.len() - value.trim_start().len());
            let end = start + trimmed.len();
            match field {
                Field::FullName
                    if names.looks_like_person(trimmed)
                        && (trimmed.contains(' ') || trimmed.chars().any(super::text::is_cjk)) =>
                {
                    known.push((start, end));
                }
                Field::NamePart if names.looks_like_person(trimmed) => known.push((start, end)),
                Field::Street
                    if trimmed.chars().any(|c| c.is_alphanumeric()) && !trimmed.contains('@') =>
                {
                    out.push(Cand::new(EntityKind::StreetAddress, start, end));
                }
                Field::Birth if dates.is_date(trimmed) => {
                    out.push(Cand::new(EntityKind::DateOfBirth, start, end));
                }
                Field::Ssn if validate::taxpayer_number(trimmed).is_some() => {
                    out.push(Cand::new(EntityKind::UsSsn, start, end));
                }
                _ => {}
            }
        };
        // A quote first: most prose has none, and one byte is the cheapest search.
        if memchr::memchr(b'"', text.as_bytes()).is_some()
            && (memchr::memmem::find(text.as_bytes(), b"\":").is_some()
                || memchr::memmem::find(text.as_bytes(), b"\" :").is_some())
        {
            // The groups follow from the match (`"key"…:…"value"`, neither with a quote
            // inside), so a plain find is enough and much cheaper than captures.
            for m in self.json_field.find_iter(text) {
                let whole = m.as_str();
                let Some(key_end) = whole[1..].find('"').map(|i| i + 1) else {
                    continue;
                };
                let Some(value_open) = whole[..whole.len() - 1].rfind('"') else {
                    continue;
                };
                if let Some(field) = field_of(&whole[1..key_end]) {
                    let value = &whole[value_open + 1..whole.len() - 1];
                    emit(field, m.start() + value_open + 1, value, out);
                }
            }
        }
        // CSV and markdown tables: a header row of field names, then rows of as many cells.
        let mut header: Option<(Vec<Option<Field>>, char)> = None;
        let mut offset = 0;
        for line in text.split('\n') {
            let line_start = offset;
            offset += line.len() + 1;
            let trimmed = line.trim_end_matches('\r');
            let sep = if trimmed.trim_start().starts_with('|') {
                '|'
            } else {
                ','
            };
            // Without a header, only a line that could be one matters: three or more cells,
            // none longer than a field name (checked without splitting long prose lines).
            if header.is_none() && !could_be_header(trimmed, sep) {
                continue;
            }
            let cells = split_cells(trimmed, sep);
            if let Some((fields, hsep)) = &header {
                if *hsep == sep && cells.len() == fields.len() {
                    if cells
                        .iter()
                        .all(|(_, c)| c.trim().chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
                    {
                        continue;
                    }
                    for ((start, cell), field) in cells.iter().zip(fields) {
                        if let Some(field) = field {
                            emit(*field, line_start + start, cell, out);
                        }
                    }
                    continue;
                }
                header = None;
            }
            if cells.len() >= 3 {
                let identifiers = cells.iter().all(|(_, c)| {
                    let c = c.trim();
                    !c.is_empty()
                        && c.len() <= MAX_HEADER_CELL
                        && c.chars()
                            .all(|ch| ch.is_alphanumeric() || matches!(ch, '_' | ' '))
                });
                if identifiers {
                    let fields: Vec<Option<Field>> =
                        cells.iter().map(|(_, c)| field_of(c.trim())).collect();
                    if fields.iter().any(Option::is_some) {
                        header = Some((fields, sep));
                    }
                }
            }
        }
    }
}

/// Whether `line` can be a header row: at least two separators and no cell longer than a
/// field name may be (`MAX_HEADER_CELL` after trimming).
fn could_be_header(line: &str, sep: char) -> bool {
    let bytes = line.as_bytes();
    let mut start = 0;
    let mut seps = 0;
    for at in memchr::memchr_iter(sep as u8, bytes) {
        if line[start..at].trim().len() > MAX_HEADER_CELL {
            return false;
        }
        seps += 1;
        start = at + 1;
    }
    seps >= 2 && line[start..].trim().len() <= MAX_HEADER_CELL
}

/// The longest header cell that names a field.
const MAX_HEADER_CELL: usize = 40;

/// Cells of a row with their byte offsets in the line; the outer pipes of a markdown row are
/// not cells. `sep` is ASCII, so its byte positions are character boundaries.
fn split_cells(line: &str, sep: char) -> Vec<(usize, &str)> {
    let mut cells = Vec::new();
    let mut start = 0;
    for i in memchr::memchr_iter(sep as u8, line.as_bytes()) {
        cells.push((start, &line[start..i]));
        start = i + 1;
    }
    cells.push((start, &line[start..]));
    if sep == '|' {
        if cells.first().is_some_and(|(_, c)| c.trim().is_empty()) {
            cells.remove(0);
        }
        if cells.last().is_some_and(|(_, c)| c.trim().is_empty()) {
            cells.pop();
        }
    }
    cells
}
