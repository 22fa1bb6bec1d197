//! Offline verification throughput of an in-memory export of 100,000 realistic events, beside
//! two baselines measured in the same run: hashing the same event bytes alone, and parsing
//! the same lines with `serde_json` alone. Also the pure append step (`Frontier::push`).
//!
//! Run: `cargo bench -p heddle-audit --bench verify -- --warm-up-time 1 --measurement-time 3`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark setup fails loudly"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use heddle_audit::{
    CHAIN_GENESIS, Checkpoint, ExportHeader, ExportWriter, Frontier, Hash, VerifyOptions,
    canonical_event_bytes, chain_next, leaf_hash, sign_checkpoint, verify_export_with,
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

const EVENTS: u64 = 100_000;
const CHECKPOINT_EVERY: u64 = 10_000;

fn sample_event(tenant_id: TenantId, i: u64) -> AuditEvent {
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

struct Fixture {
    export: Vec<u8>,
    events: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    key: SigningKey,
}

fn fixture() -> Fixture {
    let tenant_id = TenantId::from_uuid(Uuid::from_u128(42));
    let key = SigningKey::generate().unwrap();
    let events: Vec<Vec<u8>> = (0..EVENTS)
        .map(|i| canonical_event_bytes(&sample_event(tenant_id, i)))
        .collect();
    let mut leaves = Vec::with_capacity(events.len());
    let mut chains = Vec::with_capacity(events.len());
    let mut chain = CHAIN_GENESIS;
    for event in &events {
        let leaf = leaf_hash(event);
        chain = chain_next(&chain, &leaf);
        leaves.push(leaf);
        chains.push(chain);
    }
    let checkpoint = |frontier: &Frontier, chain: Hash| {
        sign_checkpoint(
            &key,
            Checkpoint {
                tenant_id,
                tree_size: frontier.size(),
                root_hash: frontier.root(),
                chain_hash: chain,
                issued_at: datetime!(2026-05-02 00:00 UTC),
                key_id: String::new(),
            },
        )
    };
    let latest = checkpoint(&Frontier::from_leaves(&leaves), chain);
    let header = ExportHeader {
        tenant_id,
        start_size: 0,
        end_size: EVENTS,
        keys: vec![key.public_key()],
        latest_checkpoint: Some(latest),
    };
    let mut writer = ExportWriter::new(Vec::new(), &header).unwrap();
    let mut frontier = Frontier::new();
    for (seq, event) in events.iter().enumerate() {
        writer
            .write_event(seq as u64, &leaves[seq], &chains[seq], event)
            .unwrap();
        frontier.push(leaves[seq]);
        if frontier.size().is_multiple_of(CHECKPOINT_EVERY) {
            writer
                .write_checkpoint(&checkpoint(&frontier, chains[seq]), None)
                .unwrap();
        }
    }
    let export = writer.finish().unwrap();
    Fixture {
        export,
        events,
        leaves,
        key,
    }
}

fn verification(c: &mut Criterion) {
    let fixture = fixture();
    let average = fixture.events.iter().map(Vec::len).sum::<usize>() / fixture.events.len();
    println!(
        "export: {EVENTS} events, {average} bytes per event on average, {} MiB in all",
        fixture.export.len() >> 20
    );
    let public = fixture.key.public_key();

    let mut group = c.benchmark_group("audit_verify_100k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS));
    for parallel in [true, false] {
        let options = VerifyOptions {
            trusted_keys: vec![public],
            parallel,
        };
        let name = if parallel {
            "verify_export/2_threads"
        } else {
            "verify_export/1_thread"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = verify_export_with(black_box(fixture.export.as_slice()), &options)
                    .expect("the fixture verifies");
                assert_eq!(report.events, EVENTS);
            });
        });
    }
    group.bench_function("baseline/sha256_of_event_bytes_only", |b| {
        b.iter(|| {
            for event in &fixture.events {
                black_box(sha256(black_box(event)));
            }
        });
    });

    group.bench_function("baseline/serde_json_lines_only", |b| {
        b.iter(|| {
            for line in fixture.export.split(|&byte| byte == b'\n') {
                if !line.is_empty() {
                    let parsed: serde::de::IgnoredAny =
                        serde_json::from_slice(black_box(line)).unwrap();
                    black_box(parsed);
                }
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("audit_append_pure");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("frontier_push", EVENTS), |b| {
        b.iter(|| {
            let mut frontier = Frontier::new();
            for leaf in &fixture.leaves {
                frontier.push(*leaf);
            }
            black_box(frontier.root())
        });
    });
    // What the sequencer does per event: leaf hash, chain step, push.
    group.bench_function(BenchmarkId::new("leaf_chain_push", EVENTS), |b| {
        b.iter(|| {
            let mut frontier = Frontier::new();
            let mut chain = CHAIN_GENESIS;
            for event in &fixture.events {
                let leaf = leaf_hash(event);
                chain = chain_next(&chain, &leaf);
                frontier.push(leaf);
            }
            black_box((frontier.root(), chain))
        });
    });
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
