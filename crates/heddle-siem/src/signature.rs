//! Webhook signatures, Stripe-style, so receivers can use a scheme they already know:
//!
//! ```text
//! X-Heddle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//! ```
//!
//! The timestamp is signed with the body, so a captured request cannot be replayed outside
//! the receiver's tolerance window (five minutes is the usual choice). A header may carry
//! several `v1=` values (during a secret rotation); one match is enough. Receivers must
//! verify against the raw body bytes, before parsing JSON.

use std::time::Duration;

use time::OffsetDateTime;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "x-heddle-signature";
/// A unique id per delivery attempt (UUIDv7).
pub const DELIVERY_HEADER: &str = "x-heddle-delivery";
/// The same value for every attempt to deliver the same events: hex SHA-256 of their
/// `<tenant>:<seq>:<leaf hash>` lines.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// `seq` of the first and last event in the request, and their number.
pub const FIRST_SEQ_HEADER: &str = "x-heddle-first-seq";
pub const LAST_SEQ_HEADER: &str = "x-heddle-last-seq";
pub const EVENT_COUNT_HEADER: &str = "x-heddle-event-count";

/// Why a signature was refused. Never contains the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is malformed: {reason}")]
    Malformed { reason: &'static str },
    #[error("signature timestamp `{timestamp}` is outside the {tolerance:?} tolerance")]
    OutsideTolerance { timestamp: i64, tolerance: Duration },
    #[error("no signature in the header matches the body")]
    Mismatch,
}

/// The `X-Heddle-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign_webhook(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = heddle_crypto::hmac_sha256(secret, &signed_payload(timestamp, body));
    format!("t={timestamp},v1={}", heddle_crypto::hex_encode(tag))
}

/// Checks an `X-Heddle-Signature` header against the raw `body`: the timestamp must be
/// within `tolerance` of `now` (either direction), and one `v1` must be the HMAC-SHA256 of
/// `"<t>.<body>"` under `secret`, compared in constant time.
pub fn verify_webhook_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: OffsetDateTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                let parsed = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed {
                        reason: "the timestamp is not an integer",
                    })?;
                timestamp = Some(parsed);
            }
            Some(("v1", value)) => candidates.push(value),
            // Other schemes (future `v2=`) are ignored, as in Stripe's scheme.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed {
        reason: "no `t=` timestamp",
    })?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed {
            reason: "no `v1=` signature",
        });
    }
    let age = now.unix_timestamp().abs_diff(timestamp);
    if age > tolerance.as_secs() {
        return Err(SignatureError::OutsideTolerance {
            timestamp,
            tolerance,
        });
    }
    let payload = signed_payload(timestamp, body);
    let matches = candidates.iter().any(|candidate| {
        heddle_crypto::hex_decode(candidate)
            .is_ok_and(|tag| heddle_crypto::verify_hmac_sha256(secret, &payload, &tag))
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn signed_payload(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{timestamp}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn a_signature_verifies_within_tolerance() {
        let header = sign_webhook(SECRET, 1_700_000_000, b"{\"events\":[]}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        for now in [1_700_000_000, 1_700_000_300, 1_699_999_700] {
            verify_webhook_signature(SECRET, &header, b"{\"events\":[]}", at(now), TOLERANCE)
                .unwrap();
        }
    }

    #[test]
    fn the_signature_is_hmac_of_timestamp_dot_body() {
        let expected = heddle_crypto::hex_encode(heddle_crypto::hmac_sha256(SECRET, b"42.body"));
        assert_eq!(
            sign_webhook(SECRET, 42, b"body"),
            format!("t=42,v1={expected}")
        );
    }

    #[test]
    fn tampering_and_replays_are_refused() {
        let header = sign_webhook(SECRET, 1_700_000_000, b"body");
        let now = at(1_700_000_010);
        assert_eq!(
            verify_webhook_signature(SECRET, &header, b"bodY", now, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_webhook_signature(b"other", &header, b"body", now, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        let moved = header.replace("t=1700000000", "t=1700000005");
        assert_eq!(
            verify_webhook_signature(SECRET, &moved, b"body", now, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify_webhook_signature(SECRET, &header, b"body", at(1_700_000_301), TOLERANCE),
            Err(SignatureError::OutsideTolerance { .. })
        ));
        assert!(matches!(
            verify_webhook_signature(SECRET, &header, b"body", at(1_699_999_699), TOLERANCE),
            Err(SignatureError::OutsideTolerance { .. })
        ));
    }

    #[test]
    fn one_matching_signature_of_several_is_enough() {
        let good = sign_webhook(SECRET, 100, b"body");
        let v1 = good.split_once("v1=").unwrap().1;
        let header = format!("t=100,v1={},v1={v1},v2=ignored", "0".repeat(64));
        verify_webhook_signature(SECRET, &header, b"body", at(100), TOLERANCE).unwrap();
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in ["", "v1=abcd", "t=abc,v1=abcd", "t=100", "t=100,v1=not-hex"] {
            assert!(
                verify_webhook_signature(SECRET, header, b"body", at(100), TOLERANCE).is_err(),
                "{header}"
            );
        }
    }
}
