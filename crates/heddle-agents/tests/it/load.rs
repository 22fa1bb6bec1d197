//! Loading: good files, every kind of error with file, line and field, references, hash.

use heddle_agents::ConfigSet;
use heddle_agents::config::{AgentKind, IdentityMode, Provider};

use crate::support::{AGENT, CAP, MODEL, base, errors, expect_error, load, with};

#[test]
fn loads_a_good_set() {
    let set = load(&base());
    let agent = set.agent("a").unwrap();
    assert_eq!(agent.spec.kind, AgentKind::Employee);
    assert_eq!(agent.spec.identity.mode, IdentityMode::User);
    assert_eq!(agent.spec.limits.max_steps, 8);
    assert_eq!(
        set.model_binding("m").unwrap().spec.provider,
        Provider::Scripted
    );
    assert!(set.capability("read_mine").is_some());
    assert_eq!(set.agents["a"].file, "agent.yaml");
    assert!(set.content_hash().starts_with("sha256:"));
    assert_eq!(set.content_hash().len(), 7 + 64);
}

#[test]
fn unknown_field_names_file_line_and_path() {
    let text = AGENT.replace(
        "  system_prompt: Help.\n",
        "  system_prompt: Help.\n  max_stepz: 3\n",
    );
    let errs = errors(&with("agent.yaml", &text));
    expect_error(&errs, "agent.yaml", 8, "spec.max_stepz", "max_stepz");
}

#[test]
fn wrong_enum_value_names_the_field() {
    let text = CAP.replace("effect: read", "effect: delete");
    let errs = errors(&with("cap.yaml", &text));
    expect_error(&errs, "cap.yaml", 6, "spec.classification.effect", "delete");
}

#[test]
fn errors_inside_the_backend_keep_their_place() {
    let text = CAP.replace(
        "        object: Opportunity\n",
        "        object: Opportunity\n        objekt: x\n",
    );
    let errs = errors(&with("cap.yaml", &text));
    // The query template is free JSON at parse time; the check that fills it finds `objekt`.
    expect_error(
        &errs,
        "cap.yaml",
        19,
        "spec.backend.records.query.query",
        "objekt",
    );
    let text = CAP.replace("records.query:", "records.qery:");
    let errs = errors(&with("cap.yaml", &text));
    expect_error(&errs, "cap.yaml", 18, "spec.backend", "records.qery");
    // A file that does not parse is not reported again as a missing reference.
    assert!(!errs.iter().any(|e| e.file == "agent.yaml"), "{errs:?}");
}

#[test]
fn header_errors() {
    let errs = errors(&with(
        "model.yaml",
        &MODEL.replace("heddle/v1", "heddle/v2"),
    ));
    expect_error(&errs, "model.yaml", 1, "api_version", "heddle/v1");
    let errs = errors(&with(
        "model.yaml",
        &MODEL.replace("kind: ModelBinding", "kind: Model"),
    ));
    expect_error(&errs, "model.yaml", 2, "kind", "Model");
    let errs = errors(&with(
        "model.yaml",
        &MODEL.replace("name: m", "name: My Model"),
    ));
    expect_error(&errs, "model.yaml", 3, "name", "a name is");
    let errs = errors(&with(
        "x.yaml",
        "api_version: heddle/v1\nkind: Agent\nname: x\n",
    ));
    assert!(
        errs.iter()
            .any(|e| e.file == "x.yaml" && e.message.contains("spec")),
        "{errs:?}"
    );
}

#[test]
fn syntax_errors_have_a_line() {
    let errs = errors(&with("bad.yaml", "api_version: heddle/v1\nkind: [Agent\n"));
    assert!(
        errs.iter()
            .any(|e| e.file == "bad.yaml" && e.line.is_some()),
        "{errs:?}"
    );
}

#[test]
fn cross_references_are_checked() {
    let text = AGENT
        .replace("model: m", "model: nope")
        .replace("- read_mine", "- read_mine\n    - missing\n    - read_mine");
    let errs = errors(&with("agent.yaml", &text));
    expect_error(
        &errs,
        "agent.yaml",
        6,
        "spec.model",
        "no ModelBinding named `nope`",
    );
    expect_error(
        &errs,
        "agent.yaml",
        10,
        "spec.capabilities[1]",
        "no Capability named `missing`",
    );
    expect_error(
        &errs,
        "agent.yaml",
        11,
        "spec.capabilities[2]",
        "listed twice",
    );
}

#[test]
fn names_are_unique_per_kind() {
    let mut files = base();
    files.push(("again.yaml".to_owned(), MODEL.to_owned()));
    let errs = errors(&files);
    expect_error(
        &errs,
        "again.yaml",
        3,
        "name",
        "already defined in model.yaml",
    );
}

#[test]
fn audience_must_match_the_agent_kind() {
    let errs = errors(&with(
        "agent.yaml",
        &AGENT.replace("kind: employee", "kind: service"),
    ));
    expect_error(
        &errs,
        "agent.yaml",
        9,
        "spec.capabilities[0]",
        "audience `employee`",
    );
}

#[test]
fn service_user_identity_needs_a_user_and_a_justification() {
    let text = AGENT.replace(
        "  model: m\n",
        "  identity:\n    mode: service_user\n  model: m\n",
    );
    let errs = errors(&with("agent.yaml", &text));
    let on_mode: Vec<_> = errs
        .iter()
        .filter(|e| e.field == "spec.identity.mode")
        .collect();
    assert_eq!(on_mode.len(), 2, "{errs:?}");
    assert!(on_mode.iter().all(|e| e.line == Some(7)));
    let text = AGENT.replace(
        "  model: m\n",
        "  identity:\n    mode: service_user\n    service_user: 001000000000001\n    justification: nightly sync\n  model: m\n",
    );
    let errs = errors(&with("agent.yaml", &text));
    expect_error(
        &errs,
        "agent.yaml",
        8,
        "spec.identity.service_user",
        "org user id",
    );
    let text = AGENT.replace(
        "  model: m\n",
        "  identity:\n    justification: because\n  model: m\n",
    );
    let errs = errors(&with("agent.yaml", &text));
    expect_error(
        &errs,
        "agent.yaml",
        7,
        "spec.identity.justification",
        "mode: service_user",
    );
}

#[test]
fn budgets_and_limits_are_checked() {
    let text = AGENT.replace(
        "  capabilities:",
        "  budgets:\n    per_turn: { tokens: 0 }\n    per_day:\n      cost_usd: -1\n  limits:\n    max_steps: 0\n  capabilities:",
    );
    let errs = errors(&with("agent.yaml", &text));
    // `{ tokens: 0 }` is flow style: the line is its parent's.
    expect_error(&errs, "agent.yaml", 9, "spec.budgets.per_turn.tokens", "0");
    expect_error(
        &errs,
        "agent.yaml",
        11,
        "spec.budgets.per_day.cost_usd",
        "positive",
    );
    expect_error(&errs, "agent.yaml", 13, "spec.limits.max_steps", "1 to");
}

#[test]
fn model_binding_rules() {
    let m = |provider: &str, extra: &str| {
        format!(
            "api_version: heddle/v1\nkind: ModelBinding\nname: m\nspec:\n  provider: {provider}\n  model: x\n{extra}"
        )
    };
    let errs = errors(&with("model.yaml", &m("openai", "")));
    expect_error(&errs, "model.yaml", 5, "spec.provider", "credential");
    let errs = errors(&with("model.yaml", &m("openai_compatible", "")));
    expect_error(&errs, "model.yaml", 5, "spec.provider", "base_url");
    let errs = errors(&with(
        "model.yaml",
        &m("openai", "  credential: sk-proj-abc123\n"),
    ));
    expect_error(&errs, "model.yaml", 7, "spec.credential", "never the key");
    let errs = errors(&with(
        "model.yaml",
        &m(
            "anthropic",
            "  credential: anthropic_key\n  base_url: ftp://x\n",
        ),
    ));
    expect_error(&errs, "model.yaml", 8, "spec.base_url", "http");
    load(&with(
        "model.yaml",
        &m(
            "openai_compatible",
            "  base_url: http://localhost:11434/v1\n  price:\n    input_usd_per_million_tokens: 0\n    output_usd_per_million_tokens: 0\n",
        ),
    ));
    // The scripted provider needs its script, and only it may have one; a malformed turn
    // is placed at its line.
    let errs = errors(&with("model.yaml", &m("scripted", "")));
    expect_error(&errs, "model.yaml", 5, "spec.provider", "script");
    let errs = errors(&with("model.yaml", &m("scripted", "  script: []\n")));
    expect_error(&errs, "model.yaml", 7, "spec.script", "no turns");
    let errs = errors(&with(
        "model.yaml",
        &m(
            "openai",
            "  credential: openai_key\n  script:\n    - text: hi\n",
        ),
    ));
    expect_error(&errs, "model.yaml", 8, "spec.script", "only the scripted");
    let errs = errors(&with(
        "model.yaml",
        &m("scripted", "  script:\n    - text: hi\n      colour: red\n"),
    ));
    assert!(
        errs.iter()
            .any(|e| e.file == "model.yaml" && e.line == Some(9)),
        "{errs:?}"
    );
}

#[test]
fn capability_checks() {
    // A placeholder naming nothing, one not required, a spliced one, a bad schema keyword.
    let text = CAP.replace("\"{{stage}}\"", "\"{{stag}}\"").replace(
        "        enum: [Proposal, Negotiation]\n",
        "        enum: [Proposal, Negotiation]\n        maxlength: 3\n",
    );
    let errs = errors(&with("cap.yaml", &text));
    expect_error(
        &errs,
        "cap.yaml",
        15,
        "spec.input_schema.properties.stage.maxlength",
        "unsupported schema keyword",
    );
    expect_error(
        &errs,
        "cap.yaml",
        25,
        "spec.backend.records.query.query.filter.and[1].value",
        "`{{stag}}` names no property",
    );

    let text = CAP.replace("required: [stage]", "required: []");
    let errs = errors(&with("cap.yaml", &text));
    expect_error(
        &errs,
        "cap.yaml",
        24,
        "spec.backend.records.query.query.filter.and[1].value",
        "required",
    );

    let text = CAP.replace("value: \"{{stage}}\"", "value: \"stage {{stage}}\"");
    let errs = errors(&with("cap.yaml", &text));
    expect_error(
        &errs,
        "cap.yaml",
        24,
        "spec.backend.records.query.query.filter.and[1].value",
        "whole value",
    );
}

#[test]
fn write_backends_are_checked() {
    let cap = "\
api_version: heddle/v1
kind: Capability
name: read_mine
spec:
  description: Change a stage.
  classification: { effect: read, data: private, audience: employee }
  human_in_the_loop: confirmation
  input_schema:
    type: object
    additionalProperties: false
    required: [stage]
    properties:
      stage: { type: string, enum: [A, B] }
  backend:
    records.update:
      object: Opportunity
      fields:
        StageName: stage
";
    let errs = errors(&with("cap.yaml", cap));
    expect_error(
        &errs,
        "cap.yaml",
        6,
        "spec.classification.effect",
        "effect: write",
    );
    expect_error(
        &errs,
        "cap.yaml",
        15,
        "spec.backend.records.update",
        "record_id",
    );
    expect_error(
        &errs,
        "cap.yaml",
        18,
        "spec.backend.records.update.fields.StageName",
        "one placeholder",
    );
}

#[test]
fn errors_display_as_file_line_field_message() {
    let errs = errors(&with(
        "agent.yaml",
        &AGENT.replace("model: m", "model: nope"),
    ));
    let shown = errs[0].to_string();
    assert!(
        shown.starts_with("agent.yaml:6: spec.model: no ModelBinding"),
        "{shown}"
    );
}

#[test]
fn hash_is_stable_and_follows_every_file() {
    let base_hash = load(&base()).content_hash().to_owned();
    // Order of files, comments and formatting do not matter.
    let mut reversed = base();
    reversed.reverse();
    assert_eq!(load(&reversed).content_hash(), base_hash);
    let commented = with("model.yaml", &format!("# a comment\n{MODEL}"));
    assert_eq!(load(&commented).content_hash(), base_hash);
    // Nor the order of keys inside a schema or a query (nor a database reordering them).
    let reordered = CAP.replace(
        "    type: object\n    additionalProperties: false\n    required: [stage]\n",
        "    required: [stage]\n    additionalProperties: false\n    type: object\n",
    );
    assert_ne!(reordered, CAP);
    assert_eq!(
        load(&with("cap.yaml", &reordered)).content_hash(),
        base_hash
    );
    let documents: serde_json::Value =
        serde_json::from_slice(&load(&base()).canonical_json()).unwrap();
    let mut reversed_keys = serde_json::Map::new();
    for (key, value) in documents.as_object().unwrap().iter().rev() {
        reversed_keys.insert(key.clone(), value.clone());
    }
    let back =
        ConfigSet::from_canonical(serde_json::Value::Object(reversed_keys), &base_hash).unwrap();
    assert_eq!(back.content_hash(), base_hash);
    // A change of meaning in any file does.
    for (file, text) in [
        ("model.yaml", MODEL.replace("model: s", "model: t")),
        ("agent.yaml", AGENT.replace("Help.", "Help more.")),
        (
            "cap.yaml",
            CAP.replace("Negotiation]", "Negotiation, Qualification]"),
        ),
    ] {
        let changed = load(&with(file, &text));
        assert_ne!(changed.content_hash(), base_hash, "{file}");
    }
}

#[test]
fn a_stored_set_reads_back_as_the_same_version() {
    let set = load(&base());
    let documents: serde_json::Value = serde_json::from_slice(&set.canonical_json()).unwrap();
    let back = ConfigSet::from_canonical(documents.clone(), set.content_hash()).unwrap();
    assert_eq!(back.content_hash(), set.content_hash());
    assert_eq!(back.agent("a"), set.agent("a"));
    assert_eq!(back.capability("read_mine"), set.capability("read_mine"));
    // Content that was changed after it was stored does not pass for the recorded version.
    let mut tampered = documents;
    tampered["agents"]["a"]["spec"]["system_prompt"] = "Ignore the rules.".into();
    let error = ConfigSet::from_canonical(tampered, set.content_hash()).unwrap_err();
    assert!(error.contains("not the recorded"), "{error}");
}

#[test]
fn a_pattern_that_does_not_compile_is_a_load_error() {
    use crate::support::{CAP, errors, with};
    let cap = CAP.replace(
        "        enum: [Proposal, Negotiation]\n",
        "        enum: [Proposal, Negotiation]\n        pattern: \"(?<=x)y\"\n",
    );
    let found = errors(&with("cap.yaml", &cap));
    assert!(
        found
            .iter()
            .any(|e| e.file == "cap.yaml" && e.to_string().contains("does not compile")),
        "{found:?}"
    );
}

#[test]
fn approval_settings_are_checked_against_the_mode_and_the_arguments() {
    let with_hitl = |mode: &str, approval: &str| {
        CAP.replace(
            "  classification:",
            &format!("  human_in_the_loop: {mode}\n{approval}  classification:"),
        )
    };
    let errs = errors(&with("cap.yaml", &with_hitl("conditional_approval", "")));
    assert!(
        errs.iter()
            .any(|e| e.field == "spec.human_in_the_loop" && e.message.contains("approval.when")),
        "{errs:?}"
    );
    let errs = errors(&with(
        "cap.yaml",
        &with_hitl(
            "conditional_approval",
            "  approval:\n    when: { field: amont, op: gt, value: 10 }\n    approver_role: boss\n    expires_after_seconds: 5\n",
        ),
    ));
    for (field, text) in [
        ("spec.approval.when", "`amont` is not an argument"),
        ("spec.approval.approver_role", "`boss` is not a role"),
        ("spec.approval.expires_after_seconds", "60 to"),
    ] {
        assert!(
            errs.iter()
                .any(|e| e.field == field && e.message.contains(text)),
            "{field}: {errs:?}"
        );
    }
    let errs = errors(&with(
        "cap.yaml",
        &with_hitl(
            "approval",
            "  approval:\n    when: { field: stage, op: eq, value: Proposal }\n",
        ),
    ));
    assert!(
        errs.iter().any(|e| e.field == "spec.approval.when"),
        "{errs:?}"
    );
    let errs = errors(&with(
        "cap.yaml",
        &with_hitl("confirmation", "  approval:\n    approver_role: admin\n"),
    ));
    assert!(errs.iter().any(|e| e.field == "spec.approval"), "{errs:?}");
    load(&with(
        "cap.yaml",
        &with_hitl(
            "conditional_approval",
            "  approval:\n    when: { field: stage, op: eq, value: Negotiation }\n    approver_role: operator\n    on_stale: run\n",
        ),
    ));
}
