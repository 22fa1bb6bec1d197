//! `heddle lint` and `heddle apply`: exit codes, SARIF, refusal of lint errors, versions.

use crate::harness::{Server, run, stderr, stdout, temp_dir};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/agents");

/// The examples with one capability's confirmation removed: a write without a person.
fn unconfirmed_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let copy = dir.join("agents");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(EXAMPLES).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("human_in_the_loop: confirmation", "human_in_the_loop: none");
        std::fs::write(copy.join(path.file_name().unwrap()), text).unwrap();
    }
    copy
}

#[test]
fn lint_exits_by_severity_and_speaks_sarif() {
    let (_guard, dir) = temp_dir();
    let clean = run(&dir, &["lint", EXAMPLES], None);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));

    let bad = unconfirmed_copy(&dir);
    let output = run(&dir, &["lint", bad.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("error unconfirmed-write"),
        "{}",
        stdout(&output)
    );

    let output = run(&dir, &["lint", bad.to_str().unwrap(), "--sarif"], None);
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"][0]["ruleId"],
        "unconfirmed-write"
    );

    std::fs::write(
        bad.join("broken.yaml"),
        "api_version: heddle/v1\nkind: Agent\nnam: x\n",
    )
    .unwrap();
    let output = run(&dir, &["lint", bad.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("broken.yaml:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn apply_stores_versions_per_environment_and_refuses_lint_errors() {
    let (_guard, dir) = temp_dir();
    // Before the first start there is no tenant yet: say how to get one.
    let output = run(&dir, &["apply", "-f", EXAMPLES], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("start `heddle serve` once"),
        "{}",
        stderr(&output)
    );
    drop(Server::start(&dir, &[], &[]));
    let output = run(&dir, &["apply", "-f", EXAMPLES], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("dev: applied version 1"),
        "{}",
        stdout(&output)
    );
    let output = run(&dir, &["apply", "-f", EXAMPLES], None);
    assert!(
        stdout(&output).contains("dev: unchanged, version 1"),
        "{}",
        stdout(&output)
    );
    let output = run(&dir, &["apply", "-f", EXAMPLES, "--env", "prod"], None);
    assert!(
        stdout(&output).contains("prod: applied version 1"),
        "{}",
        stdout(&output)
    );

    let bad = unconfirmed_copy(&dir);
    let output = run(&dir, &["apply", "-f", bad.to_str().unwrap()], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("nothing was applied"),
        "{}",
        stderr(&output)
    );
    let output = run(&dir, &["apply", "-f", EXAMPLES, "--env", "qa"], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not an environment"),
        "{}",
        stderr(&output)
    );
}
