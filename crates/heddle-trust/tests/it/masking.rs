//! Round-trip properties of reversible masking: mask → unmask is the identity, a model's
//! reshuffled echo unmasks to exactly the expected substitution, streaming at any cut equals
//! the one-shot result, placeholders are stable per session and unlinkable across tenants,
//! secrets stay masked, and JSON round-trips.

use std::sync::Arc;

use heddle_trust::mask::MAX_HELD_BYTES;
use heddle_trust::{
    EntityKind, MaskKey, MaskMap, PiiFinding, StreamUnmasker, UnmaskPolicy, mask_json, mask_text,
    unmask_json, unmask_text,
};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;

fn all() -> UnmaskPolicy {
    UnmaskPolicy::all_but_secrets().allow_secrets(true)
}

fn key(byte: u8) -> MaskKey {
    MaskKey::from_bytes([byte; 32])
}

fn kind() -> impl Strategy<Value = EntityKind> {
    prop::sample::select(EntityKind::ALL.to_vec())
}

/// Text rich in placeholder-shaped fragments, multi-byte characters and anything else.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "\\PC{0,6}",
        1 => "[<>#_A-Z0-9 ]{0,6}",
        1 => "[0-9]{8,12}>?",
        2 => prop::sample::select(vec![
            "<", ">", "#", "_", "1", "0", "é", "😀", "<EMAIL", "<EMAIL_", "<EMAIL_1",
            "<EMAIL_1>", "<#EMAIL_1>", "<##EMAIL_1>", "<EMAIL_01>", "<US_SSN_2>", "<API_KEY_1>",
            "<PHONE_12345678901>", "<STREET_ADDRESS_1234567890>", "<CREDIT_CARD_", "EMAIL_1>",
            "<<", "<#", "<##", "<#PHONE_12345678901>", "<#EMAIL_1234567890>", "<PHONE_",
            "<#PHONE_", "<##US_SSN_",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// Text with findings that may be unsorted, overlapping, empty, out of range or cut
/// through a character.
fn text_with_findings() -> impl Strategy<Value = (String, Vec<PiiFinding>)> {
    tricky_text().prop_flat_map(|text| {
        let len = text.len();
        let finding = (kind(), 0..len + 3, 0..len + 3).prop_map(|(kind, a, b)| PiiFinding {
            kind,
            start: a.min(b),
            end: a.max(b),
        });
        (Just(text), prop::collection::vec(finding, 0..8))
    })
}

/// The placeholder grammar as a regex: an implementation independent of the scanner.
fn oracle(text: &str, map: &MaskMap, policy: &UnmaskPolicy) -> String {
    let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.as_str()).collect();
    let re = Regex::new(&format!("<(#*)({})_([0-9]{{1,10}})>", names.join("|"))).unwrap();
    re.replace_all(text, |caps: &regex::Captures<'_>| {
        let hashes = &caps[1];
        if let Some(fewer) = hashes.strip_prefix('#') {
            format!("<{fewer}{}_{}>", &caps[2], &caps[3])
        } else {
            match map.value_of(&caps[0]) {
                Some((kind, value)) if policy.allows(kind) => value.to_owned(),
                _ => caps[0].to_owned(),
            }
        }
    })
    .into_owned()
}

/// Streams `text` through an unmasker cut at `cuts` (byte offsets, any order), as bytes.
fn stream_bytes(text: &[u8], cuts: &[usize], map: &MaskMap, policy: UnmaskPolicy) -> String {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    cuts.sort_unstable();
    let mut stream = StreamUnmasker::new(map, policy);
    let mut out = String::new();
    let mut at = 0;
    for cut in cuts.into_iter().chain([text.len()]) {
        out.push_str(&stream.push_bytes(&text[at..cut]));
        assert!(stream.held_bytes() <= MAX_HELD_BYTES + 3);
        at = cut;
    }
    out.push_str(&stream.finish());
    assert_eq!(stream.held_bytes(), 0);
    out
}

/// Every single cut, as bytes and (where on a character boundary) as `&str`.
fn assert_every_cut_streams_alike(text: &str, map: &MaskMap, policy: UnmaskPolicy) {
    let expected = unmask_text(text, map, &policy);
    for cut in 0..=text.len() {
        assert_eq!(stream_bytes(text.as_bytes(), &[cut], map, policy), expected);
        if let (Some(head), Some(tail)) = (text.get(..cut), text.get(cut..)) {
            let mut stream = StreamUnmasker::new(Arc::new(map.clone()), policy);
            let mut out = stream.push(head);
            assert!(stream.held_bytes() <= MAX_HELD_BYTES);
            out.push_str(&stream.push(tail));
            out.push_str(&stream.finish());
            assert_eq!(out, expected, "cut at {cut}");
        }
    }
}

/// A session map with a few values of every kind.
fn session() -> impl Strategy<Value = Vec<(EntityKind, String)>> {
    prop::collection::vec((kind(), "[a-z0-9@.<>#_ é]{1,12}"), 1..12)
}

fn fill(map: &mut MaskMap, key: &MaskKey, values: &[(EntityKind, String)]) -> Vec<String> {
    values
        .iter()
        .map(|(kind, value)| map.placeholder_for(key, *kind, value).unwrap())
        .collect()
}

/// A piece of a model's answer: a real placeholder (by index into the session), text with
/// no `>` (so it cannot complete a placeholder of its own, however it borders the others), or a
/// near miss that must stay as written.
#[derive(Debug, Clone)]
enum Piece {
    Placeholder(usize),
    Free(String),
    NearMiss(String),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => any::<usize>().prop_map(Piece::Placeholder),
        3 => prop_oneof![
            "[^>]{0,8}",
            prop::sample::select(vec![
                "<", "<EMAIL", "<EMAIL_", "<EMAIL_1", "<#", "#", "<#EMAIL_", "_1", "EMAIL_1", "<<",
            ])
            .prop_map(str::to_owned),
        ]
        .prop_map(Piece::Free),
        1 => prop::sample::select(vec![
            "<EMAIL_99>", "<PHONE_0>", "<EMAIL_01>", "<email_1>", "< EMAIL_1>", "<EMAIL_1 >",
            "<EMAIL1>", "<E_1>", "<EMAIL_12345678901>", "<SSN_1>",
        ])
        .prop_map(|s| Piece::NearMiss(s.to_owned())),
    ]
}

proptest! {
    /// (a) Masking then unmasking with every kind allowed gives the text back exactly.
    #[test]
    fn mask_then_unmask_is_identity((text, findings) in text_with_findings()) {
        let k = key(1);
        let mut map = MaskMap::new();
        let masked = mask_text(&text, &findings, &mut map, &k).unwrap();
        prop_assert_eq!(unmask_text(&masked.text, &map, &all()), text.clone());
        // Every replacement is a placeholder of this map with the finding's kind.
        for (kind, placeholder) in &masked.replaced {
            prop_assert_eq!(map.value_of(placeholder).map(|(k, _)| k), Some(*kind));
        }
        // A second text in the same session round-trips too, with the grown map.
        let again = mask_text(&text, &findings, &mut map, &k).unwrap();
        prop_assert_eq!(&again.text, &masked.text);
        prop_assert_eq!(unmask_text(&again.text, &map, &all()), text);
    }

    /// The scanner and the mask-side escaping agree with an independent regex of the grammar,
    /// on arbitrary text that was never masked.
    #[test]
    fn unmask_matches_the_regex_oracle(values in session(), text in tricky_text(), secrets: bool) {
        let mut map = MaskMap::new();
        fill(&mut map, &key(2), &values);
        for policy in [all(), UnmaskPolicy::all_but_secrets().allow_secrets(secrets), UnmaskPolicy::none()] {
            prop_assert_eq!(unmask_text(&text, &map, &policy), oracle(&text, &map, &policy));
        }
    }

    /// (b) A model's answer that shuffles, repeats and interleaves placeholders with other text
    /// unmasks to exactly the expected substitution; nothing else changes.
    #[test]
    fn model_echo_unmasks_exactly(
        values in session(),
        pieces in prop::collection::vec(piece(), 0..24),
        kinds in prop::collection::vec(kind(), 0..4),
        secrets: bool,
    ) {
        let mut map = MaskMap::new();
        let placeholders = fill(&mut map, &key(3), &values);
        for policy in [all(), UnmaskPolicy::all_but_secrets(), UnmaskPolicy::only(&kinds).allow_secrets(secrets), UnmaskPolicy::none()] {
            let mut output = String::new();
            let mut expected = String::new();
            for piece in &pieces {
                match piece {
                    Piece::Placeholder(i) => {
                        let i = i % values.len();
                        let (kind, value) = &values[i];
                        // The map holds the first value given for a (kind, value) pair.
                        let placeholder = &placeholders[i];
                        output.push_str(placeholder);
                        expected.push_str(if policy.allows(*kind) { value } else { placeholder });
                    }
                    Piece::Free(text) | Piece::NearMiss(text) => {
                        output.push_str(text);
                        expected.push_str(text);
                    }
                }
            }
            prop_assert_eq!(unmask_text(&output, &map, &policy), expected.clone());
            prop_assert_eq!(stream_bytes(output.as_bytes(), &[3, 17, 5], &map, policy), expected);
        }
    }

    /// (c) Streaming cut at every byte (and every character boundary as `&str`) gives the
    /// one-shot result, for masked texts and for arbitrary ones.
    #[test]
    fn streaming_every_single_cut((text, findings) in text_with_findings(), other in tricky_text()) {
        let mut map = MaskMap::new();
        let masked = mask_text(&text, &findings, &mut map, &key(4)).unwrap();
        assert_every_cut_streams_alike(&masked.text, &map, all());
        assert_every_cut_streams_alike(&other, &map, UnmaskPolicy::all_but_secrets());
    }

    /// (c) Random multi-cuts, including inside characters.
    #[test]
    fn streaming_random_cuts(
        (text, findings) in text_with_findings(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut map = MaskMap::new();
        let masked = mask_text(&text, &findings, &mut map, &key(5)).unwrap();
        prop_assert_eq!(stream_bytes(masked.text.as_bytes(), &cuts, &map, all()), text);
    }

    /// (c) Arbitrary bytes stream like the lossy decoding of the whole.
    #[test]
    fn streaming_arbitrary_bytes(
        values in session(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut map = MaskMap::new();
        fill(&mut map, &key(6), &values);
        let whole = unmask_text(&String::from_utf8_lossy(&bytes), &map, &all());
        prop_assert_eq!(stream_bytes(&bytes, &cuts, &map, all()), whole);
    }

    /// (d) One session: the same value gets the same placeholder wherever it appears. Two
    /// tenants: the same value gets unrelated index keys.
    #[test]
    fn stable_per_session_unlinkable_across_tenants(
        kind in kind(),
        value in "\\PC{1,20}",
        prefix in "[a-z ]{0,10}",
        a: u8,
        b: u8,
    ) {
        prop_assume!(a != b);
        let text = format!("{prefix}{value} and {value}");
        let first = PiiFinding { kind, start: prefix.len(), end: prefix.len() + value.len() };
        let second_start = text.len() - value.len();
        let second = PiiFinding { kind, start: second_start, end: text.len() };
        let mut map_a = MaskMap::new();
        let masked = mask_text(&text, &[second, first], &mut map_a, &key(a)).unwrap();
        prop_assert_eq!(masked.replaced.len(), 2);
        prop_assert_eq!(&masked.replaced[0], &masked.replaced[1]);
        prop_assert_eq!(map_a.len(), 1);
        let again = map_a.placeholder_for(&key(a), kind, &value).unwrap();
        prop_assert_eq!(&again, &masked.replaced[0].1);

        let mut map_b = MaskMap::new();
        map_b.placeholder_for(&key(b), kind, &value).unwrap();
        let index = |map: &MaskMap| -> Vec<String> {
            let stored = serde_json::to_value(map).unwrap();
            stored["index"].as_object().unwrap().keys().cloned().collect()
        };
        let (index_a, index_b) = (index(&map_a), index(&map_b));
        prop_assert_eq!(index_a.len(), 1);
        prop_assert_ne!(&index_a, &index_b);
        // Not a plain hash anyone could recompute without the key.
        let mut message = kind.as_str().as_bytes().to_vec();
        message.push(0);
        message.extend_from_slice(value.as_bytes());
        prop_assert_ne!(&index_a[0], &heddle_crypto::hex_encode(heddle_crypto::sha256(&message)));
        // And one tenant's map refuses the other tenant's key.
        prop_assert!(map_a.placeholder_for(&key(b), kind, &value).is_err());
    }

    /// (e) With the default policies a secret is never restored, whatever text surrounds it.
    #[test]
    fn secrets_stay_masked(value in "[A-Za-z0-9_-]{8,24}", text in tricky_text(), secret_kind in prop::sample::select(vec![EntityKind::ApiKey, EntityKind::Secret])) {
        let full = format!("{text} token={value} {text}");
        let start = text.len() + " token=".len();
        let finding = PiiFinding { kind: secret_kind, start, end: start + value.len() };
        let mut map = MaskMap::new();
        let masked = mask_text(&full, &[finding], &mut map, &key(7)).unwrap();
        let placeholder = masked.replaced[0].1.clone();
        for policy in [
            UnmaskPolicy::all_but_secrets(),
            UnmaskPolicy::only(&EntityKind::ALL),
            UnmaskPolicy::only(&[secret_kind]),
            UnmaskPolicy::none().allow_secrets(true),
        ] {
            let shown = unmask_text(&masked.text, &map, &policy);
            prop_assert!(shown.contains(&format!("token={placeholder}")), "{}", shown);
            let streamed = stream_bytes(masked.text.as_bytes(), &[1, 9], &map, policy);
            prop_assert_eq!(&streamed, &shown);
            let json = unmask_json(&Value::String(masked.text.clone()), &map, &policy);
            prop_assert_eq!(json, Value::String(shown));
        }
        prop_assert_eq!(unmask_text(&masked.text, &map, &UnmaskPolicy::only(&[secret_kind]).allow_secrets(true)), full);
    }

    /// (f) JSON: mask then unmask gives the value back; classified fields hold placeholders
    /// only.
    #[test]
    fn json_round_trip(value in json_value()) {
        let field_policy = |path: &[&str]| match path.last() {
            Some(&"email") => Some(EntityKind::Email),
            Some(&"name") => Some(EntityKind::Person),
            _ => None,
        };
        let mut map = MaskMap::new();
        let masked = mask_json(&value, &field_policy, &digit_runs, &mut map, &key(8)).unwrap();
        prop_assert_eq!(unmask_json(&masked, &map, &all()), value.clone());
        assert_classified_masked(&masked, false, &map);
    }
}

/// A fake detector: every run of ASCII digits is a phone number, plus spans that are out of
/// range or inside a character, which masking must ignore.
fn digit_runs(text: &str) -> Vec<PiiFinding> {
    let bytes = text.as_bytes();
    let mut findings = vec![PiiFinding {
        kind: EntityKind::Phone,
        start: 0,
        end: text.len() + 1,
    }];
    if text.len() > 2 {
        findings.push(PiiFinding {
            kind: EntityKind::Person,
            start: 1,
            end: 2,
        });
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            findings.push(PiiFinding {
                kind: EntityKind::Phone,
                start,
                end: i,
            });
        } else {
            i += 1;
        }
    }
    findings
}

fn assert_classified_masked(value: &Value, classified: bool, map: &MaskMap) {
    match value {
        Value::String(text) if classified && !text.is_empty() => {
            assert!(
                map.value_of(text).is_some(),
                "unmasked classified value {text:?}"
            );
        }
        Value::Array(items) => {
            for item in items {
                assert_classified_masked(item, classified, map);
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                let classified = classified || name == "email" || name == "name";
                assert_classified_masked(field, classified, map);
            }
        }
        _ => {}
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        tricky_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["email", "name", "notes", "x", "<EMAIL_1>", "1"])
                    .prop_map(str::to_owned),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn fails_closed_on_a_full_map() {
    let k = key(9);
    let mut map = MaskMap::new();
    for i in 0..heddle_trust::mask::MAX_ENTRIES {
        map.placeholder_for(&k, EntityKind::Phone, &format!("{i}"))
            .unwrap();
    }
    let text = "call me at new-number";
    let finding = PiiFinding {
        kind: EntityKind::Phone,
        start: 11,
        end: text.len(),
    };
    assert!(mask_text(text, &[finding], &mut map, &k).is_err());
    let value = serde_json::json!({"email": "new@x.example"});
    let policy = |path: &[&str]| (path == ["email"]).then_some(EntityKind::Email);
    assert!(mask_json(&value, &policy, &|_| Vec::new(), &mut map, &k).is_err());
}

#[test]
fn sealed_map_unmasks_after_a_round_trip_through_storage() {
    let k = key(10);
    let mut map = MaskMap::new();
    let masked = mask_text(
        "ann@x.example",
        &[PiiFinding {
            kind: EntityKind::Email,
            start: 0,
            end: 13,
        }],
        &mut map,
        &k,
    )
    .unwrap();
    let stored = serde_json::to_vec(&map).unwrap();
    let mut restored: MaskMap = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        unmask_text(&masked.text, &restored, &all()),
        "ann@x.example"
    );
    // The restored map keeps numbering and reuse.
    assert_eq!(
        restored
            .placeholder_for(&k, EntityKind::Email, "ann@x.example")
            .unwrap(),
        "<EMAIL_1>"
    );
    assert_eq!(
        restored
            .placeholder_for(&k, EntityKind::Email, "bob@x.example")
            .unwrap(),
        "<EMAIL_2>"
    );
}
