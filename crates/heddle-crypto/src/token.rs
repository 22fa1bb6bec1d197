//! Opaque bearer tokens: API keys (`hdl_…`) and access tokens (`hdt_…`).
//!
//! Format: `<kind prefix><lookup>_<secret><checksum>`, 66 ASCII characters:
//! - the kind prefix (`hdl_` or `hdt_`) tells people and secret scanners what leaked;
//! - `lookup`: 12 lowercase base32 characters (60 random bits), the database lookup id; safe to
//!   show and log, together with the kind prefix it forms the displayed key prefix;
//! - `secret`: 43 base62 characters (256 random bits);
//! - `checksum`: CRC-32 of everything before it, as 6 base62 characters. CRC-32 detects every
//!   single-character change, so typos and garbage are rejected without a database hit.
//!
//! Only the SHA-256 of the whole token is stored; comparison is constant time.

use std::fmt;

use secrecy::SecretString;

use crate::CryptoError;
use crate::digest::{constant_time_eq, sha256};
use crate::random::random_string_from;

const KIND_PREFIX_LEN: usize = 4;
const LOOKUP_LEN: usize = 12;
const SECRET_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const SEPARATOR: u8 = b'_';
/// Total length of every token.
pub const TOKEN_LEN: usize = KIND_PREFIX_LEN + LOOKUP_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

/// Base32 without the look-alikes `i l o u`, lowercase so lookups are case-stable.
const LOOKUP_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const BASE62_ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The kinds of bearer token Heddle issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A long-lived application credential.
    ApiKey,
    /// A short-lived token issued to a user at login.
    AccessToken,
}

impl TokenKind {
    pub const ALL: [TokenKind; 2] = [TokenKind::ApiKey, TokenKind::AccessToken];

    /// The visible prefix every token of this kind starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::ApiKey => "hdl_",
            TokenKind::AccessToken => "hdt_",
        }
    }

    /// The human name used in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            TokenKind::ApiKey => "api key",
            TokenKind::AccessToken => "access token",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A freshly issued token. Show `token` to its owner once, store `lookup`, `prefix` and
/// `secret_hash`, and drop the rest.
pub struct GeneratedToken {
    pub token: SecretString,
    /// `<kind prefix><lookup>`, safe to display (for example `hdl_ab12cd34ef56`).
    pub prefix: String,
    /// The random lookup id to find the stored record by.
    pub lookup: String,
    /// SHA-256 of the whole token, the only form in which it is stored.
    pub secret_hash: [u8; 32],
}

impl fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("token", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("lookup", &self.lookup)
            .finish_non_exhaustive()
    }
}

/// A token whose shape and checksum are valid. Its secret has not been checked against any
/// stored hash yet. Deliberately not `PartialEq`: compare with [`ParsedToken::matches`],
/// which runs in constant time.
#[derive(Clone, Copy)]
pub struct ParsedToken<'a> {
    kind: TokenKind,
    token: &'a str,
}

impl<'a> ParsedToken<'a> {
    pub const fn kind(&self) -> TokenKind {
        self.kind
    }

    /// `<kind prefix><lookup>`, safe to display and log.
    pub fn prefix(&self) -> &'a str {
        self.token
            .get(..KIND_PREFIX_LEN + LOOKUP_LEN)
            .unwrap_or_default()
    }

    /// The lookup id to find the stored record by.
    pub fn lookup(&self) -> &'a str {
        self.token
            .get(KIND_PREFIX_LEN..KIND_PREFIX_LEN + LOOKUP_LEN)
            .unwrap_or_default()
    }

    /// SHA-256 of the whole token, to compare with the stored hash.
    pub fn hash(&self) -> [u8; 32] {
        token_hash(self.token)
    }

    /// Constant-time comparison with a stored hash.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        token_matches(self.token, stored_hash)
    }
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("kind", &self.kind)
            .field("lookup", &self.lookup())
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Why a string is not a well-formed token of the expected kind. Messages say what is wrong
/// and never repeat the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("{kind} has the wrong prefix: expected `{}`", kind.prefix())]
    WrongPrefix { kind: TokenKind },
    #[error(
        "expected an {expected} but got an {found} (prefix `{}`)",
        found.prefix()
    )]
    WrongKind {
        expected: TokenKind,
        found: TokenKind,
    },
    #[error("{kind} has the wrong length: expected {expected} characters, got {actual}")]
    WrongLength {
        kind: TokenKind,
        expected: usize,
        actual: usize,
    },
    #[error("{kind} is malformed: expected `_` after the {LOOKUP_LEN}-character lookup id")]
    MissingSeparator { kind: TokenKind },
    #[error("{kind} contains a character not allowed in its {part} at position {position}")]
    InvalidCharacter {
        kind: TokenKind,
        part: &'static str,
        position: usize,
    },
    #[error("{kind} checksum does not match: the {kind} is mistyped or truncated")]
    ChecksumMismatch { kind: TokenKind },
}

/// Issues a new random token of `kind`.
pub fn generate_token(kind: TokenKind) -> Result<GeneratedToken, CryptoError> {
    let lookup = random_string_from(LOOKUP_ALPHABET, LOOKUP_LEN)?;
    let secret = zeroize::Zeroizing::new(random_string_from(BASE62_ALPHABET, SECRET_LEN)?);
    // Exact capacity: converting into the boxed `SecretString` must not reallocate and leave
    // an unzeroized copy behind.
    let mut token = String::with_capacity(TOKEN_LEN);
    token.push_str(kind.prefix());
    token.push_str(&lookup);
    token.push(char::from(SEPARATOR));
    token.push_str(&secret);
    let checksum = encode_checksum(crc32(token.as_bytes()));
    token.push_str(&checksum);
    let secret_hash = sha256(&token);
    Ok(GeneratedToken {
        prefix: format!("{}{lookup}", kind.prefix()),
        lookup,
        secret_hash,
        token: SecretString::from(token),
    })
}

/// Checks that `token` is a well-formed token of `kind`: prefix, length, separator, character
/// sets and checksum. Cheap; call it before any database lookup.
pub fn parse_token(kind: TokenKind, token: &str) -> Result<ParsedToken<'_>, TokenFormatError> {
    let bytes = token.as_bytes();
    if !token.starts_with(kind.prefix()) {
        if let Some(found) = TokenKind::ALL
            .into_iter()
            .find(|other| token.starts_with(other.prefix()))
        {
            return Err(TokenFormatError::WrongKind {
                expected: kind,
                found,
            });
        }
        return Err(TokenFormatError::WrongPrefix { kind });
    }
    if bytes.len() != TOKEN_LEN {
        return Err(TokenFormatError::WrongLength {
            kind,
            expected: TOKEN_LEN,
            // Characters, not bytes: that is what a person counts.
            actual: token.chars().count(),
        });
    }
    let separator_at = KIND_PREFIX_LEN + LOOKUP_LEN;
    check_charset(
        kind,
        bytes,
        KIND_PREFIX_LEN..separator_at,
        "lookup id",
        |b| LOOKUP_ALPHABET.contains(&b),
    )?;
    if bytes.get(separator_at) != Some(&SEPARATOR) {
        return Err(TokenFormatError::MissingSeparator { kind });
    }
    check_charset(kind, bytes, separator_at + 1..TOKEN_LEN, "secret", |b| {
        b.is_ascii_alphanumeric()
    })?;
    let checksum_at = TOKEN_LEN - CHECKSUM_LEN;
    let (body, checksum) = bytes.split_at(checksum_at);
    if decode_checksum(checksum) != Some(crc32(body)) {
        return Err(TokenFormatError::ChecksumMismatch { kind });
    }
    Ok(ParsedToken { kind, token })
}

fn check_charset(
    kind: TokenKind,
    bytes: &[u8],
    range: std::ops::Range<usize>,
    part: &'static str,
    allowed: impl Fn(u8) -> bool,
) -> Result<(), TokenFormatError> {
    let start = range.start;
    match bytes.get(range) {
        Some(slice) => match slice.iter().position(|&b| !allowed(b)) {
            None => Ok(()),
            Some(offset) => Err(TokenFormatError::InvalidCharacter {
                kind,
                part,
                position: start + offset + 1,
            }),
        },
        None => Err(TokenFormatError::WrongLength {
            kind,
            expected: TOKEN_LEN,
            actual: bytes.len(),
        }),
    }
}

/// SHA-256 of a whole token: the form stored in the database.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(token)
}

/// Whether `token` hashes to `stored_hash`, compared in constant time.
pub fn token_matches(token: &str, stored_hash: &[u8]) -> bool {
    constant_time_eq(&token_hash(token), stored_hash)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it). Bitwise: tokens are short and this
/// runs once per request, so a lookup table would buy nothing.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Fixed-width big-endian base62; 62^6 > 2^32, so six characters hold any CRC-32.
fn encode_checksum(mut value: u32) -> String {
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        // `value % 62` is below 62, so the index is always in bounds.
        *digit = BASE62_ALPHABET
            .get((value % 62) as usize)
            .copied()
            .unwrap_or(b'0');
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

fn decode_checksum(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &digit| {
        let digit_value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'A'..=b'Z' => digit - b'A' + 10,
            b'a'..=b'z' => digit - b'a' + 36,
            _ => return None,
        };
        value.checked_mul(62)?.checked_add(u32::from(digit_value))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn checksum_encoding_round_trips_at_the_edges() {
        for value in [0, 1, 61, 62, u32::MAX / 2, u32::MAX] {
            let encoded = encode_checksum(value);
            assert_eq!(encoded.len(), CHECKSUM_LEN);
            assert_eq!(decode_checksum(encoded.as_bytes()), Some(value));
        }
        // Six base62 digits can exceed u32: such a checksum is rejected, not wrapped.
        assert_eq!(decode_checksum(b"zzzzzz"), None);
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        for kind in TokenKind::ALL {
            let generated = generate_token(kind).unwrap();
            let token = generated.token.expose_secret();
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(token.starts_with(kind.prefix()));
            assert_eq!(
                generated.prefix,
                format!("{}{}", kind.prefix(), generated.lookup)
            );
            assert!(token.starts_with(&generated.prefix));
            assert_eq!(generated.lookup.len(), LOOKUP_LEN);
            assert_eq!(generated.secret_hash, token_hash(token));
            let parsed = parse_token(kind, token).unwrap();
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.lookup(), generated.lookup);
            assert_eq!(parsed.prefix(), generated.prefix);
            assert!(parsed.matches(&generated.secret_hash));
        }
    }

    #[test]
    fn tokens_are_unique() {
        let a = generate_token(TokenKind::ApiKey).unwrap();
        let b = generate_token(TokenKind::ApiKey).unwrap();
        assert_ne!(a.lookup, b.lookup);
        assert_ne!(a.token.expose_secret(), b.token.expose_secret());
        assert_ne!(a.secret_hash, b.secret_hash);
    }

    #[test]
    fn token_matches_rejects_other_hashes_and_lengths() {
        let generated = generate_token(TokenKind::AccessToken).unwrap();
        let token = generated.token.expose_secret();
        assert!(token_matches(token, &generated.secret_hash));
        assert!(!token_matches(token, &[0u8; 32]));
        assert!(!token_matches(token, &generated.secret_hash[..31]));
    }

    #[test]
    fn errors_say_what_is_wrong_without_echoing_the_token() {
        let generated = generate_token(TokenKind::ApiKey).unwrap();
        let token = generated.token.expose_secret();
        let secret_part = &token[KIND_PREFIX_LEN + LOOKUP_LEN + 1..];

        let error = parse_token(TokenKind::ApiKey, "Bearer abc").unwrap_err();
        assert_eq!(
            error.to_string(),
            "api key has the wrong prefix: expected `hdl_`"
        );

        let error = parse_token(TokenKind::AccessToken, token).unwrap_err();
        assert_eq!(
            error.to_string(),
            "expected an access token but got an api key (prefix `hdl_`)"
        );

        let error = parse_token(TokenKind::ApiKey, &token[..40]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "api key has the wrong length: expected 66 characters, got 40"
        );

        let mut no_separator = token.to_owned();
        no_separator.replace_range(16..17, "x");
        let error = parse_token(TokenKind::ApiKey, &no_separator).unwrap_err();
        assert_eq!(
            error,
            TokenFormatError::MissingSeparator {
                kind: TokenKind::ApiKey
            }
        );

        let mut bad_char = token.to_owned();
        bad_char.replace_range(30..31, "-");
        let error = parse_token(TokenKind::ApiKey, &bad_char).unwrap_err();
        assert_eq!(
            error.to_string(),
            "api key contains a character not allowed in its secret at position 31"
        );

        let mut upper_lookup = token.to_owned();
        upper_lookup.replace_range(5..6, "Q");
        let error = parse_token(TokenKind::ApiKey, &upper_lookup).unwrap_err();
        assert!(
            error.to_string().contains("lookup id at position 6"),
            "{error}"
        );

        for error in [
            parse_token(TokenKind::AccessToken, token).unwrap_err(),
            parse_token(TokenKind::ApiKey, &bad_char).unwrap_err(),
        ] {
            assert!(!error.to_string().contains(secret_part));
            assert!(!format!("{error:?}").contains(secret_part));
        }
    }

    #[test]
    fn multibyte_input_is_rejected_without_panicking() {
        let generated = generate_token(TokenKind::ApiKey).unwrap();
        let mut token = generated.token.expose_secret().to_owned();
        token.replace_range(20..22, "é");
        assert!(parse_token(TokenKind::ApiKey, &token).is_err());
        assert!(parse_token(TokenKind::ApiKey, "hdl_ééééééééééééééééééééééééééééééééé").is_err());
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let generated = generate_token(TokenKind::ApiKey).unwrap();
        let token = generated.token.expose_secret();
        let secret_part = &token[KIND_PREFIX_LEN + LOOKUP_LEN + 1..];
        let parsed = parse_token(TokenKind::ApiKey, token).unwrap();
        for debug in [format!("{generated:?}"), format!("{parsed:?}")] {
            assert!(!debug.contains(secret_part), "{debug}");
            assert!(debug.contains("[redacted]"), "{debug}");
            assert!(debug.contains(&generated.lookup), "{debug}");
        }
    }

    fn any_kind() -> impl Strategy<Value = TokenKind> {
        prop_oneof![Just(TokenKind::ApiKey), Just(TokenKind::AccessToken)]
    }

    proptest! {
        #[test]
        fn every_generated_token_parses_back(kind in any_kind()) {
            let generated = generate_token(kind).unwrap();
            let parsed = parse_token(kind, generated.token.expose_secret()).unwrap();
            prop_assert_eq!(parsed.lookup(), generated.lookup.as_str());
            prop_assert!(parsed.matches(&generated.secret_hash));
        }

        #[test]
        fn any_single_character_change_is_rejected(
            kind in any_kind(),
            position in 0..TOKEN_LEN,
            replacement in proptest::char::any(),
        ) {
            let generated = generate_token(kind).unwrap();
            let original = generated.token.expose_secret();
            let mut corrupted: String = original.chars().take(position).collect();
            corrupted.push(replacement);
            corrupted.extend(original.chars().skip(position + 1));
            prop_assume!(corrupted != original);
            prop_assert!(parse_token(kind, &corrupted).is_err());
        }

        #[test]
        fn garbage_never_parses_and_errors_never_echo_it(
            kind in any_kind(),
            garbage in "[a-zA-Z0-9_]{8,80}",
        ) {
            let input = format!("{}{garbage}", kind.prefix());
            if let Err(error) = parse_token(kind, &input) {
                prop_assert!(!error.to_string().contains(&garbage));
            } else {
                // Only a string with a valid CRC-32 parses; random strings essentially never do.
                prop_assert_eq!(input.len(), TOKEN_LEN);
            }
        }

        #[test]
        fn debug_never_contains_the_secret(kind in any_kind()) {
            let generated = generate_token(kind).unwrap();
            let token = generated.token.expose_secret();
            let secret_part = &token[KIND_PREFIX_LEN + LOOKUP_LEN + 1..];
            let generated_debug = format!("{generated:?}");
            prop_assert!(!generated_debug.contains(secret_part));
            let parsed = parse_token(kind, token).unwrap();
            let parsed_debug = format!("{parsed:?}");
            prop_assert!(!parsed_debug.contains(secret_part));
        }
    }
}
