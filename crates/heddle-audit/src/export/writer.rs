//! Writes an export from rows the store already holds. It does not recompute hashes (the
//! verifier does); it keeps the file well-formed: sequence order, record placement, one line
//! per record.

use std::io::Write;

use heddle_crypto::hex_encode_into;
use heddle_types::TenantId;

use super::{
    ALGORITHM_ED25519, CheckpointRecord, ConsistencyEvidence, EXPORT_FORMAT, ExportHeader,
    HeaderRecord, KeyRecord, StartRecord,
};
use crate::checkpoint::SignedCheckpoint;
use crate::frontier::Frontier;
use crate::hash::Hash;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot serialize an export record: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("expected seq `{expected}` next, got `{found}`")]
    OutOfOrder { expected: u64, found: u64 },
    #[error("seq `{seq}` is at or beyond the header's end size `{end_size}`")]
    BeyondEnd { seq: u64, end_size: u64 },
    #[error(
        "an export starting at seq `{start_size}` needs a start record with a frontier of that \
         size before any other record"
    )]
    MissingStart { start_size: u64 },
    #[error("the start record has size `{found}` but the export starts at `{start_size}`")]
    StartMisplaced { start_size: u64, found: u64 },
    #[error("the canonical bytes of seq `{seq}` are not one JSON object on one line")]
    EventNotOneLine { seq: u64 },
    #[error(
        "checkpoint of tree size `{tree_size}` must come right after seq `{}`, but `{position}` \
         records precede it", tree_size.saturating_sub(1)
    )]
    CheckpointMisplaced { tree_size: u64, position: u64 },
    #[error("checkpoint belongs to tenant `{found}`, not to the exported tenant `{expected}`")]
    WrongTenant { expected: TenantId, found: TenantId },
    #[error(
        "the header's latest checkpoint has tree size `{tree_size}`, outside the exported \
         range `{start_size}..={end_size}`"
    )]
    LatestOutOfRange {
        tree_size: u64,
        start_size: u64,
        end_size: u64,
    },
    #[error("the export was finished after seq `{written}` of `{end_size}`")]
    Incomplete { written: u64, end_size: u64 },
}

/// Streams an export: construct with the header, then `write_start` (partial exports only),
/// then records in sequence order with checkpoints where they belong, then `finish`.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    tenant_id: TenantId,
    start_size: u64,
    end_size: u64,
    /// Tree size so far, i.e. the seq expected next.
    position: u64,
    started: bool,
    line: Vec<u8>,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the header line.
    pub fn new(mut out: W, header: &ExportHeader) -> Result<Self, ExportError> {
        if let Some(latest) = &header.latest_checkpoint {
            let tree_size = latest.checkpoint.tree_size;
            if tree_size < header.start_size || tree_size > header.end_size {
                return Err(ExportError::LatestOutOfRange {
                    tree_size,
                    start_size: header.start_size,
                    end_size: header.end_size,
                });
            }
            check_tenant(header.tenant_id, latest)?;
        }
        let record = HeaderRecord {
            kind: "header".to_owned(),
            format: EXPORT_FORMAT.to_owned(),
            tenant_id: header.tenant_id,
            start_size: header.start_size,
            end_size: header.end_size,
            keys: header
                .keys
                .iter()
                .map(|key| KeyRecord {
                    key_id: key.key_id(),
                    algorithm: ALGORITHM_ED25519.to_owned(),
                    public_key: key.to_base64(),
                })
                .collect(),
            latest_checkpoint: header.latest_checkpoint.clone(),
        };
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
        Ok(Self {
            out,
            tenant_id: header.tenant_id,
            start_size: header.start_size,
            end_size: header.end_size,
            position: header.start_size,
            started: header.start_size == 0,
            line: Vec::with_capacity(1024),
        })
    }

    /// The state after the first `start_size` events; required first in a partial export.
    pub fn write_start(
        &mut self,
        frontier: &Frontier,
        chain_hash: &Hash,
    ) -> Result<(), ExportError> {
        if self.started || frontier.size() != self.start_size {
            return Err(ExportError::StartMisplaced {
                start_size: self.start_size,
                found: frontier.size(),
            });
        }
        let record = StartRecord {
            kind: "start".to_owned(),
            chain_hash: *chain_hash,
            frontier: frontier.clone(),
        };
        serde_json::to_writer(&mut self.out, &record)?;
        self.out.write_all(b"\n")?;
        self.started = true;
        Ok(())
    }

    /// An event with its payload: `canonical_event` exactly as stored and hashed.
    pub fn write_event(
        &mut self,
        seq: u64,
        leaf_hash: &Hash,
        chain_hash: &Hash,
        canonical_event: &[u8],
    ) -> Result<(), ExportError> {
        let one_object = canonical_event.first() == Some(&b'{')
            && canonical_event.last() == Some(&b'}')
            && !canonical_event.contains(&b'\n');
        if !one_object {
            return Err(ExportError::EventNotOneLine { seq });
        }
        self.write_leaf_record(seq, leaf_hash, chain_hash, Some(canonical_event))
    }

    /// An event whose payload was purged: its hashes only.
    pub fn write_leaf(
        &mut self,
        seq: u64,
        leaf_hash: &Hash,
        chain_hash: &Hash,
    ) -> Result<(), ExportError> {
        self.write_leaf_record(seq, leaf_hash, chain_hash, None)
    }

    fn write_leaf_record(
        &mut self,
        seq: u64,
        leaf_hash: &Hash,
        chain_hash: &Hash,
        event: Option<&[u8]>,
    ) -> Result<(), ExportError> {
        self.check_started()?;
        if seq != self.position {
            return Err(ExportError::OutOfOrder {
                expected: self.position,
                found: seq,
            });
        }
        if seq >= self.end_size {
            return Err(ExportError::BeyondEnd {
                seq,
                end_size: self.end_size,
            });
        }
        let mut hex = [0u8; 64];
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(if event.is_some() {
            b"{\"type\":\"event\",\"seq\":"
        } else {
            b"{\"type\":\"leaf\",\"seq\":"
        });
        line.extend_from_slice(seq.to_string().as_bytes());
        line.extend_from_slice(b",\"leaf_hash\":\"");
        hex_encode_into(leaf_hash, &mut hex);
        line.extend_from_slice(&hex);
        line.extend_from_slice(b"\",\"chain_hash\":\"");
        hex_encode_into(chain_hash, &mut hex);
        line.extend_from_slice(&hex);
        line.push(b'"');
        if let Some(event) = event {
            line.extend_from_slice(b",\"event\":");
            line.extend_from_slice(event);
        }
        line.extend_from_slice(b"}\n");
        self.out.write_all(line)?;
        self.position += 1;
        Ok(())
    }

    /// A checkpoint, placed where it was issued: after exactly `tree_size` records. Pass the
    /// consistency proof from the previous checkpoint written, when the store has it.
    pub fn write_checkpoint(
        &mut self,
        checkpoint: &SignedCheckpoint,
        consistency: Option<&ConsistencyEvidence>,
    ) -> Result<(), ExportError> {
        self.check_started()?;
        check_tenant(self.tenant_id, checkpoint)?;
        let tree_size = checkpoint.checkpoint.tree_size;
        if tree_size != self.position {
            return Err(ExportError::CheckpointMisplaced {
                tree_size,
                position: self.position,
            });
        }
        let record = CheckpointRecord {
            kind: "checkpoint".to_owned(),
            checkpoint: checkpoint.clone(),
            consistency: consistency.cloned(),
        };
        serde_json::to_writer(&mut self.out, &record)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Checks the export is complete, flushes, and hands back the output.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.check_started()?;
        if self.position != self.end_size {
            return Err(ExportError::Incomplete {
                written: self.position,
                end_size: self.end_size,
            });
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn check_started(&self) -> Result<(), ExportError> {
        if self.started {
            Ok(())
        } else {
            Err(ExportError::MissingStart {
                start_size: self.start_size,
            })
        }
    }
}

fn check_tenant(expected: TenantId, checkpoint: &SignedCheckpoint) -> Result<(), ExportError> {
    if checkpoint.checkpoint.tenant_id == expected {
        Ok(())
    } else {
        Err(ExportError::WrongTenant {
            expected,
            found: checkpoint.checkpoint.tenant_id,
        })
    }
}
