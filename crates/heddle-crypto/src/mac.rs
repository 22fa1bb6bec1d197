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
