//! Gateway routes: loaded with their binding, budgets, limits and streaming mode; only
//! OpenAI-compatible bindings; in the hash only when present.

use heddle_agents::config::OutputCheckMode;
use heddle_agents::{ConfigSet, lint};

use crate::support::{MODEL, base, errors, expect_error, load, render, with};

const OPENAI: &str = "\
api_version: heddle/v1
kind: ModelBinding
name: gpt
spec:
  provider: openai
  model: gpt-4o-mini
  credential: openai_key
";

const ROUTE: &str = "\
api_version: heddle/v1
kind: Route
name: support_gpt
spec:
  model: gpt
  description: Support drafts.
  trust:
    preset: strict
  budgets:
    per_request: { tokens: 4000 }
    per_day: { tokens: 1000000, cost_usd: 20 }
  limits:
    max_request_bytes: 65536
    upstream_timeout_seconds: 30
  streaming:
    output_checks: buffer
";

fn with_route(route: &str) -> Vec<(String, String)> {
    let mut files = with("gpt.yaml", OPENAI);
    files.push(("route.yaml".to_owned(), route.to_owned()));
    files
}

#[test]
fn a_route_loads_with_its_settings_and_defaults() {
    let set = load(&with_route(ROUTE));
    let route = set.route("support_gpt").unwrap();
    assert_eq!(route.spec.model, "gpt");
    assert_eq!(route.spec.budgets.per_request.tokens, Some(4000));
    assert_eq!(route.spec.budgets.per_day.cost_usd, Some(20.0));
    assert_eq!(route.spec.limits.max_request_bytes, 65536);
    assert_eq!(route.spec.limits.default_max_tokens, 1024);
    assert_eq!(route.spec.streaming.output_checks, OutputCheckMode::Buffer);
    let minimal = load(&with_route(
        "api_version: heddle/v1\nkind: Route\nname: r\nspec:\n  model: gpt\n",
    ));
    let route = minimal.route("r").unwrap();
    assert_eq!(
        route.spec.streaming.output_checks,
        OutputCheckMode::Incremental
    );
    assert_eq!(route.spec.streaming.check_every_chars, 200);
    assert_eq!(route.spec.limits.upstream_timeout_seconds, 120);
    // The contract lint has nothing to say about a route.
    assert!(lint(&set).iter().all(|f| f.file != "route.yaml"));
}

#[test]
fn an_anthropic_or_scripted_binding_cannot_back_a_route() {
    let anthropic = "\
api_version: heddle/v1
kind: ModelBinding
name: claude
spec:
  provider: anthropic
  model: claude-sonnet
  credential: anthropic_key
";
    let mut files = with("claude.yaml", anthropic);
    files.push((
        "route.yaml".to_owned(),
        "api_version: heddle/v1\nkind: Route\nname: r\nspec:\n  model: claude\n".to_owned(),
    ));
    let found = errors(&files);
    expect_error(
        &found,
        "route.yaml",
        5,
        "spec.model",
        "`claude` is `anthropic`",
    );
    let scripted = errors(&with_route(
        "api_version: heddle/v1\nkind: Route\nname: r\nspec:\n  model: m\n",
    ));
    expect_error(
        &scripted,
        "route.yaml",
        5,
        "spec.model",
        "`m` is `scripted`",
    );
    let missing = errors(&with_route(
        "api_version: heddle/v1\nkind: Route\nname: r\nspec:\n  model: nope\n",
    ));
    expect_error(
        &missing,
        "route.yaml",
        5,
        "spec.model",
        "no ModelBinding named `nope`",
    );
}

#[test]
fn limits_budgets_and_unsupported_trust_settings_are_checked() {
    let route = ROUTE
        .replace("tokens: 4000", "tokens: 0")
        .replace("max_request_bytes: 65536", "max_request_bytes: 10")
        .replace(
            "upstream_timeout_seconds: 30",
            "upstream_timeout_seconds: 0",
        )
        .replace(
            "    preset: strict\n",
            "    preset: strict\n    drift: { embedder: local }\n",
        );
    let found = errors(&with_route(&route));
    let text = render(&found);
    for words in [
        "a token budget of 0 allows nothing",
        "`max_request_bytes` must be 1024",
        "`upstream_timeout_seconds` must be 1",
        "drift detection is not available on routes",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
    let unknown = errors(&with_route(&ROUTE.replace("  streaming:", "  streamin:")));
    assert!(
        render(&unknown).contains("streamin"),
        "{}",
        render(&unknown)
    );
}

#[test]
fn routes_change_the_hash_only_when_there_are_some() {
    let base_hash = load(&base()).content_hash().to_owned();
    // A set without routes hashes as it did before routes existed (stored versions still
    // read back under their recorded hash).
    let documents: serde_json::Value =
        serde_json::from_slice(&load(&base()).canonical_json()).unwrap();
    assert!(documents.get("routes").is_none());
    let with_binding = load(&with("gpt.yaml", OPENAI));
    let routed = load(&with_route(ROUTE));
    assert_ne!(routed.content_hash(), with_binding.content_hash());
    assert_ne!(routed.content_hash(), base_hash);
    let changed = load(&with_route(&ROUTE.replace("buffer", "incremental")));
    assert_ne!(changed.content_hash(), routed.content_hash());
    // A stored set with routes reads back as the same version.
    let stored: serde_json::Value = serde_json::from_slice(&routed.canonical_json()).unwrap();
    let back = ConfigSet::from_canonical(stored, routed.content_hash()).unwrap();
    assert_eq!(back.route("support_gpt"), routed.route("support_gpt"));
    assert!(MODEL.contains("scripted"));
}
