//! The model's arguments against a capability's schema: every keyword of the subset, errors
//! that name the argument but never quote its value, bound parameters refused.

use heddle_agents::validate_arguments;
use serde_json::{Value, json};

use crate::support::load;

fn paths(schema: &Value, value: &Value) -> Vec<String> {
    validate_arguments(schema, value)
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_example_capability_accepts_a_good_call_and_explains_bad_ones() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/agents");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    let set = load(&files);
    let update = set.capability("update_opportunity_stage").unwrap();
    update
        .validate_arguments(&json!({"opportunity_id": "006000000000001AAA", "stage": "Proposal"}))
        .unwrap();

    let problems = update
        .validate_arguments(&json!({
            "opportunity_id": "001000000000001AAA",
            "stage": "Won it all",
            "note": "jane.doe@example.com"
        }))
        .unwrap_err();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text.iter()
            .any(|t| t.contains("opportunity_id") && t.contains("pattern"))
    );
    assert!(
        text.iter()
            .any(|t| t.contains("stage") && t.contains("allowed values"))
    );
    assert!(
        text.iter()
            .any(|t| t.contains("note") && t.contains("not an argument"))
    );
    // Values the model sent are never echoed.
    for value in ["001000000000001AAA", "Won it all", "jane.doe@example.com"] {
        assert!(text.iter().all(|t| !t.contains(value)), "{text:?}");
    }
    let missing = update
        .validate_arguments(&json!({"stage": "Proposal"}))
        .unwrap_err();
    assert!(missing[0].to_string().contains("opportunity_id"));
    assert!(update.validate_arguments(&json!("not an object")).is_err());
}

#[test]
fn every_keyword_of_the_subset_is_enforced() {
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["n"],
        "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 10, "multipleOf": 2},
            "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "s": {"type": "string", "minLength": 2, "maxLength": 3},
            "c": {"const": "fixed"},
            "b": {"type": ["boolean", "null"]},
            "tags": {
                "type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true,
                "items": {"type": "string", "maxLength": 2}
            },
            "nested": {
                "type": "object", "additionalProperties": false,
                "properties": {"k": {"type": "string"}}
            }
        }
    });
    assert!(paths(&schema, &json!({"n": 4, "x": 0.5, "s": "abc", "c": "fixed", "b": null, "tags": ["a"], "nested": {"k": "v"}})).is_empty());
    assert!(
        paths(&schema, &json!({"n": 4.0})).is_empty(),
        "4.0 is an integer"
    );
    let cases = [
        (json!({}), "`n`: is required"),
        (json!({"n": 3}), "multiple of 2"),
        (json!({"n": 12}), "at most 10"),
        (json!({"n": 0}), "at least 1"),
        (json!({"n": 2.5}), "type integer"),
        (json!({"n": 2, "x": 1}), "less than 1"),
        (json!({"n": 2, "x": 0}), "greater than 0"),
        (json!({"n": 2, "s": "a"}), "at least 2 characters"),
        (json!({"n": 2, "s": "abcd"}), "at most 3 characters"),
        (json!({"n": 2, "c": "other"}), "the one allowed value"),
        (json!({"n": 2, "b": 1}), "type boolean or null"),
        (json!({"n": 2, "tags": []}), "at least 1 items"),
        (json!({"n": 2, "tags": ["a", "b", "c"]}), "at most 2 items"),
        (json!({"n": 2, "tags": ["a", "a"]}), "must not repeat"),
        (json!({"n": 2, "tags": ["abc"]}), "`tags[0]`"),
        (json!({"n": 2, "nested": {"k": 1}}), "`nested.k`"),
        (
            json!({"n": 2, "nested": {"z": 1}}),
            "`nested.z`: is not an argument",
        ),
    ];
    for (value, expected) in cases {
        let found = paths(&schema, &value);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{value}: expected `{expected}` in {found:?}"
        );
    }
    // Multi-byte characters count as one each.
    assert!(paths(&schema, &json!({"n": 2, "s": "äöü"})).is_empty());
}

#[test]
fn a_pattern_that_does_not_compile_rejects_every_value() {
    let schema = json!({"type": "string", "pattern": "(unclosed"});
    assert_eq!(paths(&schema, &json!("anything")).len(), 1);
}
