//! The inbound trust pipeline on a 2 KB prompt, one core: PII + injection + custom rules
//! (+ content, which the standard preset also runs on input), as `TrustEngine::screen` does
//! for a person's message, and each layer alone in the same run for comparison. Then masking
//! the findings. Two prompts: a typical one (a request with a pasted email, a few PII items)
//! and a PII-dense one (a thread, a record, a log line and a table).
//!
//! The `…_cpu` groups time the same calls in the thread's CPU time instead of wall time:
//! "per prompt on one core" is CPU time, and it stays honest on a machine busy with other
//! work (a preempted iteration is not charged for the time it waited).

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heddle_trust::config::TrustSpec;
use heddle_trust::pipeline::{AgentTrust, ScreenInput, TrustEngine};
use heddle_trust::rules::{RuleInput, RuleStage};
use heddle_trust::{Channel, MaskKey, MaskMap, NameDictionary, mask_text};
use serde_json::json;

fn typical_prompt() -> String {
    let mut text = String::from(
        "Can you summarize the customer's email below and suggest the next step for the \
         renewal? Keep it short and list any open questions for the account team.\n\n\
         ---- forwarded message ----\n\
         From: Harriet Vance <harriet.vance@lumenfield.example>\n\
         Subject: Renewal and the onboarding timeline\n\n\
         Hi Owen,\n\n\
         Thanks for the call on Tuesday. We reviewed the proposal internally and the team is \
         broadly happy with the scope. Two things before we sign: the onboarding plan assumes \
         our IT team can start in the first week of the quarter, which is tight because of a \
         migration we are finishing, and the pricing for the analytics add-on is higher than \
         what we discussed. Could you check whether the add-on can be phased in over two \
         quarters? Our procurement lead would also like the security questionnaire completed \
         before the contract goes to legal. You can reach me on +44 20 7946 0958.\n\n",
    );
    while text.len() < 1900 {
        text.push_str(
            "Notes from the last review: usage grew steadily across all regions, support \
             tickets dropped after the last release, and the champion on their side is \
             enthusiastic about expanding to the finance department next year. ",
        );
    }
    text.push_str("\nKind regards,\nHarriet Vance\nFinance Manager | Lumenfield Ltd\n");
    text
}

fn dense_prompt() -> String {
    let mut text = String::from(
        "From: Harriet Vance <harriet.vance@lumenfield.example>\nTo: Owen Castillo \
         <owen.castillo@brightline.example>\nHi Owen,\nWe were billed twice on order SO-771203 \
         for $1,249.00. Please use the new card 4111 1111 1111 1111. Our bank account is DE89 \
         3704 0044 0532 0130 00. Call +44 20 7946 0958 ext. 12 or (415) 555-0132.\n\
         Kind regards,\nHarriet Vance\n4821 Juniper Crossing Suite 210, Millbrook, OR 97035\n\
         Case 40917733 - login problem from 203.0.113.42 after the 6.2.1 release, record \
         0035g00000AbCdEQAZ, SSN 219-09-9999, DOB 03/14/1981.\n\
         {\"Id\": \"0035g00000XyZaBQAZ\", \"FirstName\": \"Owen\", \"LastName\": \"Castillo\", \
         \"Email\": \"owen.castillo@brightline.example\", \"Phone\": \"+1-503-555-0147\"}\n\
         WARN outbound call failed: Authorization: Bearer \
         ghp_Q8w3Lm0Zt7Yp2Rk5Vx9Nc4Hb6Js1Df8Ga0Ee db_password=Tr0ub4dor&3x \
         client_ip=2001:db8:85a3::8a2e:370:7334\n",
    );
    while text.len() < 2000 {
        text.push_str("| Mireille Aubert | m.aubert@cobalt.example | +33 6 12 34 56 78 |\n");
    }
    text
}

fn agent() -> AgentTrust {
    let spec: TrustSpec = serde_json::from_value(json!({
        "preset": "standard",
        "rules": [
            {"name": "no-competitor-pricing", "stage": "input", "type": "keywords",
             "words": ["competitor price list", "undercut"], "action": "flag"},
            {"name": "no-wire-instructions", "stage": "input", "type": "regex",
             "pattern": "(?i)wire\\s+(the\\s+)?funds?\\s+to", "action": "block", "severity": "high"},
            {"name": "refund-promises", "stage": "input", "type": "keywords",
             "words": ["guaranteed refund", "full refund today"], "action": "warn"},
            {"name": "internal-codenames", "stage": "input", "type": "regex",
             "pattern": "\\bPROJECT[-_ ](ATLAS|HALCYON)\\b", "action": "flag"}
        ]
    }))
    .unwrap_or_default();
    AgentTrust::compile(&spec).unwrap_or_else(|problems| {
        eprintln!("{problems:?}");
        std::process::exit(1)
    })
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds.
struct ThreadCpu;

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = cpu_time::ThreadTime;
    type Value = std::time::Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }

    fn end(&self, started: Self::Intermediate) -> Self::Value {
        started.elapsed()
    }

    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value {
        *a + *b
    }

    fn zero(&self) -> Self::Value {
        std::time::Duration::ZERO
    }

    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// PII + injection + custom rules: the inbound pipeline the target is set for.
fn pii_injection_rules(
    engine: &TrustEngine,
    trust: &AgentTrust,
    text: &str,
    names: &NameDictionary,
    principal: &serde_json::Value,
) -> usize {
    let pii = engine.pii.detect(text, names);
    let injection = engine.injection.scan(text, Channel::User);
    let rules = trust.rules.evaluate(&RuleInput {
        stage: RuleStage::Input,
        text,
        principal,
        capability: None,
        agent: "rep_assistant",
    });
    pii.len() + injection.findings.len() + black_box(rules).hits.len()
}

fn bench_cpu(c: &mut Criterion<ThreadCpu>) {
    let engine = TrustEngine::new();
    let trust = agent();
    let names = NameDictionary::from_names(["Harriet Vance", "Owen Castillo"]);
    let principal = json!({"kind": "user", "role": "operator"});
    for (label, text) in [
        ("typical_2kb", typical_prompt()),
        ("dense_2kb", dense_prompt()),
    ] {
        let mut group = c.benchmark_group(format!("inbound_{label}_cpu"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("pii_injection_rules", |b| {
            b.iter(|| pii_injection_rules(&engine, &trust, black_box(&text), &names, &principal));
        });
        group.bench_function("pii_only", |b| {
            b.iter(|| black_box(engine.pii.detect(black_box(&text), &names)));
        });
        group.finish();
    }
}

fn bench(c: &mut Criterion) {
    let engine = TrustEngine::new();
    let trust = agent();
    let names = NameDictionary::from_names(["Harriet Vance", "Owen Castillo"]);
    let principal = json!({"kind": "user", "role": "operator"});
    let key = MaskKey::from_bytes([7; 32]);
    for (label, text) in [
        ("typical_2kb", typical_prompt()),
        ("dense_2kb", dense_prompt()),
    ] {
        let mut group = c.benchmark_group(format!("inbound_{label}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        let input = ScreenInput {
            text: &text,
            stage: RuleStage::Input,
            channel: Channel::User,
            names: &names,
            principal: &principal,
            capability: None,
            agent: "rep_assistant",
            content_scores: None,
        };
        group.bench_function("screen_pii_injection_content_rules", |b| {
            b.iter(|| black_box(engine.screen(&trust, black_box(&input))));
        });
        group.bench_function("pii_injection_rules", |b| {
            b.iter(|| pii_injection_rules(&engine, &trust, black_box(&text), &names, &principal));
        });
        group.bench_function("screen_then_mask", |b| {
            b.iter(|| {
                let screening = engine.screen(&trust, black_box(&input));
                let mut map = MaskMap::new();
                black_box(mask_text(&text, &screening.mask, &mut map, &key).ok())
            });
        });
        group.bench_function("pii_only", |b| {
            b.iter(|| black_box(engine.pii.detect(black_box(&text), &names)));
        });
        group.bench_function("injection_only", |b| {
            b.iter(|| black_box(engine.injection.scan(black_box(&text), Channel::User)));
        });
        group.bench_function("content_only", |b| {
            b.iter(|| black_box(engine.content.classify(black_box(&text))));
        });
        group.bench_function("rules_only", |b| {
            b.iter(|| {
                black_box(trust.rules.evaluate(&RuleInput {
                    stage: RuleStage::Input,
                    text: black_box(&text),
                    principal: &principal,
                    capability: None,
                    agent: "rep_assistant",
                }))
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_group! {
    name = benches_cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench_cpu
}
criterion_main!(benches, benches_cpu);
