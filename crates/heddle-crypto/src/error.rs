//! The crate's error type. Messages never contain secrets, password hashes, tokens, key
//! material or plaintext.

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
    /// An encrypted envelope cannot even be parsed (too short, unknown version, wrong kind).
    #[error("encrypted envelope is malformed: {reason}")]
    MalformedEnvelope { reason: String },
    /// Authenticated decryption failed. AES-GCM cannot tell the causes apart, so all are named.
    #[error(
        "decryption failed: wrong key, wrong associated data (tenant, secret id, version) or an \
         altered ciphertext"
    )]
    DecryptionFailed,
    /// The AEAD backend refused to encrypt (it does so only for absurd input sizes).
    #[error("encryption failed: {reason}")]
    EncryptionFailed { reason: String },
    /// Key bytes of the wrong size or shape (the bytes themselves are never shown).
    #[error("invalid {kind}: {reason}")]
    InvalidKey { kind: &'static str, reason: String },
    /// Text that should be hex or base64 is not.
    #[error("`{input}` is not valid {encoding}: {reason}")]
    InvalidEncoding {
        encoding: &'static str,
        /// The offending text, cut to 80 characters; only ever public values (keys ids,
        /// public keys, hashes, signatures).
        input: String,
        reason: String,
    },
    /// The backend could not generate a key pair.
    #[error("key generation failed")]
    KeyGenerationFailed,
}
