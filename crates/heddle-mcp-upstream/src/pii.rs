//! Personal data in a re-exposed call: found in the arguments (bound for an outside service)
//! and in the result (bound for the caller) with the detector and the kinds of the server's
//! `trust.pii` block, counted by kind for the call's audit event — never the values — and
//! acted on as the block says:
//!
//! | `pii.action`       | arguments                     | result                                 |
//! |--------------------|-------------------------------|----------------------------------------|
//! | left out (default) | counted                       | counted, passed on unchanged           |
//! | `redact`           | counted, passed unchanged     | counted, values replaced (`<EMAIL_1>`) |
//! | `flag`, `warn`     | counted, a violation per kind | counted, a violation per kind          |
//! | `block`            | the call is refused           | the result is withheld                 |
//! | `enabled: false`   | not looked for                | not looked for                         |
//!
//! Why masking is not the default here, as it is for an agent: an agent masks what a model
//! provider reads and restores the values for the person. The gateway's caller is the
//! principal's own client, and Heddle runs no model whose answer could be restored, so a
//! placeholder here is a one-way loss of data the principal may see. Servers applied before
//! this step keep passing results unchanged; masking is asked for in writing.
//!
//! Why arguments are never masked: they are the caller's values for the tool
//! (`send_email(to=…)` needs the address). A server whose arguments must carry no personal
//! data sets `block`.

use std::collections::{BTreeMap, BTreeSet};

use heddle_trust::config::TrustSpec;
use heddle_trust::mask::{MAX_JSON_DEPTH, MaskError, MaskKey, MaskMap, mask_text};
use heddle_trust::pipeline::{GuardrailKind, Violation};
use heddle_trust::{EntityKind, GuardAction, NameDictionary, PiiFinding, Severity, TrustEngine};
use rmcp::model::CallToolResult;
use serde::Serialize;
use serde_json::Value;

/// Findings by kind.
pub type PiiCounts = BTreeMap<EntityKind, usize>;

/// What one call's personal data came to, for its audit event: kinds and counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PiiReport {
    /// `off`, `record` (the default) or the action the trust block writes.
    pub handling: &'static str,
    pub arguments: PiiCounts,
    pub result: PiiCounts,
    /// True when the caller got the result with placeholders instead of the values.
    pub redacted: bool,
}

/// Why a result could not be redacted; the pipeline then withholds it (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    #[error("{0}")]
    Mask(#[from] MaskError),
    #[error("an object key carries personal data, and keys are not masked")]
    KeyCarriesPii,
    #[error("no random key for the call's mask map")]
    NoKey,
    #[error("the redacted result is not a tool result")]
    Unreadable,
}

/// The server's PII settings as the gateway applies them.
#[derive(Debug, Clone)]
pub struct PiiPolicy {
    enabled: bool,
    /// The action the trust block writes; `None` records only.
    action: Option<GuardAction>,
    kinds: BTreeSet<EntityKind>,
}

impl PiiPolicy {
    pub fn of(spec: &TrustSpec) -> Self {
        let resolved = spec.resolve();
        PiiPolicy {
            enabled: resolved.pii.enabled,
            action: spec.pii.action,
            kinds: resolved.pii_kinds,
        }
    }

    /// A report of this policy with nothing found yet.
    pub fn report(&self) -> PiiReport {
        let handling = match (self.enabled, self.action) {
            (false, _) => "off",
            (true, None) => "record",
            (true, Some(action)) => action.as_str(),
        };
        PiiReport {
            handling,
            ..PiiReport::default()
        }
    }

    pub fn redacts_results(&self) -> bool {
        self.enabled && self.action == Some(GuardAction::Redact)
    }

    /// Every finding of the policy's kinds in `value`'s strings, object keys included,
    /// counted by kind.
    pub fn count(&self, engine: &TrustEngine, value: &Value) -> PiiCounts {
        let mut counts = PiiCounts::new();
        if self.enabled {
            let names = NameDictionary::empty();
            for_each_string(value, &mut |text| {
                for finding in detect(engine, &self.kinds, &names, text) {
                    *counts.entry(finding.kind).or_default() += 1;
                }
            });
        }
        counts
    }

    /// One violation per kind found, when the written action reports findings (`flag`,
    /// `warn`) or refuses them (`block`); `redact` and the default change or record instead.
    pub fn violations(&self, counts: &PiiCounts) -> Vec<Violation> {
        let Some(action @ (GuardAction::Flag | GuardAction::Warn | GuardAction::Block)) =
            self.action
        else {
            return Vec::new();
        };
        counts
            .keys()
            .map(|kind| Violation {
                guardrail: GuardrailKind::Pii,
                detail: kind.as_str().to_owned(),
                // As the composed screen rates a PII finding.
                severity: Severity::Medium,
                action,
                excerpt: format!("<{kind}>"),
                failed: false,
            })
            .collect()
    }

    /// `result` with the personal data of the policy's kinds in every text — text items,
    /// embedded text resources, `structuredContent`, metadata — replaced by placeholders from
    /// a fresh map of this call. Nothing restores them: there is no model of Heddle's whose
    /// answer would carry them back, so the map is dropped with the call.
    pub fn redact(
        &self,
        engine: &TrustEngine,
        result: &CallToolResult,
    ) -> Result<CallToolResult, RedactError> {
        let (view, blobs) = text_view(result).ok_or(RedactError::Unreadable)?;
        let mut redactor = Redactor {
            engine,
            kinds: &self.kinds,
            names: NameDictionary::empty(),
            map: MaskMap::new(),
            key: fresh_key()?,
        };
        let mut masked = redactor.value(&view, 0)?;
        for (pointer, blob) in blobs {
            if let Some(slot) = masked.pointer_mut(&pointer) {
                *slot = blob;
            }
        }
        serde_json::from_value(masked).map_err(|_| RedactError::Unreadable)
    }

    /// The strings of `result` the detector reads: its wire form without base64 payloads.
    pub fn result_text(result: &CallToolResult) -> Value {
        text_view(result).map_or(Value::Null, |(view, _)| view)
    }
}

fn detect(
    engine: &TrustEngine,
    kinds: &BTreeSet<EntityKind>,
    names: &NameDictionary,
    text: &str,
) -> Vec<PiiFinding> {
    let mut found = engine.pii.detect(text, names);
    found.retain(|finding| kinds.contains(&finding.kind));
    found
}

/// Every string of `value`, keys included; a string holding a JSON document is read as that
/// document, as [`Redactor::text`] masks it, so an escaped value (`\u0040`) is counted too.
fn for_each_string(value: &Value, visit: &mut dyn FnMut(&str)) {
    match value {
        Value::String(text) => match json_document(text) {
            Some(document) => for_each_string(&document, visit),
            None => visit(text),
        },
        Value::Array(items) => items.iter().for_each(|item| for_each_string(item, visit)),
        Value::Object(fields) => {
            for (key, field) in fields {
                visit(key);
                for_each_string(field, visit);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A result's wire form with its base64 payloads (`data` of images and audio, `blob` of
/// binary resources) taken out, and those payloads by JSON pointer: they are not text, so
/// detectors would only find look-alikes in them and masking would corrupt them.
fn text_view(result: &CallToolResult) -> Option<(Value, Vec<(String, Value)>)> {
    let mut wire = serde_json::to_value(result).ok()?;
    let mut pointers = Vec::new();
    if let Some(items) = wire.get("content").and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            match item.get("type").and_then(Value::as_str) {
                Some("image" | "audio") => pointers.push(format!("/content/{i}/data")),
                Some("resource") => pointers.push(format!("/content/{i}/resource/blob")),
                _ => {}
            }
        }
    }
    let blobs = pointers
        .into_iter()
        .filter_map(|pointer| {
            let blob = wire.pointer_mut(&pointer)?.take();
            Some((pointer, blob))
        })
        .collect();
    Some((wire, blobs))
}

/// The JSON object or array a text holds, if it is one.
fn json_document(text: &str) -> Option<Value> {
    if !text.trim_start().starts_with(['{', '[']) {
        return None;
    }
    serde_json::from_str(text).ok()
}

fn fresh_key() -> Result<MaskKey, RedactError> {
    let bytes = heddle_crypto::random_bytes(32).map_err(|_| RedactError::NoKey)?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| RedactError::NoKey)?;
    Ok(MaskKey::from_bytes(key))
}

/// One call's masking walk.
struct Redactor<'a> {
    engine: &'a TrustEngine,
    kinds: &'a BTreeSet<EntityKind>,
    names: NameDictionary,
    map: MaskMap,
    key: MaskKey,
}

impl Redactor<'_> {
    fn value(&mut self, value: &Value, depth: usize) -> Result<Value, RedactError> {
        if depth > MAX_JSON_DEPTH {
            return Err(MaskError::TooDeep {
                limit: MAX_JSON_DEPTH,
            }
            .into());
        }
        match value {
            Value::String(text) => self.text(text, depth).map(Value::String),
            Value::Array(items) => items
                .iter()
                .map(|item| self.value(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(fields) => {
                let mut out = serde_json::Map::with_capacity(fields.len());
                for (key, field) in fields {
                    // A key cannot become a placeholder without breaking what reads it:
                    // fail closed rather than let the value through.
                    if !detect(self.engine, self.kinds, &self.names, key).is_empty() {
                        return Err(RedactError::KeyCarriesPii);
                    }
                    out.insert(key.clone(), self.value(field, depth + 1)?);
                }
                Ok(Value::Object(out))
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(value.clone()),
        }
    }

    /// A text; a JSON document in it (tools often return one as text) is masked value by
    /// value and written back, so it stays valid JSON — a span cut through an escape
    /// sequence would not.
    fn text(&mut self, text: &str, depth: usize) -> Result<String, RedactError> {
        if let Some(parsed) = json_document(text) {
            let masked = self.value(&parsed, depth + 1)?;
            // Unchanged documents keep their formatting.
            return Ok(if masked == parsed {
                text.to_owned()
            } else {
                masked.to_string()
            });
        }
        let findings = detect(self.engine, self.kinds, &self.names, text);
        Ok(mask_text(text, &findings, &mut self.map, &self.key)?.text)
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
    use rmcp::model::ContentBlock;
    use serde_json::json;

    use super::*;

    fn policy(action: Option<GuardAction>) -> PiiPolicy {
        let mut spec = TrustSpec::default();
        spec.pii.action = action;
        PiiPolicy::of(&spec)
    }

    #[test]
    fn the_default_records_and_only_a_written_redact_masks_results() {
        assert_eq!(policy(None).report().handling, "record");
        assert!(!policy(None).redacts_results());
        assert!(policy(Some(GuardAction::Redact)).redacts_results());
        let mut off = TrustSpec::default();
        off.pii.enabled = Some(false);
        let off = PiiPolicy::of(&off);
        assert_eq!(off.report().handling, "off");
        let engine = TrustEngine::new();
        assert!(
            off.count(&engine, &json!({"to": "ana@example.com"}))
                .is_empty()
        );
    }

    #[test]
    fn counts_cover_keys_and_violations_follow_the_written_action() {
        let engine = TrustEngine::new();
        let counts = policy(None).count(
            &engine,
            &json!({"ana@example.com": ["bo@example.com", 3], "n": "none"}),
        );
        assert_eq!(counts, PiiCounts::from([(EntityKind::Email, 2)]));
        assert!(policy(None).violations(&counts).is_empty());
        assert!(
            policy(Some(GuardAction::Redact))
                .violations(&counts)
                .is_empty()
        );
        let blocked = policy(Some(GuardAction::Block)).violations(&counts);
        assert_eq!(blocked.len(), 1);
        assert_eq!(
            (blocked[0].detail.as_str(), blocked[0].action),
            ("EMAIL", GuardAction::Block)
        );
        assert_eq!(blocked[0].excerpt, "<EMAIL>");
    }

    #[test]
    fn redaction_keeps_json_texts_valid_and_binary_payloads_untouched() {
        let engine = TrustEngine::new();
        let document = json!({"note": "say \"hi\" to ana@example.com", "n": 1}).to_string();
        let mut result = CallToolResult::success(vec![
            ContentBlock::text(document),
            ContentBlock::image("YW5hQGV4YW1wbGUuY29t", "image/png"),
        ]);
        result.structured_content = Some(json!({"owner": {"email": "ana@example.com"}}));
        let redacted = policy(Some(GuardAction::Redact))
            .redact(&engine, &result)
            .unwrap();
        let wire = serde_json::to_value(&redacted).unwrap();
        let text = wire["content"][0]["text"].as_str().unwrap();
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parsed["note"], "say \"hi\" to <EMAIL_1>");
        assert_eq!(wire["content"][1]["data"], "YW5hQGV4YW1wbGUuY29t");
        assert_eq!(wire["structuredContent"]["owner"]["email"], "<EMAIL_1>");
    }

    #[test]
    fn an_escaped_value_in_a_json_text_is_counted_and_masked() {
        let engine = TrustEngine::new();
        let escaped = r#"{"to": "ana.lopez\u0040example.com"}"#;
        let result = CallToolResult::success(vec![ContentBlock::text(escaped)]);
        let redact = policy(Some(GuardAction::Redact));
        let counts = redact.count(&engine, &PiiPolicy::result_text(&result));
        assert_eq!(counts, PiiCounts::from([(EntityKind::Email, 1)]));
        let redacted = redact.redact(&engine, &result).unwrap();
        let wire = serde_json::to_value(&redacted).unwrap();
        assert_eq!(wire["content"][0]["text"], r#"{"to":"<EMAIL_1>"}"#);
    }

    #[test]
    fn a_key_carrying_personal_data_withholds_rather_than_leaks() {
        let engine = TrustEngine::new();
        let mut result = CallToolResult::success(vec![]);
        result.structured_content = Some(json!({"ana@example.com": true}));
        assert_eq!(
            policy(Some(GuardAction::Redact)).redact(&engine, &result),
            Err(RedactError::KeyCarriesPii)
        );
    }
}
