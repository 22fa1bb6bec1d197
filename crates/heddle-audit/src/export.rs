//! The export format (`heddle-audit-export/1`) and its writer and offline verifier.
//!
//! An export is JSON Lines: one JSON object per line, `\n`-terminated. Hashes are lowercase
//! hex, public keys and signatures standard base64, times UTC RFC 3339.
//!
//! 1. **`header`**, always the first line:
//!    `{"type":"header","format":"heddle-audit-export/1","tenant_id":"<uuid>","start_size":S,
//!    "end_size":E,"keys":[{"key_id":"…","algorithm":"ed25519","public_key":"<base64>"}],
//!    "latest_checkpoint":<signed checkpoint or null>}`. The export covers seq `S..E`;
//!    `keys` are the tenant's checkpoint public keys; `latest_checkpoint` is the newest signed
//!    checkpoint with `S ≤ tree_size ≤ E` (issue one on demand before exporting so it covers
//!    everything). Being on the first line, it survives a cut-off tail.
//! 2. **`start`**, only when `S > 0`, right after the header:
//!    `{"type":"start","chain_hash":"<hex>","frontier":{"size":S,"nodes":["<hex>",…]}}` —
//!    the chain value and the Merkle [`Frontier`] after the first `S` events,
//!    from which the verifier continues instead of replaying history it does not have.
//! 3. Records in sequence order, one per seq from `S` to `E - 1`:
//!    - **`event`**: `{"type":"event","seq":N,"leaf_hash":"<hex>","chain_hash":"<hex>",
//!      "event":<canonical event JSON>}`. The event is embedded byte for byte as stored, so
//!      the verifier hashes the exact bytes between `"event":` and the closing brace;
//!    - **`leaf`**: `{"type":"leaf","seq":N,"leaf_hash":"<hex>","chain_hash":"<hex>"}` for an
//!      event whose payload retention purged: no body, but the tree and chain still verify.
//! 4. **`checkpoint`** records, interleaved where they were issued: a checkpoint of tree size
//!    `T` comes right after the record of seq `T - 1` (or right after `start` when `T = S`):
//!    `{"type":"checkpoint","checkpoint":<signed checkpoint>,"consistency":{"from_size":M,
//!    "proof":["<hex>",…]}}`. `consistency` is optional; when present, `M` is the tree size of
//!    the previous checkpoint record in the file and `proof` the RFC 9162 consistency proof
//!    from it.
//!
//! A signed checkpoint in JSON is `{"tenant_id","tree_size","root_hash","chain_hash",
//! "issued_at","key_id","signature"}` (see [`SignedCheckpoint`]).
//!
//! ## What the verifier checks, and the trust model
//!
//! [`verify_export`] reads the file once and checks, in order, stopping at the first failure:
//! each event's leaf hash is `SHA-256(0x00 ‖ exact event bytes)` and equals the recorded one;
//! each record's chain hash is `SHA-256(previous ‖ leaf)`; sequence numbers run from `S`
//! without gaps, repeats or reordering and stay below `E`; each checkpoint's tenant, signature,
//! root (recomputed from the frontier at its tree size) and chain value; each consistency
//! proof; and that the file reaches `E` and the header's latest checkpoint (a cut-off tail
//! fails). The failure names the first bad seq or checkpoint, and the line.
//!
//! Signatures are checked against the keys the caller trusts (`--public-key`) when given, and
//! otherwise against the keys in the header. Header keys only show the file is internally
//! consistent — whoever rewrites a file can also re-sign it — so the report says which was
//! used. With a trusted key, an event is proven genuine when a checkpoint at or after its seq
//! verifies: the signed root commits to every leaf before it. Records after the last
//! verified checkpoint are hash-consistent but unanchored; the report counts them.
//!
//! A partial export (`S > 0`) starts from an unsigned `start` state. It is not trusted on its
//! own: the first verified checkpoint at or after `S` anchors it, because that signed root and
//! chain value are functions of the start frontier and chain value plus the following leaves,
//! so a forged start state would need a SHA-256 collision to reach a genuine signed root. A
//! partial export without any checkpoint verifies nothing beyond internal consistency.
//!
//! Truncation is caught against the header (`end_size`, `latest_checkpoint`). Someone who
//! rewrites the header as well can shorten an export to an older checkpoint undetected by the
//! file alone; compare the report's end with a checkpoint you obtained independently (for
//! example one kept from an earlier export, or from the API) to rule that out.

mod verify;
mod writer;

use heddle_crypto::PublicKey;
use heddle_types::TenantId;
use serde::{Deserialize, Serialize};

use crate::checkpoint::SignedCheckpoint;
use crate::frontier::Frontier;
use crate::hash::{Hash, hex_hash, hex_hashes};

pub use verify::{
    FailureReason, KeySource, Location, VerifyFailure, VerifyOptions, VerifyReport, verify_export,
    verify_export_with,
};
pub use writer::{ExportError, ExportWriter};

/// The `format` value of the header line.
pub const EXPORT_FORMAT: &str = "heddle-audit-export/1";

/// What the header says about an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportHeader {
    pub tenant_id: TenantId,
    /// First seq in the export (0 for a full export).
    pub start_size: u64,
    /// Tree size at the end: the export holds seq `start_size..end_size`.
    pub end_size: u64,
    /// The tenant's checkpoint public keys, current and former.
    pub keys: Vec<PublicKey>,
    /// The newest checkpoint within `start_size..=end_size`.
    pub latest_checkpoint: Option<SignedCheckpoint>,
}

/// A consistency proof from an earlier checkpoint in the same export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyEvidence {
    pub from_size: u64,
    #[serde(with = "hex_hashes")]
    pub proof: Vec<Hash>,
}

#[derive(Debug, Serialize, Deserialize)]
struct HeaderRecord {
    #[serde(rename = "type")]
    kind: String,
    format: String,
    tenant_id: TenantId,
    start_size: u64,
    end_size: u64,
    keys: Vec<KeyRecord>,
    #[serde(default)]
    latest_checkpoint: Option<SignedCheckpoint>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyRecord {
    key_id: String,
    algorithm: String,
    public_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StartRecord {
    #[serde(rename = "type")]
    kind: String,
    #[serde(with = "hex_hash")]
    chain_hash: Hash,
    frontier: Frontier,
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointRecord {
    #[serde(rename = "type")]
    kind: String,
    checkpoint: SignedCheckpoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consistency: Option<ConsistencyEvidence>,
}

const ALGORITHM_ED25519: &str = "ed25519";
