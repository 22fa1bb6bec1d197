//! The injection dev set: prints the per-channel table (whole set, and the even/odd id halves
//! used as tune/held-out split) and asserts floors that catch regressions.

use std::path::{Path, PathBuf};

use heddle_trust::eval::injection::{InjectionItem, parse_injection_items, score_injection};
use heddle_trust::{Channel, InjectionDetector};

fn dev_set() -> PathBuf {
    let local =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval/injection/dev.jsonl");
    if local.exists() {
        return local;
    }
    let dir = std::env::var("HEDDLE_TEST_EVAL_DIR")
        .expect("dev set not found next to the repo and HEDDLE_TEST_EVAL_DIR is not set");
    // Either the eval directory (holding `injection/`) or the injection directory itself.
    let dir = Path::new(&dir);
    let path = [dir.join("injection/dev.jsonl"), dir.join("dev.jsonl")]
        .into_iter()
        .find(|p| p.exists());
    path.unwrap_or_else(|| panic!("no injection/dev.jsonl under {}", dir.display()))
}

fn items() -> Vec<InjectionItem> {
    let text = std::fs::read_to_string(dev_set()).unwrap();
    parse_injection_items(&text).unwrap()
}

fn id_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn dev_set_report() {
    let items = items();
    assert!(
        items.len() > 300,
        "dev set looks truncated: {} items",
        items.len()
    );
    let detector = InjectionDetector::new();
    let scan = |t: &str, c: Channel| detector.scan(t, c).score;

    let report = score_injection(&items, scan);
    println!("== whole dev set\n{}", report.to_table());
    println!("false positives at 0.5: {:?}", report.false_positive_ids);
    println!("false negatives at 0.5: {:?}", report.false_negative_ids);

    let (even, odd): (Vec<InjectionItem>, Vec<InjectionItem>) = items
        .iter()
        .cloned()
        .partition(|i| id_number(&i.id).is_multiple_of(2));
    let tune = score_injection(&even, scan);
    let held_out = score_injection(&odd, scan);
    println!("== tune half (even ids)\n{}", tune.to_table());
    println!("== held-out half (odd ids)\n{}", held_out.to_table());

    if std::env::var_os("HEDDLE_EVAL_VERBOSE").is_some() {
        for item in &items {
            let s = detector.scan(&item.text, item.channel);
            let rules: Vec<&str> = s.findings.iter().map(|f| f.rule).collect();
            println!(
                "{} {:<9} {:<11} {:.3} {:?} {}",
                item.id,
                if item.is_injection { "INJ" } else { "benign" },
                item.channel.as_str(),
                s.score,
                rules,
                item.family
            );
        }
    }

    // Floors below what the detector reaches on this set, with margin, so a regression in a
    // rule or in the scoring shows up here.
    assert!(
        report.overall.at_3pct_fpr.tpr >= 0.90,
        "overall TPR@3%FPR {}",
        report.overall.at_3pct_fpr.tpr
    );
    assert!(
        report.overall.at_1pct_fpr.tpr >= 0.80,
        "overall TPR@1%FPR {}",
        report.overall.at_1pct_fpr.tpr
    );
    assert!(
        report.overall.default_fpr <= 0.03,
        "overall FPR at 0.5: {}",
        report.overall.default_fpr
    );
    assert!(
        report.overall.default_tpr >= 0.85,
        "overall TPR at 0.5: {}",
        report.overall.default_tpr
    );
    assert!(
        held_out.overall.at_3pct_fpr.tpr >= 0.85,
        "held-out TPR@3%FPR {}",
        held_out.overall.at_3pct_fpr.tpr
    );
}
