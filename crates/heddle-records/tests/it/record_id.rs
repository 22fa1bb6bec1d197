//! Record id parsing, the case-safe suffix and generation.

use heddle_records::{RecordId, RecordIdError};
use proptest::prelude::*;

/// 15 → 18 conversions computed by hand from the algorithm (bit i of each 5-char chunk set
/// when char i is upper case, indexing `A…Z0…5`).
const KNOWN: &[(&str, &str)] = &[
    ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
    ("0013000000Ht8sd", "0013000000Ht8sdAAB"),
    ("00Q5e00000AbCdE", "00Q5e00000AbCdEEAV"),
    ("5003000000D8cuI", "5003000000D8cuIAAR"),
    ("a0X5e000001aBcD", "a0X5e000001aBcDEAU"),
    ("003000000000000", "003000000000000AAA"),
    ("ZZZZZZZZZZZZZZZ", "ZZZZZZZZZZZZZZZ555"),
];

#[test]
fn known_conversions() {
    for (id15, id18) in KNOWN {
        let from15 = RecordId::parse(id15).unwrap();
        assert_eq!(from15.as_str(), *id18);
        assert_eq!(from15.to_15(), *id15);
        assert_eq!(RecordId::parse(id18).unwrap(), from15);
        // A fully lower-cased 18-char id is restored from its suffix.
        assert_eq!(RecordId::parse(&id18.to_ascii_lowercase()).unwrap(), from15);
    }
}

#[test]
fn flipping_case_changes_the_suffix() {
    let a = RecordId::parse("001A0000006Vm9r").unwrap();
    let b = RecordId::parse("001a0000006Vm9r").unwrap();
    assert_ne!(a, b);
    assert_ne!(&a.as_str()[15..], &b.as_str()[15..]);
}

#[test]
fn suffix_in_any_case_is_accepted() {
    let id = RecordId::parse("001A0000006Vm9rIAC").unwrap();
    assert_eq!(RecordId::parse("001A0000006Vm9riac").unwrap(), id);
    assert_eq!(RecordId::parse("001A0000006Vm9rIaC").unwrap(), id);
}

#[test]
fn malformed_ids_are_rejected_with_the_input_quoted() {
    type IsExpected = fn(&RecordIdError) -> bool;
    let cases: &[(&str, IsExpected)] = &[
        ("001A0000006Vm9", |e| {
            matches!(e, RecordIdError::WrongLength { len: 14, .. })
        }),
        ("001A0000006Vm9rIA", |e| {
            matches!(e, RecordIdError::WrongLength { len: 17, .. })
        }),
        ("", |e| {
            matches!(e, RecordIdError::WrongLength { len: 0, .. })
        }),
        ("001A0000006Vm9-", |e| {
            matches!(e, RecordIdError::InvalidCharacter { ch: '-', .. })
        }),
        ("001A0000006Vm9é", |e| {
            matches!(e, RecordIdError::InvalidCharacter { ch: 'é', .. })
        }),
        ("001A0000006Vm9rIAD", |e| {
            matches!(e, RecordIdError::BadChecksum { .. })
        }),
        ("001A0000006Vm9rAAC", |e| {
            matches!(e, RecordIdError::BadChecksum { .. })
        }),
        // A folded id whose suffix marks a digit as upper case.
        ("001a0000006vm9rBAC", |e| {
            matches!(e, RecordIdError::BadChecksum { .. })
        }),
        ("001A0000006Vm9rI9C", |e| {
            matches!(e, RecordIdError::BadChecksum { .. })
        }),
    ];
    for (input, expected) in cases {
        let err = RecordId::parse(input).unwrap_err();
        assert!(expected(&err), "{input}: {err:?}");
        assert!(err.to_string().contains(&format!("`{input}`")), "{err}");
    }
}

#[test]
fn folded_ids_are_restored() {
    let id = RecordId::parse("001A0000006Vm9r").unwrap();
    assert_eq!(RecordId::parse("001A0000006VM9RIAC").unwrap(), id);
    assert_eq!(RecordId::parse("001a0000006vm9riac").unwrap(), id);
}

#[test]
fn serde_uses_the_canonical_form() {
    let id: RecordId = serde_json::from_str("\"001A0000006Vm9r\"").unwrap();
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        "\"001A0000006Vm9rIAC\""
    );
    assert!(serde_json::from_str::<RecordId>("\"nope\"").is_err());
}

fn id15() -> impl Strategy<Value = String> {
    "[0-9A-Za-z]{15}"
}

proptest! {
    #[test]
    fn round_trips(id in id15()) {
        let parsed = RecordId::parse(&id).unwrap();
        prop_assert_eq!(parsed.to_15(), id.as_str());
        prop_assert_eq!(RecordId::parse(parsed.as_str()).unwrap(), parsed.clone());
        let (body, suffix) = parsed.as_str().split_at(15);
        let lower = format!("{body}{}", suffix.to_ascii_lowercase());
        prop_assert_eq!(RecordId::parse(&lower).unwrap(), parsed.clone());
        // Case-folded ids come back to the same id.
        prop_assert_eq!(RecordId::parse(&parsed.as_str().to_ascii_uppercase()).unwrap(), parsed.clone());
        prop_assert_eq!(RecordId::parse(&parsed.as_str().to_ascii_lowercase()).unwrap(), parsed);
    }

    #[test]
    fn changed_checksum_is_rejected_on_mixed_case_ids(
        id in "[A-Z][a-z][0-9A-Za-z]{13}",
        pos in 0usize..3,
        replacement in "[A-Z0-5]",
    ) {
        let parsed = RecordId::parse(&id).unwrap();
        let mut chars: Vec<char> = parsed.as_str().chars().collect();
        let new = replacement.chars().next().unwrap();
        prop_assume!(chars[15 + pos] != new);
        chars[15 + pos] = new;
        let changed: String = chars.into_iter().collect();
        let rejected = matches!(RecordId::parse(&changed), Err(RecordIdError::BadChecksum { .. }));
        prop_assert!(rejected);
    }

    #[test]
    fn generated_ids_are_valid(prefix in "[0-9A-Za-z]{3}", counter in any::<u64>()) {
        let id = RecordId::generate(&prefix, counter).unwrap();
        prop_assert_eq!(id.key_prefix(), prefix.as_str());
        prop_assert_eq!(RecordId::parse(id.as_str()).unwrap(), id);
    }
}
