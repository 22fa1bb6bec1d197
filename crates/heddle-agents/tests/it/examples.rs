//! The example set under examples/agents loads and lints clean.

use std::path::Path;

use heddle_agents::{lint, to_text};

use crate::support::load;

#[test]
fn examples_load_and_lint_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agents");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = format!(
                "examples/agents/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert_eq!(files.len(), 6);
    let set = load(&files);
    assert_eq!(set.agents.len(), 2);
    assert_eq!(set.capabilities.len(), 3);
    let findings = lint(&set);
    assert!(findings.is_empty(), "{}", to_text(&findings));
}

#[test]
fn the_gateway_example_loads_and_lints_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gateway");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = format!(
                "examples/gateway/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    let set = load(&files);
    let route = set.route("support_gpt").unwrap();
    assert_eq!(route.spec.model, "openai_mini");
    assert_eq!(route.spec.budgets.per_day.cost_usd, Some(25.0));
    assert!(lint(&set).is_empty());
}
