//! Value validation of writes: each field type's accepted values and canonical forms, nulls,
//! required fields, unknown fields, and error messages that name the field but never the value.

use std::collections::BTreeMap;

use heddle_records::{
    DataClassification, FieldDef, FieldType, ObjectDef, OrgWideDefault, ValueError,
    builtin_objects, check_required, validate_fields,
};
use serde_json::{Value, json};

use crate::fixture::id;

fn objects() -> Vec<ObjectDef> {
    let mut objects = builtin_objects();
    // A custom object with the field types the builtins lack (a reference to User).
    objects.push(ObjectDef {
        api_name: "Visit__c".to_owned(),
        label: "Visit".to_owned(),
        key_prefix: "a00".to_owned(),
        sharing_default: OrgWideDefault::Private,
        parent: None,
        customer_link: None,
        fields: vec![
            FieldDef {
                api_name: "Host__c".to_owned(),
                label: "Host".to_owned(),
                field_type: FieldType::Reference {
                    to: "User".to_owned(),
                },
                classification: DataClassification::Internal,
                required: false,
            },
            FieldDef {
                api_name: "Room__c".to_owned(),
                label: "Room".to_owned(),
                field_type: FieldType::Reference {
                    to: "Room__c".to_owned(),
                },
                classification: DataClassification::Internal,
                required: false,
            },
        ],
    });
    objects
}

fn object(name: &str) -> ObjectDef {
    objects().into_iter().find(|o| o.api_name == name).unwrap()
}

fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Validates one field's value.
fn one(object_name: &str, field: &str, value: Value) -> Result<Value, ValueError> {
    validate_fields(&objects(), &object(object_name), &fields(&[(field, value)]))
        .map(|mut out| out.remove(field).unwrap())
}

#[track_caller]
fn accepted(object_name: &str, field: &str, value: Value, canonical: Value) {
    assert_eq!(
        one(object_name, field, value.clone()),
        Ok(canonical),
        "{object_name}.{field} = {value}"
    );
}

/// Rejected as invalid, with a message that names the field and never the value.
#[track_caller]
fn rejected(object_name: &str, field: &str, value: Value) {
    let err = one(object_name, field, value.clone()).unwrap_err();
    assert!(
        matches!(&err, ValueError::Invalid { object, field: f, .. } if object == object_name && f == field),
        "{object_name}.{field} = {value}: {err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&format!("`{field}`")), "{message}");
    // The message depends on the field alone: the same for any invalid value, so no value
    // can leak through it.
    let sentinel = one(object_name, field, json!({ "sentinel": [] })).unwrap_err();
    assert_eq!(
        message,
        sentinel.to_string(),
        "the message depends on the value"
    );
}

#[test]
fn text_is_limited_to_max_len_characters() {
    // Contact.FirstName is text(40); characters count, not bytes.
    accepted("Contact", "FirstName", json!("Zoë"), json!("Zoë"));
    let forty = "é".repeat(40);
    accepted("Contact", "FirstName", json!(forty), json!(forty));
    rejected("Contact", "FirstName", json!("é".repeat(41)));
    rejected("Contact", "FirstName", json!(7));
    rejected("Contact", "FirstName", json!(["Ann"]));
    let err = one("Contact", "FirstName", json!("x".repeat(41))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `FirstName` on object `Contact` expects text of at most 40 characters"
    );
}

#[test]
fn emails_have_a_sane_shape_and_a_lower_case_domain() {
    accepted(
        "Contact",
        "Email",
        json!("Ann.O'Neil+crm@Example.COM"),
        json!("Ann.O'Neil+crm@example.com"),
    );
    accepted(
        "Contact",
        "Email",
        json!("  ann@mail.example.org "),
        json!("ann@mail.example.org"),
    );
    for bad in [
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@@example.com",
        "ann@exa mple.com",
        "a..nn@example.com",
        ".ann@example.com",
        "ann@-example.com",
        "ann@example..com",
        "ann@example.c0m",
        "ann <ann@example.com>",
        "",
    ] {
        rejected("Contact", "Email", json!(bad));
    }
    let longest = format!(
        "{}@{}.{}.{}.com",
        "a".repeat(64),
        "b".repeat(61),
        "c".repeat(61),
        "d".repeat(61)
    );
    assert_eq!(longest.len(), 254);
    accepted("Contact", "Email", json!(longest), json!(longest));
    let too_long = longest.replacen('@', "@b", 1);
    assert_eq!(too_long.len(), 255);
    rejected("Contact", "Email", json!(too_long));
    rejected("Contact", "Email", json!(true));
}

#[test]
fn phones_allow_punctuation_and_an_extension() {
    for good in [
        "+1 (415) 555-0100",
        "415.555.0100",
        "0044 20 7946 0958",
        "555-0100 x42",
        "555-0100 ext. 42",
        "555-0100 EXT 42",
        "555-0100x42",
    ] {
        accepted("Account", "Phone", json!(good), json!(good));
    }
    accepted("Account", "Phone", json!(" 555 0100 "), json!("555 0100"));
    for bad in [
        "call me",
        "12",
        "555-0100 x",
        "555-0100 ext",
        "555#0100",
        "555-0100 x42 x43",
        "e555",
        "555/0100",
    ] {
        rejected("Account", "Phone", json!(bad));
    }
    rejected("Account", "Phone", json!("1".repeat(41)));
    rejected("Account", "Phone", json!(4_155_550_100_u64));
}

#[test]
fn numbers_and_currency_are_finite_json_numbers() {
    accepted("Account", "NumberOfEmployees", json!(250), json!(250));
    accepted(
        "Account",
        "AnnualRevenue",
        json!(1_250_000.5),
        json!(1_250_000.5),
    );
    accepted("Account", "AnnualRevenue", json!(-3), json!(-3));
    rejected("Account", "AnnualRevenue", json!("1000"));
    rejected("Account", "NumberOfEmployees", json!(true));
    rejected("Account", "NumberOfEmployees", json!({"n": 1}));
}

#[test]
fn dates_are_real_calendar_days() {
    for good in [
        "2024-02-29",
        "2000-02-29",
        "1999-12-31",
        "0001-01-01",
        "9999-12-31",
    ] {
        accepted("Contact", "Birthdate", json!(good), json!(good));
    }
    for bad in [
        "2023-02-29",
        "1900-02-29",
        "2024-04-31",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "0000-01-01",
        "24-01-01",
        "2024-1-01",
        "2024/01/01",
        "2024-01-01T00:00:00Z",
        "+024-01-01",
        "２０２４-01-01",
    ] {
        rejected("Contact", "Birthdate", json!(bad));
    }
    rejected("Contact", "Birthdate", json!(20_240_101));
}

#[test]
fn picklists_take_a_declared_value_in_its_declared_spelling() {
    accepted("Account", "Industry", json!("Retail"), json!("Retail"));
    accepted("Account", "Industry", json!("retail"), json!("Retail"));
    rejected("Account", "Industry", json!("Retail "));
    rejected("Account", "Industry", json!("Farming"));
    let err = one("Lead", "Status", json!("Lost")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `Status` on object `Lead` expects one of `Open`, `Working`, `Qualified`, \
         `Unqualified`"
    );
}

#[test]
fn references_need_the_target_key_prefix_and_become_18_characters() {
    let account = id("001", 77);
    accepted(
        "Contact",
        "AccountId",
        json!(account.to_15()),
        json!(account.as_str()),
    );
    accepted(
        "Contact",
        "AccountId",
        json!(account.as_str().to_ascii_lowercase()),
        json!(account.as_str()),
    );
    rejected("Contact", "AccountId", json!(id("003", 77).as_str()));
    rejected("Contact", "AccountId", json!("001-not-an-id"));
    rejected(
        "Contact",
        "AccountId",
        json!(format!("{}ZZZ", account.to_15())),
    );
    rejected("Contact", "AccountId", json!(77));
    // `User` targets take user ids (prefix 005).
    let user = id("005", 3);
    accepted(
        "Visit__c",
        "Host__c",
        json!(user.to_15()),
        json!(user.as_str()),
    );
    rejected("Visit__c", "Host__c", json!(account.as_str()));
    // A target the metadata does not declare fails closed.
    assert_eq!(
        one("Visit__c", "Room__c", json!(account.as_str())),
        Err(ValueError::UnknownTarget {
            object: "Visit__c".to_owned(),
            field: "Room__c".to_owned(),
            target: "Room__c".to_owned(),
        })
    );
}

#[test]
fn booleans_are_json_booleans() {
    accepted("Task", "IsHighPriority", json!(true), json!(true));
    accepted("Task", "IsHighPriority", json!(false), json!(false));
    rejected("Task", "IsHighPriority", json!("true"));
    rejected("Task", "IsHighPriority", json!(1));
}

#[test]
fn null_clears_an_optional_field_but_not_a_required_one() {
    accepted("Contact", "Email", Value::Null, Value::Null);
    accepted("Contact", "AccountId", Value::Null, Value::Null);
    for value in [Value::Null, json!("")] {
        let err = one("Contact", "LastName", value).unwrap_err();
        assert_eq!(
            err,
            ValueError::RequiredCleared {
                object: "Contact".to_owned(),
                field: "LastName".to_owned(),
            }
        );
        assert!(err.to_string().contains("`LastName`"), "{err}");
    }
    // An empty string is text, not a clear: fine for optional text, not for other types.
    accepted("Contact", "FirstName", json!(""), json!(""));
    rejected("Contact", "Email", json!(""));
}

#[test]
fn unknown_fields_are_named() {
    let err = validate_fields(
        &objects(),
        &object("Account"),
        &fields(&[("Name", json!("Acme")), ("Secret__c", json!("x"))]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ValueError::UnknownField {
            object: "Account".to_owned(),
            field: "Secret__c".to_owned(),
        }
    );
    // System fields are not in the metadata: they are not written through `fields`.
    for system in ["Id", "OwnerId"] {
        assert!(matches!(
            one("Account", system, json!("x")),
            Err(ValueError::UnknownField { .. })
        ));
    }
}

#[test]
fn validation_returns_every_field_canonical() {
    let account = id("001", 9);
    let out = validate_fields(
        &objects(),
        &object("Contact"),
        &fields(&[
            ("LastName", json!("Lovelace")),
            ("Email", json!("ada@Example.org")),
            ("AccountId", json!(account.to_15())),
            ("Phone", Value::Null),
        ]),
    )
    .unwrap();
    assert_eq!(
        out,
        fields(&[
            ("LastName", json!("Lovelace")),
            ("Email", json!("ada@example.org")),
            ("AccountId", json!(account.as_str())),
            ("Phone", Value::Null),
        ])
    );
    assert!(
        validate_fields(&objects(), &object("Contact"), &BTreeMap::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn creates_need_every_required_field() {
    let opportunity = object("Opportunity");
    let full = fields(&[
        ("Name", json!("Renewal")),
        ("CloseDate", json!("2026-06-30")),
        ("StageName", json!("Prospecting")),
    ]);
    assert_eq!(check_required(&opportunity, &full), Ok(()));
    let mut partial = full.clone();
    partial.remove("Name");
    partial.insert("StageName".to_owned(), Value::Null);
    let err = check_required(&opportunity, &partial).unwrap_err();
    assert_eq!(
        err,
        ValueError::MissingRequired {
            object: "Opportunity".to_owned(),
            fields: vec!["Name".to_owned(), "StageName".to_owned()],
        }
    );
    assert_eq!(
        err.to_string(),
        "object `Opportunity` requires `Name`, `StageName`"
    );
    let mut blank = full;
    blank.insert("Name".to_owned(), json!(""));
    assert!(check_required(&opportunity, &blank).is_err());
    // Task requires only its Subject.
    assert_eq!(
        check_required(&object("Task"), &fields(&[("Subject", json!("Call"))])),
        Ok(())
    );
}

fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[0-9 +().x-]{0,12}".prop_map(Value::from),
        "[a-zA-Z0-9.@-]{0,24}".prop_map(Value::from),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::from),
        "(Technology|Retail|New|Open|retail)".prop_map(Value::from),
        (any::<bool>(), 0..4_u64).prop_map(|(short, n)| {
            let id = id(["001", "003", "005", "500"][n as usize], n * 1_000_003);
            Value::from(if short { id.to_15() } else { id.as_str() })
        }),
        ".{0,300}".prop_map(Value::from),
    ]
}

proptest::proptest! {
    /// Canonical values are a fixed point, and a rejection's message is the same whatever the
    /// rejected value was (so it cannot quote it).
    #[test]
    fn canonical_values_are_stable_and_errors_never_depend_on_the_value(
        picks in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), any_value()), 1..20)
    ) {
        let objects = objects();
        let all: Vec<(&ObjectDef, &FieldDef)> = objects
            .iter()
            .flat_map(|o| o.fields.iter().map(move |f| (o, f)))
            .collect();
        for (pick, value) in picks {
            let (object, field) = all[pick.index(all.len())];
            let input = fields(&[(&field.api_name, value)]);
            match validate_fields(&objects, object, &input) {
                Ok(canonical) => {
                    proptest::prop_assert_eq!(
                        validate_fields(&objects, object, &canonical),
                        Ok(canonical.clone())
                    );
                }
                Err(err) => {
                    let sentinel = fields(&[(&field.api_name, json!({ "sentinel": [] }))]);
                    let expected = validate_fields(&objects, object, &sentinel).unwrap_err();
                    if matches!(err, ValueError::Invalid { .. }) {
                        proptest::prop_assert_eq!(err.to_string(), expected.to_string());
                    } else {
                        proptest::prop_assert!(
                            matches!(err, ValueError::RequiredCleared { .. } | ValueError::UnknownTarget { .. }),
                            "{err:?}"
                        );
                    }
                }
            }
        }
    }
}
