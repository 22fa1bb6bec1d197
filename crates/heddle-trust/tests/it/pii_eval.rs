//! Scores the PII detector on the development set and holds it to the required floors.
//! The set lives outside the repository (`/work/shared/eval/pii/dev.jsonl` next to the
//! checkout, or `$HEDDLE_TEST_EVAL_DIR/pii/dev.jsonl`); a missing set is a failure, not a skip.

use std::path::{Path, PathBuf};

use heddle_trust::eval::pii::{PiiItem, parse_pii_items, score_pii};
use heddle_trust::{EntityKind, NameDictionary, PiiDetector};

fn dev_set_path() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval/pii/dev.jsonl");
    if beside.exists() {
        return beside;
    }
    if let Ok(dir) = std::env::var("HEDDLE_TEST_EVAL_DIR") {
        let from_env = Path::new(&dir).join("pii/dev.jsonl");
        if from_env.exists() {
            return from_env;
        }
        panic!(
            "HEDDLE_TEST_EVAL_DIR is set but {} does not exist",
            from_env.display()
        );
    }
    panic!(
        "PII dev set not found at {} and HEDDLE_TEST_EVAL_DIR is not set; \
         point HEDDLE_TEST_EVAL_DIR at the directory holding pii/dev.jsonl",
        beside.display()
    );
}

fn load() -> Vec<PiiItem> {
    let path = dev_set_path();
    let jsonl =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_pii_items(&jsonl).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Items whose numeric id suffix is even (tuning half) or odd (held-out half).
fn half(items: &[PiiItem], even: bool) -> Vec<PiiItem> {
    items
        .iter()
        .filter(|item| {
            let n: u64 = item
                .id
                .rsplit('-')
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            n.is_multiple_of(2) == even
        })
        .cloned()
        .collect()
}

#[test]
fn pii_dev_set_meets_the_floors() {
    let items = load();
    let detector = PiiDetector::new();
    let names = NameDictionary::empty();
    let detect = |text: &str| detector.detect(text, &names);

    let report = score_pii(&items, detect);
    println!(
        "== PII dev set (all {} items), exact match ==\n{}",
        items.len(),
        report.to_table()
    );
    for (label, even) in [
        ("even ids (tuning half)", true),
        ("odd ids (held-out half)", false),
    ] {
        let subset = half(&items, even);
        println!(
            "== {label}: {} items ==\n{}",
            subset.len(),
            score_pii(&subset, detect).to_table()
        );
    }
    if std::env::var_os("HEDDLE_PII_DUMP").is_some() {
        dump_errors(&items, &detector);
    }

    let mut failures = Vec::new();
    for kind in [
        EntityKind::Email,
        EntityKind::Phone,
        EntityKind::CreditCard,
        EntityKind::UsSsn,
        EntityKind::Iban,
        EntityKind::IpAddress,
        EntityKind::ApiKey,
    ] {
        let score = report.score(kind).unwrap();
        if score.precision < 0.95 || score.recall < 0.95 {
            failures.push(format!(
                "{kind}: precision {:.3}, recall {:.3}",
                score.precision, score.recall
            ));
        }
    }
    let rate = report.hard_negative_rate();
    if rate > 0.01 {
        failures.push(format!("hard negatives masked {:.2}% > 1%", 100.0 * rate));
    }
    assert!(
        failures.is_empty(),
        "below the floors:\n{}",
        failures.join("\n")
    );
}

/// With `HEDDLE_PII_DUMP=1`: every missed and spurious span, for tuning.
fn dump_errors(items: &[PiiItem], detector: &PiiDetector) {
    let names = NameDictionary::empty();
    for item in items {
        let found = detector.detect(&item.text, &names);
        for gold in &item.spans {
            if !found.iter().any(|f| {
                f.kind == gold.kind && (f.start, f.end) == (gold.start_byte, gold.end_byte)
            }) {
                println!(
                    "MISS {} {:?} {:?}",
                    item.id,
                    gold.kind,
                    &item.text[gold.start_byte..gold.end_byte]
                );
            }
        }
        for f in &found {
            if !item
                .spans
                .iter()
                .any(|g| g.kind == f.kind && (f.start, f.end) == (g.start_byte, g.end_byte))
            {
                let neg = item
                    .negatives
                    .iter()
                    .find(|n| n.start_byte < f.end && f.start < n.end_byte)
                    .map_or(String::new(), |n| format!(" [HARD NEG {}]", n.kind));
                println!(
                    "FP   {} {:?} {:?}{neg}",
                    item.id,
                    f.kind,
                    f.value(&item.text)
                );
            }
        }
    }
}
