//! Engine-neutral steps of an audit append: grouping a batch by tenant, running the sequencer
//! and checking what it returns, and converting seqs and sizes to the databases' signed
//! 64-bit integers without wrapping.

use std::collections::BTreeMap;

use heddle_types::TenantId;

use crate::{AuditHead, AuditSequencer, NewAuditEvent, SequencedLeaf, StoreError, StoreResult};

/// Most rows one multi-row INSERT carries. Events bind 8 values a row, so a chunk stays far
/// below both engines' bind-parameter limits (SQLite 32,766, PostgreSQL 65,535) while one
/// statement still covers a typical group-commit batch.
pub(crate) const INSERT_CHUNK_ROWS: usize = 512;

/// One tenant's share of a batch: the new events and their positions in the caller's input.
pub(crate) struct TenantBatch {
    pub(crate) tenant_id: TenantId,
    pub(crate) events: Vec<NewAuditEvent>,
    pub(crate) positions: Vec<usize>,
}

/// Splits a batch by tenant, in tenant-id order (the lock order that keeps concurrent
/// appenders from deadlocking), keeping each tenant's events in input order.
pub(crate) fn group_by_tenant(events: Vec<NewAuditEvent>) -> Vec<TenantBatch> {
    let mut groups: BTreeMap<TenantId, TenantBatch> = BTreeMap::new();
    for (position, event) in events.into_iter().enumerate() {
        let group = groups
            .entry(event.tenant_id)
            .or_insert_with(|| TenantBatch {
                tenant_id: event.tenant_id,
                events: Vec::new(),
                positions: Vec::new(),
            });
        group.events.push(event);
        group.positions.push(position);
    }
    groups.into_values().collect()
}

/// Runs the sequencer and refuses output that would corrupt the log: one leaf per event,
/// seqs continuing the head without a gap, and a head that grew by exactly the batch.
pub(crate) fn sequence_checked(
    sequencer: &dyn AuditSequencer,
    head: Option<&AuditHead>,
    events: &[&[u8]],
) -> StoreResult<(AuditHead, Vec<SequencedLeaf>)> {
    let (new_head, leaves) = sequencer
        .sequence(head, events)
        .map_err(StoreError::Sequencer)?;
    let start = head.map_or(0, |head| head.tree_size);
    let count = u64::try_from(events.len()).map_err(|_| too_large(events.len()))?;
    let expected_size = start
        .checked_add(count)
        .ok_or_else(|| too_large(events.len()))?;
    if leaves.len() != events.len() {
        return Err(StoreError::Sequencer(format!(
            "returned `{}` leaves for `{}` events",
            leaves.len(),
            events.len()
        )));
    }
    if new_head.tree_size != expected_size {
        return Err(StoreError::Sequencer(format!(
            "returned tree size `{}`, expected `{expected_size}`",
            new_head.tree_size
        )));
    }
    for (expected_seq, leaf) in (start..).zip(&leaves) {
        if leaf.seq != expected_seq {
            return Err(StoreError::Sequencer(format!(
                "returned seq `{}` where `{expected_seq}` was due",
                leaf.seq
            )));
        }
    }
    Ok((new_head, leaves))
}

fn too_large(count: usize) -> StoreError {
    StoreError::Sequencer(format!("batch of `{count}` events overflows the log size"))
}

/// A seq or tree size to store; the databases hold signed 64-bit integers.
pub(crate) fn to_db_int(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        StoreError::Sequencer(format!("seq or size `{value}` exceeds the database range"))
    })
}

/// A seq or size bound in a query: anything beyond the database range behaves like the
/// largest storable value (no stored row can be above it).
pub(crate) fn to_db_bound(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored seq, size or count read back; a negative value means the row is corrupt.
pub(crate) fn from_db_int(value: i64) -> StoreResult<u64> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative audit seq, size or count `{value}`")))
}

/// The head as callers and the sequencer see it: a stored head of size 0 (a placeholder row
/// created only to be locked) is an empty log.
pub(crate) fn head_or_empty(head: AuditHead) -> Option<AuditHead> {
    (head.tree_size > 0).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting {
        skew_seq: bool,
        skew_size: bool,
    }

    impl AuditSequencer for Counting {
        fn sequence(
            &self,
            head: Option<&AuditHead>,
            events: &[&[u8]],
        ) -> Result<(AuditHead, Vec<SequencedLeaf>), String> {
            let start = head.map_or(0, |head| head.tree_size) + u64::from(self.skew_seq);
            let leaves = (start..)
                .zip(events)
                .map(|(seq, _)| SequencedLeaf {
                    seq,
                    leaf_hash: vec![1],
                    chain_hash: vec![2],
                })
                .collect();
            let size = head.map_or(0, |head| head.tree_size)
                + events.len() as u64
                + u64::from(self.skew_size);
            Ok((
                AuditHead {
                    tree_size: size,
                    chain_hash: vec![],
                    frontier: vec![],
                },
                leaves,
            ))
        }
    }

    #[test]
    fn sequencer_output_must_continue_the_head() {
        let events: [&[u8]; 2] = [b"a", b"b"];
        let honest = Counting {
            skew_seq: false,
            skew_size: false,
        };
        let (head, leaves) = sequence_checked(&honest, None, &events).unwrap();
        assert_eq!(head.tree_size, 2);
        assert_eq!(leaves.iter().map(|l| l.seq).collect::<Vec<_>>(), [0, 1]);
        for liar in [
            Counting {
                skew_seq: true,
                skew_size: false,
            },
            Counting {
                skew_seq: false,
                skew_size: true,
            },
        ] {
            let err = sequence_checked(&liar, Some(&head), &events).unwrap_err();
            assert!(matches!(err, StoreError::Sequencer(_)), "{err:?}");
        }
    }

    #[test]
    fn batches_group_by_tenant_in_id_order() {
        let (a, b) = {
            let (x, y) = (TenantId::new(), TenantId::new());
            if x < y { (x, y) } else { (y, x) }
        };
        let event = |tenant_id| NewAuditEvent {
            tenant_id,
            canonical: vec![],
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            action: String::new(),
            actor_kind: String::new(),
            actor_id: None,
            outcome: String::new(),
        };
        let groups = group_by_tenant(vec![event(b), event(a), event(b), event(a)]);
        let shape: Vec<_> = groups
            .iter()
            .map(|group| (group.tenant_id, group.positions.clone()))
            .collect();
        assert_eq!(shape, [(a, vec![1, 3]), (b, vec![0, 2])]);
    }

    #[test]
    fn database_integers_never_wrap() {
        assert_eq!(to_db_bound(u64::MAX), i64::MAX);
        assert!(to_db_int(u64::MAX).is_err());
        assert_eq!(to_db_int(7).unwrap(), 7);
        assert!(from_db_int(-1).is_err());
    }
}
