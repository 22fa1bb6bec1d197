//! The OS CSPRNG, through aws-lc-rs.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::CryptoError;

/// Fills `dest` with bytes from the operating system's CSPRNG.
pub fn fill_random(dest: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new()
        .fill(dest)
        .map_err(|_| CryptoError::RandomUnavailable)
}

/// `len` fresh random bytes.
pub fn random_bytes(len: usize) -> Result<Vec<u8>, CryptoError> {
    let mut bytes = vec![0u8; len];
    fill_random(&mut bytes)?;
    Ok(bytes)
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols). Rejection sampling
/// keeps the distribution unbiased: bytes at or above the largest multiple of the alphabet
/// size are thrown away.
pub(crate) fn random_string_from<const N: usize>(
    alphabet: &[u8; N],
    len: usize,
) -> Result<String, CryptoError> {
    const { assert!(N > 0 && N <= 256, "alphabet must have 1 to 256 symbols") };
    let limit = 256 - 256 % N;
    let mut out = String::with_capacity(len);
    let mut pool = zeroize::Zeroizing::new([0u8; 64]);
    while out.len() < len {
        fill_random(pool.as_mut_slice())?;
        for &byte in pool.iter() {
            if usize::from(byte) < limit
                && let Some(&symbol) = alphabet.get(usize::from(byte) % N)
            {
                out.push(char::from(symbol));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_have_the_requested_length_and_differ() {
        let a = random_bytes(32).unwrap();
        let b = random_bytes(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(random_bytes(0).unwrap().is_empty());
    }

    #[test]
    fn random_strings_use_only_the_alphabet() {
        let s = random_string_from(b"abc", 500).unwrap();
        assert_eq!(s.len(), 500);
        assert!(s.bytes().all(|b| b"abc".contains(&b)));
        // With 500 draws each symbol appears; a biased or stuck generator would not.
        for symbol in ['a', 'b', 'c'] {
            assert!(s.contains(symbol));
        }
    }
}
