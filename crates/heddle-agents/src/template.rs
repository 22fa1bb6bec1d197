//! Placeholders in backend configuration: `"{{param}}"` stands for the whole value of one
//! argument (bound or model-supplied), keeping its JSON type, so `"{{limit}}"` becomes the
//! number `10` and not the string `"10"`. A placeholder inside a longer string is refused when
//! loading: splicing text is how injection starts.

use serde_json::{Map, Value as JsonValue};

use heddle_records::query::RecordQuery;

use crate::locate::FieldPath;

/// What a placeholder's value becomes in the backend call; the lint judges inputs by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An object API name.
    Object,
    /// A field API name (selected, filtered or sorted on, or written with `"*"`).
    Field,
    /// A value compared with or written to a field.
    Value,
    /// The id of the record read or written.
    RecordId,
    /// A page size.
    Limit,
    /// Anything else (an operator, a sort direction).
    Other,
}

/// One placeholder found in a backend: which parameter, where, in what role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderUse {
    pub param: String,
    /// Path relative to the capability document.
    pub path: FieldPath,
    pub role: Role,
}

/// The parameter a whole-string placeholder names: `"{{ stage }}"` → `stage`.
pub fn placeholder(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    is_identifier(inner).then_some(inner)
}

/// Whether the text holds placeholder braces without being exactly one placeholder.
pub fn is_partial_placeholder(text: &str) -> bool {
    (text.contains("{{") || text.contains("}}")) && placeholder(text).is_none()
}

/// Parameter and property names: what providers accept in tool schemas.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Every placeholder (and every malformed one, with `param` empty) in a query template.
pub fn query_placeholders(template: &JsonValue, base: &FieldPath) -> Vec<PlaceholderUse> {
    let mut out = Vec::new();
    let JsonValue::Object(map) = template else {
        return out;
    };
    for (key, value) in map {
        let path = base.key(key);
        match key.as_str() {
            "object" => strings(value, &path, Role::Object, &mut out),
            "fields" => strings(value, &path, Role::Field, &mut out),
            "filter" => filter_placeholders(value, &path, &mut out),
            "order_by" => {
                if let JsonValue::Array(items) = value {
                    for (i, item) in items.iter().enumerate() {
                        keyed(item, &path.index(i), &[("field", Role::Field)], &mut out);
                    }
                } else {
                    strings(value, &path, Role::Other, &mut out);
                }
            }
            "limit" => strings(value, &path, Role::Limit, &mut out),
            _ => strings(value, &path, Role::Other, &mut out),
        }
    }
    out
}

fn filter_placeholders(filter: &JsonValue, path: &FieldPath, out: &mut Vec<PlaceholderUse>) {
    let JsonValue::Object(map) = filter else {
        strings(filter, path, Role::Other, out);
        return;
    };
    for (key, value) in map {
        let sub = path.key(key);
        match (key.as_str(), value) {
            ("and" | "or", JsonValue::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    filter_placeholders(item, &sub.index(i), out);
                }
            }
            ("not", _) => filter_placeholders(value, &sub, out),
            ("field", _) => strings(value, &sub, Role::Field, out),
            ("value", _) => strings(value, &sub, Role::Value, out),
            _ => strings(value, &sub, Role::Other, out),
        }
    }
}

fn keyed(
    value: &JsonValue,
    path: &FieldPath,
    roles: &[(&str, Role)],
    out: &mut Vec<PlaceholderUse>,
) {
    if let JsonValue::Object(map) = value {
        for (key, v) in map {
            let role = roles
                .iter()
                .find(|(k, _)| k == key)
                .map_or(Role::Other, |(_, r)| *r);
            strings(v, &path.key(key), role, out);
        }
    } else {
        strings(value, path, Role::Other, out);
    }
}

/// Placeholders in any string under `value`, all in one role.
fn strings(value: &JsonValue, path: &FieldPath, role: Role, out: &mut Vec<PlaceholderUse>) {
    match value {
        JsonValue::String(s) => {
            if let Some(param) = placeholder(s) {
                out.push(PlaceholderUse {
                    param: param.to_owned(),
                    path: path.clone(),
                    role,
                });
            } else if is_partial_placeholder(s) {
                out.push(PlaceholderUse {
                    param: String::new(),
                    path: path.clone(),
                    role,
                });
            }
        }
        JsonValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, &path.index(i), role, out);
            }
        }
        JsonValue::Object(map) => {
            for (key, v) in map {
                strings(v, &path.key(key), role, out);
            }
        }
        _ => {}
    }
}

/// Why a template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("no argument `{0}` for its placeholder")]
    MissingArgument(String),
    #[error("the filled query is not a valid query: {0}")]
    InvalidQuery(String),
}

/// Replaces every whole-string placeholder with its argument's value.
pub fn fill(
    template: &JsonValue,
    args: &Map<String, JsonValue>,
) -> Result<JsonValue, TemplateError> {
    Ok(match template {
        JsonValue::String(s) => match placeholder(s) {
            Some(param) => args
                .get(param)
                .cloned()
                .ok_or_else(|| TemplateError::MissingArgument(param.to_owned()))?,
            None => template.clone(),
        },
        JsonValue::Array(items) => JsonValue::Array(
            items
                .iter()
                .map(|item| fill(item, args))
                .collect::<Result<_, _>>()?,
        ),
        JsonValue::Object(map) => JsonValue::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill(v, args)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        _ => template.clone(),
    })
}

/// Fills a query template and reads it as a [`RecordQuery`]. The result still goes through
/// `validate_query` (metadata, field-level security) before it runs.
pub fn compile_query(
    template: &JsonValue,
    args: &Map<String, JsonValue>,
) -> Result<RecordQuery, TemplateError> {
    let filled = fill(template, args)?;
    serde_json::from_value(filled).map_err(|e| TemplateError::InvalidQuery(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_are_whole_strings() {
        assert_eq!(placeholder("{{stage}}"), Some("stage"));
        assert_eq!(placeholder("{{ stage }}"), Some("stage"));
        assert_eq!(placeholder("x{{stage}}"), None);
        assert!(is_partial_placeholder("Name = {{n}}"));
        assert!(!is_partial_placeholder("plain"));
    }

    #[test]
    fn fill_keeps_types() {
        let t = json!({"object": "Opportunity", "limit": "{{n}}",
            "filter": {"field": "OwnerId", "op": "eq", "value": "{{me}}"}});
        let args = json!({"n": 5, "me": "005000000000001AAA"});
        let q = compile_query(&t, args.as_object().unwrap()).unwrap();
        assert_eq!(q.limit, Some(5));
        let roles: Vec<Role> = query_placeholders(&t, &FieldPath::root())
            .into_iter()
            .map(|u| u.role)
            .collect();
        assert!(roles.contains(&Role::Limit) && roles.contains(&Role::Value));
    }
}
