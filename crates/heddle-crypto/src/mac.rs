//! HMAC-SHA256 (RFC 2104): webhook signatures, key ids.

use aws_lc_rs::hmac;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, message);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// An HMAC-SHA256 key prepared once for many messages (the key schedule is the costly
/// part of a short message's HMAC).
#[derive(Clone)]
pub struct HmacSha256Key(hmac::Key);

impl HmacSha256Key {
    pub fn new(key: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.0, message);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl std::fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSha256Key([redacted])")
    }
}

/// Checks `tag` against HMAC-SHA256 of `message` under `key`, in constant time.
pub fn verify_hmac_sha256(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, message, tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::hex_decode;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let expected =
            hex_decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843").unwrap();
        assert_eq!(tag.as_slice(), expected.as_slice());
    }

    #[test]
    fn a_prepared_key_signs_as_the_one_shot_function() {
        let key = HmacSha256Key::new(b"Jefe");
        let message = b"what do ya want for nothing?";
        assert_eq!(key.sign(message), hmac_sha256(b"Jefe", message));
        assert_eq!(format!("{key:?}"), "HmacSha256Key([redacted])");
    }

    #[test]
    fn verify_accepts_the_tag_and_rejects_changes() {
        let tag = hmac_sha256(b"key", b"message");
        assert!(verify_hmac_sha256(b"key", b"message", &tag));
        assert!(!verify_hmac_sha256(b"key", b"messagE", &tag));
        assert!(!verify_hmac_sha256(b"kex", b"message", &tag));
        let mut altered = tag;
        altered[31] ^= 1;
        assert!(!verify_hmac_sha256(b"key", b"message", &altered));
        assert!(!verify_hmac_sha256(b"key", b"message", &tag[..31]));
    }
}
