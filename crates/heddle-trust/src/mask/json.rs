//! Masking and unmasking JSON: record content entering the prompt, tool results, tool-call
//! arguments.

use serde_json::{Map, Value};

use super::text::{mask_text, unmask_text};
use super::{MAX_JSON_DEPTH, MaskError, MaskKey, MaskMap, UnmaskPolicy};
use crate::finding::{EntityKind, PiiFinding};

/// Masks every string in `value`. Object keys, numbers, booleans and nulls are left as they
/// are.
///
/// Schema-aware: `field_policy` gets the path of object keys from the root to a value (array
/// levels add nothing, so `{"contacts": [{"email": …}]}` asks about `["contacts", "email"]`).
/// When it names a kind, the whole string is masked as that kind — by field, not by guess — and
/// so is every string nested below that field. Elsewhere strings are masked where `detect`
/// finds something, with look-alikes escaped as in [`mask_text`]. Empty strings stay empty.
///
/// Fails closed: on an error no value comes back, and values nested deeper than
/// [`MAX_JSON_DEPTH`] are an error rather than sent as they are.
pub fn mask_json(
    value: &Value,
    field_policy: &dyn Fn(&[&str]) -> Option<EntityKind>,
    detect: &dyn Fn(&str) -> Vec<PiiFinding>,
    map: &mut MaskMap,
    key: &MaskKey,
) -> Result<Value, MaskError> {
    let mut masker = JsonMasker {
        field_policy,
        detect,
        map,
        key,
        path: Vec::new(),
    };
    let classified = field_policy(&[]);
    masker.walk(value, classified, 0)
}

struct JsonMasker<'a, 'v> {
    field_policy: &'a dyn Fn(&[&str]) -> Option<EntityKind>,
    detect: &'a dyn Fn(&str) -> Vec<PiiFinding>,
    map: &'a mut MaskMap,
    key: &'a MaskKey,
    path: Vec<&'v str>,
}

impl<'v> JsonMasker<'_, 'v> {
    fn walk(
        &mut self,
        value: &'v Value,
        classified: Option<EntityKind>,
        depth: usize,
    ) -> Result<Value, MaskError> {
        if depth > MAX_JSON_DEPTH {
            return Err(MaskError::TooDeep {
                limit: MAX_JSON_DEPTH,
            });
        }
        match value {
            Value::String(text) if text.is_empty() => Ok(Value::String(String::new())),
            Value::String(text) => match classified {
                Some(kind) => Ok(Value::String(
                    self.map.placeholder_for(self.key, kind, text)?,
                )),
                None => {
                    let findings = (self.detect)(text);
                    Ok(Value::String(
                        mask_text(text, &findings, self.map, self.key)?.text,
                    ))
                }
            },
            Value::Array(items) => items
                .iter()
                .map(|item| self.walk(item, classified, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (name, field) in fields {
                    self.path.push(name);
                    let kind = classified.or_else(|| (self.field_policy)(&self.path));
                    let masked = self.walk(field, kind, depth + 1);
                    self.path.pop();
                    out.insert(name.clone(), masked?);
                }
                Ok(Value::Object(out))
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(value.clone()),
        }
    }
}

/// Unmasks every string in `value` (keys untouched) with `policy`: tool-call arguments before
/// execution, so `update_contact(email=<EMAIL_1>)` writes the real address. Strings nested
/// deeper than [`MAX_JSON_DEPTH`] stay masked.
pub fn unmask_json(value: &Value, map: &MaskMap, policy: &UnmaskPolicy) -> Value {
    unmask_at(value, map, policy, 0)
}

fn unmask_at(value: &Value, map: &MaskMap, policy: &UnmaskPolicy, depth: usize) -> Value {
    if depth > MAX_JSON_DEPTH {
        return value.clone();
    }
    match value {
        Value::String(text) => Value::String(unmask_text(text, map, policy)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| unmask_at(item, map, policy, depth + 1))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, field)| (name.clone(), unmask_at(field, map, policy, depth + 1)))
                .collect(),
        ),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use serde_json::json;

    use super::*;

    fn email_detector(text: &str) -> Vec<PiiFinding> {
        text.split(' ')
            .scan(0, |at, word| {
                let start = *at;
                *at += word.len() + 1;
                Some((start, word))
            })
            .filter(|(_, word)| word.contains('@'))
            .map(|(start, word)| PiiFinding {
                kind: EntityKind::Email,
                start,
                end: start + word.len(),
            })
            .collect()
    }

    #[test]
    fn masks_by_field_and_by_detector() {
        let record = json!({
            "contacts": [
                {"name": "Ann Lee", "email": "ann@x.example", "age": 41,
                 "notes": "reach ann@x.example or <EMAIL_1>",
                 "address": {"street": "1 Main St", "zip": "12345"}},
            ],
            "owner": "Ann Lee",
            "active": true,
        });
        let policy = |path: &[&str]| match path {
            [.., "name"] | ["owner"] => Some(EntityKind::Person),
            [.., "address"] => Some(EntityKind::StreetAddress),
            _ => None,
        };
        let key = MaskKey::from_bytes([2; 32]);
        let mut map = MaskMap::new();
        let masked = mask_json(&record, &policy, &email_detector, &mut map, &key).unwrap();
        assert_eq!(
            masked,
            json!({
                "contacts": [
                    {"name": "<PERSON_1>", "email": "<EMAIL_1>", "age": 41,
                     "notes": "reach <EMAIL_1> or <#EMAIL_1>",
                     "address": {"street": "<STREET_ADDRESS_1>", "zip": "<STREET_ADDRESS_2>"}},
                ],
                "owner": "<PERSON_1>",
                "active": true,
            })
        );
        let all = UnmaskPolicy::all_but_secrets();
        assert_eq!(unmask_json(&masked, &map, &all), record);
    }

    #[test]
    fn tool_arguments_unmask_by_policy() {
        let key = MaskKey::from_bytes([3; 32]);
        let mut map = MaskMap::new();
        map.placeholder_for(&key, EntityKind::Email, "ann@x.example")
            .unwrap();
        map.placeholder_for(&key, EntityKind::ApiKey, "sk-live-1")
            .unwrap();
        let args = json!({"email": "<EMAIL_1>", "token": "<API_KEY_1>", "<EMAIL_1>": 1});
        assert_eq!(
            unmask_json(&args, &map, &UnmaskPolicy::all_but_secrets()),
            json!({"email": "ann@x.example", "token": "<API_KEY_1>", "<EMAIL_1>": 1})
        );
        assert_eq!(unmask_json(&args, &map, &UnmaskPolicy::none()), args);
    }

    #[test]
    fn too_deep_fails_closed() {
        let mut value = json!("ann@x.example");
        for _ in 0..=MAX_JSON_DEPTH {
            value = json!([value]);
        }
        let key = MaskKey::from_bytes([4; 32]);
        let mut map = MaskMap::new();
        let result = mask_json(&value, &|_| None, &email_detector, &mut map, &key);
        assert_eq!(
            result,
            Err(MaskError::TooDeep {
                limit: MAX_JSON_DEPTH
            })
        );
    }
}
