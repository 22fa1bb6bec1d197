//! One request's masking: a fresh key and map per request (the OpenAI API is stateless), so
//! the same value gets the same placeholder in every message of the request and nothing links
//! two requests. Pure.
//!
//! Restoring goes two ways: text (content) gets the values as they are; JSON texts (tool-call
//! arguments) get them JSON-escaped, so an address with a quote or a backslash still leaves
//! valid JSON — the map is copied with escaped values, which keeps every placeholder's
//! number since escaping is one-to-one.

use std::collections::BTreeSet;
use std::sync::Arc;

use heddle_trust::mask::{MaskError, MaskKey, MaskMap, mask_json, mask_text};
use heddle_trust::{EntityKind, NameDictionary, PiiFinding, TrustEngine};
use serde_json::Value;

/// The map being built for one request.
#[derive(Debug)]
pub struct RequestMask {
    key: MaskKey,
    map: MaskMap,
    names: NameDictionary,
}

impl RequestMask {
    pub fn new(key: MaskKey) -> Self {
        Self {
            key,
            map: MaskMap::new(),
            names: NameDictionary::empty(),
        }
    }

    /// A request's mask under a fresh random key.
    pub fn fresh() -> Result<Self, heddle_crypto::CryptoError> {
        let bytes = heddle_crypto::random_bytes(32)?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(Self::new(MaskKey::from_bytes(key)))
    }

    /// Names masked so far: later mentions of them are found as names too.
    pub fn names(&self) -> &NameDictionary {
        &self.names
    }

    pub fn map(&self) -> &MaskMap {
        &self.map
    }

    fn grew(&mut self, persons_before: usize) {
        let persons = self.map.values_of(EntityKind::Person).count();
        if persons != persons_before {
            self.names = NameDictionary::from_names(self.map.values_of(EntityKind::Person));
        }
    }

    fn persons(&self) -> usize {
        self.map.values_of(EntityKind::Person).count()
    }

    /// `text` with the spans a screening found replaced by placeholders (look-alikes of
    /// placeholders escaped).
    pub fn mask_findings(
        &mut self,
        text: &str,
        findings: &[PiiFinding],
    ) -> Result<String, MaskError> {
        let before = self.persons();
        let masked = mask_text(text, findings, &mut self.map, &self.key)?;
        self.grew(before);
        Ok(masked.text)
    }

    /// `text` masked where the detector finds personal data of `kinds`.
    pub fn mask_detected(
        &mut self,
        engine: &TrustEngine,
        kinds: &BTreeSet<EntityKind>,
        text: &str,
    ) -> Result<String, MaskError> {
        let findings = detect(engine, kinds, &self.names, text);
        self.mask_findings(text, &findings)
    }

    /// A JSON text (tool-call arguments, a tool result): every string in it masked, and
    /// written back as JSON; a text that does not parse is masked as text.
    pub fn mask_json_text(
        &mut self,
        engine: &TrustEngine,
        kinds: &BTreeSet<EntityKind>,
        text: &str,
    ) -> Result<String, MaskError> {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return self.mask_detected(engine, kinds, text);
        };
        if !matches!(value, Value::Object(_) | Value::Array(_)) {
            return self.mask_detected(engine, kinds, text);
        }
        let before = self.persons();
        let names = self.names.clone();
        let detector = |piece: &str| detect(engine, kinds, &names, piece);
        let masked = mask_json(&value, &|_| None, &detector, &mut self.map, &self.key)?;
        self.grew(before);
        Ok(masked.to_string())
    }

    /// A message's `name`: OpenAI allows only `[A-Za-z0-9_-]` there, so a name carrying
    /// personal data becomes its placeholder without the angle brackets (`PERSON_1`). Names
    /// never come back in answers, so nothing needs restoring.
    pub fn mask_name(
        &mut self,
        engine: &TrustEngine,
        kinds: &BTreeSet<EntityKind>,
        name: &str,
    ) -> Result<String, MaskError> {
        let spaced = name.replace(['_', '-'], " ");
        let findings = detect(engine, kinds, &self.names, &spaced);
        if findings.is_empty() {
            return Ok(name.to_owned());
        }
        let before = self.persons();
        let kind = findings
            .first()
            .map_or(EntityKind::Person, |finding| finding.kind);
        let placeholder = self.map.placeholder_for(&self.key, kind, name)?;
        self.grew(before);
        Ok(placeholder
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned())
    }

    /// The maps that restore answers: as they are for text, JSON-escaped for JSON texts.
    pub fn restorers(&self) -> Restorers {
        let json = json_escaped(&self.map, &self.key);
        Restorers {
            text: Arc::new(self.map.clone()),
            json: json.map(Arc::new),
        }
    }
}

/// What restores placeholders in an answer. `json` is `None` if the escaped copy could not be
/// built (a map at its size limit): JSON texts then keep their placeholders, which fails
/// safe.
#[derive(Debug, Clone)]
pub struct Restorers {
    pub text: Arc<MaskMap>,
    pub json: Option<Arc<MaskMap>>,
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

/// A copy of `map` whose values are JSON-string-escaped (without the quotes), numbered alike.
pub fn json_escaped(map: &MaskMap, key: &MaskKey) -> Option<MaskMap> {
    let mut escaped = MaskMap::new();
    for kind in EntityKind::ALL {
        for value in map.values_of(kind) {
            let quoted = serde_json::to_string(value).ok()?;
            let inner = quoted
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))?;
            escaped.placeholder_for(key, kind, inner).ok()?;
        }
    }
    Some(escaped)
}

#[cfg(test)]
mod tests {
    use heddle_trust::mask::{UnmaskPolicy, unmask_text};

    use super::*;

    fn kinds() -> BTreeSet<EntityKind> {
        EntityKind::ALL.into_iter().collect()
    }

    #[test]
    fn a_value_gets_one_placeholder_across_texts_and_json() {
        let engine = TrustEngine::new();
        let mut mask = RequestMask::fresh().unwrap();
        let text = mask
            .mask_detected(&engine, &kinds(), "Write to ana.lopez@example.com today")
            .unwrap();
        let json = mask
            .mask_json_text(&engine, &kinds(), r#"{"to":"ana.lopez@example.com","n":3}"#)
            .unwrap();
        assert_eq!(text, "Write to <EMAIL_1> today");
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            serde_json::json!({"to": "<EMAIL_1>", "n": 3})
        );
        // Not JSON: masked as text.
        let raw = mask
            .mask_json_text(&engine, &kinds(), "to=ana.lopez@example.com")
            .unwrap();
        assert_eq!(raw, "to=<EMAIL_1>");
    }

    #[test]
    fn json_restoring_escapes_values_and_keeps_numbers() {
        let key = MaskKey::from_bytes([7; 32]);
        let mut map = MaskMap::new();
        let odd = map
            .placeholder_for(&key, EntityKind::Person, "Ana \"Nana\" O\\Lopez")
            .unwrap();
        let plain = map.placeholder_for(&key, EntityKind::Person, "Bo").unwrap();
        let escaped = json_escaped(&map, &key).unwrap();
        let arguments = format!(r#"{{"a":"{odd}","b":"{plain}"}}"#);
        let restored = unmask_text(&arguments, &escaped, &UnmaskPolicy::all_but_secrets());
        let parsed: Value = serde_json::from_str(&restored).unwrap();
        assert_eq!(parsed["a"], "Ana \"Nana\" O\\Lopez");
        assert_eq!(parsed["b"], "Bo");
    }

    #[test]
    fn a_name_field_with_personal_data_becomes_a_bare_placeholder() {
        let engine = TrustEngine::new();
        let mut mask = RequestMask::fresh().unwrap();
        let masked = mask
            .mask_name(&engine, &kinds(), "ana.lopez@example.com")
            .unwrap();
        assert_eq!(masked, "EMAIL_1");
        assert_eq!(mask.mask_name(&engine, &kinds(), "bot_7").unwrap(), "bot_7");
    }
}
