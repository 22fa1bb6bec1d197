//! A small in-memory audit log that produces realistic events, checkpoints and exports.

use heddle_audit::{
    CHAIN_GENESIS, Checkpoint, ConsistencyEvidence, ExportHeader, ExportWriter, Frontier, Hash,
    SignedCheckpoint, canonical_event_bytes, chain_next, consistency_proof, leaf_hash, root_of,
    sign_checkpoint,
};
use heddle_crypto::{SigningKey, hex_encode, sha256};
use heddle_types::{
    ActorKind, AuditActor, AuditEvent, AuditOutcome, AuditTarget, IdentityMode, RequestContext,
    TenantId,
};
use serde_json::json;
use time::Duration;
use time::macros::datetime;
use uuid::Uuid;

/// A realistic event of about 400 canonical bytes; `i` varies every field a little.
pub fn sample_event(tenant_id: TenantId, i: u64) -> AuditEvent {
    let mut details = serde_json::Map::new();
    details.insert(
        "model".into(),
        json!(["gpt-4o-mini", "claude-sonnet", "llama-3"][(i % 3) as usize]),
    );
    if i.is_multiple_of(8) {
        details.insert(
            "prompt_sha256".into(),
            json!(hex_encode(sha256(i.to_le_bytes()))),
        );
    }
    details.insert("tokens_in".into(), json!(100 + i % 900));
    details.insert("tokens_out".into(), json!(20 + i % 300));
    details.insert(
        "decision".into(),
        json!(if i.is_multiple_of(17) {
            "deny"
        } else {
            "allow"
        }),
    );
    AuditEvent {
        tenant_id,
        environment: i.is_multiple_of(2).then(|| "prod".into()),
        actor: AuditActor {
            kind: ActorKind::ApiKey,
            id: Some(
                Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(i % 50))
                    .to_string(),
            ),
            display: None,
            identity_mode: IdentityMode::User,
        },
        action: "runtime.tool_call".into(),
        target: Some(AuditTarget {
            kind: "tool".into(),
            id: format!("salesforce.query.{}", i % 7),
        }),
        outcome: if i.is_multiple_of(17) {
            AuditOutcome::Denied
        } else {
            AuditOutcome::Success
        },
        request: RequestContext {
            client_ip: Some(format!("10.0.{}.{}", (i / 256) % 256, i % 256)),
            user_agent: Some("sdk/1.4".into()),
            request_id: Some(Uuid::from_u128(u128::from(i) << 64 | 0x7000).to_string()),
        },
        duration_ms: Some(3 + i % 250),
        occurred_at: datetime!(2026-05-01 08:00 UTC) + Duration::milliseconds(i as i64 * 37),
        details,
    }
}

/// What to put in an export.
#[derive(Debug, Clone, Default)]
pub struct ExportSpec {
    /// Start seq (0: full export).
    pub since: u64,
    /// Tree sizes at which checkpoints were issued.
    pub checkpoints: Vec<u64>,
    /// Seqs whose payload was purged.
    pub purged: std::ops::Range<u64>,
    /// Attach consistency proofs between consecutive checkpoint records.
    pub consistency: bool,
    /// Put a checkpoint of the full size in the header.
    pub latest: bool,
}

pub struct TestLog {
    pub tenant_id: TenantId,
    pub key: SigningKey,
    pub events: Vec<Vec<u8>>,
    pub leaves: Vec<Hash>,
    /// `chains[i]` is the chain value after seq `i`.
    pub chains: Vec<Hash>,
}

impl TestLog {
    pub fn new(size: u64) -> Self {
        let tenant_id =
            TenantId::from_uuid(Uuid::from_u128(0x0190_1234_5678_7abc_8def_0000_0000_0042));
        let mut log = Self {
            tenant_id,
            key: SigningKey::generate().unwrap(),
            events: Vec::new(),
            leaves: Vec::new(),
            chains: Vec::new(),
        };
        for i in 0..size {
            log.append(canonical_event_bytes(&sample_event(tenant_id, i)));
        }
        log
    }

    pub fn append(&mut self, bytes: Vec<u8>) {
        let leaf = leaf_hash(&bytes);
        let chain = chain_next(&self.chain_at(self.size()), &leaf);
        self.events.push(bytes);
        self.leaves.push(leaf);
        self.chains.push(chain);
    }

    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn chain_at(&self, size: u64) -> Hash {
        if size == 0 {
            CHAIN_GENESIS
        } else {
            self.chains[size as usize - 1]
        }
    }

    pub fn checkpoint(&self, size: u64) -> SignedCheckpoint {
        self.checkpoint_with(&self.key, size)
    }

    pub fn checkpoint_with(&self, key: &SigningKey, size: u64) -> SignedCheckpoint {
        sign_checkpoint(
            key,
            Checkpoint {
                tenant_id: self.tenant_id,
                tree_size: size,
                root_hash: root_of(&self.leaves[..size as usize]),
                chain_hash: self.chain_at(size),
                issued_at: datetime!(2026-05-02 00:00 UTC) + Duration::seconds(size as i64),
                key_id: String::new(),
            },
        )
    }

    pub fn export(&self, spec: &ExportSpec) -> Vec<u8> {
        let end = self.size();
        let header = ExportHeader {
            tenant_id: self.tenant_id,
            start_size: spec.since,
            end_size: end,
            keys: vec![self.key.public_key()],
            latest_checkpoint: spec.latest.then(|| self.checkpoint(end)),
        };
        let mut writer = ExportWriter::new(Vec::new(), &header).unwrap();
        if spec.since > 0 {
            let frontier = Frontier::from_leaves(&self.leaves[..spec.since as usize]);
            writer
                .write_start(&frontier, &self.chain_at(spec.since))
                .unwrap();
        }
        let mut previous: Option<u64> = None;
        let mut write_checkpoint = |writer: &mut ExportWriter<Vec<u8>>, size: u64| {
            if spec.checkpoints.contains(&size) {
                let evidence = match previous {
                    Some(from) if spec.consistency => Some(ConsistencyEvidence {
                        from_size: from,
                        proof: consistency_proof(&self.leaves, from, size).unwrap(),
                    }),
                    _ => None,
                };
                writer
                    .write_checkpoint(&self.checkpoint(size), evidence.as_ref())
                    .unwrap();
                previous = Some(size);
            }
        };
        write_checkpoint(&mut writer, spec.since);
        for seq in spec.since..end {
            let i = seq as usize;
            if spec.purged.contains(&seq) {
                writer
                    .write_leaf(seq, &self.leaves[i], &self.chains[i])
                    .unwrap();
            } else {
                writer
                    .write_event(seq, &self.leaves[i], &self.chains[i], &self.events[i])
                    .unwrap();
            }
            write_checkpoint(&mut writer, seq + 1);
        }
        writer.finish().unwrap()
    }
}
