//! Sessions, turns and execution steps: turn numbering, one running turn per session (also
//! under concurrency), steps of a stale turn recorded but not applied, tenant isolation.

use heddle_store::{NewSession, NewStep, StoreError, TurnStatus};
use heddle_types::{Environment, ExecutionId, SessionId, TenantId};
use serde_json::json;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    turns_count_up_and_one_runs_at_a_time,
    concurrent_messages_start_exactly_one_turn,
    a_late_step_of_an_older_turn_is_recorded_but_not_applied,
    sessions_and_executions_stay_in_their_tenant,
);

fn new_session(tenant_id: TenantId) -> NewSession {
    NewSession {
        id: SessionId::new(),
        tenant_id,
        environment: Environment::Dev,
        agent: "sales-assistant".to_owned(),
        config_version: 3,
        principal_kind: "user".to_owned(),
        principal_id: "user-1".to_owned(),
        verified_customer_id: None,
        created_at: at(1),
    }
}

fn step(kind: &str, seconds: i64) -> NewStep {
    NewStep {
        kind: kind.to_owned(),
        payload: json!({"kind": kind}),
        input_tokens: 10,
        output_tokens: 5,
        cost_micros: 42,
        latency_ms: Some(7),
        at: at(seconds),
    }
}

async fn turns_count_up_and_one_runs_at_a_time(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let session = store
        .create_session(new_session(acme.id), event(acme.id, "session.create"))
        .await
        .unwrap();
    assert_eq!(session.last_turn, 0);
    let first = store
        .begin_turn(
            acme.id,
            session.id,
            ExecutionId::new(),
            at(2),
            event(acme.id, "turn.begin"),
        )
        .await
        .unwrap();
    assert_eq!((first.turn, first.status), (1, TurnStatus::Running));
    // A second message while the first turn runs.
    let err = store
        .begin_turn(
            acme.id,
            session.id,
            ExecutionId::new(),
            at(3),
            event(acme.id, "turn.begin"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { field: "turn", .. }),
        "{err:?}"
    );
    assert_eq!(
        store
            .get_session(acme.id, session.id)
            .await
            .unwrap()
            .last_turn,
        1
    );

    let done = store
        .finish_turn(
            acme.id,
            session.id,
            1,
            TurnStatus::Completed,
            at(4),
            event(acme.id, "turn.finish"),
        )
        .await
        .unwrap();
    assert_eq!(done.finished_at, Some(at(4)));
    let err = store
        .finish_turn(
            acme.id,
            session.id,
            1,
            TurnStatus::Failed,
            at(5),
            event(acme.id, "turn.finish"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                field: "status",
                ..
            }
        ),
        "{err:?}"
    );
    let second = store
        .begin_turn(
            acme.id,
            session.id,
            ExecutionId::new(),
            at(6),
            event(acme.id, "turn.begin"),
        )
        .await
        .unwrap();
    assert_eq!(second.turn, 2);
    assert_eq!(
        store
            .get_execution(acme.id, second.execution_id)
            .await
            .unwrap(),
        second
    );
}

async fn concurrent_messages_start_exactly_one_turn(db: TestDb) {
    let store = db.store.clone();
    let acme = tenant(&*store, "acme").await;
    let session = store
        .create_session(new_session(acme.id), event(acme.id, "session.create"))
        .await
        .unwrap();
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .begin_turn(
                    acme.id,
                    session.id,
                    ExecutionId::new(),
                    at(2),
                    event(acme.id, "turn.begin"),
                )
                .await
        })
    });
    let mut started = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(turn) => {
                assert_eq!(turn.turn, 1);
                started += 1;
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(started, 1);
    assert_eq!(
        store
            .get_session(acme.id, session.id)
            .await
            .unwrap()
            .last_turn,
        1
    );
}

async fn a_late_step_of_an_older_turn_is_recorded_but_not_applied(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let session = store
        .create_session(new_session(acme.id), event(acme.id, "session.create"))
        .await
        .unwrap();
    store
        .begin_turn(
            acme.id,
            session.id,
            ExecutionId::new(),
            at(2),
            event(acme.id, "turn.begin"),
        )
        .await
        .unwrap();
    let a = store
        .append_step(
            acme.id,
            session.id,
            1,
            step("user_message", 2),
            event(acme.id, "step"),
        )
        .await
        .unwrap();
    let b = store
        .append_step(
            acme.id,
            session.id,
            1,
            step("model_response", 3),
            event(acme.id, "step"),
        )
        .await
        .unwrap();
    assert_eq!((a.seq, b.seq, a.applied, b.applied), (1, 2, true, true));
    store
        .finish_turn(
            acme.id,
            session.id,
            1,
            TurnStatus::Halted,
            at(4),
            event(acme.id, "turn.finish"),
        )
        .await
        .unwrap();
    store
        .begin_turn(
            acme.id,
            session.id,
            ExecutionId::new(),
            at(5),
            event(acme.id, "turn.begin"),
        )
        .await
        .unwrap();
    // A tool result of turn 1 arrives after turn 2 began.
    let late = store
        .append_step(
            acme.id,
            session.id,
            1,
            step("tool_result", 6),
            event(acme.id, "step"),
        )
        .await
        .unwrap();
    assert_eq!((late.seq, late.applied), (3, false));
    let current = store
        .append_step(
            acme.id,
            session.id,
            2,
            step("user_message", 6),
            event(acme.id, "step"),
        )
        .await
        .unwrap();
    assert!(current.applied);
    let steps = store.list_steps(acme.id, session.id, None).await.unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.turn, s.seq, s.applied))
            .collect::<Vec<_>>(),
        vec![(1, 1, true), (1, 2, true), (1, 3, false), (2, 1, true)]
    );
    assert_eq!(steps[0].payload, json!({"kind": "user_message"}));
    assert_eq!((steps[0].cost_micros, steps[0].latency_ms), (42, Some(7)));
    assert_eq!(
        store
            .list_steps(acme.id, session.id, Some(2))
            .await
            .unwrap()
            .len(),
        1
    );
    let err = store
        .append_step(
            acme.id,
            session.id,
            9,
            step("tool_result", 7),
            event(acme.id, "step"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "turn", .. }),
        "{err:?}"
    );
}

async fn sessions_and_executions_stay_in_their_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let session = store
        .create_session(new_session(acme.id), event(acme.id, "session.create"))
        .await
        .unwrap();
    let turn = store
        .begin_turn(
            acme.id,
            session.id,
            ExecutionId::new(),
            at(2),
            event(acme.id, "turn.begin"),
        )
        .await
        .unwrap();
    assert!(matches!(
        store.get_session(other.id, session.id).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        store
            .get_execution(other.id, turn.execution_id)
            .await
            .unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        store
            .begin_turn(
                other.id,
                session.id,
                ExecutionId::new(),
                at(3),
                event(other.id, "turn.begin")
            )
            .await
            .unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(
        store
            .list_steps(other.id, session.id, None)
            .await
            .unwrap()
            .is_empty()
    );
}
