//! Heddle's verifiable audit log, the pure part: how an event becomes bytes, how the bytes
//! become a per-tenant RFC 9162 Merkle tree and hash chain, how checkpoints are signed, and
//! how an export is written and verified offline. Storage, services and the CLI build on it.
//!
//! - [`canonical_event_bytes`]: compact JSON with sorted keys; the leaf commits to exactly
//!   these bytes.
//! - [`leaf_hash`] / [`node_hash`]: RFC 9162 §2.1.1 (`0x00` / `0x01` prefixes);
//!   [`chain_next`]: the hash chain from [`CHAIN_GENESIS`].
//! - [`Frontier`]: tree size plus right-edge subtree roots, so appends never read the tree.
//! - [`inclusion_proof`] / [`consistency_proof`] and their verifiers: RFC 9162 §2.1.3–2.1.4.
//! - [`Checkpoint`] / [`sign_checkpoint`] / [`verify_checkpoint`]: Ed25519 over a signed-note
//!   style text.
//! - [`export`]: the `heddle-audit-export/1` JSON Lines format (documented there, with the
//!   trust model for partial exports), [`ExportWriter`] and [`verify_export`].
//!
//! Invariants: no I/O beyond the reader or writer a caller hands in, no clock, no async;
//! equal inputs give equal bytes and hashes on every platform and build (key order never
//! depends on `serde_json` features); verification never trusts a value from the file that
//! it can recompute, and names the first bad record.

mod canonical;
mod checkpoint;
pub mod export;
mod frontier;
mod hash;
mod proof;

pub use canonical::{canonical_event_bytes, canonical_json, format_utc};
pub use checkpoint::{
    CHECKPOINT_ORIGIN, Checkpoint, CheckpointError, SignedCheckpoint, sign_checkpoint,
    verify_checkpoint,
};
pub use export::{
    ConsistencyEvidence, EXPORT_FORMAT, ExportError, ExportHeader, ExportWriter, FailureReason,
    KeySource, Location, VerifyFailure, VerifyOptions, VerifyReport, verify_export,
    verify_export_with,
};
pub use frontier::{Frontier, FrontierError};
pub use hash::{
    CHAIN_GENESIS, EMPTY_TREE_ROOT, Hash, chain_next, leaf_hash, leaf_hash_with, node_hash,
};
pub use proof::{
    ProofError, consistency_proof, inclusion_proof, root_of, verify_consistency, verify_inclusion,
};
