//! Heddle's audit log service: the I/O around the pure `heddle-audit` math.
//!
//! - [`AuditLog::record`] appends events that are not part of a state change (denials,
//!   failed logins, runtime decisions). Callers wait for durability, but many callers share
//!   one transaction and one fsync: a single writer task takes everything queued and commits
//!   it as one batch (group commit).
//! - State changes write their event into the store's outbox in their own transaction; the
//!   drainer task sequences the outbox into the log shortly after (and every append drains
//!   its tenant's outbox first, so order within a tenant follows commit order).
//! - [`MerkleSequencer`] is the pure step the store runs under the tenant's head lock:
//!   seq numbers, RFC 9162 leaf hashes, the hash chain and the Merkle frontier.
//!
//! Invariants: an event handed to `record` is durable when `record` returns `Ok`; a failed
//! batch fails every caller in it (nothing is acknowledged that was not committed).

mod content;
mod proofs;
mod retention;
mod sequencer;
mod siem;
mod writer;

pub use content::{CONTENT_PURPOSE, ContentRecording, open_content, record_content};
pub use proofs::{ConsistencyProof, ExportSummary, InclusionProof};
pub use sequencer::MerkleSequencer;
pub use siem::{SINK_CONFIG_PURPOSE, SiemSettings};
pub use writer::{AuditLog, AuditLogError, AuditLogSettings};

use heddle_store::NewAuditEvent;
use heddle_types::AuditEvent;

/// The stored form of an event: canonical bytes plus the columns queries filter on.
pub fn prepare_event(event: &AuditEvent) -> NewAuditEvent {
    NewAuditEvent {
        tenant_id: event.tenant_id,
        canonical: heddle_audit::canonical_event_bytes(event),
        occurred_at: event.occurred_at,
        action: event.action.clone(),
        actor_kind: enum_name(&event.actor.kind),
        actor_id: event.actor.id.clone(),
        outcome: enum_name(&event.outcome),
    }
}

/// The snake_case wire name of a unit enum variant.
fn enum_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}
