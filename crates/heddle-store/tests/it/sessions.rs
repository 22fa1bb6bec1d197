//! Sessions, turns and execution steps: turn numbering, one running turn per session (also
//! under concurrency), steps of a stale turn recorded but not applied, tenant isolation.

use heddle_store::{NewSession, NewStep, Step, Store, StoreError, Turn, TurnStatus};
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

async fn begin(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    seconds: i64,
) -> Result<Turn, StoreError> {
    store
        .begin_turn(
            tenant_id,
            session_id,
            ExecutionId::new(),
            at(seconds),
            event(tenant_id, "turn.begin"),
        )
        .await
}

async fn append(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    turn: i64,
    kind: &str,
    seconds: i64,
) -> Result<Step, StoreError> {
    store
        .append_step(
            tenant_id,
            session_id,
            turn,
            step(kind, seconds),
            event(tenant_id, "step"),
        )
        .await
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
    let first = begin(store, acme.id, session.id, 2).await.unwrap();
    assert_eq!((first.turn, first.status), (1, TurnStatus::Running));
    // A second message while the first turn runs.
    let err = begin(store, acme.id, session.id, 3).await.unwrap_err();
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
    let second = begin(store, acme.id, session.id, 6).await.unwrap();
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
        tokio::spawn(async move { begin(&*store, acme.id, session.id, 2).await })
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
    begin(store, acme.id, session.id, 2).await.unwrap();
    let a = append(store, acme.id, session.id, 1, "user_message", 2)
        .await
        .unwrap();
    let b = append(store, acme.id, session.id, 1, "model_response", 3)
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
    begin(store, acme.id, session.id, 5).await.unwrap();
    // A tool result of turn 1 arrives after turn 2 began.
    let late = append(store, acme.id, session.id, 1, "tool_result", 6)
        .await
        .unwrap();
    assert_eq!((late.seq, late.applied), (3, false));
    let current = append(store, acme.id, session.id, 2, "user_message", 6)
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
    let err = append(store, acme.id, session.id, 9, "tool_result", 7)
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
    let turn = begin(store, acme.id, session.id, 2).await.unwrap();
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
        begin(store, other.id, session.id, 3).await.unwrap_err(),
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
