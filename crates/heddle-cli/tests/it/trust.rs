//! `heddle trust eval`: the detectors scored on the shared labeled sets, as a newcomer runs it.

use std::path::PathBuf;

use crate::harness::run;

/// The shared evaluation sets: beside the repository, or where `HEDDLE_TEST_EVAL_DIR` says.
fn eval_dir() -> PathBuf {
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval");
    if beside.join("pii/dev.jsonl").exists() {
        return beside;
    }
    let named = std::env::var_os("HEDDLE_TEST_EVAL_DIR")
        .map(PathBuf::from)
        .expect("the evaluation sets are beside the repository or in HEDDLE_TEST_EVAL_DIR");
    assert!(named.join("pii/dev.jsonl").exists(), "{named:?}");
    named
}

#[test]
fn trust_eval_scores_both_sets_as_tables_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let eval = eval_dir();
    let pii = eval.join("pii/dev.jsonl");
    let injection = eval.join("injection/dev.jsonl");
    let output = run(
        dir.path(),
        &[
            "trust",
            "eval",
            "--pii",
            pii.to_str().unwrap(),
            "--injection",
            injection.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "EMAIL",
        "CREDIT_CARD",
        "DATE_OF_BIRTH",
        "tool_result",
        "web_page",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }

    let output = run(
        dir.path(),
        &["trust", "eval", "--pii", pii.to_str().unwrap(), "--json"],
        None,
    );
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["pii"].is_object(), "{report}");
    assert!(report.get("injection").is_none());

    // Nothing to score, or a file that is not the format: a clear error and status 2.
    let none = run(dir.path(), &["trust", "eval"], None);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--pii"));
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": 1}\n").unwrap();
    let wrong = run(
        dir.path(),
        &["trust", "eval", "--pii", bad.to_str().unwrap()],
        None,
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("line 1"),
        "{wrong:?}"
    );
}
