//! Stand-in audit sequencers: deterministic and cheap, so the store's part (locking, order,
//! atomicity) is what the tests and the benchmark exercise. The real, RFC 9162 one is in
//! `heddle-audit`. Self-contained so `benches/audit_append.rs` can include it by path.

use heddle_store::{AuditHead, AuditSequencer, SequencedLeaf};

/// Leaf = FNV-1a of the event bytes ‖ seq; chain = FNV-1a(previous chain ‖ leaf) from eight
/// zero bytes; frontier = the tree size. Tests recompute both to check order and content.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestSequencer;

pub const GENESIS_CHAIN: [u8; 8] = [0; 8];

pub fn fnv1a(parts: &[&[u8]]) -> [u8; 8] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.to_be_bytes()
}

pub fn test_leaf_hash(seq: u64, event: &[u8]) -> Vec<u8> {
    [fnv1a(&[event]), seq.to_be_bytes()].concat()
}

pub fn test_chain_hash(previous: &[u8], leaf_hash: &[u8]) -> Vec<u8> {
    fnv1a(&[previous, leaf_hash]).to_vec()
}

impl AuditSequencer for TestSequencer {
    fn sequence(
        &self,
        head: Option<&AuditHead>,
        events: &[&[u8]],
    ) -> Result<(AuditHead, Vec<SequencedLeaf>), String> {
        let (start, mut chain) = match head {
            Some(head) => (head.tree_size, head.chain_hash.clone()),
            None => (0, GENESIS_CHAIN.to_vec()),
        };
        let mut leaves = Vec::with_capacity(events.len());
        for (seq, event) in (start..).zip(events) {
            let leaf_hash = test_leaf_hash(seq, event);
            chain = test_chain_hash(&chain, &leaf_hash);
            leaves.push(SequencedLeaf {
                seq,
                leaf_hash,
                chain_hash: chain.clone(),
            });
        }
        let tree_size = start + u64::try_from(events.len()).map_err(|err| err.to_string())?;
        Ok((
            AuditHead {
                tree_size,
                chain_hash: chain,
                frontier: tree_size.to_be_bytes().to_vec(),
            },
            leaves,
        ))
    }
}
