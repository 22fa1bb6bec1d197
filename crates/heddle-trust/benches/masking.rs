//! Masking costs on a 2 KB CRM-like text with ten findings:
//! - `mask_text`: replace the findings with session placeholders (map already warm, as in a
//!   session's later turns);
//! - `unmask_text`: restore them in one pass;
//! - `stream_unmask_16b`: restore them from 16-byte chunks through `StreamUnmasker`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heddle_trust::{
    EntityKind, MaskKey, MaskMap, PiiFinding, StreamUnmasker, UnmaskPolicy, mask_text, unmask_text,
};

/// About 2 KB of text with ten findings and the findings' spans.
fn sample() -> (String, Vec<PiiFinding>) {
    let values = [
        (EntityKind::Email, "ann.lee@northwind.example"),
        (EntityKind::Phone, "+1 415 555 0100"),
        (EntityKind::Person, "Ann Lee"),
        (EntityKind::StreetAddress, "1 Market Street, San Francisco"),
        (EntityKind::Email, "billing@northwind.example"),
        (EntityKind::CreditCard, "4111 1111 1111 1111"),
        (EntityKind::Person, "Bob Stone"),
        (EntityKind::Phone, "+44 20 7946 0958"),
        (EntityKind::Iban, "GB82 WEST 1234 5698 7654 32"),
        (EntityKind::Email, "ann.lee@northwind.example"),
    ];
    let filler = "The account renewed last quarter; open opportunities were reviewed with the \
                  team and the next step is a call about pricing <tier 2> and onboarding. ";
    let mut text = String::new();
    let mut findings = Vec::new();
    for (kind, value) in values {
        text.push_str(filler);
        let start = text.len();
        text.push_str(value);
        findings.push(PiiFinding {
            kind,
            start,
            end: text.len(),
        });
        text.push(' ');
    }
    while text.len() < 2048 {
        text.push_str("Notes continue. ");
    }
    (text, findings)
}

fn masking(c: &mut Criterion) {
    let (text, findings) = sample();
    let key = MaskKey::from_bytes([0x5a; 32]);
    let mut map = MaskMap::new();
    let Ok(masked) = mask_text(&text, &findings, &mut map, &key) else {
        eprintln!("masking the sample failed");
        return;
    };
    let policy = UnmaskPolicy::all_but_secrets();

    let mut group = c.benchmark_group("masking");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("mask_text", |b| {
        b.iter(|| mask_text(black_box(&text), black_box(&findings), &mut map, &key))
    });
    group.throughput(Throughput::Bytes(masked.text.len() as u64));
    group.bench_function("unmask_text", |b| {
        b.iter(|| unmask_text(black_box(&masked.text), &map, &policy))
    });
    group.bench_function("stream_unmask_16b", |b| {
        b.iter(|| {
            let mut stream = StreamUnmasker::new(&map, policy);
            let mut out = String::with_capacity(text.len());
            for chunk in black_box(masked.text.as_bytes()).chunks(16) {
                out.push_str(&stream.push_bytes(chunk));
            }
            out.push_str(&stream.finish());
            out
        })
    });
    group.finish();
}

criterion_group!(benches, masking);
criterion_main!(benches);
