//! Masking and unmasking plain text.

use super::stream::Scanner;
use super::{ESCAPE, MAX_DIGITS, MaskError, MaskKey, MaskMap, UnmaskPolicy, kind_of_prefix};
use crate::finding::{EntityKind, PiiFinding};

/// A masked text and what was replaced in it, in order of appearance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub text: String,
    pub replaced: Vec<(EntityKind, String)>,
}

/// Replaces each finding in `text` with its session placeholder and escapes placeholder
/// look-alikes in the rest (see the module docs), so `unmask_text` with a policy that allows
/// every kind gives back `text` exactly.
///
/// Findings may come unsorted and overlapping: they are sorted by start (longer first on a tie)
/// and a finding overlapping an earlier kept one is dropped. Empty spans, spans past the end
/// and spans not on character boundaries are ignored. On error nothing usable is returned:
/// the caller must not send `text` instead.
pub fn mask_text(
    text: &str,
    findings: &[PiiFinding],
    map: &mut MaskMap,
    key: &MaskKey,
) -> Result<Masked, MaskError> {
    let mut spans: Vec<&PiiFinding> = findings
        .iter()
        .filter(|f| {
            f.start < f.end
                && f.end <= text.len()
                && text.is_char_boundary(f.start)
                && text.is_char_boundary(f.end)
        })
        .collect();
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));

    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut replaced = Vec::new();
    let mut at = 0;
    for finding in spans {
        if finding.start < at {
            continue;
        }
        let (Some(before), Some(value)) = (
            text.get(at..finding.start),
            text.get(finding.start..finding.end),
        ) else {
            continue;
        };
        escape_lookalikes(before, &mut out);
        let placeholder = map.placeholder_for(key, finding.kind, value)?;
        out.push_str(&placeholder);
        replaced.push((finding.kind, placeholder));
        at = finding.end;
    }
    escape_lookalikes(text.get(at..).unwrap_or(""), &mut out);
    Ok(Masked {
        text: out,
        replaced,
    })
}

/// Restores the placeholders of `map` whose kind `policy` allows and unescapes look-alikes
/// (`<#EMAIL_1>` → `<EMAIL_1>`, whatever the policy: that text was the input's, not a value).
/// Unknown placeholders, placeholders of other kinds and anything not exactly `<KIND_n>` are
/// left as they are. Single pass: a restored value is never scanned again.
pub fn unmask_text(text: &str, map: &MaskMap, policy: &UnmaskPolicy) -> String {
    let mut out = String::with_capacity(text.len());
    let mut scanner = Scanner::default();
    scanner.feed(text, map, policy, &mut out);
    scanner.finish(&mut out);
    out
}

/// Copies `text` to `out`, inserting [`ESCAPE`] after the `<` of every look-alike
/// `<` `#`* `KIND_` digits{1,MAX_DIGITS} `>`. The grammar is the one the unmasking scanner
/// recognizes; the property tests hold the two to each other.
pub(crate) fn escape_lookalikes(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(i) = rest.find('<') {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        out.push('<');
        if is_lookalike(tail) {
            out.push(ESCAPE);
        }
        rest = tail.get(1..).unwrap_or("");
    }
    out.push_str(rest);
}

/// Whether `text` starts with a placeholder or an escaped placeholder.
fn is_lookalike(text: &str) -> bool {
    let Some(body) = text.strip_prefix('<') else {
        return false;
    };
    let body = body.trim_start_matches(ESCAPE);
    let letters_len = body
        .bytes()
        .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
        .count();
    let (letters, rest) = body.split_at(letters_len);
    if kind_of_prefix(letters).is_none() {
        return false;
    }
    let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    (1..=MAX_DIGITS).contains(&digits_len) && rest.as_bytes().get(digits_len) == Some(&b'>')
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;

    fn key() -> MaskKey {
        MaskKey::from_bytes([9; 32])
    }

    fn finding(kind: EntityKind, start: usize, end: usize) -> PiiFinding {
        PiiFinding { kind, start, end }
    }

    fn all() -> UnmaskPolicy {
        UnmaskPolicy::all_but_secrets().allow_secrets(true)
    }

    #[test]
    fn masks_and_restores() {
        let text = "Mail ann@x.example or call 555-0100, ann@x.example again";
        let findings = [
            finding(EntityKind::Phone, 27, 35),
            finding(EntityKind::Email, 5, 18),
            finding(EntityKind::Email, 37, 50),
        ];
        let mut map = MaskMap::new();
        let masked = mask_text(text, &findings, &mut map, &key()).unwrap();
        assert_eq!(
            masked.text,
            "Mail <EMAIL_1> or call <PHONE_1>, <EMAIL_1> again"
        );
        assert_eq!(
            masked.replaced,
            vec![
                (EntityKind::Email, "<EMAIL_1>".to_owned()),
                (EntityKind::Phone, "<PHONE_1>".to_owned()),
                (EntityKind::Email, "<EMAIL_1>".to_owned()),
            ]
        );
        assert_eq!(unmask_text(&masked.text, &map, &all()), text);
        assert_eq!(
            unmask_text(
                &masked.text,
                &map,
                &UnmaskPolicy::only(&[EntityKind::Phone])
            ),
            "Mail <EMAIL_1> or call 555-0100, <EMAIL_1> again"
        );
    }

    #[test]
    fn bad_findings_are_ignored_without_panicking() {
        let text = "é@x ok";
        let findings = [
            finding(EntityKind::Email, 1, 3), // inside `é`
            finding(EntityKind::Email, 4, 99),
            finding(EntityKind::Email, 3, 3),
            finding(EntityKind::Person, 5, 4),
            finding(EntityKind::Person, 0, 5),
            finding(EntityKind::Email, 0, 4), // overlaps the longer one
        ];
        let mut map = MaskMap::new();
        let masked = mask_text(text, &findings, &mut map, &key()).unwrap();
        assert_eq!(masked.text, "<PERSON_1>ok");
        assert_eq!(unmask_text(&masked.text, &map, &all()), text);
    }

    #[test]
    fn typed_placeholders_do_not_unmask_to_stored_values() {
        let mut map = MaskMap::new();
        let first = mask_text(
            "a@x.example",
            &[finding(EntityKind::Email, 0, 11)],
            &mut map,
            &key(),
        )
        .unwrap();
        assert_eq!(first.text, "<EMAIL_1>");
        let typed = "what is <EMAIL_1>, <#EMAIL_1> or <EMAIL_1";
        let masked = mask_text(typed, &[], &mut map, &key()).unwrap();
        assert_eq!(masked.text, "what is <#EMAIL_1>, <##EMAIL_1> or <EMAIL_1");
        assert_eq!(unmask_text(&masked.text, &map, &all()), typed);
        // The model echoing the escaped form gives the user's text back, not the address.
        assert_eq!(
            unmask_text("you typed <#EMAIL_1>", &map, &all()),
            "you typed <EMAIL_1>"
        );
    }

    #[test]
    fn only_exact_placeholders_unmask() {
        let mut map = MaskMap::new();
        mask_text("v", &[finding(EntityKind::Email, 0, 1)], &mut map, &key()).unwrap();
        for text in [
            "<email_1>",
            "< EMAIL_1>",
            "<EMAIL_1 >",
            "<EMAIL_01>",
            "<EMAIL_2>",
            "<EMAIL_99>",
            "EMAIL_1",
            "<EMAIL1>",
            "<EMAIL_12345678901>",
        ] {
            assert_eq!(unmask_text(text, &map, &all()), text);
        }
        assert_eq!(unmask_text("<<EMAIL_1>>", &map, &all()), "<v>");
    }
}
