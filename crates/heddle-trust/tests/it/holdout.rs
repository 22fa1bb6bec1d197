//! The detectors on the hold-out sets of our own (`tests/holdout/`): independent templates and
//! phrasings. The even ids helped tuning; the odd ids are the untouched check. The floors sit
//! just under what was measured, so they catch regressions, not prove quality.

use std::path::Path;

use heddle_trust::eval::injection::{InjectionItem, parse_injection_items, score_injection};
use heddle_trust::eval::pii::{PiiItem, parse_pii_items, score_pii};
use heddle_trust::{EntityKind, InjectionDetector, NameDictionary, PiiDetector};

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/holdout")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn odd(id: &str) -> bool {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n % 2 == 1)
}

#[test]
fn pii_on_the_holdout_set() {
    let items = parse_pii_items(&read("pii_holdout.jsonl")).unwrap();
    let detector = PiiDetector::new();
    let names = NameDictionary::empty();
    let detect = |text: &str| detector.detect(text, &names);
    let all = score_pii(&items, detect);
    let untouched: Vec<PiiItem> = items.iter().filter(|i| odd(&i.id)).cloned().collect();
    let check = score_pii(&untouched, detect);
    println!("all {} texts:\n{}", items.len(), all.to_table());
    println!(
        "odd ids (untouched) {} texts:\n{}",
        untouched.len(),
        check.to_table()
    );
    println!(
        "hard negatives masked: all {}/{}, odd {}/{}",
        all.hard_negatives_masked,
        all.hard_negatives_total,
        check.hard_negatives_masked,
        check.hard_negatives_total
    );
    for (kind, floor) in [
        (EntityKind::Email, 0.95),
        (EntityKind::CreditCard, 0.95),
        (EntityKind::UsSsn, 0.95),
        (EntityKind::Iban, 0.95),
        (EntityKind::ApiKey, 0.95),
    ] {
        let score = check.score(kind).unwrap();
        assert!(
            score.precision >= floor && score.recall >= floor,
            "{kind}: {score:?}"
        );
    }
    assert!(check.total.recall >= FLOOR_PII_RECALL, "{:?}", check.total);
    assert!(
        check.total.precision >= FLOOR_PII_PRECISION,
        "{:?}",
        check.total
    );
}

#[test]
fn injection_on_the_holdout_set() {
    let items = parse_injection_items(&read("injection_holdout.jsonl")).unwrap();
    let detector = InjectionDetector::new();
    let scan = |text: &str, channel| detector.scan(text, channel).score;
    let all = score_injection(&items, scan);
    let untouched: Vec<InjectionItem> = items.iter().filter(|i| odd(&i.id)).cloned().collect();
    let check = score_injection(&untouched, scan);
    println!("all {} items:\n{}", items.len(), all.to_table());
    println!(
        "odd ids (untouched) {} items:\n{}",
        untouched.len(),
        check.to_table()
    );
    assert!(
        check.overall.at_3pct_fpr.tpr >= FLOOR_INJECTION_TPR_3PCT,
        "{:?}",
        check.overall
    );
}

// Measured on the odd ids: PII micro recall 0.986, precision 0.990, 1/821 hard negatives
// masked; injection TPR 91.7% at ≤3% false positives.
const FLOOR_PII_RECALL: f64 = 0.97;
const FLOOR_PII_PRECISION: f64 = 0.97;
const FLOOR_INJECTION_TPR_3PCT: f64 = 0.85;
