//! Heddle's only cryptography seam: SHA-256, HMAC-SHA256, constant-time comparison, the OS
//! random number generator, Argon2id password hashing, opaque bearer tokens (API keys, access
//! tokens), the vault's AES-256-GCM envelopes (data keys wrapped by the master key) and
//! Ed25519 signatures for audit checkpoints.
//!
//! Invariants:
//! - every primitive comes from `aws-lc-rs` (hashing, MAC, AEAD, signatures, randomness) or
//!   `argon2` (passwords); no other crate in the workspace implements or calls cryptography
//!   directly;
//! - secrets travel as [`SecretString`] and never appear in `Debug`, `Display` or error
//!   messages (`[redacted]` stands in for them);
//! - comparisons of secret-derived values run in constant time;
//! - key material (master key, data keys, signing seeds) is zeroized on drop and shown as
//!   `[redacted]`; decrypted bytes come back as [`SecretBytes`];
//! - failures of the random number generator are errors, never panics or weak fallbacks;
//! - a master key is refused unless it is 32 random-looking bytes that no document shows.

mod digest;
mod encoding;
mod envelope;
mod error;
mod mac;
mod master_key;
mod password;
mod random;
mod signing;
mod token;

pub use digest::{Sha256, constant_time_eq, sha256};
pub use encoding::{
    base64_decode, base64_decode_array, base64_encode, base64url_encode, hex_decode,
    hex_decode_array, hex_decode_into, hex_encode, hex_encode_into,
};
pub use envelope::{
    DataKey, ENVELOPE_DATA, ENVELOPE_WRAPPED_KEY, MIN_ENVELOPE_LEN, SYMMETRIC_KEY_LEN, SecretBytes,
};
pub use error::CryptoError;
pub use mac::{HmacSha256Key, hmac_sha256, verify_hmac_sha256};
pub use master_key::{DOCUMENTED_EXAMPLE_KEYS, MIN_DISTINCT_KEY_BYTES, MasterKey, MasterKeyError};
pub use password::{
    GENERATED_PASSWORD_LEN, MAX_PASSWORD_CHARS, MIN_DISTINCT_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
    PasswordHasher, WeakPassword, check_password_strength, generate_password,
};
pub use random::{fill_random, random_bytes};
pub use secrecy::{ExposeSecret, SecretString};
pub use signing::{
    ED25519_KEY_LEN, ED25519_SIGNATURE_LEN, PublicKey, SigningKey, signature_from_base64,
    signature_to_base64,
};
pub use token::{
    GeneratedToken, ParsedToken, TOKEN_LEN, TokenFormatError, TokenKind, generate_token,
    parse_token, token_hash, token_matches,
};
pub use zeroize::Zeroizing;
