//! What the SIEM export sends: one audit event with its place in the tenant's log.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// One exported audit event. `seq` is the event's position in its tenant's log; together
/// with `tenant_id` it identifies the event, and every sink puts both into the payload so a
/// receiver can drop the duplicates that at-least-once delivery produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiemEvent {
    pub tenant_id: Uuid,
    pub seq: u64,
    /// The audit event as JSON (its `occurred_at`, RFC 3339, becomes the SIEM timestamp).
    pub event: Value,
    /// Hex of the event's Merkle leaf hash, so a receiver can check it against a proof.
    pub leaf_hash_hex: String,
}

/// The JSON object every sink carries for an event:
/// `{"tenant_id", "seq", "leaf_hash", "event"}`.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<'a> {
    pub tenant_id: &'a Uuid,
    pub seq: u64,
    pub leaf_hash: &'a str,
    pub event: &'a Value,
}

impl SiemEvent {
    pub(crate) fn envelope(&self) -> Envelope<'_> {
        Envelope {
            tenant_id: &self.tenant_id,
            seq: self.seq,
            leaf_hash: &self.leaf_hash_hex,
            event: &self.event,
        }
    }

    /// When the event happened, from the audit event's `occurred_at`, if it has a valid one.
    pub(crate) fn occurred_at(&self) -> Option<OffsetDateTime> {
        let text = self.event.get("occurred_at")?.as_str()?;
        OffsetDateTime::parse(text, &Rfc3339).ok()
    }
}
