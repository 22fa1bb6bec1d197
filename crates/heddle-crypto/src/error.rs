//! The crate's error type. Messages never contain secrets, password hashes or tokens.

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The operating system's random number generator did not deliver bytes.
    #[error("the operating system random number generator failed")]
    RandomUnavailable,
    /// A stored password hash is not a PHC string Heddle can verify.
    #[error("stored password hash is malformed: {reason}")]
    MalformedPasswordHash { reason: String },
    /// Argon2 parameters were rejected.
    #[error("invalid argon2id parameters: {reason}")]
    InvalidPasswordParams { reason: String },
    /// Hashing a password failed for a reason other than bad input.
    #[error("password hashing failed: {reason}")]
    PasswordHashing { reason: String },
}
