//! Signed checkpoints, inclusion and consistency proofs, and exports for offline checking.

use std::io::Write;

use heddle_audit::{
    Checkpoint, ConsistencyEvidence, ExportHeader, ExportWriter, Frontier, Hash, SignedCheckpoint,
};
use heddle_store::{AuditFilter, StoreError, StoredCheckpoint};
use heddle_types::TenantId;
use heddle_vault::Vault;

use crate::{AuditLog, AuditLogError};

/// An event's membership in a signed tree.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub seq: u64,
    pub leaf_hash: Hash,
    pub proof: Vec<Hash>,
    pub checkpoint: SignedCheckpoint,
}

/// That a newer signed tree extends an older one.
#[derive(Debug, Clone)]
pub struct ConsistencyProof {
    pub from: SignedCheckpoint,
    pub to: SignedCheckpoint,
    pub proof: Vec<Hash>,
}

/// What an export contained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub start_size: u64,
    pub end_size: u64,
    pub events: u64,
    pub purged: u64,
    pub checkpoints: u64,
}

const EXPORT_PAGE: u32 = 1000;

impl AuditLog {
    /// Signs the tenant's current tree (after sequencing the outbox) unless the newest
    /// checkpoint already covers it. `None` when the tenant's log is empty.
    pub async fn checkpoint(
        &self,
        vault: &Vault,
        tenant_id: TenantId,
    ) -> Result<Option<SignedCheckpoint>, AuditLogError> {
        self.flush_tenant(tenant_id).await?;
        let store = self.store();
        let Some(head) = store.audit_head(tenant_id).await? else {
            return Ok(None);
        };
        if let Some(latest) = store.latest_audit_checkpoint(tenant_id).await?
            && latest.tree_size == head.tree_size
        {
            return Ok(Some(from_stored(&latest)?));
        }
        let frontier: Frontier = serde_json::from_slice(&head.frontier)
            .map_err(|err| AuditLogError::Corrupt(format!("audit frontier: {err}")))?;
        let signer = vault
            .checkpoint_signer(tenant_id)
            .await
            .map_err(|err| AuditLogError::Vault(err.to_string()))?;
        let signed = heddle_audit::sign_checkpoint(
            &signer.key,
            Checkpoint {
                tenant_id,
                tree_size: head.tree_size,
                root_hash: frontier.root(),
                chain_hash: hash32(&head.chain_hash)?,
                issued_at: self.now(),
                key_id: String::new(),
            },
        );
        match store.insert_audit_checkpoint(to_stored(&signed)).await {
            Ok(()) => {
                metrics::counter!("heddle_audit_checkpoints_total").increment(1);
                Ok(Some(signed))
            }
            // Another process signed the same size first; both are genuine, keep theirs.
            Err(StoreError::Conflict { .. }) => {
                let stored = store
                    .list_audit_checkpoints(tenant_id)
                    .await?
                    .into_iter()
                    .find(|c| c.tree_size == head.tree_size)
                    .ok_or_else(|| AuditLogError::Corrupt("checkpoint vanished".into()))?;
                Ok(Some(from_stored(&stored)?))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Proves that event `seq` is in the tree of the first checkpoint that covers it
    /// (signing a new one if none does yet).
    pub async fn inclusion_proof(
        &self,
        vault: &Vault,
        tenant_id: TenantId,
        seq: u64,
    ) -> Result<InclusionProof, AuditLogError> {
        let checkpoint = match self.covering_checkpoint(tenant_id, seq).await? {
            Some(checkpoint) => checkpoint,
            None => self
                .checkpoint(vault, tenant_id)
                .await?
                .filter(|c| c.checkpoint.tree_size > seq)
                .ok_or(AuditLogError::NoSuchEvent { seq })?,
        };
        let size = checkpoint.checkpoint.tree_size;
        let leaves = self.leaf_hashes(tenant_id, size).await?;
        let index = usize::try_from(seq).map_err(|_| AuditLogError::NoSuchEvent { seq })?;
        let leaf_hash = *leaves
            .get(index)
            .ok_or(AuditLogError::NoSuchEvent { seq })?;
        let proof = heddle_audit::inclusion_proof(&leaves, seq, size)
            .map_err(|err| AuditLogError::Corrupt(err.to_string()))?;
        Ok(InclusionProof {
            seq,
            leaf_hash,
            proof,
            checkpoint,
        })
    }

    /// Proves that the checkpoint of size `to` extends the one of size `from`.
    pub async fn consistency_proof(
        &self,
        tenant_id: TenantId,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, AuditLogError> {
        let checkpoints = self.store().list_audit_checkpoints(tenant_id).await?;
        let find = |size: u64| {
            checkpoints
                .iter()
                .find(|c| c.tree_size == size)
                .ok_or(AuditLogError::NoSuchCheckpoint { tree_size: size })
                .and_then(from_stored)
        };
        let (older, newer) = (find(from)?, find(to)?);
        if from > to {
            return Err(AuditLogError::NoSuchCheckpoint { tree_size: from });
        }
        let leaves = self.leaf_hashes(tenant_id, to).await?;
        let proof = heddle_audit::consistency_proof(&leaves, from, to)
            .map_err(|err| AuditLogError::Corrupt(err.to_string()))?;
        Ok(ConsistencyProof {
            from: older,
            to: newer,
            proof,
        })
    }

    /// Writes the tenant's log from `since` to a fresh checkpoint as an
    /// `heddle-audit-export/1` file, checkpoints interleaved where they were issued.
    pub async fn export<W: Write>(
        &self,
        vault: &Vault,
        tenant_id: TenantId,
        since: u64,
        out: W,
    ) -> Result<(W, ExportSummary), AuditLogError> {
        let latest = self.checkpoint(vault, tenant_id).await?;
        let end_size = latest.as_ref().map_or(0, |c| c.checkpoint.tree_size);
        let start_size = since.min(end_size);
        let keys = vault
            .checkpoint_public_keys(tenant_id)
            .await
            .map_err(|err| AuditLogError::Vault(err.to_string()))?;
        let header = ExportHeader {
            tenant_id,
            start_size,
            end_size,
            keys,
            latest_checkpoint: latest,
        };
        let mut writer = ExportWriter::new(out, &header).map_err(export_error)?;
        if start_size > 0 {
            let leaves = self.leaf_hashes(tenant_id, start_size).await?;
            let chain = self.chain_at(tenant_id, start_size).await?;
            writer
                .write_start(&Frontier::from_leaves(&leaves), &chain)
                .map_err(export_error)?;
        }
        let mut checkpoints = self
            .store()
            .list_audit_checkpoints(tenant_id)
            .await?
            .into_iter()
            .filter(|c| c.tree_size > start_size && c.tree_size <= end_size)
            .peekable();
        let mut summary = ExportSummary {
            start_size,
            end_size,
            events: 0,
            purged: 0,
            checkpoints: 0,
        };
        let mut position = start_size;
        while position < end_size {
            let page = self
                .store()
                .list_audit_events(
                    tenant_id,
                    &AuditFilter {
                        after_seq: position.checked_sub(1),
                        before_seq: Some(end_size),
                        include_purged: true,
                        limit: EXPORT_PAGE,
                        ..AuditFilter::default()
                    },
                )
                .await?;
            if page.is_empty() {
                return Err(AuditLogError::Corrupt(format!(
                    "audit log ends at {position}, before its checkpoint at {end_size}"
                )));
            }
            for stored in page {
                let leaf = hash32(&stored.leaf_hash)?;
                let chain = hash32(&stored.chain_hash)?;
                match &stored.canonical {
                    Some(bytes) => {
                        writer
                            .write_event(stored.seq, &leaf, &chain, bytes)
                            .map_err(export_error)?;
                        summary.events += 1;
                    }
                    None => {
                        writer
                            .write_leaf(stored.seq, &leaf, &chain)
                            .map_err(export_error)?;
                        summary.purged += 1;
                    }
                }
                position = stored.seq + 1;
                while let Some(checkpoint) = checkpoints.next_if(|c| c.tree_size == position) {
                    writer
                        .write_checkpoint(&from_stored(&checkpoint)?, None::<&ConsistencyEvidence>)
                        .map_err(export_error)?;
                    summary.checkpoints += 1;
                }
            }
        }
        let out = writer.finish().map_err(export_error)?;
        Ok((out, summary))
    }

    async fn covering_checkpoint(
        &self,
        tenant_id: TenantId,
        seq: u64,
    ) -> Result<Option<SignedCheckpoint>, AuditLogError> {
        self.store()
            .list_audit_checkpoints(tenant_id)
            .await?
            .iter()
            .find(|c| c.tree_size > seq)
            .map(from_stored)
            .transpose()
    }

    async fn leaf_hashes(
        &self,
        tenant_id: TenantId,
        size: u64,
    ) -> Result<Vec<Hash>, AuditLogError> {
        self.store()
            .audit_leaf_hashes(tenant_id, size)
            .await?
            .iter()
            .map(|leaf| hash32(leaf))
            .collect()
    }

    /// The chain value after the first `size` events (genesis for 0).
    async fn chain_at(&self, tenant_id: TenantId, size: u64) -> Result<Hash, AuditLogError> {
        if size == 0 {
            return Ok(heddle_audit::CHAIN_GENESIS);
        }
        let previous = self
            .store()
            .list_audit_events(
                tenant_id,
                &AuditFilter {
                    after_seq: size.checked_sub(2),
                    before_seq: Some(size),
                    include_purged: true,
                    limit: 1,
                    ..AuditFilter::default()
                },
            )
            .await?;
        let last = previous
            .first()
            .ok_or_else(|| AuditLogError::Corrupt(format!("no audit leaf {}", size - 1)))?;
        hash32(&last.chain_hash)
    }
}

fn hash32(bytes: &[u8]) -> Result<Hash, AuditLogError> {
    bytes
        .try_into()
        .map_err(|_| AuditLogError::Corrupt(format!("stored hash has {} bytes", bytes.len())))
}

fn export_error(err: heddle_audit::ExportError) -> AuditLogError {
    AuditLogError::Export(err.to_string())
}

fn to_stored(signed: &SignedCheckpoint) -> StoredCheckpoint {
    StoredCheckpoint {
        tenant_id: signed.checkpoint.tenant_id,
        tree_size: signed.checkpoint.tree_size,
        root_hash: signed.checkpoint.root_hash.to_vec(),
        chain_hash: signed.checkpoint.chain_hash.to_vec(),
        issued_at: signed.checkpoint.issued_at,
        key_id: signed.checkpoint.key_id.clone(),
        signature: signed.signature.to_vec(),
    }
}

fn from_stored(stored: &StoredCheckpoint) -> Result<SignedCheckpoint, AuditLogError> {
    Ok(SignedCheckpoint {
        checkpoint: Checkpoint {
            tenant_id: stored.tenant_id,
            tree_size: stored.tree_size,
            root_hash: hash32(&stored.root_hash)?,
            chain_hash: hash32(&stored.chain_hash)?,
            issued_at: stored.issued_at,
            key_id: stored.key_id.clone(),
        },
        signature: stored.signature.as_slice().try_into().map_err(|_| {
            AuditLogError::Corrupt(format!(
                "stored checkpoint signature has {} bytes",
                stored.signature.len()
            ))
        })?,
    })
}
