//! Ed25519 (RFC 8032) signatures, for audit checkpoints.

use std::fmt;

use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::digest::sha256;
use crate::encoding::{base64_decode_array, base64_encode, hex_decode_array, hex_encode};

/// Length of an Ed25519 public key and of a private seed.
pub const ED25519_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// An Ed25519 private key. `Debug` shows only the public half; the seed is zeroized on drop.
/// Store it with [`SigningKey::to_bytes`] (inside the vault) and load it with
/// [`SigningKey::from_seed`].
pub struct SigningKey {
    pair: Ed25519KeyPair,
    seed: Zeroizing<[u8; ED25519_KEY_LEN]>,
    public: PublicKey,
}

impl SigningKey {
    /// A fresh key pair from the OS CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let pair = Ed25519KeyPair::generate().map_err(|_| CryptoError::KeyGenerationFailed)?;
        Self::from_pair(pair)
    }

    /// Loads a key from its 32-byte seed (the RFC 8032 private key).
    pub fn from_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        if seed.len() != ED25519_KEY_LEN {
            return Err(invalid_private(format!(
                "seed is `{}` bytes, expected {ED25519_KEY_LEN}",
                seed.len()
            )));
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|error| invalid_private(error.to_string()))?;
        Self::from_pair(pair)
    }

    /// Loads a key from an unencrypted PKCS#8 (v1 or v2) document, as `openssl genpkey
    /// -algorithm ed25519` writes in DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let pair =
            Ed25519KeyPair::from_pkcs8(der).map_err(|error| invalid_private(error.to_string()))?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: Ed25519KeyPair) -> Result<Self, CryptoError> {
        let seed_bin = pair
            .seed()
            .and_then(|seed| seed.as_be_bytes())
            .map_err(|_| invalid_private("the backend did not export the seed".to_owned()))?;
        let mut seed = Zeroizing::new([0u8; ED25519_KEY_LEN]);
        if seed_bin.as_ref().len() != ED25519_KEY_LEN {
            return Err(invalid_private(
                "the backend exported a malformed seed".to_owned(),
            ));
        }
        seed.copy_from_slice(seed_bin.as_ref());
        let public = PublicKey::from_bytes(pair.public_key().as_ref())?;
        Ok(Self { pair, seed, public })
    }

    /// The 32-byte seed, for storage in the vault.
    pub fn to_bytes(&self) -> Zeroizing<[u8; ED25519_KEY_LEN]> {
        self.seed.clone()
    }

    /// The key as a PKCS#8 v2 DER document.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let document = self
            .pair
            .to_pkcs8()
            .map_err(|_| invalid_private("pkcs#8 encoding failed".to_owned()))?;
        Ok(Zeroizing::new(document.as_ref().to_vec()))
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs `message` (Ed25519 is deterministic: same key and message, same signature).
    pub fn sign(&self, message: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
        let signature = self.pair.sign(message);
        let mut out = [0u8; ED25519_SIGNATURE_LEN];
        out.copy_from_slice(signature.as_ref());
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public)
            .field("private", &"[redacted]")
            .finish()
    }
}

/// An Ed25519 public key: 32 bytes, public, safe to print and export.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; ED25519_KEY_LEN]);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        <[u8; ED25519_KEY_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| CryptoError::InvalidKey {
                kind: "ed25519 public key",
                reason: format!("`{}` bytes, expected {ED25519_KEY_LEN}", bytes.len()),
            })
    }

    pub const fn as_bytes(&self) -> &[u8; ED25519_KEY_LEN] {
        &self.0
    }

    /// Whether `signature` is a valid signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature.len() == ED25519_SIGNATURE_LEN
            && UnparsedPublicKey::new(&ED25519, &self.0)
                .verify(message, signature)
                .is_ok()
    }

    /// A short stable id: hex of the first 8 bytes of SHA-256(label ‖ key). Names the key in
    /// signed checkpoints and exports so verifiers can pick the right one.
    pub fn key_id(&self) -> String {
        let mut input = Vec::with_capacity(32 + ED25519_KEY_LEN);
        input.extend_from_slice(b"heddle ed25519 key id v1\n");
        input.extend_from_slice(&self.0);
        hex_encode(&sha256(&input)[..8])
    }

    pub fn to_hex(&self) -> String {
        hex_encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        hex_decode_array(text.trim()).map(Self)
    }

    /// Standard base64 with padding (44 characters).
    pub fn to_base64(&self) -> String {
        base64_encode(self.0)
    }

    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        base64_decode_array(text.trim()).map(Self)
    }

    /// Accepts the key as base64 or hex, for command-line flags and config.
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        if text.len() == ED25519_KEY_LEN * 2 {
            Self::from_hex(text)
        } else {
            Self::from_base64(text)
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// Signature helpers: signatures travel as standard base64 (88 characters).
pub fn signature_to_base64(signature: &[u8; ED25519_SIGNATURE_LEN]) -> String {
    base64_encode(signature)
}

pub fn signature_from_base64(text: &str) -> Result<[u8; ED25519_SIGNATURE_LEN], CryptoError> {
    base64_decode_array(text.trim())
}

fn invalid_private(reason: String) -> CryptoError {
    CryptoError::InvalidKey {
        kind: "ed25519 private key",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::hex_decode;

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::generate().unwrap();
        let signature = key.sign(b"checkpoint body");
        let public = key.public_key();
        assert!(public.verify(b"checkpoint body", &signature));
        assert!(!public.verify(b"checkpoint bodY", &signature));
        for index in [0, 31, 32, 63] {
            let mut altered = signature;
            altered[index] ^= 1;
            assert!(!public.verify(b"checkpoint body", &altered));
        }
        assert!(!public.verify(b"checkpoint body", &signature[..63]));
        let other = SigningKey::generate().unwrap().public_key();
        assert!(!other.verify(b"checkpoint body", &signature));
    }

    #[test]
    fn rfc_8032_test_vector_1() {
        let seed =
            hex_decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        let key = SigningKey::from_seed(&seed).unwrap();
        assert_eq!(
            key.public_key().to_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let expected = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                        5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        assert_eq!(hex_encode(key.sign(b"")), expected);
    }

    #[test]
    fn seed_and_pkcs8_round_trip() {
        let key = SigningKey::generate().unwrap();
        let from_seed = SigningKey::from_seed(key.to_bytes().as_slice()).unwrap();
        assert_eq!(from_seed.public_key(), key.public_key());
        let from_pkcs8 = SigningKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(from_pkcs8.public_key(), key.public_key());
        assert_eq!(from_pkcs8.sign(b"m"), key.sign(b"m"));
        assert!(SigningKey::from_seed(&[1u8; 31]).is_err());
        assert!(SigningKey::from_pkcs8(b"not der").is_err());
    }

    #[test]
    fn public_key_encodings_round_trip() {
        let public = SigningKey::generate().unwrap().public_key();
        assert_eq!(PublicKey::from_hex(&public.to_hex()).unwrap(), public);
        assert_eq!(PublicKey::from_base64(&public.to_base64()).unwrap(), public);
        assert_eq!(PublicKey::from_text(&public.to_hex()).unwrap(), public);
        assert_eq!(PublicKey::from_text(&public.to_base64()).unwrap(), public);
        assert_eq!(PublicKey::from_bytes(public.as_bytes()).unwrap(), public);
        assert!(PublicKey::from_bytes(&[0u8; 31]).is_err());
        assert!(PublicKey::from_base64("AAAA").is_err());
        assert_eq!(public.key_id().len(), 16);
        let signature = [7u8; ED25519_SIGNATURE_LEN];
        assert_eq!(
            signature_from_base64(&signature_to_base64(&signature)).unwrap(),
            signature
        );
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let key = SigningKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("[redacted]"));
        assert!(debug.contains(&key.public_key().to_base64()));
        assert!(!debug.contains(&hex_encode(key.to_bytes().as_slice())));
        assert!(!debug.contains(&base64_encode(key.to_bytes().as_slice())));
    }
}
