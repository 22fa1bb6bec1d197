//! Gateway executions (one-turn sessions of channel `gateway`), API keys pinned to a route,
//! and budget windows: reservations that cannot overspend under concurrency, settlement to
//! actual usage, and release of reservations whose process died.

use heddle_store::{
    AuditedStep, BudgetHold, BudgetSettlement, BudgetSpent, CloseGatewayExecution, GatewayWrite,
    GatewayWritten, HoldOutcome, NewApiKey, NewSession, NewStep, OpenGatewayExecution,
    SessionChannel, Store, StoreError, TurnStatus, UsageScope,
};
use heddle_types::{Environment, ExecutionId, RoutePin, SessionId, TenantId};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::fixtures::{at, event, new_api_key, tenant};
use crate::harness::TestDb;

conformance_tests!(
    an_api_key_keeps_its_route_pin,
    a_gateway_request_is_one_turn_with_its_steps_and_usage,
    a_hold_within_the_caps_is_granted_and_settled_to_actual_usage,
    a_hold_past_a_cap_reserves_nothing_but_the_request_is_recorded,
    concurrent_holds_never_pass_the_cap_together,
    an_expired_hold_is_released_by_the_next_one,
    a_batch_writes_in_order_and_a_failing_write_is_rolled_back_alone,
    running_gateway_executions_past_a_cutoff_are_found_as_stale,
);

const SCOPE: &str = "route/prod/support_gpt";

fn step(kind: &str, tenant_id: TenantId, tokens: i64, when: OffsetDateTime) -> AuditedStep {
    AuditedStep {
        step: NewStep {
            kind: kind.to_owned(),
            payload: json!({"kind": kind}),
            input_tokens: tokens,
            output_tokens: 0,
            cost_micros: tokens * 10,
            latency_ms: Some(3),
            at: when,
        },
        audit: event(tenant_id, &format!("execution.{kind}")),
    }
}

fn open(
    tenant_id: TenantId,
    hold: Option<BudgetHold>,
    when: OffsetDateTime,
) -> OpenGatewayExecution {
    OpenGatewayExecution {
        session: NewSession {
            id: SessionId::new(),
            tenant_id,
            environment: Environment::Prod,
            agent: "support_gpt".to_owned(),
            config_version: 2,
            principal_kind: "api_key".to_owned(),
            principal_id: "key-1".to_owned(),
            verified_customer_id: None,
            session_record_id: None,
            // Set to gateway by the store, whatever the caller says.
            channel: SessionChannel::Conversation,
            created_at: when,
        },
        execution_id: ExecutionId::new(),
        session_audit: event(tenant_id, "session.create"),
        turn_audit: event(tenant_id, "turn.begin"),
        steps: vec![step("gateway_request", tenant_id, 0, when)],
        hold,
    }
}

fn close(open: &OpenGatewayExecution, settle: Option<BudgetSettlement>) -> CloseGatewayExecution {
    let tenant_id = open.session.tenant_id;
    CloseGatewayExecution {
        tenant_id,
        session_id: open.session.id,
        environment: Environment::Prod,
        route: "support_gpt".to_owned(),
        steps: vec![
            step("model_request", tenant_id, 0, at(11)),
            step("model_response", tenant_id, 120, at(12)),
        ],
        status: TurnStatus::Completed,
        reason: None,
        at: at(13),
        audit: event(tenant_id, "turn.completed"),
        settle,
    }
}

fn hold(tokens: i64, cost_micros: i64, limit_tokens: Option<i64>, expires: i64) -> BudgetHold {
    BudgetHold {
        id: Uuid::now_v7(),
        scope: SCOPE.to_owned(),
        window_start: at(0),
        tokens,
        cost_micros,
        limit_tokens,
        limit_cost_micros: Some(1_000_000),
        expires_at: at(expires),
    }
}

async fn spent(store: &dyn Store, tenant_id: TenantId) -> BudgetSpent {
    store.budget_spent(tenant_id, SCOPE, at(0)).await.unwrap()
}

async fn an_api_key_keeps_its_route_pin(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let pin = RoutePin {
        environment: Environment::Staging,
        route: "support_gpt".to_owned(),
    };
    let created = store
        .create_api_key(
            NewApiKey {
                route: Some(pin.clone()),
                ..new_api_key(acme.id, "pinned")
            },
            event(acme.id, "api_key.create"),
        )
        .await
        .unwrap();
    assert_eq!(created.route.as_ref(), Some(&pin));
    let (found, _) = store
        .find_api_key_by_lookup("pinned")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.route, Some(pin));
    let plain = store
        .create_api_key(
            new_api_key(acme.id, "plain"),
            event(acme.id, "api_key.create"),
        )
        .await
        .unwrap();
    assert_eq!(plain.route, None);
    // The columns come in pairs; the database refuses half a pin.
    let refused = db
        .execute_raw("UPDATE api_keys SET route_environment = NULL WHERE lookup = 'pinned'")
        .await;
    assert!(refused.is_err(), "{refused:?}");
}

async fn a_gateway_request_is_one_turn_with_its_steps_and_usage(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let opened = open(acme.id, None, at(10));
    assert_eq!(
        store.open_gateway_execution(opened.clone()).await.unwrap(),
        HoldOutcome::Held
    );
    let session = store.get_session(acme.id, opened.session.id).await.unwrap();
    assert_eq!(session.channel, SessionChannel::Gateway);
    assert_eq!(session.agent, "support_gpt");
    assert_eq!(session.last_turn, 1);
    let running = store
        .get_execution(acme.id, opened.execution_id)
        .await
        .unwrap();
    assert_eq!(running.status, TurnStatus::Running);

    store
        .close_gateway_execution(close(&opened, None))
        .await
        .unwrap();
    let finished = store
        .get_execution(acme.id, opened.execution_id)
        .await
        .unwrap();
    assert_eq!(finished.status, TurnStatus::Completed);
    assert_eq!(finished.finished_at, Some(at(13)));
    let steps = store
        .list_steps(acme.id, opened.session.id, Some(1))
        .await
        .unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["gateway_request", "model_request", "model_response"]
    );
    assert!(steps.iter().all(|s| s.applied));
    assert_eq!(steps.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 3]);
    // Usage per route and day works like an agent's.
    let usage = store
        .usage_totals(
            acme.id,
            UsageScope::Agent {
                environment: Environment::Prod,
                agent: "support_gpt".to_owned(),
                since: at(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(usage.input_tokens, 120);
    // A finished turn is not finished twice.
    assert!(matches!(
        store.close_gateway_execution(close(&opened, None)).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn a_hold_within_the_caps_is_granted_and_settled_to_actual_usage(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let first = hold(600, 6_000, Some(1_000), 100);
    let opened = open(acme.id, Some(first.clone()), at(10));
    assert_eq!(
        store.open_gateway_execution(opened.clone()).await.unwrap(),
        HoldOutcome::Held
    );
    assert_eq!(
        spent(store, acme.id).await,
        BudgetSpent {
            tokens: 600,
            cost_micros: 6_000
        }
    );
    // Settled to less than was held: the rest becomes available again.
    store
        .close_gateway_execution(close(
            &opened,
            Some(BudgetSettlement {
                id: first.id,
                scope: SCOPE.to_owned(),
                window_start: at(0),
                tokens: 150,
                cost_micros: 1_500,
            }),
        ))
        .await
        .unwrap();
    assert_eq!(
        spent(store, acme.id).await,
        BudgetSpent {
            tokens: 150,
            cost_micros: 1_500
        }
    );
    // Another tenant's window is its own.
    let other = tenant(store, "other").await;
    assert_eq!(spent(store, other.id).await, BudgetSpent::default());
}

async fn a_hold_past_a_cap_reserves_nothing_but_the_request_is_recorded(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let granted = open(acme.id, Some(hold(700, 0, Some(1_000), 100)), at(10));
    store.open_gateway_execution(granted).await.unwrap();
    let refused = open(acme.id, Some(hold(400, 0, Some(1_000), 100)), at(11));
    assert_eq!(
        store.open_gateway_execution(refused.clone()).await.unwrap(),
        HoldOutcome::Refused(BudgetSpent {
            tokens: 700,
            cost_micros: 0
        })
    );
    assert_eq!(spent(store, acme.id).await.tokens, 700);
    // The refused request still has its record, waiting to be closed.
    let turn = store
        .get_execution(acme.id, refused.execution_id)
        .await
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Running);
    // An estimate above the cap on its own never gets in, even in an empty window.
    let alone = open(
        acme.id,
        Some(BudgetHold {
            scope: "route/prod/other".to_owned(),
            ..hold(5_000, 0, Some(1_000), 100)
        }),
        at(12),
    );
    assert!(matches!(
        store.open_gateway_execution(alone).await.unwrap(),
        HoldOutcome::Refused(_)
    ));
}

async fn concurrent_holds_never_pass_the_cap_together(db: TestDb) {
    let acme = tenant(&*db.store, "acme").await;
    // Two processes, many requests at once, one budget of 1000 tokens, 300 each: exactly
    // three fit.
    let stores = [db.store.clone(), db.another_store().await];
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = stores[i % 2].clone();
        let request = open(acme.id, Some(hold(300, 0, Some(1_000), 100)), at(10));
        tasks.push(tokio::spawn(async move {
            store.open_gateway_execution(request).await.unwrap()
        }));
    }
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap() == HoldOutcome::Held {
            granted += 1;
        }
    }
    assert_eq!(granted, 3);
    assert_eq!(spent(&*db.store, acme.id).await.tokens, 900);
}

async fn an_expired_hold_is_released_by_the_next_one(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    // A request reserved 800 and its process died: the reservation expires at 20.
    let dead = hold(800, 0, Some(1_000), 20);
    store
        .open_gateway_execution(open(acme.id, Some(dead.clone()), at(10)))
        .await
        .unwrap();
    let before_expiry = open(acme.id, Some(hold(300, 0, Some(1_000), 100)), at(15));
    assert!(matches!(
        store.open_gateway_execution(before_expiry).await.unwrap(),
        HoldOutcome::Refused(_)
    ));
    let after_expiry = open(acme.id, Some(hold(300, 0, Some(1_000), 100)), at(25));
    assert_eq!(
        store.open_gateway_execution(after_expiry).await.unwrap(),
        HoldOutcome::Held
    );
    assert_eq!(spent(store, acme.id).await.tokens, 300);
    // Should the dead request settle after all, its usage is added (its hold is gone).
    let late = open(acme.id, None, at(26));
    store.open_gateway_execution(late.clone()).await.unwrap();
    store
        .close_gateway_execution(close(
            &late,
            Some(BudgetSettlement {
                id: dead.id,
                scope: SCOPE.to_owned(),
                window_start: at(0),
                tokens: 50,
                cost_micros: 0,
            }),
        ))
        .await
        .unwrap();
    assert_eq!(spent(store, acme.id).await.tokens, 350);
}

async fn a_batch_writes_in_order_and_a_failing_write_is_rolled_back_alone(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let outbox_before = store.audit_outbox_len().await.unwrap();
    let first = open(acme.id, None, at(10));
    let held = hold(600, 0, Some(1_000), 100);
    let second = open(acme.id, Some(held.clone()), at(10));
    // Past the cap once the second's hold counts: reserves nothing, still recorded.
    let third = open(acme.id, Some(hold(600, 0, Some(1_000), 100)), at(10));
    // Never opened: its close fails, and only it is rolled back.
    let orphan = open(acme.id, None, at(10));
    let mut orphan_close = close(&orphan, None);
    orphan_close.steps = vec![step("model_request", acme.id, 0, at(11))];
    let results = store
        .write_gateway_records(vec![
            GatewayWrite::Open(Box::new(first.clone())),
            GatewayWrite::Open(Box::new(second.clone())),
            GatewayWrite::Close(Box::new(close(&first, None))),
            GatewayWrite::Close(Box::new(orphan_close)),
            GatewayWrite::Open(Box::new(third.clone())),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(
        results[0].as_ref().unwrap(),
        &GatewayWritten::Opened(HoldOutcome::Held)
    );
    assert_eq!(
        results[1].as_ref().unwrap(),
        &GatewayWritten::Opened(HoldOutcome::Held)
    );
    assert_eq!(results[2].as_ref().unwrap(), &GatewayWritten::Closed);
    // Its step names a turn that does not exist.
    assert!(results[3].is_err(), "{:?}", results[3]);
    assert!(
        matches!(
            results[4],
            Ok(GatewayWritten::Opened(HoldOutcome::Refused(_)))
        ),
        "{:?}",
        results[4]
    );
    let status = |execution_id| async move {
        store
            .get_execution(acme.id, execution_id)
            .await
            .map(|execution| execution.status)
    };
    assert_eq!(
        status(first.execution_id).await.unwrap(),
        TurnStatus::Completed
    );
    assert_eq!(
        status(second.execution_id).await.unwrap(),
        TurnStatus::Running
    );
    assert_eq!(
        status(third.execution_id).await.unwrap(),
        TurnStatus::Running
    );
    assert!(matches!(
        status(orphan.execution_id).await,
        Err(StoreError::NotFound { .. })
    ));
    let first_steps = store
        .list_steps(acme.id, first.session.id, Some(1))
        .await
        .unwrap();
    assert_eq!(first_steps.len(), 3);
    assert_eq!(spent(store, acme.id).await.tokens, 600);
    // Events: three opens (session, turn, one step each) and the close (two steps, the
    // turn's end); none of the rolled-back close's.
    assert_eq!(
        store.audit_outbox_len().await.unwrap() - outbox_before,
        3 * 3 + 3
    );
}

async fn running_gateway_executions_past_a_cutoff_are_found_as_stale(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let old = open(acme.id, None, at(10));
    let older = open(acme.id, None, at(5));
    let finished = open(acme.id, None, at(6));
    let recent = open(acme.id, None, at(50));
    for opened in [&old, &older, &finished, &recent] {
        store.open_gateway_execution(opened.clone()).await.unwrap();
    }
    store
        .close_gateway_execution(close(&finished, None))
        .await
        .unwrap();
    let stale = store.stale_gateway_executions(at(40), 10).await.unwrap();
    let found: Vec<ExecutionId> = stale.iter().map(|s| s.execution_id).collect();
    assert_eq!(found, [older.execution_id, old.execution_id]);
    assert_eq!(stale[0].session_id, older.session.id);
    assert_eq!(stale[0].tenant_id, acme.id);
    assert_eq!(stale[0].environment, Environment::Prod);
    assert_eq!(stale[0].route, "support_gpt");
    assert_eq!(stale[0].started_at, at(5));
    assert_eq!(
        store
            .stale_gateway_executions(at(40), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    // Closing one as interrupted takes it off the list.
    let mut interrupted = close(&older, None);
    interrupted.status = TurnStatus::Failed;
    store.close_gateway_execution(interrupted).await.unwrap();
    let left: Vec<ExecutionId> = store
        .stale_gateway_executions(at(40), 10)
        .await
        .unwrap()
        .iter()
        .map(|s| s.execution_id)
        .collect();
    assert_eq!(left, [old.execution_id]);
}
