//! Hashing and comparison of secret-derived bytes.

use subtle::ConstantTimeEq;

/// SHA-256 of `data`.
pub fn sha256(data: impl AsRef<[u8]>) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data.as_ref());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// An incremental SHA-256, for input that arrives in pieces (a prefix byte and a borrowed
/// slice, a stream of lines) and should not be copied into one buffer first.
#[derive(Clone)]
pub struct Sha256(aws_lc_rs::digest::Context);

impl Sha256 {
    pub fn new() -> Self {
        Self(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }

    pub fn update(&mut self, data: impl AsRef<[u8]>) {
        self.0.update(data.as_ref());
    }

    pub fn finish(self) -> [u8; 32] {
        let digest = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

/// Compares two byte strings without leaking, through timing, where they first differ.
/// The lengths are not secret: different lengths return `false` at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_nist_vector() {
        let expected = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(sha256("abc"), expected);
    }

    #[test]
    fn incremental_sha256_equals_one_shot() {
        let mut hasher = Sha256::new();
        hasher.update([0u8]);
        hasher.update(b"ab");
        hasher.update(b"c");
        assert_eq!(hasher.finish(), sha256(b"\x00abc"));
        assert_eq!(Sha256::default().finish(), sha256(b""));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"same", b"same!"));
        assert!(constant_time_eq(b"", b""));
    }
}
