//! Heddle's only cryptography seam: SHA-256, constant-time comparison, the OS random number
//! generator, Argon2id password hashing and opaque bearer tokens (API keys, access tokens).
//!
//! Invariants:
//! - every primitive comes from `aws-lc-rs` (hashing, randomness) or `argon2` (passwords); no
//!   other crate in the workspace implements or calls cryptography directly;
//! - secrets travel as [`SecretString`] and never appear in `Debug`, `Display` or error
//!   messages (`[redacted]` stands in for them);
//! - comparisons of secret-derived values run in constant time;
//! - failures of the random number generator are errors, never panics or weak fallbacks.

mod digest;
mod error;
mod password;
mod random;
mod token;

pub use digest::{constant_time_eq, sha256};
pub use error::CryptoError;
pub use password::{
    GENERATED_PASSWORD_LEN, MAX_PASSWORD_CHARS, MIN_DISTINCT_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
    PasswordHasher, WeakPassword, check_password_strength, generate_password,
};
pub use random::{fill_random, random_bytes};
pub use secrecy::{ExposeSecret, SecretString};
pub use token::{
    GeneratedToken, ParsedToken, TOKEN_LEN, TokenFormatError, TokenKind, generate_token,
    parse_token, token_hash, token_matches,
};
