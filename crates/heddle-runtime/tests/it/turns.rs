//! Turns of the governed loop, driven by scripted models that behave well, badly or slowly.

use std::time::Duration;

use heddle_identity::{Caller, CreatePolicy};
use heddle_records::RecordId;
use heddle_recordsource::RecordSource;
use heddle_runtime::{ExecutionView, RuntimeError, TurnOutcome};
use heddle_types::Role;
use serde_json::Value;

use crate::harness::{ANA, BEN, World, files, id};

async fn execution(world: &World, outcome: &TurnOutcome) -> ExecutionView {
    world
        .runtime
        .get_execution(
            &Caller::local_operator(),
            world.tenant,
            outcome.execution_id,
        )
        .await
        .unwrap()
}

fn steps_of<'a>(view: &'a ExecutionView, kind: &str) -> Vec<&'a Value> {
    view.steps
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| &s.detail)
        .collect()
}

#[tokio::test]
async fn a_turn_runs_a_bound_query_as_the_rep_and_answers() {
    let world = World::start().await;
    world
        .apply(&files(
            "- tool_calls:\n    - name: list_my_accounts\n      arguments: { industry: Retail }\n\
             - expect: { last_tool_result_contains: Alpine, last_tool_result_excludes: Borealis }\n  text: You have one retail account, Alpine.\n",
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world
        .say(&ana, session.id, "Which retail accounts do I have?")
        .await;
    assert_eq!(outcome.status, "completed", "{outcome:?}");
    assert_eq!(
        outcome.reply.as_deref(),
        Some("You have one retail account, Alpine.")
    );
    assert!(outcome.input_tokens > 0 && outcome.output_tokens > 0);
    assert_eq!(
        world.step_kinds(&outcome).await,
        [
            "status",
            "user_message",
            "model_request",
            "model_response",
            "tool_call",
            "policy_decision",
            "tool_result",
            "model_request",
            "model_response",
            "status"
        ]
    );
    let view = execution(&world, &outcome).await;
    assert_eq!(view.status, "completed");
    assert_eq!(view.config_version, 1);
    let result = steps_of(&view, "tool_result")[0];
    assert_eq!(result["ok"], true);
    assert_eq!(result["records"], 1);
    assert_eq!(result["record_ids"][0], id("001", 1));
    assert!(view.steps.iter().all(|s| s.applied));
    // The sealed conversation entry stays inside the runtime.
    assert!(
        view.steps
            .iter()
            .all(|s| s.detail.get("transcript").is_none())
    );
}

#[tokio::test]
async fn the_model_cannot_supply_bound_inputs_break_the_schema_or_invent_tools() {
    let world = World::start().await;
    world
        .apply(&files(
            &format!(
                "- tool_calls:\n    - name: list_my_accounts\n      arguments: {{ industry: Retail, owner: \"{}\" }}\n    - name: list_my_accounts\n      arguments: {{ industry: Mining }}\n    - name: delete_everything\n      arguments: {{}}\n    - name: get_account\n      arguments: {{ account_id: \"001'; DROP TABLE x\" }}\n\
                 - expect: {{ last_tool_result_is_error: true }}\n  text: I could not do that.\n",
                crate::harness::user_id(2)
            ),
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "Show me Ben's accounts").await;
    assert_eq!(outcome.status, "completed", "{outcome:?}");
    let view = execution(&world, &outcome).await;
    let results = steps_of(&view, "tool_result");
    let stages: Vec<&str> = results
        .iter()
        .map(|r| r["stage"].as_str().unwrap_or("ran"))
        .collect();
    assert_eq!(stages, ["schema", "schema", "unknown_tool", "schema"]);
    assert!(results.iter().all(|r| r["ok"] == false));
    assert!(results[0]["error"].as_str().unwrap().contains("owner"));
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .contains("list_my_accounts")
    );
    let decisions = steps_of(&view, "policy_decision");
    assert_eq!(decisions.len(), 4);
    assert!(decisions.iter().all(|d| d["allowed"] == false));
}

#[tokio::test]
async fn a_peers_record_is_not_found_and_a_person_in_the_loop_is_never_skipped() {
    let world = World::start().await;
    world
        .apply(&files(
            &format!(
                "- tool_calls:\n    - name: get_account\n      arguments: {{ account_id: \"{peer}\" }}\n    - name: get_account\n      arguments: {{ account_id: \"{own}\" }}\n    - name: rename_account\n      arguments: {{ account_id: \"{own}\", name: Hijacked }}\n\
                 - text: Done.\n",
                peer = id("001", 2),
                own = id("001", 1),
            ),
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "Rename my account").await;
    let view = execution(&world, &outcome).await;
    let results = steps_of(&view, "tool_result");
    assert_eq!(results[0]["ok"], false);
    assert_eq!(results[0]["stage"], "execution");
    assert!(results[0]["error"].as_str().unwrap().contains("not found"));
    assert_eq!(results[1]["ok"], true);
    // The rename waits for Ana's confirmation; it has not run.
    assert_eq!(results.len(), 2);
    assert_eq!(outcome.status, "awaiting_confirmation", "{outcome:?}");
    assert_eq!(steps_of(&view, "hitl_requested").len(), 1);
    // Nothing was renamed.
    let actor = world.records.user_actor(&ana).await.unwrap();
    let record = world
        .records
        .get(&actor, &RecordId::parse(&id("001", 1)).unwrap())
        .await
        .unwrap();
    assert_eq!(record.fields["Name"], "Alpine");
}

#[tokio::test]
async fn a_tenant_policy_can_forbid_one_capability() {
    let world = World::start().await;
    world
        .identity
        .create_policy(
            &Caller::local_operator(),
            CreatePolicy {
                tenant_id: world.tenant,
                name: "no direct lookups".to_owned(),
                description: String::new(),
                cedar: r#"forbid(principal, action == Heddle::Action::"call_capability", resource)
                          when { resource.name == "get_account" };"#
                    .to_owned(),
            },
        )
        .await
        .unwrap();
    world
        .apply(&files(
            &format!(
                "- tool_calls:\n    - name: get_account\n      arguments: {{ account_id: \"{}\" }}\n    - name: list_my_accounts\n      arguments: {{ industry: Retail }}\n- text: ok\n",
                id("001", 1)
            ),
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "Look up my account").await;
    let view = execution(&world, &outcome).await;
    let decisions = steps_of(&view, "policy_decision");
    assert_eq!(decisions[0]["allowed"], false);
    assert_eq!(decisions[0]["capability"], "get_account");
    assert_eq!(decisions[1]["allowed"], true);
    let results = steps_of(&view, "tool_result");
    assert_eq!(results[0]["stage"], "policy");
    assert_eq!(results[1]["ok"], true);
}

#[tokio::test]
async fn a_late_result_of_an_abandoned_turn_is_recorded_but_never_applied() {
    let world = World::start().await;
    world
        .apply(&files(
            "- delay_ms: 1500\n  text: the late answer\n\
             - expect: { last_user_message_contains: second }\n  text: the second answer\n\
             - text: the third answer\n",
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let slow = {
        let runtime = world.runtime.clone();
        let (ana, tenant) = (ana.clone(), world.tenant);
        tokio::spawn(async move {
            runtime
                .post_message(&ana, tenant, session.id, "first".to_owned())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    // While the first turn runs, a second message is refused...
    let refused = world
        .runtime
        .post_message(&ana, world.tenant, session.id, "too soon".to_owned())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, RuntimeError::TurnRunning(_)),
        "{refused:?}"
    );
    // ...until the first is past its deadline (its process presumed dead).
    world.clock.advance(time::Duration::hours(1));
    let second = world.say(&ana, session.id, "second").await;
    assert_eq!(second.status, "completed", "{second:?}");
    assert_eq!(second.reply.as_deref(), Some("the second answer"));
    assert_eq!(second.abandoned_turn, Some(1));

    let first = slow.await.unwrap().unwrap();
    assert_eq!(first.status, "abandoned", "{first:?}");
    assert_eq!(first.reply, None);
    let first_view = execution(&world, &first).await;
    assert_eq!(first_view.status, "failed");
    assert!(
        first_view
            .reason
            .as_deref()
            .unwrap()
            .starts_with("abandoned")
    );
    let late = first_view
        .steps
        .iter()
        .find(|s| s.kind == "model_response")
        .unwrap();
    assert!(!late.applied, "{late:?}");

    // The next turn's model sees the second exchange and nothing of the first.
    let third = world.say(&ana, session.id, "third").await;
    assert_eq!(third.reply.as_deref(), Some("the third answer"));
    let second_view = execution(&world, &second).await;
    let third_view = execution(&world, &third).await;
    assert_eq!(steps_of(&second_view, "model_request")[0]["messages"], 1);
    assert_eq!(steps_of(&third_view, "model_request")[0]["messages"], 3);
}

#[tokio::test]
async fn budgets_halt_a_turn_with_the_reason_per_session_and_per_day() {
    let world = World::start().await;
    let script = "- usage: { input_tokens: 800, output_tokens: 300 }\n  text: one\n- text: two\n";
    world
        .apply(&files(
            script,
            "  budgets:\n    per_session: { tokens: 1000 }\n",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let first = world.say(&ana, session.id, "hello").await;
    assert_eq!(first.status, "completed");
    assert_eq!((first.input_tokens, first.output_tokens), (800, 300));
    let second = world.say(&ana, session.id, "again").await;
    assert_eq!(second.status, "halted", "{second:?}");
    let reason = second.reason.clone().unwrap();
    assert!(
        reason.contains("per-session token budget (1000)") && reason.contains("1100"),
        "{reason}"
    );
    let halted = execution(&world, &second).await;
    assert_eq!(steps_of(&halted, "budget_exceeded").len(), 1);
    assert!(steps_of(&halted, "model_request").is_empty());

    // A new version caps the agent's day instead: a fresh session is stopped by what the
    // first one spent today.
    world
        .apply(&files(
            script,
            "  budgets:\n    per_day: { tokens: 1000 }\n",
        ))
        .await;
    let other = world.session(&ana, "rep_assistant").await;
    assert_eq!(other.config_version, 2);
    let day = world.say(&ana, other.id, "hello").await;
    assert_eq!(day.status, "halted", "{day:?}");
    assert!(day.reason.unwrap().contains("per-day token budget (1000)"));
    // Tomorrow it runs again.
    world.clock.advance(time::Duration::days(1));
    let tomorrow = world.say(&ana, other.id, "hello again").await;
    assert_eq!(tomorrow.status, "completed", "{tomorrow:?}");
}

#[tokio::test]
async fn a_model_that_never_answers_is_stopped_at_max_steps() {
    let world = World::start().await;
    let call =
        "- tool_calls:\n    - name: list_my_accounts\n      arguments: { industry: Retail }\n";
    world
        .apply(&files(
            &call.repeat(3),
            "  limits:\n    max_steps: 2\n    turn_timeout_seconds: 30\n",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "loop forever").await;
    assert_eq!(outcome.status, "halted");
    assert!(
        outcome
            .reason
            .as_deref()
            .unwrap()
            .contains("limit of 2 model calls"),
        "{outcome:?}"
    );
    let view = execution(&world, &outcome).await;
    assert_eq!(steps_of(&view, "model_request").len(), 2);
}

#[tokio::test]
async fn message_text_appears_in_no_step_and_no_audit_event() {
    let world = World::start().await;
    world
        .apply(&files(
            "- text: The code word is tangerine-4471 indeed.\n",
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world
        .say(&ana, session.id, "Remember tangerine-4471 for me")
        .await;
    assert!(outcome.reply.as_deref().unwrap().contains("tangerine-4471"));
    let view = execution(&world, &outcome).await;
    let recorded = serde_json::to_string(&view).unwrap();
    assert!(!recorded.contains("tangerine"), "{recorded}");
    let user = steps_of(&view, "user_message")[0];
    assert_eq!(user["content"]["chars"], 30);
    assert_eq!(user["content"]["sha256"].as_str().unwrap().len(), 64);
    // Neither the audit events nor the raw step payloads (the sealed transcript) carry it.
    let steps = world
        .identity
        .store()
        .list_steps(world.tenant, session.id, None)
        .await
        .unwrap();
    let raw = serde_json::to_string(&steps.iter().map(|s| s.payload.clone()).collect::<Vec<_>>())
        .unwrap();
    assert!(raw.contains("ciphertext") && !raw.contains("tangerine"));
    world.identity.audit_log().flush().await.unwrap();
    let events = world
        .identity
        .store()
        .list_audit_events(world.tenant, &heddle_store::AuditFilter::default())
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action.as_deref() == Some("execution.user_message"))
    );
    let audit: Vec<u8> = events
        .iter()
        .flat_map(|e| e.canonical.clone().unwrap_or_default())
        .collect();
    assert!(!String::from_utf8_lossy(&audit).contains("tangerine"));
    assert!(String::from_utf8_lossy(&audit).contains("user_message"));
}

#[tokio::test]
async fn only_the_sessions_principal_talks_in_it_and_api_keys_cannot_run_employee_agents() {
    let world = World::start().await;
    world.apply(&files("- text: hi\n", "")).await;
    let ana = world.person(ANA).await;
    let ben = world.person(BEN).await;
    let session = world.session(&ana, "rep_assistant").await;
    let error = world
        .runtime
        .post_message(&ben, world.tenant, session.id, "hi".to_owned())
        .await
        .unwrap_err();
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");
    let key = world.api_key(Role::Operator).await;
    let error = world
        .runtime
        .create_session(
            &key,
            world.tenant,
            heddle_runtime::CreateSession {
                agent: "rep_assistant".to_owned(),
                environment: heddle_types::Environment::Dev,
                record_id: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RuntimeError::Refused(m) if m.contains("employee agent")),
        "{error:?}"
    );
    let unknown = world
        .runtime
        .create_session(
            &ana,
            world.tenant,
            heddle_runtime::CreateSession {
                agent: "nobody".to_owned(),
                environment: heddle_types::Environment::Dev,
                record_id: None,
            },
        )
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("rep_assistant"), "{unknown}");
}

#[tokio::test]
async fn a_record_id_of_another_object_is_refused_before_any_lookup() {
    let world = World::start().await;
    let mut all = files(
        &format!(
            "- tool_calls:\n    - name: get_account_by_case_id\n      arguments: {{ account_id: \"{}\" }}\n- text: ok\n",
            id("500", 1)
        ),
        "",
    );
    // A pattern that pins the wrong key prefix passes its schema (the contract lint refuses
    // it today; a version stored before it did, or a custom object's, is still checked): the
    // runtime checks the id against the object it is read from.
    all[1].1 = all[1].1.replace(
        "[list_my_accounts, get_account, rename_account]",
        "[list_my_accounts, get_account_by_case_id]",
    );
    all.push((
        "loose.yaml",
        "api_version: heddle/v1
kind: Capability
name: get_account_by_case_id
spec:
  description: Show one account.
  classification: { effect: read, data: private, audience: employee }
  input_schema:
    type: object
    additionalProperties: false
    required: [account_id]
    properties:
      account_id: { type: string, pattern: \"^500[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\", maxLength: 18 }
  backend:
    records.get: { object: Account, record_id: \"{{account_id}}\" }
"
        .to_owned(),
    ));
    world.store_unlinted(&all).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "Show it").await;
    let view = execution(&world, &outcome).await;
    let result = steps_of(&view, "tool_result")[0];
    assert_eq!(result["stage"], "execution");
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("is not the id of an Account record"),
        "{result}"
    );
}

#[tokio::test]
async fn with_sealed_content_the_text_opens_for_auditors_only_from_the_vault() {
    let settings = heddle_runtime::RuntimeSettings {
        content: heddle_audit_log::ContentRecording::Sealed {
            scope: "tenant".to_owned(),
        },
        ..heddle_runtime::RuntimeSettings::default()
    };
    let world = World::start_with(settings).await;
    world.apply(&files("- text: noted\n", "")).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "the plum is ripe").await;
    let view = execution(&world, &outcome).await;
    let content = &steps_of(&view, "user_message")[0]["content"];
    assert!(!content.to_string().contains("plum"));
    let opened = heddle_audit_log::open_content(world.identity.vault(), world.tenant, content)
        .await
        .unwrap();
    assert_eq!(opened.as_deref(), Some("the plum is ripe"));
}
