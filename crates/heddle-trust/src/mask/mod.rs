//! Reversible masking: personal data and secrets are swapped for placeholders like
//! `<EMAIL_1>` before text reaches a model, and swapped back where the principal may see them.
//!
//! - **Stable within a session, keyed per tenant.** A [`MaskMap`] lives with one session (the
//!   runtime seals it with the session). The same value of the same kind always gets the same
//!   placeholder in that map. Its index is keyed by `HMAC-SHA256(tenant key, kind ‖ 0x00 ‖
//!   value)`, so a stored map holds no plain hash that could be matched across tenants, and a
//!   map refuses a different tenant's [`MaskKey`] ([`MaskError::KeyMismatch`]).
//! - **Fail closed.** Masking returns an error, never partially masked text: a full map
//!   ([`MaskError::MapFull`]) or a foreign key stops the request instead of sending values.
//! - **Exact placeholders only.** Unmasking restores exactly `<KIND_n>` where `KIND` is an
//!   [`EntityKind`] name and `n` a number the map gave out (no leading zeros). Variations a
//!   model might produce (`<email_1>`, `< EMAIL_1 >`, `EMAIL_1`, `<EMAIL_01>`) stay as they are:
//!   guessing would let text that was never a placeholder turn into a value. Made-up
//!   placeholders (`<EMAIL_99>`) stay as they are too.
//! - **Look-alikes in the input are escaped.** Text that already contains something shaped like
//!   a placeholder (a user typing `<EMAIL_1>`, a record quoting one) must not unmask to a
//!   stored value when the model echoes it. Masking inserts one `#` after the `<` of every
//!   look-alike `<` `#`* `KIND_` digits `>` (so `<EMAIL_1>` becomes `<#EMAIL_1>` and `<#EMAIL_1>`
//!   becomes `<##EMAIL_1>`); unmasking removes one `#` from every such form that has at least
//!   one. The mapping is injective, so the round trip is exact for any text. The escape is a
//!   visible ASCII character on purpose: zero-width characters are stripped by text normalizers
//!   and dropped by models, and a dropped escape would reopen the hole.
//! - **Streaming.** [`StreamUnmasker`] unmasks a response chunk by chunk with the same result as
//!   [`unmask_text`] on the whole text, holding back at most [`MAX_HELD_BYTES`] bytes (a
//!   possible placeholder cut by a chunk boundary) plus at most 3 bytes of an incomplete UTF-8
//!   sequence.
//! - **Who sees what** is the caller's [`UnmaskPolicy`]: all kinds but secrets for the final
//!   answer and internal tool arguments, none for arguments bound for an external sink unless
//!   the policy allows, and the approver's role for an approval screen.

mod json;
mod map;
mod policy;
mod stream;
mod text;

use std::fmt;

use heddle_crypto::{HmacSha256Key, Zeroizing, hex_encode, hmac_sha256};

use crate::finding::EntityKind;

pub use json::{mask_json, unmask_json};
pub use map::MaskMap;
pub use policy::UnmaskPolicy;
pub use stream::StreamUnmasker;
pub use text::{Masked, mask_text, unmask_text};

/// The most entries one session's map holds. Beyond it masking fails rather than growing
/// without bound; a session with ten thousand distinct values is an extraction, not a chat.
pub const MAX_ENTRIES: usize = 10_000;

/// The most bytes of values one session's map holds, for the same reason.
pub const MAX_VALUE_BYTES: usize = 8 * 1024 * 1024;

/// The most digits a placeholder-shaped text may carry to be recognized (as a placeholder or as
/// an escaped look-alike). Placeholders themselves never exceed 5 (`MAX_ENTRIES`).
pub const MAX_DIGITS: usize = 10;

/// The most bytes [`StreamUnmasker`] holds back as a possible placeholder: `<`, one `#`, the
/// longest `KIND_` and [`MAX_DIGITS`] digits.
pub const MAX_HELD_BYTES: usize = 2 + LONGEST_KIND + 1 + MAX_DIGITS;

// The streaming hold is documented as "about 32 bytes"; a longer kind name must not grow it
// unnoticed.
const _: () = assert!(MAX_HELD_BYTES <= 32);

/// The most JSON nesting [`mask_json`] walks; deeper values fail closed.
pub const MAX_JSON_DEPTH: usize = 256;

/// The escape inserted after `<` in placeholder look-alikes found in the input.
pub(crate) const ESCAPE: char = '#';

const LONGEST_KIND: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < EntityKind::ALL.len() {
        let len = EntityKind::ALL[i].as_str().len();
        if len > longest {
            longest = len;
        }
        i += 1;
    }
    longest
};

/// A tenant's masking key: 32 bytes the runtime derives from the tenant's vault. It keys the
/// map's index so the same value is unlinkable across tenants. Zeroized on drop, never shown.
#[derive(Clone)]
pub struct MaskKey {
    /// The key schedule, prepared once: a masked text asks for one HMAC per finding.
    hmac: HmacSha256Key,
    /// See [`MaskKey::key_id`]; computed once, checked on every use of a map.
    id: String,
}

impl MaskKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        // The message starts with a lowercase letter, so it never collides with an index
        // message (kind names are uppercase).
        let id = hex_encode(hmac_sha256(
            bytes.as_slice(),
            b"heddle-trust/mask/key-id/v1",
        ));
        MaskKey {
            hmac: HmacSha256Key::new(bytes.as_slice()),
            id,
        }
    }

    /// The index key of `value` as `kind`: hex HMAC-SHA256 of `kind ‖ 0x00 ‖ value`. The kind
    /// is part of it so `1234` as a phone and as a card are distinct entries.
    pub(crate) fn index_key(&self, kind: EntityKind, value: &str) -> String {
        let name = kind.as_str().as_bytes();
        let mut message = Vec::with_capacity(name.len() + 1 + value.len());
        message.extend_from_slice(name);
        message.push(0);
        message.extend_from_slice(value.as_bytes());
        hex_encode(self.hmac.sign(&message))
    }

    /// A fingerprint that tells keys apart without revealing them.
    pub(crate) fn key_id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaskKey([redacted])")
    }
}

/// Why masking failed. Callers must not send the unmasked text on any of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskError {
    /// The session's map reached [`MAX_ENTRIES`] entries or [`MAX_VALUE_BYTES`] bytes of
    /// values.
    MapFull,
    /// The map was built under another key (another tenant, or a rotated key).
    KeyMismatch,
    /// A JSON value nests deeper than [`MAX_JSON_DEPTH`].
    TooDeep { limit: usize },
}

impl fmt::Display for MaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskError::MapFull => write!(
                f,
                "the session's mask map is full ({MAX_ENTRIES} entries or {MAX_VALUE_BYTES} bytes)"
            ),
            MaskError::KeyMismatch => f.write_str("the mask map belongs to another masking key"),
            MaskError::TooDeep { limit } => {
                write!(f, "the JSON value nests deeper than {limit} levels")
            }
        }
    }
}

impl std::error::Error for MaskError {}

/// The kind whose placeholder prefix is exactly `letters` (`"US_SSN_"` → `UsSsn`).
pub(crate) fn kind_of_prefix(letters: &str) -> Option<EntityKind> {
    let name = letters.strip_suffix('_')?;
    EntityKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == name)
}

/// Whether `letters` can still grow into some `KIND_` prefix.
pub(crate) fn prefix_viable(letters: &str) -> bool {
    EntityKind::ALL.into_iter().any(|kind| {
        let name = kind.as_str();
        if letters.len() <= name.len() {
            name.starts_with(letters)
        } else {
            letters.len() == name.len() + 1 && letters.starts_with(name) && letters.ends_with('_')
        }
    })
}

/// The placeholder text for the `n`th value of `kind`.
pub(crate) fn placeholder(kind: EntityKind, n: usize) -> String {
    format!("<{}_{n}>", kind.as_str())
}

/// Parses an exact placeholder `<KIND_n>` (no leading zeros, no escapes).
pub(crate) fn parse_placeholder(text: &str) -> Option<(EntityKind, usize)> {
    let inner = text.strip_prefix('<')?.strip_suffix('>')?;
    let split = inner.rfind('_')?;
    let (letters, digits) = inner.split_at(split + 1);
    let kind = kind_of_prefix(letters)?;
    parse_ordinal(digits).map(|n| (kind, n))
}

/// A placeholder number: 1 to `MAX_DIGITS` ASCII digits, no leading zero, not 0.
pub(crate) fn parse_ordinal(digits: &str) -> Option<usize> {
    if digits.is_empty()
        || digits.len() > MAX_DIGITS
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;

    #[test]
    fn held_bound_covers_the_longest_kind() {
        assert_eq!(LONGEST_KIND, "STREET_ADDRESS".len());
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = MaskKey::from_bytes([7; 32]);
        assert_eq!(format!("{key:?}"), "MaskKey([redacted])");
    }

    #[test]
    fn placeholders_parse_exactly() {
        assert_eq!(
            parse_placeholder("<US_SSN_12>"),
            Some((EntityKind::UsSsn, 12))
        );
        assert_eq!(parse_placeholder("<EMAIL_01>"), None);
        assert_eq!(parse_placeholder("<EMAIL_0>"), None);
        assert_eq!(parse_placeholder("<EMAIL_>"), None);
        assert_eq!(parse_placeholder("<#EMAIL_1>"), None);
        assert_eq!(parse_placeholder("<MAIL_1>"), None);
        assert_eq!(parse_placeholder("<email_1>"), None);
    }

    #[test]
    fn prefixes() {
        assert!(prefix_viable("E"));
        assert!(prefix_viable("CREDIT_"));
        assert!(prefix_viable("CREDIT_CARD_"));
        assert!(!prefix_viable("CREDIT_CARD__"));
        assert!(!prefix_viable("EMAILS"));
        assert_eq!(kind_of_prefix("CREDIT_"), None);
        assert_eq!(kind_of_prefix("IBAN_"), Some(EntityKind::Iban));
    }
}
