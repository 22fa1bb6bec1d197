//! Checks on what a model produces before anything acts on it or shows it: JSON Schema
//! validation of structured outputs and tool arguments ([`validate_json`]), the shape and
//! checksum of CRM record ids ([`check_record_id`]), and HTML encoding for the console
//! ([`html_escape`]).
//!
//! The validator covers the JSON Schema subset that tool and output schemas use in practice
//! (draft 2020-12 semantics, with the draft-4 boolean `exclusiveMinimum`/`exclusiveMaximum` and
//! array-form `items` also understood). Keywords it does not know are ignored, as the
//! specification asks; a `$ref` it cannot resolve is a violation rather than a silent pass.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::rules::literal_regex;

/// One way a value does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaViolation {
    /// JSON pointer (RFC 6901) to the offending part of the value; `""` is the whole value.
    pub path: String,
    pub message: String,
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(root): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// At most this many violations are reported: enough to repair a value, bounded for a value
/// that is wrong everywhere.
pub const MAX_VIOLATIONS: usize = 100;
/// How deep schemas may nest (through `$ref` too), so a self-referencing schema ends.
const MAX_DEPTH: usize = 64;

/// Validates `value` against `schema`. An empty result means the value is valid.
pub fn validate_json(schema: &Value, value: &Value) -> Vec<SchemaViolation> {
    let mut validator = Validator {
        root: schema,
        out: Vec::new(),
        path: String::new(),
    };
    validator.check(schema, value, 0);
    // Sorted by path: serde_json's map order depends on a feature another crate may turn on.
    validator.out.sort_by(|a, b| a.path.cmp(&b.path));
    validator.out
}

/// Whether `value` is valid against `schema`.
pub fn is_valid_json(schema: &Value, value: &Value) -> bool {
    validate_json(schema, value).is_empty()
}

struct Validator<'s> {
    root: &'s Value,
    out: Vec<SchemaViolation>,
    /// The JSON pointer of the value being checked; pushed and truncated as the walk goes.
    path: String,
}

impl<'s> Validator<'s> {
    fn violation(&mut self, message: impl Into<String>) {
        if self.out.len() < MAX_VIOLATIONS {
            self.out.push(SchemaViolation {
                path: self.path.clone(),
                message: message.into(),
            });
        }
    }

    /// Whether `value` fits `schema`, without recording anything (for `anyOf`, `oneOf`, `not`).
    fn fits(&self, schema: &'s Value, value: &Value, depth: usize) -> bool {
        let mut probe = Validator {
            root: self.root,
            out: Vec::new(),
            path: self.path.clone(),
        };
        probe.check(schema, value, depth);
        probe.out.is_empty()
    }

    fn at_key<F: FnOnce(&mut Self)>(&mut self, key: &str, f: F) {
        let len = self.path.len();
        self.path.push('/');
        for c in key.chars() {
            match c {
                '~' => self.path.push_str("~0"),
                '/' => self.path.push_str("~1"),
                _ => self.path.push(c),
            }
        }
        f(self);
        self.path.truncate(len);
    }

    fn at_index<F: FnOnce(&mut Self)>(&mut self, index: usize, f: F) {
        let len = self.path.len();
        self.path.push('/');
        self.path.push_str(&index.to_string());
        f(self);
        self.path.truncate(len);
    }

    fn check(&mut self, schema: &'s Value, value: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            self.violation("the schema nests too deeply");
            return;
        }
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.violation("no value is allowed here");
                return;
            }
            Value::Object(schema) => schema,
            _ => {
                self.violation("the schema is not an object or a boolean");
                return;
            }
        };

        if let Some(reference) = schema.get("$ref") {
            match reference.as_str().and_then(|r| self.resolve(r)) {
                Some(target) => self.check(target, value, depth + 1),
                None => self.violation(format!("the schema's $ref {reference} does not resolve")),
            }
        }
        if let Some(types) = schema.get("type") {
            self.check_type(types, value);
        }
        if let Some(allowed) = schema.get("enum") {
            match allowed.as_array() {
                Some(allowed) if allowed.iter().any(|a| json_equal(a, value)) => {}
                Some(_) => {
                    self.violation(format!("{} is not one of the allowed values", brief(value)))
                }
                None => self.violation("the schema's enum is not an array"),
            }
        }
        if let Some(constant) = schema.get("const")
            && !json_equal(constant, value)
        {
            self.violation(format!("must be {}", brief(constant)));
        }
        self.check_combinators(schema, value, depth);

        match value {
            Value::String(text) => self.check_string(schema, text),
            Value::Number(_) => self.check_number(schema, value),
            Value::Array(items) => self.check_array(schema, items, depth),
            Value::Object(object) => self.check_object(schema, object, depth),
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// Resolves a local reference (`#`, `#/$defs/name`, `#/definitions/name`); remote ones are
    /// not fetched.
    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        // The fragment may be percent-encoded; tool schemas use plain names, so only `%25`
        // and the common escapes of the pointer syntax are undone.
        let decoded = pointer.replace("%25", "%").replace("%22", "\"");
        self.root.pointer(&decoded)
    }

    fn check_type(&mut self, types: &Value, value: &Value) {
        let fits = |name: &str| match name {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => is_integer(value),
            _ => false,
        };
        let matched = match types {
            Value::String(name) => fits(name),
            Value::Array(names) => names.iter().filter_map(Value::as_str).any(fits),
            _ => {
                self.violation("the schema's type is not a string or an array");
                return;
            }
        };
        if !matched {
            let expected = match types {
                Value::String(name) => name.clone(),
                _ => types
                    .as_array()
                    .map(|names| {
                        names
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" or ")
                    })
                    .unwrap_or_default(),
            };
            self.violation(format!("expected {expected}, found {}", type_name(value)));
        }
    }

    fn check_combinators(&mut self, schema: &'s Map<String, Value>, value: &Value, depth: usize) {
        if let Some(all) = schema.get("allOf") {
            match all.as_array() {
                Some(all) => {
                    for sub in all {
                        self.check(sub, value, depth + 1);
                    }
                }
                None => self.violation("the schema's allOf is not an array"),
            }
        }
        if let Some(any) = schema.get("anyOf") {
            match any.as_array() {
                Some(any) if any.iter().any(|sub| self.fits(sub, value, depth + 1)) => {}
                Some(_) => self.violation("matches none of the anyOf alternatives"),
                None => self.violation("the schema's anyOf is not an array"),
            }
        }
        if let Some(one) = schema.get("oneOf") {
            match one.as_array() {
                Some(one) => {
                    let matching = one
                        .iter()
                        .filter(|sub| self.fits(sub, value, depth + 1))
                        .count();
                    if matching != 1 {
                        self.violation(format!(
                            "matches {matching} of the oneOf alternatives, not exactly one"
                        ));
                    }
                }
                None => self.violation("the schema's oneOf is not an array"),
            }
        }
        if let Some(not) = schema.get("not")
            && self.fits(not, value, depth + 1)
        {
            self.violation("matches a schema it must not match");
        }
    }

    fn check_string(&mut self, schema: &Map<String, Value>, text: &str) {
        let min = schema.get("minLength").and_then(Value::as_u64);
        let max = schema.get("maxLength").and_then(Value::as_u64);
        if min.is_some() || max.is_some() {
            // Lengths are in characters (code points), as the specification counts them.
            let len = text.chars().count() as u64;
            if let Some(min) = min
                && len < min
            {
                self.violation(format!("shorter than {min} characters"));
            }
            if let Some(max) = max
                && len > max
            {
                self.violation(format!("longer than {max} characters"));
            }
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(pattern) {
                Ok(regex) if regex.is_match(text) => {}
                Ok(_) => self.violation(format!("does not match the pattern {pattern}")),
                Err(_) => {
                    self.violation(format!("the schema's pattern {pattern} does not compile"))
                }
            }
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            let valid = match format {
                "email" => is_email(text),
                "date" => is_date(text),
                "date-time" => is_date_time(text),
                "uuid" => is_uuid(text),
                // Other formats are annotations here.
                _ => true,
            };
            if !valid {
                self.violation(format!("is not a valid {format}"));
            }
        }
    }

    fn check_number(&mut self, schema: &Map<String, Value>, value: &Value) {
        let Some(n) = value.as_f64() else {
            return;
        };
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        // Draft 4 wrote exclusiveness as a boolean beside minimum/maximum.
        let draft4_exclusive = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
        if let Some(min) = bound("minimum") {
            if draft4_exclusive("exclusiveMinimum") {
                if n <= min {
                    self.violation(format!("must be greater than {min}"));
                }
            } else if n < min {
                self.violation(format!("must be at least {min}"));
            }
        }
        if let Some(max) = bound("maximum") {
            if draft4_exclusive("exclusiveMaximum") {
                if n >= max {
                    self.violation(format!("must be less than {max}"));
                }
            } else if n > max {
                self.violation(format!("must be at most {max}"));
            }
        }
        if let Some(min) = bound("exclusiveMinimum")
            && n <= min
        {
            self.violation(format!("must be greater than {min}"));
        }
        if let Some(max) = bound("exclusiveMaximum")
            && n >= max
        {
            self.violation(format!("must be less than {max}"));
        }
        if let Some(step) = bound("multipleOf")
            && step > 0.0
        {
            let quotient = n / step;
            if !quotient.is_finite() || (quotient - quotient.round()).abs() > 1e-9 {
                self.violation(format!("must be a multiple of {step}"));
            }
        }
    }

    fn check_array(&mut self, schema: &'s Map<String, Value>, items: &[Value], depth: usize) {
        let len = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            self.violation(format!("has fewer than {min} items"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            self.violation(format!("has more than {max} items"));
        }
        if schema.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
            let duplicate = items.iter().enumerate().find_map(|(i, a)| {
                items
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().position(|b| json_equal(a, b)))
                    .map(|offset| (i, i + 1 + offset))
            });
            if let Some((first, second)) = duplicate {
                self.violation(format!("items {first} and {second} are equal"));
            }
        }

        // Positional schemas: `prefixItems` (2020-12) or array-form `items` (earlier drafts),
        // then `items` (2020-12) or `additionalItems` (earlier) for the rest.
        let (positional, rest) = match (schema.get("prefixItems"), schema.get("items")) {
            (Some(Value::Array(prefix)), rest) => (prefix.as_slice(), rest),
            (_, Some(Value::Array(tuple))) => (tuple.as_slice(), schema.get("additionalItems")),
            (_, rest) => (&[][..], rest),
        };
        for (index, item) in items.iter().enumerate() {
            let item_schema = positional.get(index).or(rest);
            if let Some(item_schema) = item_schema {
                self.at_index(index, |v| v.check(item_schema, item, depth + 1));
            }
        }
        if let Some(contains) = schema.get("contains")
            && !items
                .iter()
                .any(|item| self.fits(contains, item, depth + 1))
        {
            self.violation("contains no item matching the contains schema");
        }
    }

    fn check_object(
        &mut self,
        schema: &'s Map<String, Value>,
        object: &Map<String, Value>,
        depth: usize,
    ) {
        let len = object.len() as u64;
        if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
            && len < min
        {
            self.violation(format!("has fewer than {min} properties"));
        }
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
            && len > max
        {
            self.violation(format!("has more than {max} properties"));
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    self.violation(format!("missing required property `{name}`"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let patterns: Vec<(regex::Regex, &'s Value)> =
            match schema.get("patternProperties").and_then(Value::as_object) {
                Some(patterns) => {
                    let mut compiled = Vec::with_capacity(patterns.len());
                    for (pattern, sub) in patterns {
                        match regex::Regex::new(pattern) {
                            Ok(regex) => compiled.push((regex, sub)),
                            Err(_) => self.violation(format!(
                                "the schema's patternProperties key {pattern} does not compile"
                            )),
                        }
                    }
                    compiled
                }
                None => Vec::new(),
            };
        for (key, item) in object {
            let mut known = false;
            if let Some(sub) = properties.and_then(|p| p.get(key)) {
                known = true;
                self.at_key(key, |v| v.check(sub, item, depth + 1));
            }
            for (regex, sub) in &patterns {
                if regex.is_match(key) {
                    known = true;
                    self.at_key(key, |v| v.check(sub, item, depth + 1));
                }
            }
            if known {
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    self.at_key(key, |v| {
                        v.violation(format!("property `{key}` is not allowed"))
                    });
                }
                Some(sub) => self.at_key(key, |v| v.check(sub, item, depth + 1)),
                None => {}
            }
        }
    }
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if is_integer(value) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A short rendering of a value for a message: values from the model may be long or carry
/// data, so only scalars up to a few dozen characters are quoted.
fn brief(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) => type_name(value).to_owned(),
        _ => {
            let text = value.to_string();
            if text.chars().count() > 40 {
                format!("{}…", text.chars().take(40).collect::<String>())
            } else {
                text
            }
        }
    }
}

/// JSON equality as the specification defines it: numbers compare by value (`1 == 1.0`),
/// objects regardless of key order.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, a)| y.get(key).is_some_and(|b| json_equal(a, b)))
        }
        _ => a == b,
    }
}

/// An address as RFC 5321 writes it: a dot-atom local part and a host name. Quoted local
/// parts and address literals (`user@[10.0.0.1]`) are refused: no CRM address looks like
/// that, and agents that write one are usually being steered.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    local_ok && is_hostname(domain)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
}

fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// RFC 3339 `full-date`: `YYYY-MM-DD`, with the day checked against the month and leap years.
fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (
        text.get(0..4).and_then(digits),
        text.get(5..7).and_then(digits),
        text.get(8..10).and_then(digits),
    ) else {
        return false;
    };
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339 `date-time`: a full date, `T`, `HH:MM:SS`, optional fraction, and `Z` or a
/// numeric offset. `T` and `Z` may be lower case, as the RFC allows.
fn is_date_time(text: &str) -> bool {
    let Some((date, time)) = text.split_once(['T', 't']) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, None)
    } else if let Some(at) = time.rfind(['+', '-']) {
        (time.get(..at).unwrap_or(""), time.get(at + 1..))
    } else {
        return false;
    };
    if let Some(offset) = offset {
        let valid = offset.len() == 5
            && offset.as_bytes().get(2) == Some(&b':')
            && offset.get(0..2).and_then(digits).is_some_and(|h| h <= 23)
            && offset.get(3..5).and_then(digits).is_some_and(|m| m <= 59);
        if !valid {
            return false;
        }
    }
    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (clock, None),
    };
    if let Some(fraction) = fraction
        && (fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let bytes = whole.as_bytes();
    bytes.len() == 8
        && bytes.get(2) == Some(&b':')
        && bytes.get(5) == Some(&b':')
        && whole.get(0..2).and_then(digits).is_some_and(|h| h <= 23)
        && whole.get(3..5).and_then(digits).is_some_and(|m| m <= 59)
        // 60 for a leap second.
        && whole.get(6..8).and_then(digits).is_some_and(|s| s <= 60)
}

/// A UUID in its hyphenated form, any version, either case.
fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Why a string is not a well-formed record id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum RecordIdProblem {
    /// Record ids are 15 or 18 characters.
    Length { len: usize },
    /// Only ASCII letters and digits appear in record ids.
    Character { index: usize },
    /// The last three characters of an 18-character id encode the case of the first 15;
    /// these do not. The id was mistyped, truncated and padded, or its case was changed.
    Checksum { expected: String },
    /// The id is of another object type than expected.
    Prefix { expected: String, found: String },
}

impl fmt::Display for RecordIdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordIdProblem::Length { len } => {
                write!(f, "a record id has 15 or 18 characters, not {len}")
            }
            RecordIdProblem::Character { index } => {
                write!(f, "character {index} is not an ASCII letter or digit")
            }
            RecordIdProblem::Checksum { expected } => {
                write!(f, "the case-safe suffix should be {expected}")
            }
            RecordIdProblem::Prefix { expected, found } => {
                write!(f, "the id's key prefix is {found}, not {expected}")
            }
        }
    }
}

impl std::error::Error for RecordIdProblem {}

/// The three-character case-safe suffix of a 15-character Salesforce id: for each five-character
/// chunk, a bit per upper-case letter (first character lowest), written as one of 32 symbols.
pub fn record_id_suffix(id15: &str) -> Option<String> {
    const SYMBOLS: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let bytes = id15.as_bytes();
    if bytes.len() != 15 || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let suffix = bytes
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |bits, (i, _)| bits | (1 << i));
            char::from(SYMBOLS.get(bits).copied().unwrap_or(b'A'))
        })
        .collect();
    Some(suffix)
}

/// Checks that `value` is a well-formed Salesforce record id: 15 case-sensitive or 18
/// case-safe ASCII letters and digits, the 18-character suffix matching the first 15 (compared
/// ignoring case, as the suffix is itself case-safe), and, when `key_prefix` is given (`001`
/// for accounts, `003` for contacts, `006` for opportunities), starting with that prefix.
pub fn check_record_id(value: &str, key_prefix: Option<&str>) -> Result<(), RecordIdProblem> {
    let len = value.len();
    if let Some(index) = value.bytes().position(|b| !b.is_ascii_alphanumeric()) {
        return Err(RecordIdProblem::Character { index });
    }
    if len != 15 && len != 18 {
        return Err(RecordIdProblem::Length { len });
    }
    if len == 18 {
        let (head, suffix) = value.split_at(15);
        let expected = record_id_suffix(head).unwrap_or_default();
        if !suffix.eq_ignore_ascii_case(&expected) {
            return Err(RecordIdProblem::Checksum { expected });
        }
    }
    if let Some(prefix) = key_prefix
        && !value.starts_with(prefix)
    {
        return Err(RecordIdProblem::Prefix {
            expected: prefix.to_owned(),
            found: value.get(..3).unwrap_or(value).to_owned(),
        });
    }
    Ok(())
}

/// Encodes `text` for HTML element content and quoted attribute values: `&`, `<`, `>`, `"`
/// and `'` become character references. `/` is left as is: with `<` encoded no tag (not even
/// `</script>`) can form, and it matters only in unquoted attributes, which the console never
/// renders into. Text without those five characters comes back unchanged.
pub fn html_escape(text: &str) -> String {
    let extra = text
        .bytes()
        .map(|b| match b {
            b'&' => 4,
            b'<' | b'>' => 3,
            b'"' | b'\'' => 5,
            _ => 0,
        })
        .sum::<usize>();
    let mut out = String::with_capacity(text.len() + extra);
    if extra == 0 {
        out.push_str(text);
        return out;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// Record-id-shaped tokens (15 or 18 letters and digits with at least one digit) in a text,
/// for checking the ids a model cites; byte offsets.
pub fn record_id_candidates(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    static CANDIDATE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| literal_regex(r"\b[A-Za-z0-9]{18}\b|\b[A-Za-z0-9]{15}\b"));
    CANDIDATE
        .find_iter(text)
        .filter(|m| m.as_str().bytes().any(|b| b.is_ascii_digit()))
        .map(|m| (m.start(), m.end()))
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
    use proptest::prelude::*;
    use serde_json::json;

    fn paths(schema: &Value, value: &Value) -> Vec<String> {
        validate_json(schema, value)
            .into_iter()
            .map(|v| v.path)
            .collect()
    }

    #[test]
    fn tool_arguments_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "account_id": {"type": "string", "pattern": "^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$"},
                "amount": {"type": "number", "minimum": 0, "exclusiveMaximum": 1000000},
                "stage": {"enum": ["prospecting", "negotiation", "closed_won"]},
                "contacts": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 3,
                    "uniqueItems": true,
                    "items": {"type": "string", "format": "email"}
                },
                "close_date": {"type": "string", "format": "date"},
                "note": {"type": ["string", "null"], "maxLength": 10}
            },
            "required": ["account_id", "amount"],
            "additionalProperties": false
        });
        let good = json!({
            "account_id": "001000000000001",
            "amount": 2500.5,
            "stage": "negotiation",
            "contacts": ["ana@acme.example", "bo@acme.example"],
            "close_date": "2024-02-29",
            "note": null
        });
        assert_eq!(validate_json(&schema, &good), vec![]);

        let bad = json!({
            "account_id": "003000000000001",
            "amount": 1000000,
            "stage": "lost",
            "contacts": ["ana@acme.example", "ana@acme.example", "not an email"],
            "close_date": "2023-02-29",
            "note": "far too long for this",
            "admin": true
        });
        let mut found = paths(&schema, &bad);
        found.sort();
        assert_eq!(
            found,
            vec![
                "/account_id",
                "/admin",
                "/amount",
                "/close_date",
                "/contacts",
                "/contacts/2",
                "/note",
                "/stage"
            ]
        );
        let missing = validate_json(&schema, &json!({"amount": "12"}));
        let messages: Vec<String> = missing.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            vec![
                "(root): missing required property `account_id`",
                "/amount: expected number, found string"
            ]
        );
    }

    #[test]
    fn types_and_integers() {
        let integer = json!({"type": "integer"});
        assert!(is_valid_json(&integer, &json!(3)));
        assert!(is_valid_json(&integer, &json!(3.0)));
        assert!(!is_valid_json(&integer, &json!(3.5)));
        assert!(!is_valid_json(&integer, &json!("3")));
        assert!(is_valid_json(&json!({"type": "number"}), &json!(3)));
        assert!(is_valid_json(
            &json!({"type": ["null", "boolean"]}),
            &json!(false)
        ));
        assert!(!is_valid_json(
            &json!({"type": ["null", "boolean"]}),
            &json!(0)
        ));
        assert!(is_valid_json(&json!({"type": "array"}), &json!([])));
        assert!(!is_valid_json(&json!({"type": "object"}), &json!([])));
    }

    #[test]
    fn boolean_and_malformed_schemas() {
        assert!(is_valid_json(&json!(true), &json!({"a": 1})));
        assert_eq!(paths(&json!(false), &json!(1)), vec![""]);
        let bad = validate_json(&json!("string"), &json!(1));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].path, "");
        assert!(bad[0].message.contains("not an object"));
        assert_eq!(paths(&json!(42), &json!(null)), vec![""]);
        // Unknown keywords are ignored.
        assert!(is_valid_json(
            &json!({"x-heddle": 1, "description": "d", "title": "t", "format": "hostname"}),
            &json!("anything")
        ));
    }

    #[test]
    fn additional_properties_as_schema_and_pattern_properties() {
        let schema = json!({
            "properties": {"name": {"type": "string"}},
            "patternProperties": {"^x-": {"type": "integer"}},
            "additionalProperties": {"type": "boolean"}
        });
        assert!(is_valid_json(
            &schema,
            &json!({"name": "n", "x-a": 1, "flag": true})
        ));
        assert_eq!(
            paths(&schema, &json!({"name": 1, "x-a": "1", "flag": "yes"})),
            vec!["/flag", "/name", "/x-a"]
        );
    }

    #[test]
    fn json_pointer_escaping() {
        let schema = json!({"additionalProperties": false});
        assert_eq!(paths(&schema, &json!({"a/b~c": 1})), vec!["/a~1b~0c"]);
        let nested = json!({"items": {"properties": {"k": {"type": "string"}}}});
        assert_eq!(
            paths(&nested, &json!([{"k": "ok"}, {"k": 1}])),
            vec!["/1/k"]
        );
    }

    #[test]
    fn const_enum_and_numeric_equality() {
        assert!(is_valid_json(&json!({"const": 1}), &json!(1.0)));
        assert!(is_valid_json(
            &json!({"enum": [{"a": [1, 2]}]}),
            &json!({"a": [1.0, 2]})
        ));
        assert!(!is_valid_json(&json!({"const": "x"}), &json!("y")));
        assert!(!is_valid_json(
            &json!({"uniqueItems": true}),
            &json!([1, 1.0])
        ));
        assert!(is_valid_json(
            &json!({"uniqueItems": true}),
            &json!([1, "1", [1]])
        ));
    }

    #[test]
    fn string_lengths_count_characters() {
        let schema = json!({"minLength": 2, "maxLength": 3});
        assert!(is_valid_json(&schema, &json!("äöü")));
        assert!(!is_valid_json(&schema, &json!("ä")));
        assert!(!is_valid_json(&schema, &json!("äöüß")));
        // A bad pattern is a violation, not a pass.
        assert!(!is_valid_json(&json!({"pattern": "("}), &json!("x")));
        // `pattern` is a search, not anchored.
        assert!(is_valid_json(&json!({"pattern": "b"}), &json!("abc")));
    }

    #[test]
    fn numeric_bounds() {
        let schema = json!({"minimum": 1, "maximum": 10, "multipleOf": 0.5});
        assert!(is_valid_json(&schema, &json!(1)));
        assert!(is_valid_json(&schema, &json!(10)));
        assert!(is_valid_json(&schema, &json!(2.5)));
        assert!(!is_valid_json(&schema, &json!(0.5)));
        assert!(!is_valid_json(&schema, &json!(10.5)));
        assert!(!is_valid_json(&schema, &json!(2.2)));
        let exclusive = json!({"exclusiveMinimum": 0, "exclusiveMaximum": 1});
        assert!(!is_valid_json(&exclusive, &json!(0)));
        assert!(is_valid_json(&exclusive, &json!(0.5)));
        assert!(!is_valid_json(&exclusive, &json!(1)));
        let draft4 = json!({"minimum": 0, "exclusiveMinimum": true});
        assert!(!is_valid_json(&draft4, &json!(0)));
        assert!(is_valid_json(&draft4, &json!(0.1)));
        // Bounds apply to numbers only.
        assert!(is_valid_json(&json!({"minimum": 5}), &json!("3")));
    }

    #[test]
    fn combinators() {
        let any = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        assert!(is_valid_json(&any, &json!("a")));
        assert!(!is_valid_json(&any, &json!(1.5)));
        let one = json!({"oneOf": [{"type": "integer"}, {"minimum": 0}]});
        assert!(is_valid_json(&one, &json!(-1)));
        assert!(is_valid_json(&one, &json!(0.5)));
        assert!(!is_valid_json(&one, &json!(1)));
        let all = json!({"allOf": [{"type": "string"}, {"maxLength": 2}]});
        assert!(is_valid_json(&all, &json!("ab")));
        assert_eq!(validate_json(&all, &json!("abc")).len(), 1);
        assert!(!is_valid_json(
            &json!({"not": {"type": "null"}}),
            &json!(null)
        ));
        // Violations inside anyOf alternatives do not leak out.
        assert_eq!(validate_json(&any, &json!(null)).len(), 1);
    }

    #[test]
    fn arrays_tuples_and_contains() {
        let tuple =
            json!({"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false});
        assert!(is_valid_json(&tuple, &json!(["a", 1])));
        assert_eq!(paths(&tuple, &json!(["a", 1, 2])), vec!["/2"]);
        let old = json!({"items": [{"type": "string"}], "additionalItems": {"type": "integer"}});
        assert_eq!(paths(&old, &json!([1, 2, "x"])), vec!["/0", "/2"]);
        let contains = json!({"contains": {"const": "owner"}});
        assert!(is_valid_json(&contains, &json!(["viewer", "owner"])));
        assert!(!is_valid_json(&contains, &json!(["viewer"])));
    }

    #[test]
    fn local_refs_resolve_and_loops_end() {
        let schema = json!({
            "$defs": {"id": {"type": "string", "minLength": 15}},
            "properties": {"account": {"$ref": "#/$defs/id"}, "next": {"$ref": "#"}}
        });
        assert!(is_valid_json(
            &schema,
            &json!({"account": "001000000000001"})
        ));
        assert_eq!(
            paths(&schema, &json!({"next": {"account": "short"}})),
            vec!["/next/account"]
        );
        assert!(!is_valid_json(
            &json!({"$ref": "https://example.com/s.json"}),
            &json!(1)
        ));
        assert!(!is_valid_json(
            &json!({"$ref": "#/$defs/missing"}),
            &json!(1)
        ));
        let looping = json!({"$ref": "#"});
        let out = validate_json(&looping, &json!(1));
        assert_eq!(out.len(), 1);
        assert!(out[0].message.contains("too deeply"));
    }

    #[test]
    fn violations_are_capped() {
        let schema = json!({"items": {"type": "string"}});
        let value = Value::Array((0..500).map(|i| json!(i)).collect());
        assert_eq!(validate_json(&schema, &value).len(), MAX_VIOLATIONS);
    }

    #[test]
    fn formats() {
        for good in ["a@b.co", "first.last+tag@mail.acme.example", "x@localhost"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "a@",
            "@b.co",
            "a..b@c.d",
            ".a@b.c",
            "a@-b.c",
            "a b@c.d",
            "a@b..c",
            "a@[1.2.3.4]",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
        for good in ["2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(is_date(good), "{good}");
        }
        for bad in [
            "1900-02-29",
            "2023-02-29",
            "2024-13-01",
            "2024-04-31",
            "2024-4-1",
            "20240401",
            "2024-01-00",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        for good in [
            "2024-05-01T10:20:30Z",
            "2024-05-01t10:20:30.123456z",
            "2024-05-01T23:59:60+01:00",
            "2024-05-01T00:00:00-08:00",
        ] {
            assert!(is_date_time(good), "{good}");
        }
        for bad in [
            "2024-05-01",
            "2024-05-01 10:20:30Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:20:30",
            "2024-05-01T10:20Z",
            "2024-05-01T10:20:30.Z",
            "2024-05-01T10:20:30+0100",
            "2024-05-01T10:20:30+01:60",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
        assert!(is_uuid("0190f3c2-7d4e-7a51-9b1e-3f6c2a9d8e7f"));
        assert!(is_uuid("0190F3C2-7D4E-7A51-9B1E-3F6C2A9D8E7F"));
        assert!(!is_uuid("0190f3c27d4e7a519b1e3f6c2a9d8e7f"));
        assert!(!is_uuid("0190f3c2-7d4e-7a51-9b1e-3f6c2a9d8e7g"));
    }

    #[test]
    fn record_ids() {
        // Known pairs: the suffix encodes which of the first 15 characters are upper case.
        assert_eq!(record_id_suffix("001000000000000").as_deref(), Some("AAA"));
        assert_eq!(record_id_suffix("001A00000000000").as_deref(), Some("IAA"));
        assert_eq!(record_id_suffix("ABCDEABCDEABCDE").as_deref(), Some("555"));
        assert_eq!(record_id_suffix("00300000003T2PG").as_deref(), Some("AA0"));
        assert_eq!(record_id_suffix("001A0000006Vm9r").as_deref(), Some("IAC"));
        assert_eq!(record_id_suffix("0015000000VALDt").as_deref(), Some("AAP"));

        assert_eq!(check_record_id("0015000000VALDtAAP", None), Ok(()));
        assert_eq!(check_record_id("0015000000VALDtaap", Some("001")), Ok(()));
        assert_eq!(check_record_id("0015000000VALDt", Some("001")), Ok(()));
        assert_eq!(
            check_record_id("0015000000VALDTAAP", None),
            Err(RecordIdProblem::Checksum {
                expected: "AA5".into()
            })
        );
        assert_eq!(
            check_record_id("0015000000valdtAAP", None),
            Err(RecordIdProblem::Checksum {
                expected: "AAA".into()
            })
        );
        assert_eq!(
            check_record_id("0035000000VALDt", Some("001")),
            Err(RecordIdProblem::Prefix {
                expected: "001".into(),
                found: "003".into()
            })
        );
        assert_eq!(
            check_record_id("001500000VALDt", None),
            Err(RecordIdProblem::Length { len: 14 })
        );
        assert_eq!(
            check_record_id("0015000000VAL-t", None),
            Err(RecordIdProblem::Character { index: 13 })
        );
        assert_eq!(
            check_record_id("0015000000VALDé", None),
            Err(RecordIdProblem::Character { index: 14 })
        );
        assert!(
            check_record_id("abc", None)
                .unwrap_err()
                .to_string()
                .contains("15 or 18")
        );
    }

    #[test]
    fn record_id_candidates_in_text() {
        let text = "Updated 0015000000VALDtAAP and 003000000000001; ignore SUPERCALIFRAGILIS.";
        let found: Vec<&str> = record_id_candidates(text)
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(found, vec!["0015000000VALDtAAP", "003000000000001"]);
    }

    #[test]
    fn html_escape_examples() {
        assert_eq!(html_escape("plain text / path"), "plain text / path");
        assert_eq!(
            html_escape(r#"<img src=x onerror="alert('1')">&amp;"#),
            "&lt;img src=x onerror=&quot;alert(&#x27;1&#x27;)&quot;&gt;&amp;amp;"
        );
    }

    fn html_unescape(text: &str) -> String {
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&amp;", "&")
    }

    proptest! {
        #[test]
        fn html_escape_leaves_no_markup_and_round_trips(text in any::<String>()) {
            let escaped = html_escape(&text);
            prop_assert!(!escaped.contains(['<', '>', '"', '\'']));
            // Every `&` starts one of the five references.
            for (at, _) in escaped.match_indices('&') {
                let rest = &escaped[at..];
                prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&#x27;"].iter().any(|r| rest.starts_with(r)));
            }
            prop_assert_eq!(html_unescape(&escaped), text);
        }

        #[test]
        fn html_escape_round_trips_markup_heavy_text(text in "[<>&\"'a-z;#x27]{0,64}") {
            prop_assert_eq!(html_unescape(&html_escape(&text)), text);
        }

        #[test]
        fn generated_suffixes_validate(id in "[A-Za-z0-9]{15}") {
            let suffix = record_id_suffix(&id).unwrap();
            let full = format!("{id}{suffix}");
            prop_assert_eq!(check_record_id(&full, None), Ok(()));
            prop_assert_eq!(check_record_id(&id, Some(&id[..3])), Ok(()));
        }
    }
}
