//! The pure sequencing step, run by the store under the tenant's head lock.

use heddle_audit::{CHAIN_GENESIS, Frontier, chain_next, leaf_hash};
use heddle_store::{AuditHead, AuditSequencer, SequencedLeaf};

/// Sequences events into an RFC 9162 Merkle log with a hash chain beside it.
#[derive(Debug, Default, Clone, Copy)]
pub struct MerkleSequencer;

impl AuditSequencer for MerkleSequencer {
    fn sequence(
        &self,
        head: Option<&AuditHead>,
        events: &[&[u8]],
    ) -> Result<(AuditHead, Vec<SequencedLeaf>), String> {
        let (mut frontier, mut chain) = match head {
            None => (Frontier::default(), CHAIN_GENESIS),
            Some(head) => {
                let frontier: Frontier = serde_json::from_slice(&head.frontier)
                    .map_err(|err| format!("stored audit frontier is unreadable: {err}"))?;
                if frontier.size() != head.tree_size {
                    return Err(format!(
                        "stored audit frontier has size {} but the head says {}",
                        frontier.size(),
                        head.tree_size
                    ));
                }
                let chain: [u8; 32] = head.chain_hash.as_slice().try_into().map_err(|_| {
                    format!(
                        "stored audit chain hash has {} bytes, expected 32",
                        head.chain_hash.len()
                    )
                })?;
                (frontier, chain)
            }
        };
        let mut leaves = Vec::with_capacity(events.len());
        for bytes in events {
            let seq = frontier.size();
            let leaf = leaf_hash(bytes);
            chain = chain_next(&chain, &leaf);
            frontier.push(leaf);
            leaves.push(SequencedLeaf {
                seq,
                leaf_hash: leaf.to_vec(),
                chain_hash: chain.to_vec(),
            });
        }
        let frontier_bytes = serde_json::to_vec(&frontier)
            .map_err(|err| format!("cannot serialize the audit frontier: {err}"))?;
        Ok((
            AuditHead {
                tree_size: frontier.size(),
                chain_hash: chain.to_vec(),
                frontier: frontier_bytes,
            },
            leaves,
        ))
    }
}
