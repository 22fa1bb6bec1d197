//! The compact state of an append-only Merkle tree: its size and the roots of the perfect
//! subtrees along its right edge (one per set bit of the size, largest first). Appending and
//! computing the root need nothing else, so an append never reads the tree.

use serde::{Deserialize, Serialize};

use crate::hash::{EMPTY_TREE_ROOT, Hash, hex_hashes, node_hash};

/// A Merkle tree's frontier ("compact range" from 0 to `size`). Serializes as
/// `{"size": n, "nodes": ["<hex>", …]}`; deserializing checks that the node count matches
/// the size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FrontierRepr", into = "FrontierRepr")]
pub struct Frontier {
    size: u64,
    /// Roots of perfect subtrees, left to right; `nodes[i]` covers `2^b` leaves for the i-th
    /// set bit `b` of `size` counted from the top.
    nodes: Vec<Hash>,
}

/// A stored frontier that cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a frontier of size `{size}` needs {expected} nodes, found `{found}`")]
pub struct FrontierError {
    pub size: u64,
    pub expected: u32,
    pub found: usize,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub const fn new() -> Self {
        Self {
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// The frontier after appending `leaves` to an empty tree.
    pub fn from_leaves(leaves: &[Hash]) -> Self {
        let mut frontier = Self::new();
        for leaf in leaves {
            frontier.push(*leaf);
        }
        frontier
    }

    /// Rebuilds a frontier from stored parts, checking their shape.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Result<Self, FrontierError> {
        if nodes.len() != size.count_ones() as usize {
            return Err(FrontierError {
                size,
                expected: size.count_ones(),
                found: nodes.len(),
            });
        }
        Ok(Self { size, nodes })
    }

    /// The number of leaves.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge subtree roots, largest subtree first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends one leaf hash. Amortized one node hash per leaf, at most `log2(size)`.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        // Each trailing one bit of the old size is a perfect subtree of the new leaf's height
        // waiting for a right sibling: merge them, as binary addition carries.
        for _ in 0..self.size.trailing_ones() {
            match self.nodes.pop() {
                Some(left) => carry = node_hash(&left, &carry),
                None => break,
            }
        }
        self.nodes.push(carry);
        self.size += 1;
    }

    /// The RFC 9162 Merkle Tree Hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(&last) = nodes.next() else {
            return EMPTY_TREE_ROOT;
        };
        // MTH splits at the largest power of two below n, which is exactly the leftmost
        // perfect subtree; folding right to left reproduces that nesting.
        nodes.fold(last, |right, left| node_hash(left, &right))
    }
}

#[derive(Serialize, Deserialize)]
struct FrontierRepr {
    size: u64,
    #[serde(with = "hex_hashes")]
    nodes: Vec<Hash>,
}

impl TryFrom<FrontierRepr> for Frontier {
    type Error = FrontierError;

    fn try_from(repr: FrontierRepr) -> Result<Self, Self::Error> {
        Self::from_parts(repr.size, repr.nodes)
    }
}

impl From<Frontier> for FrontierRepr {
    fn from(frontier: Frontier) -> Self {
        Self {
            size: frontier.size,
            nodes: frontier.nodes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn small_trees_match_the_rfc_definition() {
        let l = leaves(3);
        assert_eq!(Frontier::new().root(), EMPTY_TREE_ROOT);
        assert_eq!(Frontier::from_leaves(&l[..1]).root(), l[0]);
        assert_eq!(
            Frontier::from_leaves(&l[..2]).root(),
            node_hash(&l[0], &l[1])
        );
        assert_eq!(
            Frontier::from_leaves(&l).root(),
            node_hash(&node_hash(&l[0], &l[1]), &l[2])
        );
    }

    #[test]
    fn node_count_is_the_popcount() {
        let mut frontier = Frontier::new();
        for (i, leaf) in leaves(300).into_iter().enumerate() {
            frontier.push(leaf);
            assert_eq!(frontier.size(), i as u64 + 1);
            assert_eq!(
                frontier.nodes().len(),
                frontier.size().count_ones() as usize
            );
        }
    }

    #[test]
    fn serde_round_trips_and_rejects_wrong_shapes() {
        let frontier = Frontier::from_leaves(&leaves(11));
        let json = serde_json::to_string(&frontier).unwrap();
        assert!(json.starts_with(r#"{"size":11,"nodes":[""#), "{json}");
        let back: Frontier = serde_json::from_str(&json).unwrap();
        assert_eq!(back, frontier);
        assert_eq!(back.root(), frontier.root());
        let wrong = r#"{"size":3,"nodes":[]}"#;
        let error = serde_json::from_str::<Frontier>(wrong).unwrap_err();
        assert!(error.to_string().contains("size `3`"), "{error}");
        assert!(Frontier::from_parts(2, vec![[0; 32]; 2]).is_err());
    }
}
