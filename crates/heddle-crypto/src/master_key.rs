//! The master key (key-encryption key): parsing and validation of `HEDDLE_MASTER_KEY` or a key
//! file, and wrapping of per-tenant data keys.
//!
//! Wrapping is AES-256-GCM with a random nonce, the same envelope as secrets but with kind
//! [`ENVELOPE_WRAPPED_KEY`]. AES key wrap (RFC 3394) was not chosen because it has no
//! associated data: with GCM the caller binds the wrapped key to its tenant and key version
//! (`aad`), so a wrapped key copied to another tenant's row does not unwrap. The master key
//! wraps a handful of data keys per tenant and rotation, far below GCM's random-nonce limit.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;
use crate::digest::constant_time_eq;
use crate::encoding::{base64url_encode, hex_decode_into, hex_encode};
use crate::envelope::{DataKey, ENVELOPE_WRAPPED_KEY, SYMMETRIC_KEY_LEN, open, seal};
use crate::mac::hmac_sha256;
use crate::random::fill_random;

/// The fewest distinct byte values a master key may have. 32 random bytes have about 30;
/// fewer than 16 happens by chance with probability below 2^-60, but is what hand-typed,
/// patterned or repeated-word keys look like.
pub const MIN_DISTINCT_KEY_BYTES: usize = 16;

/// Master keys printed in Heddle's documentation and tests. Anyone can read them, so they are
/// refused at start-up even though they look random. Add every example value a document
/// shows here.
pub const DOCUMENTED_EXAMPLE_KEYS: &[&str] = &[
    // The example in this crate's docs and tests.
    "3hy5cAxJGVcR0N8DiEP6R89Vk8HoYhQOFPrxSRBtxR4",
    // Clearly fake placeholders: 32 zero bytes, and the bytes 0..=31.
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
];

const HOW_TO_FIX: &str = "run `heddle keys generate-master` and set `HEDDLE_MASTER_KEY` (or the \
                          key file) to its output";

/// Why a master key was refused. Messages say what is wrong and how to fix it; they never
/// contain the key or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key is empty; {HOW_TO_FIX}")]
    Empty,
    #[error(
        "the master key ({chars} characters) is neither base64 nor hex; expected 32 bytes as 43 \
         base64 characters (44 with `=` padding) or 64 hex characters; {HOW_TO_FIX}"
    )]
    NotEncoded { chars: usize },
    #[error(
        "the master key decodes to `{bytes}` bytes, but exactly 32 are required (43 base64 or 64 \
         hex characters); {HOW_TO_FIX}"
    )]
    WrongLength { bytes: usize },
    #[error("the master key is one byte value repeated 32 times, which is no secret; {HOW_TO_FIX}")]
    RepeatedByte,
    #[error(
        "the master key has only `{distinct}` distinct byte values where random keys have about \
         30 (at least {MIN_DISTINCT_KEY_BYTES} required), so it was not randomly generated; \
         {HOW_TO_FIX}"
    )]
    LowEntropy { distinct: usize },
    #[error(
        "the master key is an example value printed in Heddle's documentation, which anyone can \
         read; {HOW_TO_FIX}"
    )]
    DocumentedExample,
}

/// The key-encryption key. Zeroized on drop; `Debug` shows `[redacted]`. Obtain it from
/// [`MasterKey::from_encoded`] (configuration) or [`MasterKey::generate`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; SYMMETRIC_KEY_LEN]);

impl MasterKey {
    /// Parses and validates a master key given as base64 (standard or URL-safe alphabet,
    /// padded or not) or hex. Surrounding whitespace (a key file's newline) is ignored.
    ///
    /// ```
    /// use heddle_crypto::{MasterKey, MasterKeyError};
    ///
    /// // Looks random, but it is printed here, so it is in DOCUMENTED_EXAMPLE_KEYS.
    /// let printed = "3hy5cAxJGVcR0N8DiEP6R89Vk8HoYhQOFPrxSRBtxR4";
    /// assert_eq!(MasterKey::from_encoded(printed).unwrap_err(), MasterKeyError::DocumentedExample);
    ///
    /// let fresh = MasterKey::generate().unwrap();
    /// let parsed = MasterKey::from_encoded(&fresh.to_encoded()).unwrap();
    /// assert_eq!(parsed.key_id(), fresh.key_id());
    /// ```
    pub fn from_encoded(text: &str) -> Result<Self, MasterKeyError> {
        let key = Self(decode_key_text(text)?);
        key.validate()?;
        Ok(key)
    }

    /// A fresh random key that passes every check of [`MasterKey::from_encoded`].
    pub fn generate() -> Result<Self, CryptoError> {
        // A random key fails the checks with probability below 2^-60; retry rather than
        // hand out a key the server would refuse.
        for _ in 0..8 {
            let mut key = Self([0u8; SYMMETRIC_KEY_LEN]);
            fill_random(&mut key.0)?;
            if key.validate().is_ok() {
                return Ok(key);
            }
        }
        Err(CryptoError::RandomUnavailable)
    }

    /// The key as URL-safe base64 without padding (43 characters), the form
    /// `heddle keys generate-master` prints. The caller must treat the text as the secret.
    pub fn to_encoded(&self) -> Zeroizing<String> {
        Zeroizing::new(base64url_encode(self.0))
    }

    /// A stable public identifier: the first 8 bytes of HMAC-SHA256(key, a fixed label), as
    /// 16 hex characters. Stored beside wrapped keys to say which master key wrapped them,
    /// without revealing anything usable about the key.
    pub fn key_id(&self) -> String {
        let tag = hmac_sha256(&self.0, b"heddle master key id v1");
        hex_encode(&tag[..8])
    }

    /// Wraps `data_key`, bound to `aad` (for example tenant id and data-key version).
    pub fn wrap(&self, data_key: &DataKey, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, ENVELOPE_WRAPPED_KEY, data_key.as_bytes(), aad)
    }

    /// Unwraps a data key wrapped by [`MasterKey::wrap`] with this key and the same `aad`.
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, CryptoError> {
        let plaintext = open(&self.0, ENVELOPE_WRAPPED_KEY, wrapped, aad)?;
        let bytes = <[u8; SYMMETRIC_KEY_LEN]>::try_from(plaintext.as_slice()).map_err(|_| {
            CryptoError::InvalidKey {
                kind: "wrapped data key",
                reason: format!(
                    "unwrapped to `{}` bytes, expected {SYMMETRIC_KEY_LEN}",
                    plaintext.len()
                ),
            }
        })?;
        Ok(DataKey::from_array(bytes))
    }

    fn validate(&self) -> Result<(), MasterKeyError> {
        let first = self.0[0];
        if self.0.iter().all(|&byte| byte == first) {
            return Err(MasterKeyError::RepeatedByte);
        }
        let mut seen = [false; 256];
        for &byte in &self.0 {
            seen[usize::from(byte)] = true;
        }
        let distinct = seen.iter().filter(|&&seen| seen).count();
        if distinct < MIN_DISTINCT_KEY_BYTES {
            return Err(MasterKeyError::LowEntropy { distinct });
        }
        let documented = DOCUMENTED_EXAMPLE_KEYS
            .iter()
            .filter_map(|example| decode_key_text(example).ok())
            .any(|example| constant_time_eq(&example, &self.0));
        if documented {
            return Err(MasterKeyError::DocumentedExample);
        }
        Ok(())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// Decodes key text to exactly 32 bytes without leaving unzeroized copies behind.
fn decode_key_text(text: &str) -> Result<[u8; SYMMETRIC_KEY_LEN], MasterKeyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(MasterKeyError::Empty);
    }
    // Even-length text of hex digits only is hex: a base64 key looks like that with
    // probability (22/64)^43.
    if text.len().is_multiple_of(2) && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        let mut key = [0u8; SYMMETRIC_KEY_LEN];
        return if hex_decode_into(text.as_bytes(), &mut key) {
            Ok(key)
        } else {
            Err(MasterKeyError::WrongLength {
                bytes: text.len() / 2,
            })
        };
    }
    // Big enough for any plausible mistake, so the error can say how long the key was.
    let mut buffer = Zeroizing::new([0u8; 96]);
    let url_safe = text.contains(['-', '_']);
    let engine = GeneralPurpose::new(
        if url_safe {
            &alphabet::URL_SAFE
        } else {
            &alphabet::STANDARD
        },
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    match engine.decode_slice(text, buffer.as_mut_slice()) {
        Ok(len) if len == SYMMETRIC_KEY_LEN => {
            let mut key = [0u8; SYMMETRIC_KEY_LEN];
            key.copy_from_slice(&buffer[..SYMMETRIC_KEY_LEN]);
            Ok(key)
        }
        Ok(len) => Err(MasterKeyError::WrongLength { bytes: len }),
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => Err(MasterKeyError::WrongLength {
            bytes: text.len() * 3 / 4,
        }),
        Err(base64::DecodeSliceError::DecodeError(_)) => Err(MasterKeyError::NotEncoded {
            chars: text.chars().count(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};

    use super::*;
    use crate::random::random_bytes;

    const EXAMPLE: &str = "3hy5cAxJGVcR0N8DiEP6R89Vk8HoYhQOFPrxSRBtxR4";

    fn random_key_bytes() -> Vec<u8> {
        random_bytes(SYMMETRIC_KEY_LEN).unwrap()
    }

    #[test]
    fn generated_keys_round_trip_through_their_encoding() {
        let key = MasterKey::generate().unwrap();
        let text = key.to_encoded();
        assert_eq!(text.len(), 43);
        let parsed = MasterKey::from_encoded(&text).unwrap();
        assert_eq!(parsed.key_id(), key.key_id());
        assert_ne!(MasterKey::generate().unwrap().key_id(), key.key_id());
    }

    #[test]
    fn every_base64_flavour_and_hex_are_accepted() {
        let bytes = random_key_bytes();
        let id = MasterKey::from_encoded(&hex_encode(&bytes))
            .unwrap()
            .key_id();
        for text in [
            STANDARD.encode(&bytes),
            STANDARD_NO_PAD.encode(&bytes),
            URL_SAFE.encode(&bytes),
            base64url_encode(&bytes),
            hex_encode(&bytes).to_uppercase(),
            format!("  {}\n", base64url_encode(&bytes)),
        ] {
            assert_eq!(
                MasterKey::from_encoded(&text).unwrap().key_id(),
                id,
                "{text}"
            );
        }
    }

    #[test]
    fn validation_table() {
        let patterned: Vec<u8> = (0..SYMMETRIC_KEY_LEN).map(|i| (i % 8) as u8 * 17).collect();
        let cases: Vec<(String, MasterKeyError)> = vec![
            (String::new(), MasterKeyError::Empty),
            ("   \n".into(), MasterKeyError::Empty),
            (
                base64url_encode(&random_key_bytes()[..31]),
                MasterKeyError::WrongLength { bytes: 31 },
            ),
            (
                base64url_encode([random_key_bytes(), vec![7]].concat()),
                MasterKeyError::WrongLength { bytes: 33 },
            ),
            (
                hex_encode(&random_key_bytes()[..16]),
                MasterKeyError::WrongLength { bytes: 16 },
            ),
            (
                base64url_encode([7u8; 200]),
                MasterKeyError::WrongLength { bytes: 200 },
            ),
            (STANDARD.encode([0u8; 32]), MasterKeyError::RepeatedByte),
            (hex_encode([0x41u8; 32]), MasterKeyError::RepeatedByte),
            ("A".repeat(43), MasterKeyError::RepeatedByte),
            (
                base64url_encode(&patterned),
                MasterKeyError::LowEntropy { distinct: 8 },
            ),
            (EXAMPLE.into(), MasterKeyError::DocumentedExample),
            (
                hex_encode((0u8..32).collect::<Vec<_>>()),
                MasterKeyError::DocumentedExample,
            ),
            (
                "not a key at all!".into(),
                MasterKeyError::NotEncoded { chars: 17 },
            ),
            (
                "correct horse battery staple".into(),
                MasterKeyError::NotEncoded { chars: 28 },
            ),
        ];
        for (text, expected) in cases {
            let error = MasterKey::from_encoded(&text).unwrap_err();
            assert_eq!(error, expected, "input {text:?}");
            let message = error.to_string();
            assert!(message.contains("heddle keys generate-master"), "{message}");
            let trimmed = text.trim();
            if trimmed.len() >= 8 {
                assert!(!message.contains(trimmed), "{message} leaks the key");
            }
        }
    }

    #[test]
    fn every_documented_example_is_refused() {
        for example in DOCUMENTED_EXAMPLE_KEYS {
            assert!(MasterKey::from_encoded(example).is_err(), "{example}");
        }
    }

    #[test]
    fn wrap_and_unwrap_bind_the_aad() {
        let master = MasterKey::generate().unwrap();
        let data_key = DataKey::generate().unwrap();
        let wrapped = master.wrap(&data_key, b"tenant-1/v1").unwrap();
        let unwrapped = master.unwrap(&wrapped, b"tenant-1/v1").unwrap();
        assert_eq!(unwrapped.as_bytes(), data_key.as_bytes());
        assert!(matches!(
            master.unwrap(&wrapped, b"tenant-2/v1"),
            Err(CryptoError::DecryptionFailed)
        ));
        let other = MasterKey::generate().unwrap();
        assert!(other.unwrap(&wrapped, b"tenant-1/v1").is_err());
        for index in 0..wrapped.len() {
            let mut altered = wrapped.clone();
            altered[index] ^= 0x20;
            assert!(master.unwrap(&altered, b"tenant-1/v1").is_err());
        }
    }

    #[test]
    fn a_wrapped_key_is_not_a_secret_envelope_and_vice_versa() {
        let master = MasterKey::generate().unwrap();
        let data_key = DataKey::generate().unwrap();
        let secret = data_key.encrypt(&[9u8; 32], b"aad").unwrap();
        assert!(master.unwrap(&secret, b"aad").is_err());
        let wrapped = master.wrap(&data_key, b"aad").unwrap();
        assert!(data_key.decrypt(&wrapped, b"aad").is_err());
    }

    #[test]
    fn key_id_is_short_hex_and_debug_is_redacted() {
        let master = MasterKey::generate().unwrap();
        let id = master.key_id();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(format!("{master:?}"), "MasterKey([redacted])");
        assert!(!format!("{master:?}").contains(master.to_encoded().as_str()));
    }
}
