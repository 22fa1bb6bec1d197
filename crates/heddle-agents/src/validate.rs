//! Validating the model's tool-call arguments against a capability's input schema (the subset
//! [`crate::schema::check_schema`] accepts). A malformed call is not executed: its problems go
//! back to the model as an error.
//!
//! Messages name the argument and what was expected, never the value: arguments may carry
//! personal data the model copied from a record. `pattern` is a Rust `regex` (no look-around
//! or back-references, unlike ECMA-262); a pattern that does not compile rejects the value,
//! so a broken contract fails closed. `format` is an annotation and is not checked.

use serde_json::Value as JsonValue;

use crate::locate::FieldPath;

/// One problem with the arguments: where and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

/// Every problem of `value` against `schema`; empty when it conforms.
pub fn validate_arguments(schema: &JsonValue, value: &JsonValue) -> Vec<ArgumentError> {
    let mut out = Vec::new();
    check(schema, value, &FieldPath::root(), &mut out);
    out
}

fn push(out: &mut Vec<ArgumentError>, path: &FieldPath, message: impl Into<String>) {
    out.push(ArgumentError {
        path: path.to_string(),
        message: message.into(),
    });
}

fn type_matches(t: &str, value: &JsonValue) -> bool {
    match t {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        // 1.0 is an integer in JSON Schema.
        "integer" => {
            value.is_i64()
                || value.is_u64()
                || value
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        _ => false,
    }
}

fn check(schema: &JsonValue, value: &JsonValue, path: &FieldPath, out: &mut Vec<ArgumentError>) {
    let Some(schema) = schema.as_object() else {
        // `true` accepts anything, `false` nothing.
        if schema == &JsonValue::Bool(false) {
            push(out, path, "is not allowed");
        }
        return;
    };
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            JsonValue::String(t) => vec![t.as_str()],
            JsonValue::Array(ts) => ts.iter().filter_map(JsonValue::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.iter().any(|t| type_matches(t, value)) {
            push(
                out,
                path,
                format!("must be of type {}", allowed.join(" or ")),
            );
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(JsonValue::as_array)
        && !options.contains(value)
    {
        push(out, path, "must be one of the allowed values");
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        push(out, path, "must be the one allowed value");
    }
    match value {
        JsonValue::String(text) => check_string(schema, text, path, out),
        JsonValue::Number(_) => check_number(schema, value, path, out),
        JsonValue::Array(items) => check_array(schema, items, path, out),
        JsonValue::Object(map) => check_object(schema, map, path, out),
        JsonValue::Bool(_) | JsonValue::Null => {}
    }
}

fn limit(schema: &serde_json::Map<String, JsonValue>, key: &str) -> Option<u64> {
    schema.get(key).and_then(JsonValue::as_u64)
}

fn check_string(
    schema: &serde_json::Map<String, JsonValue>,
    text: &str,
    path: &FieldPath,
    out: &mut Vec<ArgumentError>,
) {
    let chars = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
    if let Some(max) = limit(schema, "maxLength")
        && chars > max
    {
        push(out, path, format!("must be at most {max} characters"));
    }
    if let Some(min) = limit(schema, "minLength")
        && chars < min
    {
        push(out, path, format!("must be at least {min} characters"));
    }
    if let Some(pattern) = schema.get("pattern").and_then(JsonValue::as_str) {
        let matches = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text));
        if !matches {
            push(out, path, format!("must match the pattern `{pattern}`"));
        }
    }
}

fn check_number(
    schema: &serde_json::Map<String, JsonValue>,
    value: &JsonValue,
    path: &FieldPath,
    out: &mut Vec<ArgumentError>,
) {
    let Some(n) = value.as_f64() else {
        return;
    };
    let bound = |key: &str| schema.get(key).and_then(JsonValue::as_f64);
    if let Some(min) = bound("minimum")
        && n < min
    {
        push(out, path, format!("must be at least {min}"));
    }
    if let Some(max) = bound("maximum")
        && n > max
    {
        push(out, path, format!("must be at most {max}"));
    }
    if let Some(min) = bound("exclusiveMinimum")
        && n <= min
    {
        push(out, path, format!("must be greater than {min}"));
    }
    if let Some(max) = bound("exclusiveMaximum")
        && n >= max
    {
        push(out, path, format!("must be less than {max}"));
    }
    if let Some(step) = bound("multipleOf")
        && step > 0.0
        && ((n / step).round() * step - n).abs() > f64::EPSILON * n.abs().max(1.0)
    {
        push(out, path, format!("must be a multiple of {step}"));
    }
}

fn check_array(
    schema: &serde_json::Map<String, JsonValue>,
    items: &[JsonValue],
    path: &FieldPath,
    out: &mut Vec<ArgumentError>,
) {
    let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
    if let Some(max) = limit(schema, "maxItems")
        && len > max
    {
        push(out, path, format!("must have at most {max} items"));
    }
    if let Some(min) = limit(schema, "minItems")
        && len < min
    {
        push(out, path, format!("must have at least {min} items"));
    }
    if schema.get("uniqueItems") == Some(&JsonValue::Bool(true))
        && items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].contains(a))
    {
        push(out, path, "must not repeat items");
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &path.index(i), out);
        }
    }
}

fn check_object(
    schema: &serde_json::Map<String, JsonValue>,
    map: &serde_json::Map<String, JsonValue>,
    path: &FieldPath,
    out: &mut Vec<ArgumentError>,
) {
    let properties = schema.get("properties").and_then(JsonValue::as_object);
    if let Some(required) = schema.get("required").and_then(JsonValue::as_array) {
        for name in required.iter().filter_map(JsonValue::as_str) {
            if !map.contains_key(name) {
                push(out, &path.key(name), "is required");
            }
        }
    }
    for (name, value) in map {
        match properties.and_then(|p| p.get(name)) {
            Some(property) => check(property, value, &path.key(name), out),
            None => match schema.get("additionalProperties") {
                Some(JsonValue::Bool(false)) => {
                    push(out, &path.key(name), "is not an argument of this tool");
                }
                Some(extra) if extra.is_object() => check(extra, value, &path.key(name), out),
                _ => {}
            },
        }
    }
}
