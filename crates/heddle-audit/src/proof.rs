//! RFC 9162 §2.1.3 inclusion proofs and §2.1.4 consistency proofs: generation over a slice of
//! leaf hashes, and verification with the RFC's iterative algorithms.

use crate::frontier::Frontier;
use crate::hash::{EMPTY_TREE_ROOT, Hash, node_hash};

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index `{index}` is not below the tree size `{tree_size}`")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("tree size `{size}` exceeds the `{leaves}` leaves given")]
    SizeBeyondLeaves { size: u64, leaves: u64 },
    #[error("old tree size `{old_size}` is larger than the new tree size `{new_size}`")]
    OldSizeAfterNew { old_size: u64, new_size: u64 },
    #[error("a proof of `{len}` hashes has the wrong length for these tree sizes")]
    WrongLength { len: usize },
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
    #[error("the proof does not lead to the expected old root hash")]
    OldRootMismatch,
}

/// The Merkle Tree Hash of `leaves` (RFC 9162 §2.1.1).
pub fn root_of(leaves: &[Hash]) -> Hash {
    Frontier::from_leaves(leaves).root()
}

/// The inclusion proof (audit path) of leaf `index` in the tree of the first `tree_size`
/// leaves: sibling subtree roots from the leaf up.
pub fn inclusion_proof(
    leaves: &[Hash],
    index: u64,
    tree_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    let tree = prefix(leaves, tree_size)?;
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let mut proof = Vec::with_capacity(64 - tree_size.leading_zeros() as usize);
    audit_path(to_usize(index), tree, &mut proof);
    Ok(proof)
}

/// PATH(m, D[n]) of RFC 9162 §2.1.3.1.
fn audit_path(index: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    let (left, right) = leaves.split_at(k);
    if index < k {
        audit_path(index, left, proof);
        proof.push(root_of(right));
    } else {
        audit_path(index - k, right, proof);
        proof.push(root_of(left));
    }
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `tree_size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength { len: proof.len() });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                // Skip the levels where this node is a right-edge orphan with no sibling.
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { len: proof.len() });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof between the trees of the first `old_size` and `new_size` leaves
/// (RFC 9162 §2.1.4.1). Empty when `old_size` is 0 or equals `new_size`.
pub fn consistency_proof(
    leaves: &[Hash],
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    let tree = prefix(leaves, new_size)?;
    if old_size > new_size {
        return Err(ProofError::OldSizeAfterNew { old_size, new_size });
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(to_usize(old_size), tree, true, &mut proof);
    }
    Ok(proof)
}

/// SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1.
fn subproof(m: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            proof.push(root_of(leaves));
        }
        return;
    }
    let k = split_point(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(m, left, complete, proof);
        proof.push(root_of(right));
    } else {
        subproof(m - k, right, false, proof);
        proof.push(root_of(left));
    }
}

/// Checks that the tree of `new_size` leaves with `new_root` extends the tree of `old_size`
/// leaves with `old_root` (RFC 9162 §2.1.4.2). Equal sizes need equal roots and an empty
/// proof; every tree extends the empty tree.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldSizeAfterNew { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { len: proof.len() });
        }
        if old_size == 0 && *old_root != EMPTY_TREE_ROOT {
            return Err(ProofError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let Some((&first, rest)) = proof.split_first() else {
        return Err(ProofError::WrongLength { len: 0 });
    };
    // When the old tree is a perfect subtree, its root is the starting node and is not in
    // the proof.
    let (start, path) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (first, rest)
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = start;
    let mut s_r = start;
    for c in path {
        if s_n == 0 {
            return Err(ProofError::WrongLength { len: proof.len() });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { len: proof.len() });
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    (n - 1).checked_ilog2().map_or(1, |bits| 1 << bits)
}

fn prefix(leaves: &[Hash], size: u64) -> Result<&[Hash], ProofError> {
    usize::try_from(size)
        .ok()
        .and_then(|size| leaves.get(..size))
        .ok_or(ProofError::SizeBeyondLeaves {
            size,
            leaves: leaves.len() as u64,
        })
}

/// Sizes were checked against a slice length, so they fit.
fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
    }

    #[test]
    fn every_inclusion_proof_verifies_up_to_33_leaves() {
        let all = leaves(33);
        for size in 1..=33u64 {
            let root = root_of(&all[..size as usize]);
            for index in 0..size {
                let proof = inclusion_proof(&all, index, size).unwrap();
                let leaf = all[index as usize];
                verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
                assert!(verify_inclusion(&leaf, index, size, &proof, &[0; 32]).is_err());
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
                    assert!(verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
                    let mut longer = proof.clone();
                    longer.push([9; 32]);
                    assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_up_to_33_leaves() {
        let all = leaves(33);
        for new_size in 0..=33u64 {
            let new_root = root_of(&all[..new_size as usize]);
            for old_size in 0..=new_size {
                let old_root = root_of(&all[..old_size as usize]);
                let proof = consistency_proof(&all, old_size, new_size).unwrap();
                verify_consistency(old_size, new_size, &old_root, &new_root, &proof).unwrap();
                if old_size > 0 && old_size < new_size {
                    assert!(!proof.is_empty());
                    assert!(
                        verify_consistency(old_size, new_size, &new_root, &new_root, &proof)
                            .is_err()
                    );
                    assert!(
                        verify_consistency(old_size, new_size, &old_root, &old_root, &proof)
                            .is_err()
                    );
                    assert!(
                        verify_consistency(old_size, new_size, &old_root, &new_root, &proof[1..])
                            .is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn argument_errors() {
        let all = leaves(4);
        assert_eq!(
            inclusion_proof(&all, 4, 4),
            Err(ProofError::IndexOutOfRange {
                index: 4,
                tree_size: 4
            })
        );
        assert!(matches!(
            inclusion_proof(&all, 0, 5),
            Err(ProofError::SizeBeyondLeaves { .. })
        ));
        assert!(matches!(
            consistency_proof(&all, 3, 2),
            Err(ProofError::OldSizeAfterNew { .. })
        ));
        assert!(verify_inclusion(&all[0], 0, 0, &[], &EMPTY_TREE_ROOT).is_err());
        let root = root_of(&all);
        assert!(verify_consistency(0, 4, &EMPTY_TREE_ROOT, &root, &[]).is_ok());
        assert!(verify_consistency(0, 4, &root, &root, &[]).is_err());
        assert!(verify_consistency(4, 4, &root, &root, &[]).is_ok());
        assert!(verify_consistency(4, 4, &root, &all[0], &[]).is_err());
        assert!(verify_consistency(4, 4, &root, &root, &[root]).is_err());
        assert!(verify_consistency(2, 4, &root, &root, &[]).is_err());
    }
}
