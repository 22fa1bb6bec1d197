//! Human in the loop: held calls, confirmation tokens bound to the exact arguments, approvals
//! by someone else, expiry, stale conversations, and exactly one run after a crash.

use heddle_identity::{Caller, CreatePolicy};
use heddle_records::RecordId;
use heddle_recordsource::WriteMode;
use heddle_runtime::{RuntimeError, TurnOutcome};
use heddle_store::{AuditFilter, PendingStatus};
use serde_json::json;

use crate::harness::{ANA, BEN, World, account_name, files, id};

/// Runs a test on SQLite and on PostgreSQL (when `HEDDLE_TEST_DATABASE_URL` is set; in CI it
/// must be).
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::harness::World::start().await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(world) = crate::harness::World::postgres().await {
                        super::$name(world).await;
                    }
                }
            }
        )*
    };
}

on_both_engines!(
    a_result_whose_runner_died_before_handing_it_over_still_reaches_its_turn,
    declining_runs_nothing,
    the_model_and_tenant_policy_can_raise_review_but_not_lower_it,
    expired_and_stale_requests_run_nothing,
    a_conditional_approval_asks_only_when_its_condition_holds_and_cannot_be_talked_past,
    a_confirmation_runs_exactly_the_held_call_once_and_the_turn_resumes,
    an_approver_approves_never_the_requester_and_the_action_runs_once,
    a_stale_approval_set_to_run_runs_without_entering_the_newer_turn,
    an_action_whose_runner_died_after_its_effect_completes_without_running_again,
);

const ADMIN: &str = "admin@acme.test";

fn rename_script(name: &str, then: &str) -> String {
    format!(
        "- tool_calls:\n    - name: rename_account\n      arguments: {{ account_id: \"{}\", name: \"{name}\" }}\n{then}",
        id("001", 1)
    )
}

async fn update_events(world: &World) -> usize {
    world.identity.audit_log().flush().await.unwrap();
    world
        .identity
        .store()
        .list_audit_events(
            world.tenant,
            &AuditFilter {
                action: Some("record.update".to_owned()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap()
        .len()
}

/// The rename capability of the harness with another review mode.
fn with_mode(mode: &str, approval: &str) -> Vec<(&'static str, String)> {
    let mut all = files("- text: unused\n", "");
    all[4].1 = all[4].1.replace(
        "human_in_the_loop: confirmation",
        &format!("human_in_the_loop: {mode}\n{approval}"),
    );
    all
}

async fn a_confirmation_runs_exactly_the_held_call_once_and_the_turn_resumes(world: World) {
    world
        .apply(&files(
            &rename_script(
                "Alpine Outdoors",
                "- expect: { last_tool_result_contains: Alpine Outdoors }\n  text: Renamed it.\n",
            ),
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename my account").await;
    assert_eq!(held.status, "awaiting_confirmation", "{held:?}");
    let request = held.pending_action.clone().unwrap();
    assert_eq!(request.capability, "rename_account");
    assert!(
        request.summary.contains("Alpine Outdoors"),
        "{}",
        request.summary
    );
    assert_eq!(request.arguments["name"], "Alpine Outdoors");
    assert_eq!(request.arguments_hash.len(), 64);
    let token = request.confirmation_token.clone().unwrap();
    assert_eq!(account_name(&world).await, "Alpine");

    // A wrong token, or someone else, decides nothing.
    let wrong = world
        .runtime
        .confirm_action(
            &ana,
            world.tenant,
            session.id,
            request.id,
            "not-the-token",
            true,
        )
        .await
        .unwrap_err();
    assert!(matches!(wrong, RuntimeError::Refused(_)), "{wrong:?}");
    let ben = world.person(BEN).await;
    let other = world
        .runtime
        .confirm_action(&ben, world.tenant, session.id, request.id, &token, true)
        .await
        .unwrap_err();
    assert!(matches!(other, RuntimeError::NotFound { .. }), "{other:?}");

    let confirmed = world
        .runtime
        .confirm_action(&ana, world.tenant, session.id, request.id, &token, true)
        .await
        .unwrap();
    assert_eq!(confirmed.action.status, "completed");
    let resumed: TurnOutcome = confirmed.turn.unwrap();
    assert_eq!(resumed.status, "completed", "{resumed:?}");
    assert_eq!(resumed.reply.as_deref(), Some("Renamed it."));
    assert_eq!(resumed.execution_id, held.execution_id);
    assert_eq!(account_name(&world).await, "Alpine Outdoors");
    assert_eq!(update_events(&world).await, 1);

    // The token is spent.
    let again = world
        .runtime
        .confirm_action(&ana, world.tenant, session.id, request.id, &token, true)
        .await
        .unwrap_err();
    assert!(matches!(again, RuntimeError::Refused(_)), "{again:?}");
    assert_eq!(update_events(&world).await, 1);
    let kinds = world.step_kinds(&held).await;
    assert!(kinds.contains(&"hitl_requested".to_owned()), "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("status"));
}

async fn declining_runs_nothing(world: World) {
    world
        .apply(&files(&rename_script("Nope", "- text: unused\n"), ""))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename").await;
    let request = held.pending_action.unwrap();
    let declined = world
        .runtime
        .confirm_action(
            &ana,
            world.tenant,
            session.id,
            request.id,
            request.confirmation_token.as_deref().unwrap(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(declined.action.status, "rejected");
    assert!(declined.turn.is_none());
    assert_eq!(account_name(&world).await, "Alpine");
}

async fn an_approver_approves_never_the_requester_and_the_action_runs_once(world: World) {
    let mut all = with_mode("approval", "  approval: { approver_role: admin }\n");
    all[0] = files(
        &rename_script(
            "Alpine Approved",
            "- expect: { last_tool_result_contains: Alpine Approved }\n  text: Done after approval.\n",
        ),
        "",
    )[0]
    .clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename, please").await;
    assert_eq!(held.status, "awaiting_approval", "{held:?}");
    let request = held.pending_action.unwrap();
    assert!(request.confirmation_token.is_none());

    // The requester cannot approve their own request; an operator is not the approver role.
    let own = world
        .runtime
        .decide_action(&ana, world.tenant, request.id, true, None)
        .await
        .unwrap_err();
    assert!(own.to_string().contains("cannot approve"), "{own}");
    let ben = world.person(BEN).await;
    assert!(
        world
            .runtime
            .decide_action(&ben, world.tenant, request.id, true, None)
            .await
            .is_err()
    );
    let listed = world
        .runtime
        .list_actions(
            &ben,
            world.tenant,
            heddle_store::PendingFilter {
                status: Some(PendingStatus::AwaitingApproval),
                ..heddle_store::PendingFilter::default()
            },
            heddle_types::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);

    let admin = world.person(ADMIN).await;
    let decided = world
        .runtime
        .decide_action(
            &admin,
            world.tenant,
            request.id,
            true,
            Some("fine".to_owned()),
        )
        .await
        .unwrap();
    assert_eq!(decided.action.status, "completed", "{decided:?}");
    assert!(decided.action.decided_by.unwrap().starts_with("user:"));
    assert!(decided.action.waited_ms.is_some());
    assert_eq!(account_name(&world).await, "Alpine Approved");
    // The turn resumes in the background.
    let mut status = String::new();
    for _ in 0..50 {
        let view = world
            .runtime
            .get_execution(&Caller::local_operator(), world.tenant, held.execution_id)
            .await
            .unwrap();
        status = view.status.to_owned();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");
    // The execution record shows who decided and how long it waited.
    let view = world
        .runtime
        .get_execution(&Caller::local_operator(), world.tenant, held.execution_id)
        .await
        .unwrap();
    let decision = view
        .steps
        .iter()
        .find(|s| s.kind == "hitl_decided")
        .unwrap();
    assert_eq!(decision.detail["decision"], "approved");
    assert!(
        decision.detail["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("user:")
    );
    assert!(decision.detail["waited_ms"].is_i64());
    // A second approval decides nothing and runs nothing.
    assert!(
        world
            .runtime
            .decide_action(&admin, world.tenant, request.id, true, None)
            .await
            .is_err()
    );
    assert_eq!(update_events(&world).await, 1);
}

async fn the_model_and_tenant_policy_can_raise_review_but_not_lower_it(world: World) {
    // Policy: every lookup by id needs approval.
    world
        .identity
        .create_policy(
            &Caller::local_operator(),
            CreatePolicy {
                tenant_id: world.tenant,
                name: "lookups need approval".to_owned(),
                description: String::new(),
                cedar:
                    r#"forbid(principal, action == Heddle::Action::"run_without_approval", resource)
                          when { resource.name == "get_account" };"#
                        .to_owned(),
            },
        )
        .await
        .unwrap();
    world
        .apply(&files(
            &format!(
                "- tool_calls:\n    - name: get_account\n      arguments: {{ account_id: \"{own}\" }}\n\
                 - tool_calls:\n    - name: rename_account\n      arguments: {{ account_id: \"{own}\", name: X, request_approval_reason: \"renaming a key account\" }}\n",
                own = id("001", 1)
            ),
            "",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let first = world.say(&ana, session.id, "Look it up").await;
    assert_eq!(first.status, "awaiting_approval", "{first:?}");
    assert_eq!(first.pending_action.unwrap().capability, "get_account");
    // A new message moves on (the held lookup is stale); the model asks for approval on top
    // of the rename's confirmation.
    let second = world.say(&ana, session.id, "Then rename it").await;
    assert_eq!(second.status, "awaiting_confirmation", "{second:?}");
    let request = second.pending_action.unwrap();
    assert_eq!(
        serde_json::to_value(request.gate).unwrap(),
        json!("confirmation_then_approval")
    );
    assert_eq!(request.reason.as_deref(), Some("renaming a key account"));
    // The reason is not an argument of the action.
    assert!(request.arguments.get("request_approval_reason").is_none());
}

async fn expired_and_stale_requests_run_nothing(world: World) {
    world
        .apply(&with_mode(
            "approval",
            "  approval: { approver_role: admin, expires_after_seconds: 600 }\n",
        ))
        .await;
    let mut all = with_mode(
        "approval",
        "  approval: { approver_role: admin, expires_after_seconds: 600 }\n",
    );
    all[0] = files(&rename_script("Never", "- text: moved on\n- text: x\n"), "")[0].clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let admin = world.person(ADMIN).await;

    // Expired: the worker expires it; approving afterwards is refused.
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename").await;
    let expiring = held.pending_action.unwrap();
    world.clock.advance(time::Duration::minutes(11));
    assert!(world.runtime.run_due_actions().await.unwrap() >= 1);
    let view = world
        .runtime
        .get_action(&admin, world.tenant, expiring.id)
        .await
        .unwrap();
    assert_eq!(view.status, "expired");
    assert!(
        world
            .runtime
            .decide_action(&admin, world.tenant, expiring.id, true, None)
            .await
            .is_err()
    );

    // Stale (on_stale: discard by default): the conversation moved on before the approval.
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename").await;
    let stale = held.pending_action.unwrap();
    let moved = world.say(&ana, session.id, "Never mind").await;
    assert_eq!(moved.reply.as_deref(), Some("moved on"));
    let decided = world
        .runtime
        .decide_action(&admin, world.tenant, stale.id, true, None)
        .await
        .unwrap();
    assert_eq!(decided.action.status, "discarded");
    assert_eq!(account_name(&world).await, "Alpine");
    assert_eq!(update_events(&world).await, 0);
}

async fn a_stale_approval_set_to_run_runs_without_entering_the_newer_turn(world: World) {
    let mut all = with_mode(
        "approval",
        "  approval: { approver_role: admin, on_stale: run }\n",
    );
    all[0] = files(
        &rename_script("Run Anyway", "- text: moved on\n- text: third\n"),
        "",
    )[0]
    .clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let admin = world.person(ADMIN).await;
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename").await;
    let request = held.pending_action.unwrap();
    world.say(&ana, session.id, "Never mind").await;
    let decided = world
        .runtime
        .decide_action(&admin, world.tenant, request.id, true, None)
        .await
        .unwrap();
    assert_eq!(decided.action.status, "completed");
    assert_eq!(account_name(&world).await, "Run Anyway");
    // Recorded on its own turn, not applied; the newest turn's model never saw it.
    let view = world
        .runtime
        .get_execution(&Caller::local_operator(), world.tenant, held.execution_id)
        .await
        .unwrap();
    let result = view
        .steps
        .iter()
        .rev()
        .find(|s| s.kind == "tool_result")
        .unwrap();
    assert!(!result.applied);
    let third = world.say(&ana, session.id, "And now?").await;
    let third_view = world
        .runtime
        .get_execution(&Caller::local_operator(), world.tenant, third.execution_id)
        .await
        .unwrap();
    let request_step = third_view
        .steps
        .iter()
        .find(|s| s.kind == "model_request")
        .unwrap();
    // Turn 2 (2 messages) and the new message; nothing of the held turn.
    assert_eq!(request_step.detail["messages"], 3);
}

async fn an_action_whose_runner_died_after_its_effect_completes_without_running_again(
    world: World,
) {
    let mut all = with_mode("approval", "  approval: { approver_role: admin }\n");
    all[0] = files(&rename_script("Once Only", "- text: done\n"), "")[0].clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename").await;
    let request = held.pending_action.unwrap();
    let store = world.identity.store();
    // Approved, claimed by a runner that wrote the effect and died before finishing.
    store
        .decide_pending_action(
            world.tenant,
            request.id,
            heddle_store::Decision::Approve,
            None,
            Some("user:someone".to_owned()),
            None,
            world.identity.now(),
            heddle_audit_log::prepare_event(&test_event(&world)),
        )
        .await
        .unwrap();
    store
        .claim_pending_action(
            world.tenant,
            request.id,
            "runner-that-died",
            world.identity.now(),
            time::Duration::minutes(2),
        )
        .await
        .unwrap()
        .unwrap();
    let actor = world.records.user_actor(&ana).await.unwrap();
    world
        .records
        .update_once(
            &actor,
            &RecordId::parse(&id("001", 1)).unwrap(),
            [("Name".to_owned(), json!("Once Only"))].into(),
            WriteMode::Strict,
            &request.id.to_string(),
        )
        .await
        .unwrap();
    assert_eq!(update_events(&world).await, 1);
    // Its lease runs out; the worker takes over and finds the effect already applied.
    world.clock.advance(time::Duration::minutes(3));
    world.runtime.run_due_actions().await.unwrap();
    let view = world
        .runtime
        .get_action(&Caller::local_operator(), world.tenant, request.id)
        .await
        .unwrap();
    assert_eq!(view.status, "completed", "{view:?}");
    // The takeover learned what the first runner wrote.
    assert_eq!(view.result.unwrap()["record_ids"], json!([id("001", 1)]));
    assert_eq!(update_events(&world).await, 1);
    assert_eq!(account_name(&world).await, "Once Only");
}

fn test_event(world: &World) -> heddle_types::AuditEvent {
    heddle_types::AuditEvent {
        tenant_id: world.tenant,
        environment: None,
        actor: Caller::local_operator().audit_actor(),
        action: "test".to_owned(),
        target: None,
        outcome: heddle_types::AuditOutcome::Success,
        request: heddle_types::RequestContext::default(),
        duration_ms: None,
        occurred_at: world.identity.now(),
        details: serde_json::Map::new(),
    }
}

#[tokio::test]
async fn approvers_are_notified_by_a_signed_webhook_without_the_arguments() {
    use std::sync::{Arc, Mutex};

    /// (signature header, raw body) of each delivery.
    type Deliveries = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Deliveries = Arc::default();
    let sink = Arc::clone(&received);
    let router = axum::Router::new().fallback(
        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let signature = headers
                    .get("x-heddle-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                sink.lock().unwrap().push((signature, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        },
    );
    let receiver = heddle_testkit::LoopbackServer::start(router).await.unwrap();
    let settings = heddle_runtime::RuntimeSettings {
        approval_webhook: Some(heddle_runtime::ApprovalWebhook {
            url: format!("{}/hooks/approvals", receiver.url()),
            secret: heddle_crypto::SecretString::from("webhook-secret-0123456789".to_owned()),
            console_url: Some("https://heddle.example.com/console".to_owned()),
            allow_private_addresses: vec!["127.0.0.1/32".parse().unwrap()],
        }),
        ..heddle_runtime::RuntimeSettings::default()
    };
    let world = World::start_with(settings).await;
    let mut all = with_mode("approval", "  approval: { approver_role: admin }\n");
    all[0] = files(&rename_script("Secret Name 42", "- text: x\n"), "")[0].clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename").await;
    let request = held.pending_action.unwrap();
    let mut delivered = Vec::new();
    for _ in 0..50 {
        delivered = received.lock().unwrap().clone();
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(delivered.len(), 1);
    let (signature, body) = &delivered[0];
    heddle_siem::verify_webhook_signature(
        b"webhook-secret-0123456789",
        signature,
        body,
        time::OffsetDateTime::now_utc(),
        std::time::Duration::from_secs(300),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["type"], "approval.requested");
    assert_eq!(json["capability"], "rename_account");
    assert_eq!(
        json["link"],
        format!(
            "https://heddle.example.com/console/approvals/{}",
            request.id
        )
    );
    assert!(!String::from_utf8_lossy(body).contains("Secret Name 42"));
}

async fn a_conditional_approval_asks_only_when_its_condition_holds_and_cannot_be_talked_past(
    world: World,
) {
    let own = id("001", 1);
    let mut all = with_mode(
        "conditional_approval",
        "  approval:\n    when: { field: name, op: contains, value: Inc }\n    approver_role: admin\n",
    );
    all[0] = files(
        &format!(
            "- tool_calls:\n    - name: rename_account\n      arguments: {{ account_id: \"{own}\", name: Alpine Co }}\n\
             - text: renamed\n\
             - tool_calls:\n    - name: rename_account\n      arguments: {{ account_id: \"{own}\", name: Alpine Inc, skip_approval: true }}\n\
             - expect: {{ last_tool_result_is_error: true }}\n  tool_calls:\n    - name: rename_account\n      arguments: {{ account_id: \"{own}\", name: Alpine Inc }}\n"
        ),
        "",
    )[0]
    .clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    // No "Inc": the condition does not hold, the rename runs at once.
    let first = world.say(&ana, session.id, "Rename to Alpine Co").await;
    assert_eq!(first.status, "completed", "{first:?}");
    assert_eq!(account_name(&world).await, "Alpine Co");
    // A made-up flag to skip approval is not part of the contract; the honest call waits.
    let second = world.say(&ana, session.id, "Rename to Alpine Inc").await;
    assert_eq!(second.status, "awaiting_approval", "{second:?}");
    let view = world
        .runtime
        .get_execution(&Caller::local_operator(), world.tenant, second.execution_id)
        .await
        .unwrap();
    let refused = view.steps.iter().find(|s| s.kind == "tool_result").unwrap();
    assert_eq!(refused.detail["stage"], "schema");
    assert_eq!(account_name(&world).await, "Alpine Co");
}

async fn a_result_whose_runner_died_before_handing_it_over_still_reaches_its_turn(world: World) {
    let mut all = with_mode("approval", "  approval: { approver_role: admin }\n");
    all[0] = files(
        &rename_script(
            "Handed Over",
            "- expect: { last_tool_result_contains: record_ids }\n  text: It is done.\n",
        ),
        "",
    )[0]
    .clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let held = world.say(&ana, session.id, "Rename").await;
    let request = held.pending_action.unwrap();
    let store = world.identity.store();
    let event = || heddle_audit_log::prepare_event(&test_event(&world));
    store
        .decide_pending_action(
            world.tenant,
            request.id,
            heddle_store::Decision::Approve,
            None,
            Some("user:someone".to_owned()),
            None,
            world.identity.now(),
            event(),
        )
        .await
        .unwrap();
    store
        .claim_pending_action(
            world.tenant,
            request.id,
            "runner-that-died",
            world.identity.now(),
            time::Duration::minutes(2),
        )
        .await
        .unwrap()
        .unwrap();
    // It ran and finished the action, then died before the turn heard of it.
    store
        .finish_pending_action(
            world.tenant,
            request.id,
            "runner-that-died",
            true,
            json!({"ok": true, "records": 1, "record_ids": [id("001", 1)]}),
            world.identity.now(),
            event(),
        )
        .await
        .unwrap();
    world.runtime.run_due_actions().await.unwrap();
    let mut status = String::new();
    for _ in 0..50 {
        status = world
            .runtime
            .get_execution(&Caller::local_operator(), world.tenant, held.execution_id)
            .await
            .unwrap()
            .status
            .to_owned();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");
    // Delivered once: another pass finds nothing waiting.
    world.runtime.run_due_actions().await.unwrap();
    let view = world
        .runtime
        .get_execution(&Caller::local_operator(), world.tenant, held.execution_id)
        .await
        .unwrap();
    let results = view
        .steps
        .iter()
        .filter(|s| s.kind == "tool_result")
        .count();
    assert_eq!(results, 1);
}

#[tokio::test]
async fn an_action_of_a_requester_who_was_disabled_fails_instead_of_running() {
    let world = World::start().await;
    let mut all = with_mode("approval", "  approval: { approver_role: admin }\n");
    all[0] = files(&rename_script("Too Late", "- text: x\n"), "")[0].clone();
    world.apply(&all).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let request = world
        .say(&ana, session.id, "Rename")
        .await
        .pending_action
        .unwrap();
    let user = world
        .identity
        .store()
        .find_user_credentials(world.tenant, ANA)
        .await
        .unwrap()
        .unwrap()
        .0;
    world
        .identity
        .update_user(
            &Caller::local_operator(),
            world.tenant,
            user.id,
            heddle_identity::UpdateUser {
                disabled: Some(true),
                ..heddle_identity::UpdateUser::default()
            },
        )
        .await
        .unwrap();
    let admin = world.person(ADMIN).await;
    let error = world
        .runtime
        .decide_action(&admin, world.tenant, request.id, true, None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("disabled"), "{error}");
    let view = world
        .runtime
        .get_action(&admin, world.tenant, request.id)
        .await
        .unwrap();
    assert_eq!(view.status, "failed");
    assert_eq!(account_name(&world).await, "Alpine");
    // Nothing is left for the worker to retry.
    world.clock.advance(time::Duration::minutes(5));
    world.runtime.run_due_actions().await.unwrap();
    assert_eq!(update_events(&world).await, 0);
}
