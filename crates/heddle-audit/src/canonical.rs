//! Canonical event bytes: what a Merkle leaf commits to.
//!
//! Compact JSON (no insignificant whitespace), object keys sorted by their UTF-8 bytes at every
//! level, strings escaped minimally (`"`, `\`, and control characters; everything else as
//! UTF-8), numbers as `serde_json` prints them, and `occurred_at` in UTC RFC 3339. Keys are
//! sorted here rather than relying on `serde_json::Map` ordering: another crate in the
//! workspace (cedar) turns on `serde_json/preserve_order`, which makes the map keep insertion
//! order, so the map's own order depends on what else is linked in.

use heddle_types::AuditEvent;
use serde_json::Value;
use time::{OffsetDateTime, UtcOffset};

/// The canonical bytes of `event`. Deterministic: equal events give equal bytes, whatever
/// their key insertion order or timestamp offset. Never fails: a timestamp outside the years
/// 0000–9999 (which RFC 3339 cannot express) is clamped to the nearest representable instant.
pub fn canonical_event_bytes(event: &AuditEvent) -> Vec<u8> {
    let occurred_at = format_utc(event.occurred_at);
    let value = match serde_json::to_value(event) {
        Ok(value) => value,
        Err(_) => {
            // Only the timestamp can fail to serialize; serialize a clamped copy instead.
            let mut clamped = event.clone();
            clamped.occurred_at = clamp_to_rfc3339(event.occurred_at);
            serde_json::to_value(&clamped).unwrap_or(Value::Null)
        }
    };
    let mut out = Vec::with_capacity(512);
    match value {
        Value::Object(mut map) => {
            map.insert("occurred_at".to_owned(), Value::String(occurred_at));
            write_object(&mut out, &map);
        }
        other => write_value(&mut out, &other),
    }
    out
}

/// Canonical JSON of any value, by the rules above.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` in UTC, the fraction without trailing zeros. Used for
/// every timestamp this crate signs or hashes.
pub fn format_utc(at: OffsetDateTime) -> String {
    let at = clamp_to_rfc3339(at);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let nanos = at.nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The instant in UTC, clamped into the years RFC 3339 can write.
fn clamp_to_rfc3339(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.to_offset(UtcOffset::UTC);
    if at.year() < 0 {
        OffsetDateTime::UNIX_EPOCH.replace_year(0).unwrap_or(at)
    } else if at.year() > 9999 {
        time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC)
    } else {
        at
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => out.extend_from_slice(number.to_string().as_bytes()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut Vec<u8>, map: &serde_json::Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (index, (key, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, key);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0x0f)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use heddle_types::{
        ActorKind, AuditActor, AuditOutcome, AuditTarget, IdentityMode, RequestContext, TenantId,
    };
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn event(details: serde_json::Map<String, Value>) -> AuditEvent {
        AuditEvent {
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            environment: Some("prod".into()),
            actor: AuditActor {
                kind: ActorKind::User,
                id: Some("u1".into()),
                display: Some("ada@example.com".into()),
                identity_mode: IdentityMode::User,
            },
            action: "user.create".into(),
            target: Some(AuditTarget {
                kind: "user".into(),
                id: "u2".into(),
            }),
            outcome: AuditOutcome::Success,
            request: RequestContext {
                client_ip: Some("10.0.0.1".into()),
                user_agent: None,
                request_id: Some("req-1".into()),
            },
            duration_ms: Some(12),
            occurred_at: datetime!(2026-05-01 12:00:00.5 +02:00),
            details,
        }
    }

    #[test]
    fn keys_are_sorted_at_every_level_and_output_is_compact() {
        let mut details = serde_json::Map::new();
        details.insert("zeta".into(), json!({"b": 1, "a": [true, null, 1.5]}));
        details.insert("alpha".into(), json!("x"));
        let bytes = canonical_event_bytes(&event(details));
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            r#"{"action":"user.create","actor":{"display":"ada@example.com","id":"u1","identity_mode":"user","kind":"user"},"client_ip":"10.0.0.1","details":{"alpha":"x","zeta":{"a":[true,null,1.5],"b":1}},"duration_ms":12,"environment":"prod","occurred_at":"2026-05-01T10:00:00.5Z","outcome":"success","request_id":"req-1","target":{"id":"u2","kind":"user"},"tenant_id":"00000000-0000-0000-0000-000000000000"}"#
        );
        // The canonical bytes are valid JSON that reads back as the same event (in UTC).
        let back: AuditEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back.occurred_at, datetime!(2026-05-01 10:00:00.5 UTC));
    }

    #[test]
    fn insertion_order_does_not_matter() {
        let mut forward = serde_json::Map::new();
        let mut backward = serde_json::Map::new();
        for key in ["a", "b", "c", "é", "Z"] {
            forward.insert(key.into(), json!(key));
        }
        for key in ["Z", "é", "c", "b", "a"] {
            backward.insert(key.into(), json!(key));
        }
        assert_eq!(
            canonical_event_bytes(&event(forward)),
            canonical_event_bytes(&event(backward))
        );
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for text in [
            "plain",
            "quote \" and \\",
            "line\nbreak\ttab\r",
            "\u{0}\u{1f}\u{7f}",
            "ünï 😀",
        ] {
            let mut ours = Vec::new();
            write_string(&mut ours, text);
            assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn timestamps_are_utc_and_clamped() {
        assert_eq!(
            format_utc(datetime!(2026-01-02 03:04:05 -01:00)),
            "2026-01-02T04:04:05Z"
        );
        assert_eq!(
            format_utc(datetime!(2026-01-02 03:04:05.120 UTC)),
            "2026-01-02T03:04:05.12Z"
        );
        let ancient = datetime!(2026-06-01 12:00 UTC).replace_year(-50).unwrap();
        assert_eq!(format_utc(ancient), "0000-01-01T00:00:00Z");
        // RFC 3339 serialization of the event itself fails for such a year; the canonical
        // form still comes out, clamped.
        let mut early = event(serde_json::Map::new());
        early.occurred_at = ancient;
        assert!(serde_json::to_value(&early).is_err());
        let text = String::from_utf8(canonical_event_bytes(&early)).unwrap();
        assert!(
            text.contains(r#""occurred_at":"0000-01-01T00:00:00Z""#),
            "{text}"
        );
    }
}
