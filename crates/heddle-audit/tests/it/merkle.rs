//! Merkle roots and proofs checked against two independent implementations: the `ct-merkle`
//! crate (on RustCrypto's `sha2`), and a deliberately naive recursive transcription of the
//! RFC 9162 definitions below (also on `sha2`, so neither shares code with the crate).

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use heddle_audit::{
    EMPTY_TREE_ROOT, Frontier, Hash, ProofError, consistency_proof, inclusion_proof, leaf_hash,
    root_of, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// RFC 9162 §2.1.1, word for word.
mod naive {
    use super::*;

    pub fn hash(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH over leaf hashes (the leaf level already applied).
    pub fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => hash(&[]),
            1 => d[0],
            n => {
                let (left, right) = d.split_at(k(n));
                hash(&[&[1], &mth(left), &mth(right)])
            }
        }
    }

    /// PATH(m, D[n]).
    pub fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = k(n);
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    pub fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
        subproof(m, d, true)
    }

    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = k(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }
}

fn leaf_data() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..130)
}

fn ct_tree(data: &[Vec<u8>]) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut tree = MemoryBackedTree::new();
    for item in data {
        tree.push(item.clone());
    }
    tree
}

fn flatten(proof: &[Hash]) -> Vec<u8> {
    proof.concat()
}

fn ct_root(hash: &Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new((*hash).into(), size)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn roots_agree(data in leaf_data()) {
        let leaves: Vec<Hash> = data.iter().map(|item| leaf_hash(item)).collect();
        let naive_leaves: Vec<Hash> = data.iter().map(|item| naive::hash(&[&[0], item])).collect();
        prop_assert_eq!(&leaves, &naive_leaves);
        let root = root_of(&leaves);
        prop_assert_eq!(root, naive::mth(&leaves));
        let their_root = ct_tree(&data).root();
        prop_assert_eq!(root.as_slice(), their_root.as_bytes().as_slice());
        // The incremental frontier gives the same root at every size on the way.
        let mut frontier = Frontier::new();
        for (size, leaf) in leaves.iter().enumerate() {
            prop_assert_eq!(frontier.root(), naive::mth(&leaves[..size]));
            frontier.push(*leaf);
        }
        prop_assert_eq!(frontier.root(), root);
    }

    #[test]
    fn inclusion_proofs_agree_and_cross_verify(data in leaf_data(), pick in any::<prop::sample::Index>()) {
        prop_assume!(!data.is_empty());
        let leaves: Vec<Hash> = data.iter().map(|item| leaf_hash(item)).collect();
        let size = leaves.len() as u64;
        let index = pick.index(leaves.len());
        let tree = ct_tree(&data);
        let root = root_of(&leaves);
        let ours = inclusion_proof(&leaves, index as u64, size).unwrap();
        prop_assert_eq!(&ours, &naive::path(index, &leaves));
        let theirs = tree.prove_inclusion(index);
        prop_assert_eq!(flatten(&ours), theirs.as_bytes().to_vec());

        // Each verifier accepts the other's proof.
        prop_assert!(verify_inclusion(&leaves[index], index as u64, size, &ours, &root).is_ok());
        let their_proof = InclusionProof::<Sha256>::try_from_bytes(flatten(&ours)).unwrap();
        prop_assert!(ct_root(&root, size).verify_inclusion(&data[index], index as u64, &their_proof).is_ok());

        // Any changed hash, leaf or index is rejected by ours.
        for position in 0..ours.len() {
            let mut altered = ours.clone();
            altered[position][position % 32] ^= 0x04;
            prop_assert!(verify_inclusion(&leaves[index], index as u64, size, &altered, &root).is_err());
        }
        let mut other_leaf = leaves[index];
        other_leaf[0] ^= 1;
        prop_assert!(verify_inclusion(&other_leaf, index as u64, size, &ours, &root).is_err());
        // With duplicate leaves a proof can genuinely hold at a mirrored position (the same
        // hashes line up), so the index check needs distinct leaves.
        let distinct = leaves.iter().collect::<std::collections::HashSet<_>>().len() == leaves.len();
        if size > 1 && distinct {
            let other_index = (index as u64 + 1) % size;
            prop_assert!(verify_inclusion(&leaves[index], other_index, size, &ours, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_agree_and_cross_verify(data in leaf_data(), pick in any::<prop::sample::Index>()) {
        prop_assume!(data.len() >= 2);
        let leaves: Vec<Hash> = data.iter().map(|item| leaf_hash(item)).collect();
        let new_size = leaves.len();
        let old_size = 1 + pick.index(new_size - 1);
        let tree = ct_tree(&data);
        let old_root = root_of(&leaves[..old_size]);
        let new_root = root_of(&leaves);
        let ours = consistency_proof(&leaves, old_size as u64, new_size as u64).unwrap();
        prop_assert_eq!(&ours, &naive::proof(old_size, &leaves));
        let theirs = tree.prove_consistency(new_size - old_size);
        prop_assert_eq!(flatten(&ours), theirs.as_bytes().to_vec());

        prop_assert!(verify_consistency(old_size as u64, new_size as u64, &old_root, &new_root, &ours).is_ok());
        let their_proof = ConsistencyProof::<Sha256>::try_from_bytes(flatten(&ours)).unwrap();
        prop_assert!(ct_root(&new_root, new_size as u64)
            .verify_consistency(&ct_root(&old_root, old_size as u64), &their_proof)
            .is_ok());

        for position in 0..ours.len() {
            let mut altered = ours.clone();
            altered[position][31 - position % 32] ^= 0x80;
            prop_assert!(verify_consistency(old_size as u64, new_size as u64, &old_root, &new_root, &altered).is_err());
        }
        let mut other_root = old_root;
        other_root[5] ^= 1;
        prop_assert!(verify_consistency(old_size as u64, new_size as u64, &other_root, &new_root, &ours).is_err());
        prop_assert!(verify_consistency(old_size as u64, new_size as u64, &old_root, &other_root, &ours).is_err());
        // Claiming a different old size with the same proof fails, unless the proof happens
        // to be valid for it too (ct-merkle's note: several sizes can share a proof).
        if old_size + 1 < new_size {
            let claimed = old_size as u64 + 1;
            let claimed_root = root_of(&leaves[..old_size + 1]);
            let result = verify_consistency(claimed, new_size as u64, &claimed_root, &new_root, &ours);
            let expected = naive::proof(old_size + 1, &leaves) == ours;
            prop_assert_eq!(result.is_ok(), expected);
        }
    }
}

#[test]
fn edge_cases() {
    // Size 0: the empty root, no inclusion possible, every tree extends it.
    assert_eq!(root_of(&[]), EMPTY_TREE_ROOT);
    assert_eq!(root_of(&[]), naive::hash(&[]));
    assert!(matches!(
        inclusion_proof(&[], 0, 0),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    let leaves: Vec<Hash> = (0u32..64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    assert_eq!(
        consistency_proof(&leaves, 0, 64).unwrap(),
        Vec::<Hash>::new()
    );
    verify_consistency(0, 64, &EMPTY_TREE_ROOT, &root_of(&leaves), &[]).unwrap();

    // Size 1: the root is the leaf and the proof is empty.
    assert_eq!(root_of(&leaves[..1]), leaves[0]);
    assert!(inclusion_proof(&leaves, 0, 1).unwrap().is_empty());
    verify_inclusion(&leaves[0], 0, 1, &[], &leaves[0]).unwrap();

    // Powers of two: proofs have exactly log2(n) hashes; a power-of-two old tree's root is
    // implied, not sent.
    for exponent in 0..=6u32 {
        let size = 1usize << exponent;
        let root = root_of(&leaves[..size]);
        for index in 0..size {
            let proof = inclusion_proof(&leaves, index as u64, size as u64).unwrap();
            assert_eq!(proof.len(), exponent as usize);
            verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &root).unwrap();
        }
        if size < 64 {
            let proof = consistency_proof(&leaves, size as u64, 64).unwrap();
            assert!(!proof.contains(&root));
            verify_consistency(size as u64, 64, &root, &root_of(&leaves), &proof).unwrap();
        }
    }

    // old_size == new_size: an empty proof and equal roots.
    let root = root_of(&leaves[..37]);
    assert!(consistency_proof(&leaves, 37, 37).unwrap().is_empty());
    verify_consistency(37, 37, &root, &root, &[]).unwrap();
    assert!(verify_consistency(37, 37, &root, &leaves[0], &[]).is_err());
    assert!(verify_consistency(37, 37, &root, &root, &[root]).is_err());

    // Invalid proofs: an empty proof between different sizes, or a proof for other sizes.
    let proof = consistency_proof(&leaves, 5, 37).unwrap();
    let root5 = root_of(&leaves[..5]);
    assert!(verify_consistency(5, 37, &root5, &root, &[]).is_err());
    assert!(verify_consistency(5, 38, &root5, &root_of(&leaves[..38]), &proof).is_err());
    assert!(matches!(
        verify_consistency(38, 37, &root5, &root, &proof),
        Err(ProofError::OldSizeAfterNew { .. })
    ));
}
