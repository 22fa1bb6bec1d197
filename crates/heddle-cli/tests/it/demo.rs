//! `heddle demo`: the scripted tour runs offline against the demo org, twice on the same
//! data, and what it prints is what Heddle decided.

use crate::harness::{run, stderr, stdout, temp_dir};

const DEMO_AGENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo-agents");

/// Ivy's cases in examples/demo-org/records/Case.csv (ContactId 003Hn0000000001IAA).
const IVYS_CASES: [&str; 6] = [
    "500Hn0000000001IAA",
    "500Hn0000000002IAA",
    "500Hn0000000003IAA",
    "500Hn0000000004IAA",
    "500Hn0000000005IAA",
    "500Hn0000000006IAA",
];

/// The execution ids the summary points to.
fn execution_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split("/v1/executions/").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// The `tool_result` step lines printed after `marker`, in order.
fn results_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let (_, rest) = text
        .split_once(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in\n{text}"));
    rest.lines()
        .filter(|line| line.contains("tool_result"))
        .collect()
}

#[test]
fn the_demo_tells_the_story_and_runs_again() {
    let (_guard, dir) = temp_dir();
    let first = run(&dir, &["demo", "--data-dir", "data"], None);
    let text = stdout(&first);
    assert_eq!(first.status.code(), Some(0), "{text}\n{}", stderr(&first));

    // Like `serve --demo`: the database, the demo org and its logins, printed once; employees
    // may run agents, customers may not (they come through the support channel).
    assert!(
        text.contains("Heddle initialised a new database."),
        "{text}"
    );
    let role_of = |email: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(&format!("{email} ")))
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no login line for {email}"))
            .to_owned()
    };
    assert_eq!(role_of("rep.ana@northwind.example"), "operator");
    assert_eq!(role_of("customer.ivy@customers.example"), "viewer");
    assert!(text.contains("Created API key `Northwind support widget` (operator)"));
    assert!(
        text.contains("examples/demo-agents as dev version 1 ("),
        "{text}"
    );

    // 1. Ana's own pipeline, through a query bound to her user id.
    let pipeline = results_after(&text, "== 1.");
    assert!(pipeline[0].contains("ok, 5 record(s): 006"), "{pipeline:?}");
    assert!(text.contains("call_capability list_my_open_opportunities: allowed"));

    // 2. Her own account without AnnualRevenue; Ben's is not found for her, and the model
    // says it cannot access it.
    let accounts = results_after(&text, "== 2.");
    assert!(
        accounts[0].contains("ok, 1 record(s): 001Hn0000000001IAA")
            && accounts[0].contains("withheld by field-level security: AnnualRevenue"),
        "{accounts:?}"
    );
    assert!(
        accounts[1].contains("error at `execution`: not found, or not visible"),
        "{accounts:?}"
    );
    assert!(!text.contains("record(s): 001Hn0000000002IAA"), "{text}");
    assert!(text.contains("Canyon Rentals I cannot access"), "{text}");

    // 3. Refused before verification, at the verification stage; the code; then only Ivy's.
    let support = results_after(&text, "== 3.");
    assert!(
        text.contains("DENIED at `verification`: this tool needs a verified customer"),
        "{text}"
    );
    assert!(
        support[0].contains("error at `verification`"),
        "{support:?}"
    );
    assert!(
        text.contains(
            "start_verification(customer.ivy@customers.example) -> code_sent to c***@customers.example"
        ),
        "{text}"
    );
    assert!(text.contains("verified: true"), "{text}");
    assert!(text.contains("SMTP"), "{text}");
    let (_, listed) = support[1]
        .split_once("record(s): ")
        .unwrap_or_else(|| panic!("{support:?}"));
    let listed: Vec<&str> = listed.split(", ").map(str::trim).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|id| IVYS_CASES.contains(id)),
        "{listed:?}"
    );
    assert!(text.contains("You have two escalated cases"), "{text}");

    // Where to look: four executions, the server and the audit commands.
    let first_ids = execution_ids(&text);
    assert_eq!(first_ids.len(), 4, "{text}");
    assert!(
        text.contains("heddle serve --demo --data-dir data"),
        "{text}"
    );
    assert!(
        text.contains("heddle audit export --data-dir data"),
        "{text}"
    );

    // Again on the same data: nothing is created twice, the configuration version stays,
    // and the tour runs in new sessions.
    let second = run(&dir, &["demo", "--data-dir", "data"], None);
    let again = stdout(&second);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{again}\n{}",
        stderr(&second)
    );
    for once in [
        "Heddle initialised",
        "Demo accounts (shown once)",
        "Its people (shown once)",
    ] {
        assert!(!again.contains(once), "no secret is shown twice:\n{again}");
    }
    assert!(!again.contains("Created API key"), "{again}");
    assert!(
        again.contains("examples/demo-agents as dev version 1, unchanged"),
        "{again}"
    );
    let second_ids = execution_ids(&again);
    assert_eq!(second_ids.len(), 4);
    assert!(second_ids.iter().all(|id| !first_ids.contains(id)));
    assert!(again.contains("DENIED at `verification`"), "{again}");

    // The audit log it points to exports and verifies.
    let export = run(
        &dir,
        &[
            "audit",
            "export",
            "--data-dir",
            "data",
            "--output",
            "audit.jsonl",
        ],
        None,
    );
    assert!(export.status.success(), "{}", stderr(&export));
    let log = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(log.contains("execution.policy_decision"));
    let verify = run(&dir, &["audit", "verify", "audit.jsonl"], None);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn the_demo_agents_lint_clean() {
    let (_guard, dir) = temp_dir();
    let output = run(&dir, &["lint", DEMO_AGENTS], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("0 finding(s) in 2 agent(s), 3 capability(ies)"),
        "{}",
        stderr(&output)
    );
}
