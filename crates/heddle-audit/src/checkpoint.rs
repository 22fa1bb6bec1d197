//! Signed checkpoints: a tenant's tree size, Merkle root and chain value at one moment,
//! signed with Ed25519 in the style of a C2SP signed note.
//!
//! Signed body (each line ends in `\n`):
//!
//! ```text
//! heddle-audit-checkpoint/v1
//! tenant <tenant uuid>
//! <tree size, decimal>
//! <root hash, standard base64>
//! <chain hash at tree size, standard base64>
//! <issued at, UTC RFC 3339>
//! ```
//!
//! As a note ([`SignedCheckpoint::to_note`]) the body is followed by an empty line and one
//! signature line `— <key id> <base64 signature>`. The key id is not signed: it only tells a
//! verifier which key to try, and verification fails with any other key.

use heddle_crypto::{
    ED25519_SIGNATURE_LEN, PublicKey, SigningKey, base64_decode_array, base64_encode,
    signature_from_base64, signature_to_base64,
};
use heddle_types::TenantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::canonical::format_utc;
use crate::hash::{Hash, hex_hash};

/// The first line of every checkpoint body.
pub const CHECKPOINT_ORIGIN: &str = "heddle-audit-checkpoint/v1";

/// What a checkpoint asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tenant_id: TenantId,
    pub tree_size: u64,
    #[serde(with = "hex_hash")]
    pub root_hash: Hash,
    /// The hash chain's value after `tree_size` events.
    #[serde(with = "hex_hash")]
    pub chain_hash: Hash,
    #[serde(with = "utc_rfc3339")]
    pub issued_at: OffsetDateTime,
    /// [`PublicKey::key_id`] of the signing key; set by [`sign_checkpoint`].
    pub key_id: String,
}

impl Checkpoint {
    /// The exact bytes that are signed.
    pub fn signed_body(&self) -> String {
        format!(
            "{CHECKPOINT_ORIGIN}\ntenant {}\n{}\n{}\n{}\n{}\n",
            self.tenant_id,
            self.tree_size,
            base64_encode(self.root_hash),
            base64_encode(self.chain_hash),
            format_utc(self.issued_at),
        )
    }
}

/// A checkpoint and its Ed25519 signature over [`Checkpoint::signed_body`]. Serializes flat:
/// the checkpoint's fields plus `"signature": "<base64>"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    #[serde(with = "base64_signature")]
    pub signature: [u8; ED25519_SIGNATURE_LEN],
}

/// Why a checkpoint did not verify or parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "checkpoint at tree size `{tree_size}` names signing key `{key_id}`, but the verifying \
         key is `{expected}`"
    )]
    KeyMismatch {
        tree_size: u64,
        key_id: String,
        expected: String,
    },
    #[error("checkpoint at tree size `{tree_size}` has an invalid signature")]
    BadSignature { tree_size: u64 },
    #[error("signed note is malformed: {reason}")]
    MalformedNote { reason: String },
}

/// Signs `checkpoint` with `key`, first setting its `key_id` to the key's id and its time to
/// UTC.
pub fn sign_checkpoint(key: &SigningKey, mut checkpoint: Checkpoint) -> SignedCheckpoint {
    checkpoint.key_id = key.public_key().key_id();
    checkpoint.issued_at = checkpoint.issued_at.to_offset(time::UtcOffset::UTC);
    let signature = key.sign(checkpoint.signed_body().as_bytes());
    SignedCheckpoint {
        checkpoint,
        signature,
    }
}

/// Checks that `signed` names `key` and carries its valid signature.
pub fn verify_checkpoint(
    key: &PublicKey,
    signed: &SignedCheckpoint,
) -> Result<(), CheckpointError> {
    let tree_size = signed.checkpoint.tree_size;
    let expected = key.key_id();
    if signed.checkpoint.key_id != expected {
        return Err(CheckpointError::KeyMismatch {
            tree_size,
            key_id: signed.checkpoint.key_id.chars().take(64).collect(),
            expected,
        });
    }
    if key.verify(
        signed.checkpoint.signed_body().as_bytes(),
        &signed.signature,
    ) {
        Ok(())
    } else {
        Err(CheckpointError::BadSignature { tree_size })
    }
}

impl SignedCheckpoint {
    /// The checkpoint as a signed note: body, empty line, `— <key id> <base64 signature>`.
    pub fn to_note(&self) -> String {
        format!(
            "{}\n\u{2014} {} {}\n",
            self.checkpoint.signed_body(),
            self.checkpoint.key_id,
            signature_to_base64(&self.signature)
        )
    }

    /// Parses a note written by [`SignedCheckpoint::to_note`]. Does not verify the signature.
    pub fn from_note(note: &str) -> Result<Self, CheckpointError> {
        let malformed = |reason: &str| CheckpointError::MalformedNote {
            reason: reason.to_owned(),
        };
        let (body, signatures) = note
            .split_once("\n\n")
            .ok_or_else(|| malformed("no empty line between body and signature"))?;
        let mut lines = body.split('\n');
        let mut next = |what: &str| {
            lines
                .next()
                .ok_or_else(|| malformed(&format!("the {what} line is missing")))
        };
        let origin = next("origin")?;
        if origin != CHECKPOINT_ORIGIN {
            return Err(malformed(&format!(
                "origin `{}` is not `{CHECKPOINT_ORIGIN}`",
                clip(origin)
            )));
        }
        let tenant = next("tenant")?;
        let tenant_id = tenant
            .strip_prefix("tenant ")
            .and_then(|id| id.parse::<TenantId>().ok())
            .ok_or_else(|| malformed(&format!("`{}` is not a tenant line", clip(tenant))))?;
        let size = next("tree size")?;
        let tree_size = size
            .parse::<u64>()
            .map_err(|_| malformed(&format!("tree size `{}` is not a number", clip(size))))?;
        let root_hash = base64_decode_array(next("root hash")?)
            .map_err(|error| malformed(&error.to_string()))?;
        let chain_hash = base64_decode_array(next("chain hash")?)
            .map_err(|error| malformed(&error.to_string()))?;
        let time = next("timestamp")?;
        let issued_at = OffsetDateTime::parse(time, &Rfc3339)
            .map_err(|_| malformed(&format!("`{}` is not an RFC 3339 timestamp", clip(time))))?;
        if lines.next().is_some() {
            return Err(malformed("the body has extra lines"));
        }
        let signature_line = signatures
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("\u{2014} "))
            .ok_or_else(|| malformed("no `— <key id> <signature>` line"))?;
        let (key_id, signature) = signature_line
            .split_once(' ')
            .ok_or_else(|| malformed("the signature line has no signature"))?;
        let signature =
            signature_from_base64(signature).map_err(|error| malformed(&error.to_string()))?;
        let signed = Self {
            checkpoint: Checkpoint {
                tenant_id,
                tree_size,
                root_hash,
                chain_hash,
                issued_at,
                key_id: key_id.to_owned(),
            },
            signature,
        };
        // Only the canonical rendering is accepted, so a note and its parse sign the same bytes.
        if signed.checkpoint.signed_body() != format!("{body}\n") {
            return Err(malformed("the body is not in canonical form"));
        }
        Ok(signed)
    }
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// `issued_at` in JSON: the same UTC string as in the signed body.
mod utc_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(super) fn serialize<S: Serializer>(
        at: &OffsetDateTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::canonical::format_utc(*at))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

mod base64_signature {
    use heddle_crypto::{ED25519_SIGNATURE_LEN, signature_from_base64, signature_to_base64};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        signature: &[u8; ED25519_SIGNATURE_LEN],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&signature_to_base64(signature))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; ED25519_SIGNATURE_LEN], D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        signature_from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(
                0x0190_0000_0000_7000_8000_0000_0000_0001,
            )),
            tree_size: 42,
            root_hash: [1; 32],
            chain_hash: [2; 32],
            issued_at: datetime!(2026-03-04 05:06:07.25 +01:00),
            key_id: String::new(),
        }
    }

    #[test]
    fn body_is_deterministic_text() {
        let body = checkpoint().signed_body();
        assert_eq!(
            body,
            "heddle-audit-checkpoint/v1\ntenant 01900000-0000-7000-8000-000000000001\n42\n\
             AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n\
             2026-03-04T04:06:07.25Z\n"
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = SigningKey::generate().unwrap();
        let signed = sign_checkpoint(&key, checkpoint());
        assert_eq!(signed.checkpoint.key_id, key.public_key().key_id());
        verify_checkpoint(&key.public_key(), &signed).unwrap();

        let mut root_changed = signed.clone();
        root_changed.checkpoint.root_hash[0] ^= 1;
        assert_eq!(
            verify_checkpoint(&key.public_key(), &root_changed),
            Err(CheckpointError::BadSignature { tree_size: 42 })
        );
        let mut size_changed = signed.clone();
        size_changed.checkpoint.tree_size = 41;
        assert!(verify_checkpoint(&key.public_key(), &size_changed).is_err());
        let mut signature_changed = signed.clone();
        signature_changed.signature[10] ^= 0x40;
        assert!(verify_checkpoint(&key.public_key(), &signature_changed).is_err());

        let other = SigningKey::generate().unwrap();
        let forged = sign_checkpoint(&other, root_changed.checkpoint.clone());
        assert!(matches!(
            verify_checkpoint(&key.public_key(), &forged),
            Err(CheckpointError::KeyMismatch { .. })
        ));
        let mut relabeled = forged.clone();
        relabeled.checkpoint.key_id = key.public_key().key_id();
        assert!(matches!(
            verify_checkpoint(&key.public_key(), &relabeled),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn json_and_note_round_trip() {
        let key = SigningKey::generate().unwrap();
        let signed = sign_checkpoint(&key, checkpoint());
        let json = serde_json::to_string(&signed).unwrap();
        assert!(
            json.contains(r#""issued_at":"2026-03-04T04:06:07.25Z""#),
            "{json}"
        );
        let back: SignedCheckpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, signed);
        verify_checkpoint(&key.public_key(), &back).unwrap();

        let note = signed.to_note();
        assert!(note.starts_with("heddle-audit-checkpoint/v1\n"));
        assert!(note.contains("\n\n\u{2014} "));
        let parsed = SignedCheckpoint::from_note(&note).unwrap();
        assert_eq!(parsed, signed);
        verify_checkpoint(&key.public_key(), &parsed).unwrap();

        assert!(SignedCheckpoint::from_note("nonsense").is_err());
        let reformatted = note.replace("\n42\n", "\n042\n");
        assert!(SignedCheckpoint::from_note(&reformatted).is_err());
    }
}
