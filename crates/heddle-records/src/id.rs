//! Salesforce record ids.
//!
//! A 15-character id is case-sensitive base62. The 18-character form appends three characters
//! so that the id survives case-insensitive systems: for each 5-character chunk, bit `i` is set
//! when character `i` of the chunk is `A`–`Z`, and the 5-bit value indexes
//! `ABCDEFGHIJKLMNOPQRSTUVWXYZ012345`. The first three characters are the object's key prefix.

use std::fmt;

use serde::{Deserialize, Serialize};

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a record id. Ids are not secret, so messages quote the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIdError {
    #[error("record id `{input}` has {len} characters; expected 15 or 18")]
    WrongLength { input: String, len: usize },
    #[error("record id `{input}` contains `{ch}`; only 0-9, A-Z and a-z are allowed")]
    InvalidCharacter { input: String, ch: char },
    #[error(
        "record id `{input}` has a case-safe suffix that does not match its first 15 characters"
    )]
    BadChecksum { input: String },
    #[error("key prefix `{input}` must be exactly 3 characters from 0-9, A-Z and a-z")]
    BadKeyPrefix { input: String },
}

/// A record id in its canonical 18-character form (the 15 case-sensitive characters followed
/// by the upper-case checksum suffix).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(String);

impl RecordId {
    /// Parses a 15-character (case-sensitive) or 18-character id.
    ///
    /// An 18-character id's suffix may be in any letter case. When its first 15 characters are
    /// exactly as the suffix describes, the id is taken as given; when they are all one case
    /// (the id went through a case-folding system), the suffix restores their case. Any other
    /// mismatch is a bad checksum.
    pub fn parse(input: &str) -> Result<Self, RecordIdError> {
        let len = input.chars().count();
        if len != 15 && len != 18 {
            return Err(RecordIdError::WrongLength {
                input: input.to_owned(),
                len,
            });
        }
        if let Some(ch) = input.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(RecordIdError::InvalidCharacter {
                input: input.to_owned(),
                ch,
            });
        }
        let bytes = input.as_bytes();
        let (body, given_suffix) = bytes.split_at(15);
        if given_suffix.is_empty() {
            return Ok(Self(canonical(body)));
        }
        let given_suffix = given_suffix.to_ascii_uppercase();
        if suffix_of(body) == given_suffix.as_slice() {
            return Ok(Self(canonical(body)));
        }
        let folded =
            !body.iter().any(u8::is_ascii_uppercase) || !body.iter().any(u8::is_ascii_lowercase);
        if folded && let Some(restored) = restore_case(body, &given_suffix) {
            return Ok(Self(canonical(&restored)));
        }
        Err(RecordIdError::BadChecksum {
            input: input.to_owned(),
        })
    }

    /// A valid id for `key_prefix` whose remaining 12 characters encode `counter` in base62;
    /// distinct counters give distinct ids.
    pub fn generate(key_prefix: &str, counter: u64) -> Result<Self, RecordIdError> {
        validate_prefix(key_prefix)?;
        let mut digits = [b'0'; 12];
        let mut rest = counter;
        for slot in digits.iter_mut().rev() {
            // 62^12 > u64::MAX, so every counter fits.
            *slot = BASE62[(rest % 62) as usize];
            rest /= 62;
        }
        let mut body = key_prefix.as_bytes().to_vec();
        body.extend_from_slice(&digits);
        Ok(Self(canonical(&body)))
    }

    /// The canonical 18-character form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-sensitive 15-character form.
    pub fn to_15(&self) -> &str {
        self.0.get(..15).unwrap_or(&self.0)
    }

    /// The object's key prefix: the first three characters.
    pub fn key_prefix(&self) -> &str {
        self.0.get(..3).unwrap_or(&self.0)
    }
}

/// The key prefix Heddle assigns to the `n`th custom object: `a` followed by two base62
/// digits (`a00`, `a01`, … `a0X`, …), as Salesforce's custom object prefixes look.
pub fn custom_key_prefix(n: u16) -> Result<String, RecordIdError> {
    let n = usize::from(n);
    if n >= 62 * 62 {
        return Err(RecordIdError::BadKeyPrefix {
            input: format!("a#{n}"),
        });
    }
    let hi = char::from(BASE62[n / 62]);
    let lo = char::from(BASE62[n % 62]);
    Ok(format!("a{hi}{lo}"))
}

pub(crate) fn validate_prefix(prefix: &str) -> Result<(), RecordIdError> {
    if prefix.len() == 3 && prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(RecordIdError::BadKeyPrefix {
            input: prefix.to_owned(),
        })
    }
}

fn suffix_of(body: &[u8]) -> [u8; 3] {
    let mut suffix = [b'A'; 3];
    for (slot, chunk) in suffix.iter_mut().zip(body.chunks(5)) {
        let mut bits = 0usize;
        for (i, b) in chunk.iter().enumerate() {
            if b.is_ascii_uppercase() {
                bits |= 1 << i;
            }
        }
        *slot = SUFFIX_ALPHABET[bits];
    }
    suffix
}

/// Re-applies the case the suffix records; `None` when the suffix marks a digit as upper case
/// or uses a character outside the suffix alphabet.
fn restore_case(body: &[u8], suffix: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(15);
    for (chunk, s) in body.chunks(5).zip(suffix) {
        let bits = SUFFIX_ALPHABET.iter().position(|a| a == s)?;
        for (i, b) in chunk.iter().enumerate() {
            let upper = bits & (1 << i) != 0;
            match (upper, b.is_ascii_alphabetic()) {
                (true, true) => out.push(b.to_ascii_uppercase()),
                (true, false) => return None,
                (false, _) => out.push(b.to_ascii_lowercase()),
            }
        }
    }
    Some(out)
}

fn canonical(body: &[u8]) -> String {
    let mut out = String::with_capacity(18);
    out.extend(body.iter().map(|&b| char::from(b)));
    out.extend(suffix_of(body).iter().map(|&b| char::from(b)));
    out
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RecordId {
    type Err = RecordIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for RecordId {
    type Error = RecordIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RecordId> for String {
    fn from(id: RecordId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_follows_the_case_bits() {
        // "001A0": bit 3 → 8 → `I`; "00000": 0 → `A`; "6Vm9r": bit 1 → 2 → `C`.
        let id = RecordId::parse("001A0000006Vm9r").unwrap();
        assert_eq!(id.as_str(), "001A0000006Vm9rIAC");
        assert_eq!(id.to_15(), "001A0000006Vm9r");
        assert_eq!(id.key_prefix(), "001");
    }

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = RecordId::generate("a0X", 1).unwrap();
        let b = RecordId::generate("a0X", 2).unwrap();
        assert_ne!(a, b);
        assert_eq!(RecordId::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.key_prefix(), "a0X");
        assert!(RecordId::generate("a0", 1).is_err());
        assert!(RecordId::generate("001", u64::MAX).is_ok());
    }

    #[test]
    fn custom_prefixes_are_valid() {
        assert_eq!(custom_key_prefix(0).unwrap(), "a00");
        assert_eq!(custom_key_prefix(33).unwrap(), "a0X");
        assert!(custom_key_prefix(62 * 62).is_err());
    }
}
