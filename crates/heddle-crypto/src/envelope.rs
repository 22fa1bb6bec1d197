//! Authenticated encryption of secrets with per-tenant data keys: AES-256-GCM, a fresh random
//! 96-bit nonce per message, and caller-supplied associated data.
//!
//! Envelope (self-describing, stored as one blob):
//!
//! ```text
//! kind (1 byte) ‖ nonce (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes)
//! ```
//!
//! `kind` is [`ENVELOPE_DATA`] for secrets under a [`DataKey`] and [`ENVELOPE_WRAPPED_KEY`]
//! for data keys wrapped by the master key. The kind byte is part of the authenticated data
//! (GCM's AAD is `kind ‖ caller aad`), so an envelope of one kind cannot be passed off as the
//! other and a changed header fails to decrypt.
//!
//! Random nonces: with 96 random bits, NIST SP 800-38D bounds one key to 2^32 messages; a
//! data key encrypts one tenant's secrets, several orders of magnitude below that.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use secrecy::SecretSlice;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;
use crate::random::fill_random;

/// Envelope kind: a secret encrypted under a data key.
pub const ENVELOPE_DATA: u8 = 0x01;
/// Envelope kind: a data key wrapped by the master key.
pub const ENVELOPE_WRAPPED_KEY: u8 = 0x02;
/// Length of a symmetric key (AES-256).
pub const SYMMETRIC_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
/// The smallest possible envelope: header and tag around an empty plaintext.
pub const MIN_ENVELOPE_LEN: usize = HEADER_LEN + TAG_LEN;

/// Decrypted bytes: zeroized on drop, `[redacted]` in `Debug`, read with
/// [`ExposeSecret::expose_secret`](secrecy::ExposeSecret::expose_secret).
pub type SecretBytes = SecretSlice<u8>;

/// A per-tenant data encryption key (AES-256). Zeroized on drop; `Debug` shows `[redacted]`.
/// Persist it only wrapped by the [`MasterKey`](crate::MasterKey).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; SYMMETRIC_KEY_LEN]);

impl DataKey {
    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Self([0u8; SYMMETRIC_KEY_LEN]);
        fill_random(&mut key.0)?;
        Ok(key)
    }

    pub(crate) fn from_array(bytes: [u8; SYMMETRIC_KEY_LEN]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; SYMMETRIC_KEY_LEN] {
        &self.0
    }

    /// Encrypts `plaintext`, binding it to `aad` (for secrets: tenant, secret id and version,
    /// so a ciphertext copied to another row or tenant no longer decrypts).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, ENVELOPE_DATA, plaintext, aad)
    }

    /// Decrypts an envelope made by [`DataKey::encrypt`] with the same key and `aad`.
    pub fn decrypt(&self, envelope: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        let plaintext = open(&self.0, ENVELOPE_DATA, envelope, aad)?;
        Ok(SecretBytes::from(Vec::from(plaintext.as_slice())))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Encrypts into a fresh envelope of `kind`.
pub(crate) fn seal(
    key: &[u8; SYMMETRIC_KEY_LEN],
    kind: u8,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let mut envelope = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    envelope.push(kind);
    envelope.extend_from_slice(&nonce);
    envelope.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(full_aad(kind, aad)),
            &mut envelope[HEADER_LEN..],
        )
        .map_err(|_| CryptoError::EncryptionFailed {
            reason: format!("plaintext of {} bytes rejected", plaintext.len()),
        })?;
    envelope.extend_from_slice(tag.as_ref());
    Ok(envelope)
}

/// Authenticates and decrypts an envelope of the expected `kind`. The plaintext is zeroized
/// when the returned buffer drops.
pub(crate) fn open(
    key: &[u8; SYMMETRIC_KEY_LEN],
    kind: u8,
    envelope: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if envelope.len() < MIN_ENVELOPE_LEN {
        return Err(CryptoError::MalformedEnvelope {
            reason: format!(
                "`{}` bytes is shorter than the minimum of {MIN_ENVELOPE_LEN}",
                envelope.len()
            ),
        });
    }
    let (header, sealed) = envelope.split_at(HEADER_LEN);
    let (found_kind, nonce) = header.split_at(1);
    if found_kind != [kind] {
        return Err(CryptoError::MalformedEnvelope {
            reason: format!(
                "kind byte `0x{:02x}` is not the expected `0x{kind:02x}` ({})",
                found_kind.first().copied().unwrap_or_default(),
                kind_name(kind)
            ),
        });
    }
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::DecryptionFailed)?;
    let key = aead_key(key)?;
    let mut buffer = Zeroizing::new(sealed.to_vec());
    let plaintext_len = key
        .open_in_place(nonce, Aad::from(full_aad(kind, aad)), &mut buffer)
        .map_err(|_| CryptoError::DecryptionFailed)?
        .len();
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

fn aead_key(key: &[u8; SYMMETRIC_KEY_LEN]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::InvalidKey {
            kind: "aes-256-gcm key",
            reason: "rejected by the backend".to_owned(),
        })
}

/// GCM's associated data: the kind byte, then the caller's aad.
fn full_aad(kind: u8, aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(1 + aad.len());
    full.push(kind);
    full.extend_from_slice(aad);
    full
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        ENVELOPE_DATA => "encrypted data",
        ENVELOPE_WRAPPED_KEY => "wrapped data key",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn round_trip_with_the_same_key_and_aad() {
        let key = DataKey::generate().unwrap();
        let envelope = key
            .encrypt(b"canary-secret", b"tenant-1/secret-1/v1")
            .unwrap();
        assert_eq!(envelope.len(), MIN_ENVELOPE_LEN + 13);
        assert_eq!(envelope[0], ENVELOPE_DATA);
        let plaintext = key.decrypt(&envelope, b"tenant-1/secret-1/v1").unwrap();
        assert_eq!(plaintext.expose_secret(), b"canary-secret");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let key = DataKey::generate().unwrap();
        let envelope = key.encrypt(b"", b"").unwrap();
        assert_eq!(envelope.len(), MIN_ENVELOPE_LEN);
        assert!(
            key.decrypt(&envelope, b"")
                .unwrap()
                .expose_secret()
                .is_empty()
        );
    }

    #[test]
    fn each_encryption_uses_a_fresh_nonce() {
        let key = DataKey::generate().unwrap();
        let a = key.encrypt(b"same", b"aad").unwrap();
        let b = key.encrypt(b"same", b"aad").unwrap();
        assert_ne!(a[1..HEADER_LEN], b[1..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_aad_fails() {
        let key = DataKey::generate().unwrap();
        let envelope = key.encrypt(b"secret", b"tenant-1/secret-1/v1").unwrap();
        for aad in [&b"tenant-2/secret-1/v1"[..], b"tenant-1/secret-1/v2", b""] {
            assert!(matches!(
                key.decrypt(&envelope, aad),
                Err(CryptoError::DecryptionFailed)
            ));
        }
    }

    #[test]
    fn wrong_key_fails() {
        let envelope = DataKey::generate()
            .unwrap()
            .encrypt(b"secret", b"aad")
            .unwrap();
        let other = DataKey::generate().unwrap();
        assert!(matches!(
            other.decrypt(&envelope, b"aad"),
            Err(CryptoError::DecryptionFailed)
        ));
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let key = DataKey::generate().unwrap();
        let envelope = key.encrypt(b"a secret worth protecting", b"aad").unwrap();
        for index in 0..envelope.len() {
            for bit in [0x01u8, 0x80] {
                let mut altered = envelope.clone();
                altered[index] ^= bit;
                assert!(
                    key.decrypt(&altered, b"aad").is_err(),
                    "flip at {index} accepted"
                );
            }
        }
    }

    #[test]
    fn truncated_and_extended_envelopes_are_rejected() {
        let key = DataKey::generate().unwrap();
        let envelope = key.encrypt(b"secret", b"aad").unwrap();
        for len in 0..envelope.len() {
            let error = key.decrypt(&envelope[..len], b"aad").unwrap_err();
            if len < MIN_ENVELOPE_LEN {
                assert!(matches!(error, CryptoError::MalformedEnvelope { .. }));
            }
        }
        let mut extended = envelope.clone();
        extended.push(0);
        assert!(key.decrypt(&extended, b"aad").is_err());
    }

    #[test]
    fn envelope_kinds_are_not_interchangeable() {
        let key = DataKey::generate().unwrap();
        let wrapped_kind = seal(key.as_bytes(), ENVELOPE_WRAPPED_KEY, b"x", b"aad").unwrap();
        let error = key.decrypt(&wrapped_kind, b"aad").unwrap_err();
        assert!(matches!(error, CryptoError::MalformedEnvelope { .. }));
        assert!(error.to_string().contains("`0x02`"), "{error}");
        // Relabeling the kind byte does not help: it is authenticated.
        let mut relabeled = wrapped_kind;
        relabeled[0] = ENVELOPE_DATA;
        assert!(matches!(
            key.decrypt(&relabeled, b"aad"),
            Err(CryptoError::DecryptionFailed)
        ));
    }

    #[test]
    fn debug_and_errors_never_show_key_or_plaintext() {
        let key = DataKey::from_array([0x42; SYMMETRIC_KEY_LEN]);
        assert_eq!(format!("{key:?}"), "DataKey([redacted])");
        let envelope = key.encrypt(b"canary-plaintext", b"aad").unwrap();
        let plaintext = key.decrypt(&envelope, b"aad").unwrap();
        assert!(!format!("{plaintext:?}").contains("canary"));
        let error = key.decrypt(&envelope, b"other").unwrap_err().to_string();
        assert!(!error.contains("canary"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip_and_single_byte_tamper(
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            position in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let key = DataKey::generate().unwrap();
            let envelope = key.encrypt(&plaintext, &aad).unwrap();
            let decrypted = key.decrypt(&envelope, &aad).unwrap();
            prop_assert_eq!(decrypted.expose_secret(), &plaintext[..]);
            let mut altered = envelope.clone();
            altered[position.index(envelope.len())] ^= flip;
            prop_assert!(key.decrypt(&altered, &aad).is_err());
        }
    }
}
