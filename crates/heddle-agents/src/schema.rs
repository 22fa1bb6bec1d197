//! Capability input schemas: the JSON Schema (draft 2020-12) subset Heddle accepts, the schema
//! the model sees (bound parameters removed) and the injection of bound values.
//!
//! The subset is what narrow tool contracts need and what every provider's tool format
//! understands. An unknown keyword is an error, not ignored: a misspelt `maxlength` would
//! otherwise silently drop the bound it was meant to set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as JsonValue};

use crate::config::{BoundSource, CapabilitySpec};
use crate::locate::FieldPath;
use crate::template::is_identifier;

/// Keywords accepted in a property or nested schema.
const KEYWORDS: &[&str] = &[
    "type",
    "title",
    "description",
    "enum",
    "const",
    "default",
    "examples",
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
];

const TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "array", "object", "null",
];

/// Problems in an input schema, as (path relative to the schema, message).
pub fn check_schema(schema: &JsonValue) -> Vec<(FieldPath, String)> {
    let mut out = Vec::new();
    let root = FieldPath::root();
    match schema.get("type").and_then(JsonValue::as_str) {
        Some("object") => {}
        _ => out.push((
            root.key("type"),
            "an input schema must be `type: object`".to_owned(),
        )),
    }
    check_node(schema, &root, true, &mut out);
    out
}

fn check_node(node: &JsonValue, path: &FieldPath, top: bool, out: &mut Vec<(FieldPath, String)>) {
    let Some(map) = node.as_object() else {
        out.push((path.clone(), "a schema must be a mapping".to_owned()));
        return;
    };
    for (key, value) in map {
        let here = path.key(key);
        if !(KEYWORDS.contains(&key.as_str()) || (top && key == "$schema")) {
            out.push((
                here.clone(),
                format!(
                    "unsupported schema keyword `{key}` (supported: {})",
                    KEYWORDS.join(", ")
                ),
            ));
            continue;
        }
        match key.as_str() {
            "type" => {
                let ok = match value {
                    JsonValue::String(t) => TYPES.contains(&t.as_str()),
                    JsonValue::Array(ts) => ts
                        .iter()
                        .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))),
                    _ => false,
                };
                if !ok {
                    out.push((here, format!("`type` must be one of {}", TYPES.join(", "))));
                }
            }
            "properties" => match value.as_object() {
                Some(props) => {
                    for (name, sub) in props {
                        if !is_identifier(name) {
                            out.push((
                                here.key(name),
                                "property names must be letters, digits and `_`, at most 64"
                                    .to_owned(),
                            ));
                        }
                        check_node(sub, &here.key(name), false, out);
                    }
                }
                None => out.push((here, "`properties` must be a mapping".to_owned())),
            },
            "items" => check_node(value, &here, false, out),
            "required" => {
                let names = value.as_array().map(|a| {
                    a.iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                });
                match names.flatten() {
                    Some(names) => {
                        let props = map.get("properties").and_then(JsonValue::as_object);
                        for (i, name) in names.iter().enumerate() {
                            if !props.is_some_and(|p| p.contains_key(name)) {
                                out.push((
                                    here.index(i),
                                    format!("required property `{name}` is not in `properties`"),
                                ));
                            }
                        }
                    }
                    None => out.push((here, "`required` must be a list of names".to_owned())),
                }
            }
            "additionalProperties" if !value.is_boolean() => out.push((
                here,
                "`additionalProperties` must be `true` or `false` here".to_owned(),
            )),
            "enum" if value.as_array().is_none_or(Vec::is_empty) => {
                out.push((here, "`enum` must be a non-empty list".to_owned()));
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" if value.as_u64().is_none() => {
                out.push((here, format!("`{key}` must be a non-negative integer")));
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf"
                if !value.is_number() =>
            {
                out.push((here, format!("`{key}` must be a number")));
            }
            "pattern" | "format" | "title" | "description" if !value.is_string() => {
                out.push((here, format!("`{key}` must be a string")));
            }
            // Checked when the file loads, not first when a model call hits it.
            "pattern"
                if value
                    .as_str()
                    .is_some_and(|p| regex::Regex::new(p).is_err()) =>
            {
                out.push((
                    here,
                    "`pattern` does not compile (Rust `regex` syntax: no look-around or \
                     back-references)"
                        .to_owned(),
                ));
            }
            _ => {}
        }
    }
}

/// The properties of an object schema, each with its path relative to the schema, recursing
/// into nested objects and array items.
pub fn walk_properties(schema: &JsonValue) -> Vec<(FieldPath, String, &JsonValue)> {
    let mut out = Vec::new();
    walk(schema, &FieldPath::root(), &mut out);
    out
}

fn walk<'a>(
    node: &'a JsonValue,
    path: &FieldPath,
    out: &mut Vec<(FieldPath, String, &'a JsonValue)>,
) {
    if let Some(props) = node.get("properties").and_then(JsonValue::as_object) {
        for (name, sub) in props {
            let here = path.key("properties").key(name);
            out.push((here.clone(), name.clone(), sub));
            walk(sub, &here, out);
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, &path.key("items"), out);
    }
}

/// Every object schema in the tree (the root included), with its path.
pub fn object_schemas(schema: &JsonValue) -> Vec<(FieldPath, &JsonValue)> {
    let mut out = Vec::new();
    if is_object_schema(schema) {
        out.push((FieldPath::root(), schema));
    }
    for (path, _, sub) in walk_properties(schema) {
        if let Some(items) = sub.get("items").filter(|i| is_object_schema(i)) {
            out.push((path.key("items"), items));
        }
        if is_object_schema(sub) {
            out.push((path, sub));
        }
    }
    out
}

fn is_object_schema(node: &JsonValue) -> bool {
    node.get("type").and_then(JsonValue::as_str) == Some("object")
        || node.get("properties").is_some()
}

/// Whether a schema's type is (or includes) `t`.
pub fn has_type(node: &JsonValue, t: &str) -> bool {
    match node.get("type") {
        Some(JsonValue::String(s)) => s == t,
        Some(JsonValue::Array(ts)) => ts.iter().any(|v| v.as_str() == Some(t)),
        _ => false,
    }
}

/// Whether a value is limited to listed choices (`enum`/`const`, or array items that are).
pub fn is_enumerated(node: &JsonValue) -> bool {
    node.get("enum").is_some()
        || node.get("const").is_some()
        || node.get("items").is_some_and(is_enumerated)
}

/// The schema the model is given: the input schema without bound parameters.
pub fn model_schema(spec: &CapabilitySpec) -> JsonValue {
    let mut schema = spec.input_schema.clone();
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        if let Some(JsonValue::Object(props)) = map.get_mut("properties") {
            props.retain(|name, _| !spec.bound_inputs.contains_key(name));
        }
        if let Some(JsonValue::Array(required)) = map.get_mut("required") {
            required.retain(|name| {
                name.as_str()
                    .is_none_or(|n| !spec.bound_inputs.contains_key(n))
            });
        }
    }
    schema
}

/// A tool as offered to a model: name, description, parameter schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    pub parameters: JsonValue,
}

/// The values bound inputs are taken from, as the session knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundContext {
    pub user_id: Option<String>,
    pub verified_customer_id: Option<String>,
    pub session_record_id: Option<String>,
}

impl BoundContext {
    pub fn get(&self, source: BoundSource) -> Option<&str> {
        match source {
            BoundSource::UserId => self.user_id.as_deref(),
            BoundSource::VerifiedCustomerId => self.verified_customer_id.as_deref(),
            BoundSource::SessionRecordId => self.session_record_id.as_deref(),
        }
    }
}

/// Why a model's arguments could not be completed with bound values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("the arguments must be a JSON object")]
    NotAnObject,
    /// The model tried to supply a value the runtime binds: refused, never overwritten
    /// silently, so the attempt is visible in the execution record.
    #[error("`{0}` is bound from the session and may not be supplied")]
    BoundParameterSupplied(String),
    /// The session has no such value yet (for example, the customer is not verified).
    #[error("`{param}` needs `{}`, which this session does not have", from.as_str())]
    MissingContext { param: String, from: BoundSource },
}

/// The model's arguments with every bound parameter added from `context`.
pub fn bind_arguments(
    bound: &BTreeMap<String, BoundSource>,
    arguments: JsonValue,
    context: &BoundContext,
) -> Result<Map<String, JsonValue>, BindError> {
    let JsonValue::Object(mut args) = arguments else {
        return Err(BindError::NotAnObject);
    };
    if let Some(name) = bound.keys().find(|name| args.contains_key(*name)) {
        return Err(BindError::BoundParameterSupplied(name.clone()));
    }
    for (param, source) in bound {
        let value = context
            .get(*source)
            .ok_or_else(|| BindError::MissingContext {
                param: param.clone(),
                from: *source,
            })?;
        args.insert(param.clone(), JsonValue::String(value.to_owned()));
    }
    Ok(args)
}
