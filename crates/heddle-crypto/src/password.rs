//! Argon2id password hashing, timing equalization for unknown accounts, generated passwords
//! and the password strength policy.

use std::fmt;

use argon2::{Algorithm, Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::digest::constant_time_eq;
use crate::random::{fill_random, random_string_from};

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;
const DUMMY_SALT: [u8; SALT_LEN] = [0x5a; SALT_LEN];

/// Hashes and verifies passwords with Argon2id. Verification reads the parameters stored in
/// the PHC string, so hashes made with older parameters keep verifying; see
/// [`PasswordHasher::needs_rehash`].
///
/// Hashing is deliberately slow (tens of milliseconds with [`PasswordHasher::recommended`]):
/// async callers should run it on a blocking thread.
#[derive(Clone)]
pub struct PasswordHasher {
    params: argon2::Params,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("algorithm", &"argon2id")
            .field("m_cost_kib", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish()
    }
}

impl PasswordHasher {
    /// The OWASP Password Storage Cheat Sheet's first Argon2id configuration: 19 MiB of
    /// memory, 2 iterations, 1 lane.
    pub fn recommended() -> Self {
        Self {
            params: argon2::Params::DEFAULT,
        }
    }

    /// The smallest parameters Argon2 accepts. Only for tests, where the recommended ones
    /// would make every login take tens of milliseconds.
    pub fn fast_insecure_for_tests() -> Self {
        Self {
            params: argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, Some(OUTPUT_LEN))
                .unwrap_or(argon2::Params::DEFAULT),
        }
    }

    /// Custom cost parameters (memory in KiB, iterations, lanes).
    pub fn with_params(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, CryptoError> {
        let params =
            argon2::Params::new(m_cost_kib, t_cost, p_cost, Some(OUTPUT_LEN)).map_err(|error| {
                CryptoError::InvalidPasswordParams {
                    reason: error.to_string(),
                }
            })?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with a fresh random salt into a PHC string
    /// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub fn hash_password(&self, password: &SecretString) -> Result<String, CryptoError> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let hash = self
            .argon2()
            .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
            .map_err(|error| CryptoError::PasswordHashing {
                reason: error.to_string(),
            })?;
        Ok(hash.to_string())
    }

    /// Checks `password` against a stored PHC string. A wrong password is `Ok(false)`; a
    /// hash that cannot be parsed, or is not Argon2id, is an error because it means the
    /// stored data is corrupt, not that the caller typed badly.
    pub fn verify_password(&self, password: &SecretString, phc: &str) -> Result<bool, CryptoError> {
        let parsed = parse_argon2id_phc(phc)?;
        match self
            .argon2()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
        {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(error) => Err(CryptoError::MalformedPasswordHash {
                reason: error.to_string(),
            }),
        }
    }

    /// Spends the same time as [`PasswordHasher::verify_password`] on a hash made with this
    /// hasher's parameters, and always fails. Call it when the account does not exist so a
    /// login for an unknown email is not measurably faster than one with a wrong password.
    pub fn verify_dummy(&self, password: &SecretString) {
        let output = self.dummy_output(password);
        // Compare like a real verification does; the outcome is deliberately ignored.
        let _ = constant_time_eq(output.as_slice(), &[0u8; OUTPUT_LEN]);
    }

    /// The same Argon2id computation a verification runs, on a fixed salt. A fixed salt is
    /// fine: nothing is stored and the result is discarded.
    fn dummy_output(&self, password: &SecretString) -> Zeroizing<[u8; OUTPUT_LEN]> {
        let mut output = Zeroizing::new([0u8; OUTPUT_LEN]);
        // An error can only come from parameters the constructors already checked; the
        // caller learns nothing either way.
        let _ = self.argon2().hash_password_into(
            password.expose_secret().as_bytes(),
            &DUMMY_SALT,
            output.as_mut_slice(),
        );
        output
    }

    /// Whether a stored hash was made with other parameters than this hasher's, so the caller
    /// should re-hash the password after a successful login.
    pub fn needs_rehash(&self, phc: &str) -> Result<bool, CryptoError> {
        let parsed = parse_argon2id_phc(phc)?;
        let stored = argon2::Params::try_from(&parsed).map_err(|error| {
            CryptoError::MalformedPasswordHash {
                reason: error.to_string(),
            }
        })?;
        Ok(parsed.version != Some(u32::from(Version::V0x13))
            || stored.m_cost() != self.params.m_cost()
            || stored.t_cost() != self.params.t_cost()
            || stored.p_cost() != self.params.p_cost())
    }
}

fn parse_argon2id_phc(phc: &str) -> Result<PasswordHash, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(|error| CryptoError::MalformedPasswordHash {
        reason: error.to_string(),
    })?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(CryptoError::MalformedPasswordHash {
            reason: format!("algorithm `{}` is not argon2id", parsed.algorithm),
        });
    }
    Ok(parsed)
}

/// Letters and digits without the look-alikes `0 O 1 I l`, so a generated password can be
/// read aloud or copied from a screen.
const UNAMBIGUOUS_ALPHABET: &[u8; 57] =
    b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// Length of [`generate_password`]'s output: 24 × log2(57) ≈ 140 bits of entropy.
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// A fresh random password of [`GENERATED_PASSWORD_LEN`] unambiguous characters that passes
/// [`check_password_strength`].
pub fn generate_password() -> Result<SecretString, CryptoError> {
    // A draw fails the strength check only if it lacks a second character class, which
    // happens with probability below 1e-8; a few retries make that practically impossible.
    let mut last = None;
    for _ in 0..8 {
        let candidate = SecretString::from(random_string_from(
            UNAMBIGUOUS_ALPHABET,
            GENERATED_PASSWORD_LEN,
        )?);
        if check_password_strength(&candidate).is_ok() {
            return Ok(candidate);
        }
        last = Some(candidate);
    }
    last.ok_or(CryptoError::RandomUnavailable)
}

/// Fewest characters (Unicode scalar values) a password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters a password may have; bounds the work an Argon2 input costs to hash.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Fewest different characters a password must contain.
pub const MIN_DISTINCT_PASSWORD_CHARS: usize = 5;

/// Why a password was refused. Messages say what to change and never repeat the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("password is too short: use at least {min} characters")]
    TooShort { min: usize },
    #[error("password is too long: use at most {max} characters")]
    TooLong { max: usize },
    #[error(
        "password uses only one kind of character: mix lowercase, uppercase, digits or symbols"
    )]
    SingleCharacterClass,
    #[error("password repeats too few characters: use at least {min} different characters")]
    TooFewDistinctCharacters { min: usize },
}

/// The password policy, deliberately simple (in the spirit of NIST SP 800-63B: length first,
/// no elaborate composition rules):
/// 1. between [`MIN_PASSWORD_CHARS`] and [`MAX_PASSWORD_CHARS`] characters;
/// 2. at least two of the classes lowercase, uppercase, digit, other (spaces and symbols
///    count as other, so a lowercase passphrase with spaces passes);
/// 3. at least [`MIN_DISTINCT_PASSWORD_CHARS`] different characters (rejects `aaaaaaaaaaa1`).
pub fn check_password_strength(password: &SecretString) -> Result<(), WeakPassword> {
    let text = password.expose_secret();
    let length = text.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(WeakPassword::TooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(WeakPassword::TooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in text.chars() {
        if c.is_lowercase() {
            lower = true;
        } else if c.is_uppercase() {
            upper = true;
        } else if c.is_numeric() {
            digit = true;
        } else {
            other = true;
        }
    }
    if [lower, upper, digit, other]
        .iter()
        .filter(|&&seen| seen)
        .count()
        < 2
    {
        return Err(WeakPassword::SingleCharacterClass);
    }
    let mut distinct: Vec<char> = text.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let distinct_count = distinct.len();
    // The sorted copy holds the password's characters: wipe it before it is freed.
    zeroize::Zeroize::zeroize(&mut distinct);
    if distinct_count < MIN_DISTINCT_PASSWORD_CHARS {
        return Err(WeakPassword::TooFewDistinctCharacters {
            min: MIN_DISTINCT_PASSWORD_CHARS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text)
    }

    #[test]
    fn hash_then_verify_accepts_the_password_and_rejects_others() {
        let hasher = PasswordHasher::fast_insecure_for_tests();
        let phc = hasher.hash_password(&secret("correct horse 42")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(
            hasher
                .verify_password(&secret("correct horse 42"), &phc)
                .unwrap()
        );
        assert!(
            !hasher
                .verify_password(&secret("correct horse 43"), &phc)
                .unwrap()
        );
    }

    #[test]
    fn same_password_hashes_differently_each_time() {
        let hasher = PasswordHasher::fast_insecure_for_tests();
        let a = hasher.hash_password(&secret("same password!")).unwrap();
        let b = hasher.hash_password(&secret("same password!")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_or_foreign_hashes_are_errors_not_mismatches() {
        let hasher = PasswordHasher::fast_insecure_for_tests();
        for phc in [
            "",
            "not a hash",
            "$argon2id$v=19$m=8,t=1,p=1$$",
            "$2b$12$abcdefghijklmnopqrstuuMYt6Oxg1yX1iUvIL3GzLqiHn1M4dVW",
        ] {
            let result = hasher.verify_password(&secret("whatever password"), phc);
            assert!(
                matches!(result, Err(CryptoError::MalformedPasswordHash { .. })),
                "{phc:?}: {result:?}"
            );
        }
        let argon2i = "$argon2i$v=19$m=8,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
                       AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let error = hasher
            .verify_password(&secret("whatever password"), argon2i)
            .unwrap_err();
        assert!(error.to_string().contains("`argon2i` is not argon2id"));
    }

    #[test]
    fn hashes_made_with_other_params_still_verify_and_ask_for_a_rehash() {
        let old = PasswordHasher::with_params(16, 1, 1).unwrap();
        let current = PasswordHasher::fast_insecure_for_tests();
        let phc = old.hash_password(&secret("migrate me please")).unwrap();
        assert!(
            current
                .verify_password(&secret("migrate me please"), &phc)
                .unwrap()
        );
        assert!(current.needs_rehash(&phc).unwrap());
        let fresh = current.hash_password(&secret("migrate me please")).unwrap();
        assert!(!current.needs_rehash(&fresh).unwrap());
    }

    #[test]
    fn invalid_params_are_rejected() {
        assert!(matches!(
            PasswordHasher::with_params(1, 1, 1),
            Err(CryptoError::InvalidPasswordParams { .. })
        ));
    }

    #[test]
    fn recommended_params_are_owasp_level() {
        let debug = format!("{:?}", PasswordHasher::recommended());
        assert!(debug.contains("m_cost_kib: 19456"), "{debug}");
        assert!(debug.contains("t_cost: 2"), "{debug}");
        assert!(debug.contains("p_cost: 1"), "{debug}");
    }

    /// The dummy must do the full Argon2id work of a verification with this hasher's
    /// parameters: its output equals the hash a real PHC string with the same salt carries.
    /// (Checked by equality, not by timing: timed assertions are flaky on shared machines.)
    #[test]
    fn dummy_verification_runs_the_same_argon2id_computation() {
        for hasher in [
            PasswordHasher::fast_insecure_for_tests(),
            PasswordHasher::with_params(64, 3, 2).unwrap(),
        ] {
            let password = secret("not a registered user");
            let real = hasher
                .argon2()
                .hash_password_with_salt(password.expose_secret().as_bytes(), &DUMMY_SALT)
                .unwrap();
            let real_output = real.hash.unwrap();
            assert_eq!(
                real_output.as_bytes(),
                hasher.dummy_output(&password).as_slice()
            );
            hasher.verify_dummy(&password);
        }
    }

    #[test]
    fn generated_passwords_are_strong_unambiguous_and_distinct() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        for password in [&a, &b] {
            assert_eq!(password.expose_secret().len(), GENERATED_PASSWORD_LEN);
            assert!(check_password_strength(password).is_ok());
            assert!(!password.expose_secret().contains(['0', 'O', '1', 'I', 'l']));
        }
    }

    #[test]
    fn strength_policy_explains_what_is_wrong() {
        let cases: [(&str, Result<(), WeakPassword>); 7] = [
            ("Short1!", Err(WeakPassword::TooShort { min: 12 })),
            (
                "alllowercaseletters",
                Err(WeakPassword::SingleCharacterClass),
            ),
            ("123456789012", Err(WeakPassword::SingleCharacterClass)),
            (
                "aaaaaaaaaaa1",
                Err(WeakPassword::TooFewDistinctCharacters { min: 5 }),
            ),
            ("correct horse battery staple", Ok(())),
            ("Tr0ub4dor&3xyz", Ok(())),
            ("ünïcödé wörds ok", Ok(())),
        ];
        for (password, expected) in cases {
            assert_eq!(
                check_password_strength(&secret(password)),
                expected,
                "{password}"
            );
        }
        let long = format!("aB{}", "x".repeat(MAX_PASSWORD_CHARS));
        assert_eq!(
            check_password_strength(&secret(&long)),
            Err(WeakPassword::TooLong { max: 1024 })
        );
    }

    #[test]
    fn weak_password_messages_never_contain_the_password() {
        let password = "aaaaaaaaaaa1";
        let error = check_password_strength(&secret(password)).unwrap_err();
        assert!(!error.to_string().contains(password));
    }
}
