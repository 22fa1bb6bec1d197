//! Value validation for writes: every supplied value is checked against its field's
//! [`FieldType`] and returned in canonical form, before any access check or store call.
//!
//! | type | accepted | canonical form |
//! |---|---|---|
//! | text | a string of at most `max_len` characters | unchanged |
//! | email | `local@domain.tld`, at most 254 characters | trimmed, domain lower-cased |
//! | phone | digits, spaces, `+ - ( ) .`, `x`/`ext`; 3+ digits, at most 40 characters | trimmed |
//! | number, currency | a finite JSON number | unchanged |
//! | date | `YYYY-MM-DD`, a real calendar date (years 0001–9999) | unchanged |
//! | picklist | one of the declared values, in any letter case | the declared spelling |
//! | reference | a 15/18-character id with the target object's key prefix (`005` for `User`) | the 18-character id |
//! | boolean | `true` or `false` | unchanged |
//!
//! JSON `null` clears a field that is not required; a required field may be neither null nor
//! an empty string. [`check_required`] is the extra check of a create: every required field
//! present. Unknown fields are errors.
//!
//! Error messages name the object and field and say what is expected; they never quote the
//! value, which may be personal data.

use std::collections::BTreeMap;

use serde_json::Value as JsonValue;

use crate::id::RecordId;
use crate::metadata::{FieldDef, FieldType, ObjectDef, USER_PREFIX};

/// Longest email address accepted (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest phone number accepted, extension included.
pub const MAX_PHONE_LEN: usize = 40;

/// Why a write's values are not acceptable. Never carries the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("unknown field `{field}` on object `{object}`")]
    UnknownField { object: String, field: String },
    #[error("field `{field}` on object `{object}` is required and cannot be null or empty")]
    RequiredCleared { object: String, field: String },
    #[error("object `{object}` requires {}", backticked(fields))]
    MissingRequired { object: String, fields: Vec<String> },
    #[error("field `{field}` on object `{object}` expects {expected}")]
    Invalid {
        object: String,
        field: String,
        expected: String,
    },
    #[error("field `{field}` on object `{object}` refers to unknown object `{target}`")]
    UnknownTarget {
        object: String,
        field: String,
        target: String,
    },
}

fn backticked(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks every value of `fields` against its field on `object` and returns them in canonical
/// form (null values kept: they clear the field). `objects` resolves reference targets.
pub fn validate_fields(
    objects: &[ObjectDef],
    object: &ObjectDef,
    fields: &BTreeMap<String, JsonValue>,
) -> Result<BTreeMap<String, JsonValue>, ValueError> {
    fields
        .iter()
        .map(|(name, value)| {
            let def = object.field(name).ok_or_else(|| ValueError::UnknownField {
                object: object.api_name.clone(),
                field: name.clone(),
            })?;
            let canonical = validate_value(objects, object, def, value)?;
            Ok((name.clone(), canonical))
        })
        .collect()
}

/// A create's extra check: every required field of `object` is present and not null.
/// Reports all missing fields at once.
pub fn check_required(
    object: &ObjectDef,
    fields: &BTreeMap<String, JsonValue>,
) -> Result<(), ValueError> {
    let missing: Vec<String> = object
        .fields
        .iter()
        .filter(|f| f.required)
        .filter(|f| fields.get(&f.api_name).is_none_or(is_blank))
        .map(|f| f.api_name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ValueError::MissingRequired {
            object: object.api_name.clone(),
            fields: missing,
        })
    }
}

/// Null, or an empty string: what a required field may not hold.
fn is_blank(value: &JsonValue) -> bool {
    match value {
        JsonValue::Null => true,
        JsonValue::String(s) => s.is_empty(),
        _ => false,
    }
}

fn validate_value(
    objects: &[ObjectDef],
    object: &ObjectDef,
    field: &FieldDef,
    value: &JsonValue,
) -> Result<JsonValue, ValueError> {
    if is_blank(value) {
        if field.required {
            return Err(ValueError::RequiredCleared {
                object: object.api_name.clone(),
                field: field.api_name.clone(),
            });
        }
        if value.is_null() {
            return Ok(JsonValue::Null);
        }
    }
    let invalid = |expected: String| ValueError::Invalid {
        object: object.api_name.clone(),
        field: field.api_name.clone(),
        expected,
    };
    match &field.field_type {
        FieldType::Text { max_len } => {
            let ok = value
                .as_str()
                .is_some_and(|s| s.chars().count() <= *max_len as usize);
            if ok {
                Ok(value.clone())
            } else {
                Err(invalid(format!("text of at most {max_len} characters")))
            }
        }
        FieldType::Email => value
            .as_str()
            .and_then(canonical_email)
            .map(JsonValue::String)
            .ok_or_else(|| {
                invalid(format!(
                    "an email address like name@example.com, at most {MAX_EMAIL_LEN} characters"
                ))
            }),
        FieldType::Phone => value
            .as_str()
            .map(str::trim)
            .filter(|s| is_phone(s))
            .map(|s| JsonValue::String(s.to_owned()))
            .ok_or_else(|| {
                invalid(format!(
                    "a phone number (digits, spaces, + - ( ) . and an x or ext extension), at \
                     most {MAX_PHONE_LEN} characters"
                ))
            }),
        FieldType::Number | FieldType::Currency => {
            let ok = value
                .as_number()
                .and_then(serde_json::Number::as_f64)
                .is_some_and(f64::is_finite);
            if ok {
                Ok(value.clone())
            } else {
                Err(invalid("a finite number".to_owned()))
            }
        }
        FieldType::Date => {
            if value.as_str().is_some_and(is_date) {
                Ok(value.clone())
            } else {
                Err(invalid("a calendar date as YYYY-MM-DD".to_owned()))
            }
        }
        FieldType::Picklist { values } => {
            let given = value.as_str();
            let found = given.and_then(|g| {
                values
                    .iter()
                    .find(|v| v.as_str() == g)
                    .or_else(|| values.iter().find(|v| v.eq_ignore_ascii_case(g)))
            });
            found
                .map(|v| JsonValue::String(v.clone()))
                .ok_or_else(|| invalid(format!("one of {}", backticked(values))))
        }
        FieldType::Reference { to } => {
            let prefix = if to == "User" {
                USER_PREFIX
            } else {
                objects
                    .iter()
                    .find(|o| &o.api_name == to)
                    .map(|o| o.key_prefix.as_str())
                    .ok_or_else(|| ValueError::UnknownTarget {
                        object: object.api_name.clone(),
                        field: field.api_name.clone(),
                        target: to.clone(),
                    })?
            };
            value
                .as_str()
                .and_then(|s| RecordId::parse(s).ok())
                .filter(|id| id.key_prefix() == prefix)
                .map(|id| JsonValue::String(id.as_str().to_owned()))
                .ok_or_else(|| {
                    invalid(format!(
                        "the 15- or 18-character id of a `{to}` record (key prefix `{prefix}`)"
                    ))
                })
        }
        FieldType::Boolean => {
            if value.is_boolean() {
                Ok(value.clone())
            } else {
                Err(invalid("true or false".to_owned()))
            }
        }
    }
}

/// A sane address shape (not the full RFC 5322 grammar): one `@`, a dot-atom local part of at
/// most 64 characters, a domain of at least two DNS labels. Returns it trimmed with the domain
/// lower-cased.
fn canonical_email(input: &str) -> Option<String> {
    let input = input.trim();
    if input.len() > MAX_EMAIL_LEN {
        return None;
    }
    let (local, domain) = input.split_once('@')?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()));
    (local_ok && domain_ok).then(|| format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Digits, spaces and `+ - ( ) .`, optionally followed by an extension marked `x` or `ext`
/// (any case, an optional `.`) and its digits; at least three digits before the extension.
fn is_phone(input: &str) -> bool {
    if input.is_empty() || input.chars().count() > MAX_PHONE_LEN {
        return false;
    }
    let lower = input.to_ascii_lowercase();
    let (number, extension) = match lower.find(['x', 'e']) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let number_ok = number
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && number.chars().filter(char::is_ascii_digit).count() >= 3;
    let extension_ok = extension.is_empty() || {
        let digits = extension
            .strip_prefix("ext")
            .or_else(|| extension.strip_prefix('x'))
            .map(|rest| rest.trim_start_matches('.').trim_start());
        digits.is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
    };
    number_ok && extension_ok
}

/// `YYYY-MM-DD` naming a day that exists (leap years included), years 0001 to 9999.
fn is_date(input: &str) -> bool {
    let bytes = input.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = input.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && (1..=days_in_month).contains(&day)
}
