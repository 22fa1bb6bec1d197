//! Structured queries: the JSON shape, every refusal of `validate_query`, and the reference
//! evaluator (filter, order, cursor) on hand-made records.

use std::cmp::Ordering;

use heddle_records::query::{
    FieldUse, MAX_CONDITIONS, MAX_FILTER_DEPTH, MAX_IN_VALUES, Operand, Predicate, QueryField,
    Selection, Test, ValueKind,
};
use heddle_records::{
    Op, Org, OrgUser, QueryError, Record, RecordQuery, ValidQuery, validate_query,
};
use serde_json::{Value, json};

use crate::fixture::{demo, id, record};

fn query(value: Value) -> RecordQuery {
    serde_json::from_value(value).unwrap()
}

fn validate(org: &Org, user: &OrgUser, value: Value) -> Result<ValidQuery, QueryError> {
    validate_query(org, user, &query(value))
}

fn condition(field: &str, op: &str, value: Value) -> Value {
    json!({"field": field, "op": op, "value": value})
}

#[test]
fn the_documented_example_validates_with_typed_values() {
    let demo = demo();
    let rep = demo.user("rep_a");
    let text = r#"{
      "object": "Opportunity",
      "fields": ["Name", "Amount", "StageName"],
      "filter": {"and": [
        {"field": "Amount", "op": "gt", "value": 1000},
        {"or": [
          {"field": "StageName", "op": "in", "value": ["Proposal", "negotiation"]},
          {"not": {"field": "CloseDate", "op": "lt", "value": "2026-01-01"}}
        ]}
      ]},
      "order_by": [{"field": "Amount", "direction": "desc"}],
      "limit": 20,
      "cursor": null
    }"#;
    let parsed: RecordQuery = serde_json::from_str(text).unwrap();
    // The wire shape round-trips.
    let again: RecordQuery =
        serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(again, parsed);

    let valid = validate_query(&demo.org, rep, &parsed).unwrap();
    assert_eq!(valid.object(), "Opportunity");
    assert_eq!(valid.limit(), 20);
    assert!(valid.after().is_none());
    assert_eq!(
        valid.selection(),
        &Selection::Fields(
            ["Amount", "Name", "StageName"]
                .map(str::to_owned)
                .into_iter()
                .collect()
        )
    );
    let amount = QueryField::Field {
        name: "Amount".to_owned(),
        kind: ValueKind::Number,
    };
    assert_eq!(valid.order_by()[0].field, amount);
    assert!(valid.order_by()[0].descending);
    let Some(Predicate::And(parts)) = valid.filter() else {
        panic!("{:?}", valid.filter())
    };
    let Predicate::Test(gt) = &parts[0] else {
        panic!()
    };
    assert_eq!(gt.field, amount);
    assert_eq!(gt.test, Test::Gt(Operand::Number(1000.into())));
    let Predicate::Or(any) = &parts[1] else {
        panic!()
    };
    let Predicate::Test(stage) = &any[0] else {
        panic!()
    };
    // A picklist value in another letter case is the declared spelling.
    assert_eq!(
        stage.test,
        Test::In(vec![
            Operand::Text("Proposal".to_owned()),
            Operand::Text("Negotiation".to_owned())
        ])
    );
}

#[test]
fn defaults_apply_and_ids_are_canonicalized() {
    let demo = demo();
    let rep = demo.user("rep_a");
    let account = id("001", 1);
    let valid = validate(
        &demo.org,
        rep,
        json!({"object": "Contact", "filter": condition("AccountId", "eq", json!(account.to_15()))}),
    )
    .unwrap();
    assert_eq!(valid.limit(), 50);
    assert_eq!(valid.selection(), &Selection::Readable);
    assert!(valid.order_by().is_empty());
    let Some(Predicate::Test(test)) = valid.filter() else {
        panic!()
    };
    assert_eq!(test.test, Test::Eq(Operand::Id(account)));
}

#[test]
fn malformed_json_is_refused_with_a_message_saying_what_a_filter_is() {
    let cases = [
        json!({"object": "Account", "filter": {"and": [], "field": "Name"}}),
        json!({"object": "Account", "filter": {"and": [], "or": []}}),
        json!({"object": "Account", "filter": {}}),
    ];
    for case in cases {
        let err = serde_json::from_value::<RecordQuery>(case.clone()).unwrap_err();
        assert!(
            err.to_string().contains("a filter is exactly one of"),
            "{case}: {err}"
        );
    }
    let err = serde_json::from_value::<RecordQuery>(
        json!({"object": "Account", "filter": {"field": "Name", "value": 1}}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs `field`, `op`"), "{err}");
    let err = serde_json::from_value::<RecordQuery>(
        json!({"object": "Account", "filter": condition("Name", "like", json!("a"))}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown variant `like`"), "{err}");
    let err = serde_json::from_value::<RecordQuery>(
        json!({"object": "Account", "filter": {"field": "Name", "op": "eq", "value": "a", "x": 1}}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `x`"), "{err}");
    let err =
        serde_json::from_value::<RecordQuery>(json!({"object": "Account", "select": ["Name"]}))
            .unwrap_err();
    assert!(err.to_string().contains("unknown field `select`"), "{err}");
    let err = serde_json::from_value::<RecordQuery>(
        json!({"object": "Account", "order_by": [{"field": "Name", "direction": "up"}]}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown variant `up`"), "{err}");
}

fn nested_not(depth: usize) -> Value {
    let mut filter = condition("Name", "eq", json!("Acme"));
    for _ in 1..depth {
        filter = json!({"not": filter});
    }
    filter
}

fn many_conditions(n: usize) -> Value {
    json!({"and": vec![condition("Name", "eq", json!("Acme")); n]})
}

#[test]
fn every_refusal_is_a_clear_error() {
    let demo = demo();
    let org = &demo.org;
    let rep = demo.user("rep_a");
    let finance = demo.user("finance");
    let cursor_of_other_query = {
        let valid = validate(
            org,
            rep,
            json!({"object": "Account", "order_by": [{"field": "Name"}]}),
        )
        .unwrap();
        valid.cursor_after(&demo.records[0])
    };
    let not_readable = |field: &str, used_in| QueryError::FieldNotReadable {
        object: "Account".to_owned(),
        field: field.to_owned(),
        used_in,
    };
    let wrong = |field: &str, op, field_type, expected, got| QueryError::WrongValueType {
        field: field.to_owned(),
        op,
        field_type,
        expected,
        got,
    };
    let account = |extra: Value| {
        let mut q = json!({"object": "Account"});
        for (k, v) in extra.as_object().unwrap() {
            q[k] = v.clone();
        }
        q
    };
    let filter = |f: Value| account(json!({ "filter": f }));
    let cases: Vec<(&str, &OrgUser, Value, QueryError)> = vec![
        (
            "unknown object",
            rep,
            json!({"object": "Spaceship"}),
            QueryError::ObjectNotReadable {
                object: "Spaceship".to_owned(),
            },
        ),
        (
            "object without read",
            demo.user("no_access"),
            json!({"object": "Account"}),
            QueryError::ObjectNotReadable {
                object: "Account".to_owned(),
            },
        ),
        (
            "unreadable field selected",
            rep,
            account(json!({"fields": ["Name", "AnnualRevenue"]})),
            not_readable("AnnualRevenue", FieldUse::Select),
        ),
        (
            "unknown field selected",
            rep,
            account(json!({"fields": ["Nope"]})),
            not_readable("Nope", FieldUse::Select),
        ),
        (
            "unreadable field filtered",
            rep,
            filter(condition("AnnualRevenue", "gt", json!(1))),
            not_readable("AnnualRevenue", FieldUse::Filter),
        ),
        (
            // Neither the operator nor the value may reveal the unreadable field's type.
            "unreadable field filtered with a wrong operator and value",
            rep,
            filter(condition("AnnualRevenue", "contains", json!(true))),
            not_readable("AnnualRevenue", FieldUse::Filter),
        ),
        (
            "unknown field filtered",
            rep,
            filter(condition("Nope", "contains", json!(true))),
            not_readable("Nope", FieldUse::Filter),
        ),
        (
            "unreadable field sorted",
            rep,
            account(json!({"order_by": [{"field": "AnnualRevenue", "direction": "desc"}]})),
            not_readable("AnnualRevenue", FieldUse::OrderBy),
        ),
        (
            "text value for a currency",
            finance,
            filter(condition("AnnualRevenue", "gt", json!("1000"))),
            wrong("AnnualRevenue", Op::Gt, "currency", "a number", "a string"),
        ),
        (
            "number for a text field",
            rep,
            filter(condition("Name", "eq", json!(7))),
            wrong("Name", Op::Eq, "text", "a string", "a number"),
        ),
        (
            "null for eq",
            rep,
            filter(json!({"field": "Name", "op": "eq"})),
            wrong("Name", Op::Eq, "text", "a string", "null"),
        ),
        (
            "is_null needs a boolean",
            rep,
            filter(condition("Name", "is_null", json!("yes"))),
            wrong("Name", Op::IsNull, "text", "true or false", "a string"),
        ),
        (
            "in needs an array",
            rep,
            filter(condition("Name", "in", json!("Acme"))),
            wrong("Name", Op::In, "text", "an array of values", "a string"),
        ),
        (
            "contains on a currency",
            finance,
            filter(condition("AnnualRevenue", "contains", json!("1"))),
            QueryError::OperatorNotAllowed {
                field: "AnnualRevenue".to_owned(),
                op: Op::Contains,
                field_type: "currency",
                allowed: "eq, ne, lt, le, gt, ge, in, is_null".to_owned(),
            },
        ),
        (
            "lt on a picklist",
            rep,
            filter(condition("Industry", "lt", json!("Retail"))),
            QueryError::OperatorNotAllowed {
                field: "Industry".to_owned(),
                op: Op::Lt,
                field_type: "picklist",
                allowed: "eq, ne, in, is_null".to_owned(),
            },
        ),
        (
            "starts_with on an id",
            rep,
            filter(condition("Id", "starts_with", json!("001"))),
            QueryError::OperatorNotAllowed {
                field: "Id".to_owned(),
                op: Op::StartsWith,
                field_type: "id",
                allowed: "eq, ne, in, is_null".to_owned(),
            },
        ),
        (
            "value outside the picklist",
            rep,
            filter(condition("Industry", "in", json!(["Retail", "Mining"]))),
            QueryError::NotAPicklistValue {
                field: "Industry".to_owned(),
                allowed: "`Technology`, `Finance`, `Retail`, `Healthcare`, `Manufacturing`"
                    .to_owned(),
            },
        ),
        (
            "malformed id",
            rep,
            filter(condition("Id", "eq", json!("001xyz"))),
            QueryError::InvalidRecordId {
                field: "Id".to_owned(),
                reason: heddle_records::RecordId::parse("001xyz").unwrap_err(),
            },
        ),
        (
            "owner that is not an id",
            rep,
            filter(condition("OwnerId", "ne", json!("rep_a"))),
            QueryError::InvalidRecordId {
                field: "OwnerId".to_owned(),
                reason: heddle_records::RecordId::parse("rep_a").unwrap_err(),
            },
        ),
        (
            "NUL in text",
            rep,
            filter(condition("Name", "contains", json!("a\u{0}b"))),
            QueryError::NulInText {
                field: "Name".to_owned(),
            },
        ),
        (
            "empty in",
            rep,
            filter(condition("Name", "in", json!([]))),
            QueryError::InListSize {
                field: "Name".to_owned(),
                got: 0,
                max: MAX_IN_VALUES,
            },
        ),
        (
            "too long in",
            rep,
            filter(condition("Name", "in", json!(vec!["x"; MAX_IN_VALUES + 1]))),
            QueryError::InListSize {
                field: "Name".to_owned(),
                got: MAX_IN_VALUES + 1,
                max: MAX_IN_VALUES,
            },
        ),
        (
            "empty and",
            rep,
            filter(json!({"and": []})),
            QueryError::EmptyGroup { group: "and" },
        ),
        (
            "empty or inside not",
            rep,
            filter(json!({"not": {"or": []}})),
            QueryError::EmptyGroup { group: "or" },
        ),
        (
            "too deep",
            rep,
            filter(nested_not(MAX_FILTER_DEPTH + 1)),
            QueryError::FilterTooDeep {
                max: MAX_FILTER_DEPTH,
            },
        ),
        (
            "too many conditions",
            rep,
            filter(many_conditions(MAX_CONDITIONS + 1)),
            QueryError::TooManyConditions {
                max: MAX_CONDITIONS,
            },
        ),
        (
            "limit zero",
            rep,
            account(json!({"limit": 0})),
            QueryError::LimitOutOfRange { got: 0, max: 200 },
        ),
        (
            "limit too large",
            rep,
            account(json!({"limit": 201})),
            QueryError::LimitOutOfRange { got: 201, max: 200 },
        ),
        (
            "four sort keys",
            rep,
            account(
                json!({"order_by": [{"field": "Name"}, {"field": "Id"}, {"field": "OwnerId"}, {"field": "Industry"}]}),
            ),
            QueryError::TooManyOrderBy { got: 4, max: 3 },
        ),
        (
            "cursor of another query",
            rep,
            account(
                json!({"order_by": [{"field": "Name", "direction": "desc"}], "cursor": cursor_of_other_query}),
            ),
            QueryError::ForeignCursor,
        ),
        (
            "garbage cursor",
            rep,
            account(json!({"cursor": "not a cursor!"})),
            QueryError::InvalidCursor,
        ),
    ];
    for (name, user, value, want) in cases {
        let got = validate(org, user, value).unwrap_err();
        assert_eq!(got, want, "{name}");
        assert!(!got.to_string().is_empty());
    }
    // The boundaries themselves are accepted.
    for ok in [
        filter(nested_not(MAX_FILTER_DEPTH)),
        filter(many_conditions(MAX_CONDITIONS)),
        filter(condition("Name", "in", json!(vec!["x"; MAX_IN_VALUES]))),
        account(json!({"limit": 200})),
        account(json!({"limit": 1})),
        account(json!({"order_by": [{"field": "Name"}, {"field": "Id"}, {"field": "OwnerId"}]})),
    ] {
        validate(org, rep, ok.clone()).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn an_unreadable_field_and_an_unknown_one_are_refused_alike() {
    let demo = demo();
    let rep = demo.user("rep_a");
    let message = |field: &str| {
        validate(
            &demo.org,
            rep,
            json!({"object": "Account", "order_by": [{"field": field}]}),
        )
        .unwrap_err()
        .to_string()
        .replace(field, "FIELD")
    };
    assert_eq!(message("AnnualRevenue"), message("NoSuchField"));
    let object_message = |object: &str, user: &str| {
        validate(&demo.org, demo.user(user), json!({ "object": object }))
            .unwrap_err()
            .to_string()
            .replace(object, "OBJECT")
    };
    assert_eq!(
        object_message("Account", "no_access"),
        object_message("Spaceship", "rep_a")
    );
}

#[test]
fn a_cursor_with_a_tampered_shape_is_malformed_and_of_another_query_foreign() {
    use base64::Engine as _;
    let demo = demo();
    let rep = demo.user("rep_a");
    let base = json!({"object": "Account", "order_by": [{"field": "Name"}]});
    let valid = validate(&demo.org, rep, base.clone()).unwrap();
    let cursor = valid.cursor_after(&demo.records[0]);
    let decode = |c: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .unwrap(),
        )
        .unwrap()
    };
    let encode = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let body = decode(&cursor);
    assert_eq!(body["k"], json!(["Acme"]));
    assert_eq!(body["id"], json!(demo.records[0].id.as_str()));
    let with_cursor = |c: String| {
        let mut q = base.clone();
        q["cursor"] = json!(c);
        validate(&demo.org, rep, q)
    };
    // Pass back as given: accepted, at the record's position; a new limit is fine.
    let next = with_cursor(cursor.clone()).unwrap();
    assert_eq!(next.after().unwrap().id, demo.records[0].id);
    for tampered in [
        json!({"q": body["q"], "k": [7], "id": body["id"]}),
        json!({"q": body["q"], "k": [], "id": body["id"]}),
        json!({"q": body["q"], "k": ["Acme"], "id": "short"}),
        json!({"q": body["q"], "k": ["Acme"], "id": body["id"], "extra": 1}),
    ] {
        assert_eq!(
            with_cursor(encode(&tampered)).unwrap_err(),
            QueryError::InvalidCursor,
            "{tampered}"
        );
    }
    let foreign = json!({"q": "0000000000000000", "k": ["Acme"], "id": body["id"]});
    assert_eq!(
        with_cursor(encode(&foreign)).unwrap_err(),
        QueryError::ForeignCursor
    );
    // A different projection or page size keeps the cursor valid; a different object does not.
    let mut q = base.clone();
    q["cursor"] = json!(cursor);
    q["fields"] = json!(["Name"]);
    q["limit"] = json!(3);
    validate(&demo.org, rep, q.clone()).unwrap();
    q["object"] = json!("Lead");
    q["fields"] = json!([]);
    q["order_by"] = json!([{"field": "Company"}]);
    assert_eq!(
        validate(&demo.org, rep, q).unwrap_err(),
        QueryError::ForeignCursor
    );
}

/// Opportunities exercising nulls, wrong types, ties and text order.
fn opportunities() -> Vec<Record> {
    let opp =
        |n: u64, fields: &[(&str, Value)]| record("Opportunity", id("006", n), "rep_a", fields);
    vec![
        opp(1, &[("Name", json!("apple")), ("Amount", json!(10))]),
        opp(2, &[("Name", json!("Banana")), ("Amount", json!(10.0))]),
        opp(3, &[("Name", json!("éclair")), ("Amount", json!("10"))]),
        opp(4, &[("Name", json!(null)), ("Amount", json!(2.5))]),
        opp(5, &[("Amount", json!(-1))]),
        opp(
            6,
            &[
                ("Name", json!(42)),
                ("AccountId", json!(id("001", 1).to_15())),
            ],
        ),
        opp(
            7,
            &[
                ("Name", json!("zebra")),
                ("AccountId", json!(id("001", 1).as_str())),
            ],
        ),
        opp(
            8,
            &[
                ("Name", json!("apple pie")),
                ("AccountId", json!(id("001", 2).as_str())),
            ],
        ),
    ]
}

fn names(records: &[&Record]) -> Vec<u64> {
    let all = opportunities();
    records
        .iter()
        .map(|r| all.iter().position(|o| o.id == r.id).unwrap() as u64 + 1)
        .collect()
}

fn run(value: Value) -> Vec<u64> {
    let demo = demo();
    let mut q = json!({"object": "Opportunity"});
    for (k, v) in value.as_object().unwrap() {
        q[k] = v.clone();
    }
    let valid = validate(&demo.org, demo.user("finance"), q).unwrap();
    let records = opportunities();
    let mut hits: Vec<&Record> = records.iter().filter(|r| valid.matches(r)).collect();
    hits.sort_by(|a, b| valid.compare(a, b));
    names(&hits)
}

#[test]
fn the_reference_filter_treats_missing_null_and_wrong_types_as_null() {
    let filter = |f: Value| run(json!({ "filter": f }));
    assert_eq!(filter(condition("Name", "is_null", json!(true))), [4, 5, 6]);
    assert_eq!(
        filter(condition("Name", "is_null", json!(false))),
        [1, 2, 3, 7, 8]
    );
    // `eq` is false on null, `ne` its exact negation (so it matches null).
    assert_eq!(filter(condition("Name", "eq", json!("apple"))), [1]);
    assert_eq!(
        filter(condition("Name", "ne", json!("apple"))),
        [2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(filter(condition("Amount", "eq", json!(10))), [1, 2]);
    assert_eq!(filter(condition("Amount", "ge", json!(2.5))), [1, 2, 4]);
    assert_eq!(filter(condition("Amount", "lt", json!(0))), [5]);
    assert_eq!(
        filter(json!({"not": condition("Amount", "lt", json!(3))})),
        [1, 2, 3, 6, 7, 8]
    );
    // Bytewise text: upper case before lower case, `é` after `z`.
    assert_eq!(filter(condition("Name", "lt", json!("a"))), [2]);
    assert_eq!(filter(condition("Name", "gt", json!("zebra"))), [3]);
    assert_eq!(
        filter(condition("Name", "starts_with", json!("apple"))),
        [1, 8]
    );
    assert_eq!(filter(condition("Name", "contains", json!("an"))), [2]);
    assert_eq!(
        filter(condition("Name", "contains", json!("AN"))),
        Vec::<u64>::new()
    );
    // An id matches its 18- and 15-character stored forms, given in either form.
    let acme = id("001", 1);
    assert_eq!(
        filter(condition("AccountId", "eq", json!(acme.as_str()))),
        [6, 7]
    );
    assert_eq!(
        filter(condition("AccountId", "in", json!([acme.to_15()]))),
        [6, 7]
    );
    assert_eq!(
        filter(condition("AccountId", "ne", json!(acme.to_15()))),
        [1, 2, 3, 4, 5, 8]
    );
    assert_eq!(
        filter(condition("Id", "eq", json!(id("006", 3).to_15()))),
        [3]
    );
    assert_eq!(
        filter(json!({"or": [condition("Amount", "gt", json!(5)), {"and": [
            condition("Name", "is_null", json!(false)),
            condition("Name", "ge", json!("z"))
        ]}]})),
        [1, 2, 3, 7]
    );
}

#[test]
fn the_reference_order_puts_nulls_first_ascending_and_last_descending_then_id() {
    let order = |field: &str, direction: &str| {
        run(json!({"order_by": [{"field": field, "direction": direction}]}))
    };
    // Null (4, 5, 6: null, missing, a number) first; then bytewise.
    assert_eq!(order("Name", "asc"), [4, 5, 6, 2, 1, 8, 7, 3]);
    assert_eq!(order("Name", "desc"), [3, 7, 8, 1, 2, 4, 5, 6]);
    // 10 and 10.0 tie and fall back to Id; "10" is not a number.
    assert_eq!(order("Amount", "asc"), [3, 6, 7, 8, 5, 4, 1, 2]);
    assert_eq!(order("Amount", "desc"), [1, 2, 4, 5, 3, 6, 7, 8]);
    assert_eq!(
        run(
            json!({"order_by": [{"field": "AccountId", "direction": "desc"}, {"field": "Amount"}]})
        ),
        [8, 7, 6, 3, 5, 4, 1, 2]
    );
    assert_eq!(
        run(json!({"order_by": [{"field": "Id", "direction": "desc"}]})),
        [8, 7, 6, 5, 4, 3, 2, 1]
    );
}

#[test]
fn is_after_cursor_agrees_with_compare_for_every_position() {
    let demo = demo();
    let records = opportunities();
    let orders = [
        json!([{"field": "Name"}]),
        json!([{"field": "Amount", "direction": "desc"}, {"field": "Name"}]),
        json!([{"field": "AccountId"}, {"field": "Amount"}, {"field": "Name", "direction": "desc"}]),
        json!([]),
    ];
    for order in orders {
        let base = json!({"object": "Opportunity", "order_by": order});
        let valid = validate(&demo.org, demo.user("finance"), base.clone()).unwrap();
        for last in &records {
            let mut q = base.clone();
            q["cursor"] = json!(valid.cursor_after(last));
            let next = validate(&demo.org, demo.user("finance"), q).unwrap();
            for record in &records {
                assert_eq!(
                    next.is_after_cursor(record),
                    valid.compare(record, last) == Ordering::Greater,
                    "{order} after {} : {}",
                    last.id,
                    record.id
                );
            }
        }
    }
}

#[test]
fn recheck_refuses_a_query_validated_for_someone_who_may_read_more() {
    let demo = demo();
    let q = json!({"object": "Account", "order_by": [{"field": "AnnualRevenue"}]});
    let valid = validate(&demo.org, demo.user("finance"), q).unwrap();
    valid.recheck(&demo.org, demo.user("finance")).unwrap();
    assert_eq!(
        valid.recheck(&demo.org, demo.user("rep_a")).unwrap_err(),
        QueryError::FieldNotReadable {
            object: "Account".to_owned(),
            field: "AnnualRevenue".to_owned(),
            used_in: FieldUse::OrderBy,
        }
    );
    assert_eq!(
        valid
            .recheck(&demo.org, demo.user("no_access"))
            .unwrap_err(),
        QueryError::ObjectNotReadable {
            object: "Account".to_owned()
        }
    );
}

#[test]
fn visible_fields_strips_then_projects() {
    let demo = demo();
    let acme = demo.record("Acme");
    let all = validate(&demo.org, demo.user("rep_a"), json!({"object": "Account"})).unwrap();
    let (fields, removed) = all.visible_fields(&demo.org, demo.user("rep_a"), acme);
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["Industry", "Name"]);
    assert_eq!(removed, ["AnnualRevenue"]);
    let some = validate(
        &demo.org,
        demo.user("rep_a"),
        json!({"object": "Account", "fields": ["Name", "Id"]}),
    )
    .unwrap();
    let (fields, removed) = some.visible_fields(&demo.org, demo.user("rep_a"), acme);
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["Name"]);
    assert!(removed.is_empty());
}
