//! One session's placeholder map.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{MAX_ENTRIES, MAX_VALUE_BYTES, MaskError, MaskKey, parse_placeholder, placeholder};
use crate::finding::EntityKind;

/// Placeholder → value for one session, with a keyed index value → placeholder and a counter
/// per kind. Serializable so the runtime can seal it with the session; `Debug` shows only the
/// size, never a value.
///
/// Stored form (JSON shown): `{"key_id": hex, "entries": {"<EMAIL_1>": "a@b.example"},
/// "index": {hex HMAC: "<EMAIL_1>"}, "counters": {"EMAIL": 1}}`. Deserializing checks the
/// invariants (placeholders well formed and numbered 1..=counter without gaps, index and
/// entries in one-to-one correspondence, caps respected) and refuses a map that breaks them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MaskMap {
    /// Fingerprint of the key the index was built with; set on first use.
    key_id: Option<String>,
    /// Per kind, the value of placeholder `n` at position `n - 1`.
    values: BTreeMap<EntityKind, Vec<String>>,
    /// Hex HMAC of `kind ‖ 0x00 ‖ value` → placeholder.
    index: BTreeMap<String, String>,
    len: usize,
    value_bytes: usize,
}

impl MaskMap {
    pub fn new() -> Self {
        MaskMap::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The kind and value behind an exact placeholder this map gave out.
    pub fn value_of(&self, placeholder: &str) -> Option<(EntityKind, &str)> {
        let (kind, n) = parse_placeholder(placeholder)?;
        self.lookup(kind, n).map(|value| (kind, value))
    }

    /// Every value masked as `kind` in this session, in placeholder order: the names a
    /// session has seen become the dictionary that finds them again.
    pub fn values_of(&self, kind: EntityKind) -> impl Iterator<Item = &str> {
        self.values
            .get(&kind)
            .into_iter()
            .flat_map(|values| values.iter().map(String::as_str))
    }

    pub(crate) fn lookup(&self, kind: EntityKind, n: usize) -> Option<&str> {
        let values = self.values.get(&kind)?;
        values.get(n.checked_sub(1)?).map(String::as_str)
    }

    /// The placeholder for `value` as `kind`: the one it already has in this session, or the
    /// next `<KIND_n>` (numbered from 1 per kind). Fails when the map is full or was built
    /// under another key; nothing is added then.
    pub fn placeholder_for(
        &mut self,
        key: &MaskKey,
        kind: EntityKind,
        value: &str,
    ) -> Result<String, MaskError> {
        if self.key_id.as_deref().is_some_and(|id| id != key.key_id()) {
            return Err(MaskError::KeyMismatch);
        }
        let index_key = key.index_key(kind, value);
        if let Some(existing) = self.index.get(&index_key) {
            return Ok(existing.clone());
        }
        if self.len >= MAX_ENTRIES {
            return Err(MaskError::MapFull);
        }
        let value_bytes = self.value_bytes.saturating_add(value.len());
        if value_bytes > MAX_VALUE_BYTES {
            return Err(MaskError::MapFull);
        }
        if self.key_id.is_none() {
            self.key_id = Some(key.key_id().to_owned());
        }
        let values = self.values.entry(kind).or_default();
        values.push(value.to_owned());
        let text = placeholder(kind, values.len());
        self.index.insert(index_key, text.clone());
        self.len += 1;
        self.value_bytes = value_bytes;
        Ok(text)
    }
}

impl fmt::Debug for MaskMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskMap")
            .field("entries", &self.len)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ReprRef<'a> {
    key_id: Option<&'a str>,
    entries: BTreeMap<String, &'a str>,
    index: &'a BTreeMap<String, String>,
    counters: BTreeMap<EntityKind, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    key_id: Option<String>,
    entries: BTreeMap<String, String>,
    index: BTreeMap<String, String>,
    counters: BTreeMap<EntityKind, usize>,
}

impl Serialize for MaskMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries = BTreeMap::new();
        let mut counters = BTreeMap::new();
        for (kind, values) in &self.values {
            counters.insert(*kind, values.len());
            for (i, value) in values.iter().enumerate() {
                entries.insert(placeholder(*kind, i + 1), value.as_str());
            }
        }
        ReprRef {
            key_id: self.key_id.as_deref(),
            entries,
            index: &self.index,
            counters,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MaskMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = Repr::deserialize(deserializer)?;
        MaskMap::from_repr(repr).map_err(serde::de::Error::custom)
    }
}

impl MaskMap {
    fn from_repr(repr: Repr) -> Result<Self, String> {
        if repr.entries.len() > MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        if !repr.entries.is_empty() && repr.key_id.is_none() {
            return Err("entries without a key id".to_owned());
        }
        let mut slots: BTreeMap<EntityKind, Vec<Option<String>>> = repr
            .counters
            .iter()
            .map(|(kind, count)| (*kind, vec![None; (*count).min(MAX_ENTRIES)]))
            .collect();
        let mut value_bytes = 0usize;
        for (text, value) in repr.entries {
            let (kind, n) = parse_placeholder(&text)
                .ok_or_else(|| format!("malformed placeholder `{text}`"))?;
            let slot = slots
                .get_mut(&kind)
                .and_then(|slots| slots.get_mut(n - 1))
                .ok_or_else(|| format!("placeholder `{text}` beyond its counter"))?;
            value_bytes = value_bytes.saturating_add(value.len());
            *slot = Some(value);
        }
        if value_bytes > MAX_VALUE_BYTES {
            return Err(format!("more than {MAX_VALUE_BYTES} bytes of values"));
        }
        let mut values = BTreeMap::new();
        let mut len = 0;
        for (kind, slots) in slots {
            let filled: Option<Vec<String>> = slots.into_iter().collect();
            let filled = filled.ok_or_else(|| format!("gap in the {kind} placeholders"))?;
            len += filled.len();
            if !filled.is_empty() {
                values.insert(kind, filled);
            }
        }
        if repr.index.len() != len {
            return Err("index and entries differ in size".to_owned());
        }
        let mut seen = BTreeSet::new();
        for (hash, text) in &repr.index {
            let well_formed =
                hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !well_formed {
                return Err("malformed index key".to_owned());
            }
            let known = parse_placeholder(text)
                .is_some_and(|(kind, n)| values.get(&kind).is_some_and(|v| n <= v.len()));
            if !known || !seen.insert(text.as_str()) {
                return Err(format!("index entry for unknown or repeated `{text}`"));
            }
        }
        Ok(MaskMap {
            key_id: repr.key_id,
            values,
            index: repr.index,
            len,
            value_bytes,
        })
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
    use super::*;

    fn key(byte: u8) -> MaskKey {
        MaskKey::from_bytes([byte; 32])
    }

    #[test]
    fn numbers_per_kind_and_reuses() {
        let mut map = MaskMap::new();
        let k = key(1);
        assert_eq!(
            map.placeholder_for(&k, EntityKind::Email, "a@x.example")
                .unwrap(),
            "<EMAIL_1>"
        );
        assert_eq!(
            map.placeholder_for(&k, EntityKind::Phone, "555").unwrap(),
            "<PHONE_1>"
        );
        assert_eq!(
            map.placeholder_for(&k, EntityKind::Email, "b@x.example")
                .unwrap(),
            "<EMAIL_2>"
        );
        assert_eq!(
            map.placeholder_for(&k, EntityKind::Email, "a@x.example")
                .unwrap(),
            "<EMAIL_1>"
        );
        // The same text as another kind is another entry.
        assert_eq!(
            map.placeholder_for(&k, EntityKind::Person, "a@x.example")
                .unwrap(),
            "<PERSON_1>"
        );
        assert_eq!(map.len(), 4);
        assert_eq!(
            map.value_of("<EMAIL_2>"),
            Some((EntityKind::Email, "b@x.example"))
        );
        assert_eq!(map.value_of("<EMAIL_3>"), None);
        assert_eq!(map.value_of("<EMAIL_0>"), None);
    }

    #[test]
    fn refuses_another_key() {
        let mut map = MaskMap::new();
        map.placeholder_for(&key(1), EntityKind::Email, "a@x.example")
            .unwrap();
        assert_eq!(
            map.placeholder_for(&key(2), EntityKind::Email, "a@x.example"),
            Err(MaskError::KeyMismatch)
        );
    }

    #[test]
    fn fills_up_and_fails_closed() {
        let mut map = MaskMap::new();
        let k = key(3);
        for i in 0..MAX_ENTRIES {
            map.placeholder_for(&k, EntityKind::Phone, &i.to_string())
                .unwrap();
        }
        assert_eq!(
            map.placeholder_for(&k, EntityKind::Phone, "new"),
            Err(MaskError::MapFull)
        );
        // Existing values still resolve.
        assert_eq!(
            map.placeholder_for(&k, EntityKind::Phone, "0").unwrap(),
            "<PHONE_1>"
        );
        assert_eq!(map.len(), MAX_ENTRIES);
    }

    #[test]
    fn serde_round_trip_and_debug_hides_values() {
        let mut map = MaskMap::new();
        let k = key(4);
        map.placeholder_for(&k, EntityKind::Email, "secret@x.example")
            .unwrap();
        map.placeholder_for(&k, EntityKind::UsSsn, "123-45-6789")
            .unwrap();
        let json = serde_json::to_string(&map).unwrap();
        let back: MaskMap = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
        let shown = format!("{map:?}");
        assert!(!shown.contains("secret@"), "{shown}");
        assert!(!shown.contains("6789"), "{shown}");
    }

    #[test]
    fn refuses_broken_stored_maps() {
        let mut map = MaskMap::new();
        let k = key(5);
        map.placeholder_for(&k, EntityKind::Email, "a@x.example")
            .unwrap();
        map.placeholder_for(&k, EntityKind::Email, "b@x.example")
            .unwrap();
        let good: serde_json::Value = serde_json::to_value(&map).unwrap();

        let mut gap = good.clone();
        gap["entries"].as_object_mut().unwrap().remove("<EMAIL_1>");
        assert!(serde_json::from_value::<MaskMap>(gap).is_err());

        let mut beyond = good.clone();
        beyond["counters"]["EMAIL"] = 1.into();
        assert!(serde_json::from_value::<MaskMap>(beyond).is_err());

        let mut bad_index = good.clone();
        for (_, v) in bad_index["index"].as_object_mut().unwrap() {
            *v = "<EMAIL_1>".into();
        }
        assert!(serde_json::from_value::<MaskMap>(bad_index).is_err());

        let mut malformed = good;
        malformed["entries"]["<EMAIL_01>"] = "c".into();
        assert!(serde_json::from_value::<MaskMap>(malformed).is_err());
    }
}
