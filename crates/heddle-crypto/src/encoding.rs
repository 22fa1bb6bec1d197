//! Hex and base64 for public values: hashes, public keys, signatures, key ids. Error messages
//! quote the input, so never pass secret material through these helpers (the master key has
//! its own parser that never echoes its input).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::CryptoError;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lookup table from an ASCII byte to its hex value; 0xff marks a non-hex byte.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Lowercase hex.
pub fn hex_encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Writes lowercase hex of `bytes` into `out`, which must be exactly twice as long. Returns
/// `false` (writing nothing) otherwise. Allocation-free, for hot paths such as export writers.
pub fn hex_encode_into(bytes: &[u8], out: &mut [u8]) -> bool {
    if out.len() != bytes.len() * 2 {
        return false;
    }
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
    true
}

/// Decodes hex (either case) into exactly `out.len()` bytes. Returns `false` on a wrong length
/// or a non-hex character; `out` is then unspecified. Allocation-free, for hot paths.
pub fn hex_decode_into(text: &[u8], out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let high = HEX_VALUES[usize::from(pair[0])];
        let low = HEX_VALUES[usize::from(pair[1])];
        bad |= (high | low) & 0xf0;
        *byte = (high << 4) | (low & 0x0f);
    }
    bad == 0
}

/// Decodes hex (either case) of any even length.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, CryptoError> {
    if !text.len().is_multiple_of(2) {
        return Err(invalid("hex", text, "odd number of characters"));
    }
    let mut out = vec![0u8; text.len() / 2];
    if hex_decode_into(text.as_bytes(), &mut out) {
        Ok(out)
    } else {
        Err(invalid("hex", text, "only 0-9 and a-f are allowed"))
    }
}

/// Decodes hex that must encode exactly `N` bytes.
pub fn hex_decode_array<const N: usize>(text: &str) -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    if text.len() != N * 2 {
        return Err(invalid(
            "hex",
            text,
            &format!("expected {} characters, got {}", N * 2, text.len()),
        ));
    }
    if hex_decode_into(text.as_bytes(), &mut out) {
        Ok(out)
    } else {
        Err(invalid("hex", text, "only 0-9 and a-f are allowed"))
    }
}

/// Standard base64 with padding (RFC 4648 §4), the form signed notes use.
pub fn base64_encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64 with padding.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD
        .decode(text)
        .map_err(|error| invalid("base64", text, &error.to_string()))
}

/// Decodes standard base64 that must encode exactly `N` bytes.
pub fn base64_decode_array<const N: usize>(text: &str) -> Result<[u8; N], CryptoError> {
    let bytes = base64_decode(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        invalid(
            "base64",
            text,
            &format!("expected {N} bytes, got {}", bytes.len()),
        )
    })
}

/// URL-safe base64 without padding (RFC 4648 §5), the form generated keys are printed in.
pub fn base64url_encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn invalid(encoding: &'static str, input: &str, reason: &str) -> CryptoError {
    CryptoError::InvalidEncoding {
        encoding,
        input: input.chars().take(80).collect(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_accepts_both_cases() {
        let bytes = [0x00, 0x01, 0xab, 0xff];
        assert_eq!(hex_encode(bytes), "0001abff");
        assert_eq!(hex_decode("0001abff").unwrap(), bytes);
        assert_eq!(hex_decode("0001ABFF").unwrap(), bytes);
        assert_eq!(hex_decode_array::<4>("0001abff").unwrap(), bytes);
        let mut out = [0u8; 8];
        assert!(hex_encode_into(&bytes, &mut out));
        assert_eq!(&out, b"0001abff");
    }

    #[test]
    fn hex_rejects_bad_input() {
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
        assert!(hex_decode_array::<2>("00").is_err());
        let error = hex_decode("0g").unwrap_err().to_string();
        assert!(error.contains("`0g`"), "{error}");
        let mut out = [0u8; 1];
        assert!(!hex_decode_into(b"0", &mut out));
        assert!(!hex_decode_into(b"g0", &mut out));
    }

    #[test]
    fn base64_round_trips() {
        let bytes = [1u8, 2, 3, 250, 251];
        assert_eq!(base64_decode(&base64_encode(bytes)).unwrap(), bytes);
        assert_eq!(
            base64_decode_array::<5>(&base64_encode(bytes)).unwrap(),
            bytes
        );
        assert!(base64_decode_array::<4>(&base64_encode(bytes)).is_err());
        assert!(base64_decode("not base64!").is_err());
        assert!(!base64url_encode([0xfb, 0xff]).contains(['+', '/', '=']));
    }
}
