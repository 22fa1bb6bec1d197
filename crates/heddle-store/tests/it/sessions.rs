//! Sessions, turns and execution steps: turn numbering, one running turn per session (also
//! under concurrency), stale turns abandoned by the next message, steps of a finished or
//! superseded turn recorded but not applied, usage sums per scope, listings, tenant isolation.

use heddle_store::{
    ABANDONED_REASON, BeganTurn, NewSession, NewStep, Session, SessionFilter, Step, Store,
    StoreError, Turn, TurnStatus, UsageScope, UsageTotals,
};
use heddle_types::{Environment, ExecutionId, PageRequest, SessionId, TenantId};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::fixtures::{assert_conflict, assert_not_found, at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    turns_count_up_and_one_runs_at_a_time,
    concurrent_messages_start_exactly_one_turn,
    a_late_step_of_an_older_turn_is_recorded_but_not_applied,
    sessions_and_executions_stay_in_their_tenant,
    a_stale_running_turn_is_abandoned_when_the_next_message_arrives,
    a_running_turn_within_its_deadline_is_a_conflict,
    steps_of_a_finished_turn_are_recorded_but_not_applied,
    usage_totals_add_up_per_session_turn_and_agent_window,
    sessions_are_listed_newest_first_by_filter_and_page,
    turns_are_listed_in_order_for_the_tenants_session_only,
    the_verified_customer_is_recorded_on_the_session,
    a_halted_turn_resumes_only_while_it_is_the_latest,
);

pub(crate) fn new_session(tenant_id: TenantId) -> NewSession {
    NewSession {
        id: SessionId::new(),
        tenant_id,
        environment: Environment::Dev,
        agent: "sales-assistant".to_owned(),
        config_version: 3,
        principal_kind: "user".to_owned(),
        principal_id: "user-1".to_owned(),
        verified_customer_id: None,
        session_record_id: Some("001Hn0000000001IAA".to_owned()),
        origin: heddle_store::SessionOrigin::Agent,
        created_at: at(1),
    }
}

/// How long a turn may run before the next message abandons it, in these tests.
const DEADLINE_SECONDS: i64 = 600;

/// Begins a turn at `seconds`, abandoning one that started more than the deadline earlier.
async fn begin(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    seconds: i64,
) -> Result<Turn, StoreError> {
    begin_with_deadline(
        store,
        tenant_id,
        session_id,
        seconds,
        at(seconds - DEADLINE_SECONDS),
    )
    .await
    .map(|began| {
        assert_eq!(began.abandoned, None);
        began.turn
    })
}

async fn begin_with_deadline(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    seconds: i64,
    stale_before: OffsetDateTime,
) -> Result<BeganTurn, StoreError> {
    store
        .begin_turn(
            tenant_id,
            session_id,
            ExecutionId::new(),
            at(seconds),
            stale_before,
            event(tenant_id, "turn.abandon"),
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
    let stored = store.get_session(acme.id, session.id).await.unwrap();
    assert_eq!(stored, session);
    assert_eq!(
        stored.session_record_id.as_deref(),
        Some("001Hn0000000001IAA")
    );
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
            None,
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
            Some("model error".to_owned()),
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
            Some("budget".to_owned()),
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
    append(store, acme.id, session.id, 1, "user_message", 3)
        .await
        .unwrap();
    assert_not_found(
        append(store, other.id, session.id, 1, "user_message", 4)
            .await
            .unwrap_err(),
        "turn",
        format!("{}/1", session.id),
    );
    assert!(matches!(
        finish(
            store,
            other.id,
            session.id,
            1,
            TurnStatus::Completed,
            None,
            5
        )
        .await
        .unwrap_err(),
        StoreError::Conflict { .. } | StoreError::NotFound { .. }
    ));
    assert_eq!(
        store
            .usage_totals(other.id, UsageScope::Session(session.id))
            .await
            .unwrap(),
        UsageTotals::default()
    );
    // The turn is untouched by the other tenant's attempts.
    assert_eq!(
        store.list_turns(acme.id, session.id).await.unwrap(),
        vec![turn]
    );
}

async fn create(store: &dyn Store, session: NewSession) -> Session {
    let audit = event(session.tenant_id, "session.create");
    store.create_session(session, audit).await.unwrap()
}

async fn finish(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    turn: i64,
    status: TurnStatus,
    reason: Option<&str>,
    seconds: i64,
) -> Result<Turn, StoreError> {
    store
        .finish_turn(
            tenant_id,
            session_id,
            turn,
            status,
            reason.map(str::to_owned),
            at(seconds),
            event(tenant_id, "turn.finish"),
        )
        .await
}

async fn outbox_len(store: &dyn Store) -> u64 {
    store.audit_outbox_len().await.unwrap()
}

async fn a_stale_running_turn_is_abandoned_when_the_next_message_arrives(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let session = create(store, new_session(acme.id)).await;
    let first = begin(store, acme.id, session.id, 2).await.unwrap();
    let asked = append(store, acme.id, session.id, 1, "user_message", 3)
        .await
        .unwrap();
    assert!(asked.applied);

    // The process running turn 1 died; the next message comes after the deadline.
    let before = outbox_len(store).await;
    let began = begin_with_deadline(
        store,
        acme.id,
        session.id,
        1_000,
        at(1_000 - DEADLINE_SECONDS),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            began.turn.turn,
            began.turn.status,
            began.turn.reason.clone()
        ),
        (2, TurnStatus::Running, None)
    );
    let abandoned = began.abandoned.expect("turn 1 is past its deadline");
    assert_eq!(
        abandoned,
        Turn {
            status: TurnStatus::Failed,
            finished_at: Some(at(1_000)),
            reason: Some(ABANDONED_REASON.to_owned()),
            ..first.clone()
        }
    );
    // One event for the abandonment, one for the new turn.
    assert_eq!(outbox_len(store).await, before + 2);
    assert_eq!(
        store
            .get_execution(acme.id, first.execution_id)
            .await
            .unwrap(),
        abandoned
    );

    // The abandoned turn's record ends with a status step that never entered the conversation.
    let steps = store
        .list_steps(acme.id, session.id, Some(1))
        .await
        .unwrap();
    assert_eq!(steps.len(), 2);
    let status = &steps[1];
    assert_eq!(
        (status.seq, status.kind.as_str(), status.applied, status.at),
        (2, "status", false, at(1_000))
    );
    assert_eq!(
        status.payload,
        json!({"status": "failed", "reason": ABANDONED_REASON})
    );
    assert_eq!(
        (
            status.input_tokens,
            status.output_tokens,
            status.cost_micros
        ),
        (0, 0, 0)
    );

    // Its process wakes up and reports a result: recorded, not applied, and it cannot finish.
    let late = append(store, acme.id, session.id, 1, "tool_result", 1_001)
        .await
        .unwrap();
    assert_eq!((late.seq, late.applied), (3, false));
    assert_conflict(
        finish(
            store,
            acme.id,
            session.id,
            1,
            TurnStatus::Completed,
            None,
            1_001,
        )
        .await
        .unwrap_err(),
        "turn",
        "status",
        "turn 1 is not running",
    );
    let current = append(store, acme.id, session.id, 2, "user_message", 1_001)
        .await
        .unwrap();
    assert!(current.applied);

    // A message after turn 2 finished abandons nothing and writes no abandonment event.
    finish(
        store,
        acme.id,
        session.id,
        2,
        TurnStatus::Completed,
        None,
        1_002,
    )
    .await
    .unwrap();
    let before = outbox_len(store).await;
    let began = begin_with_deadline(
        store,
        acme.id,
        session.id,
        5_000,
        at(5_000 - DEADLINE_SECONDS),
    )
    .await
    .unwrap();
    assert_eq!((began.turn.turn, began.abandoned), (3, None));
    assert_eq!(outbox_len(store).await, before + 1);
    let turns = store.list_turns(acme.id, session.id).await.unwrap();
    assert_eq!(
        turns
            .iter()
            .map(|turn| (turn.turn, turn.status, turn.reason.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            (1, TurnStatus::Failed, Some(ABANDONED_REASON)),
            (2, TurnStatus::Completed, None),
            (3, TurnStatus::Running, None),
        ]
    );
}

async fn a_running_turn_within_its_deadline_is_a_conflict(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let session = create(store, new_session(acme.id)).await;
    let first = begin(store, acme.id, session.id, 2).await.unwrap();
    append(store, acme.id, session.id, 1, "user_message", 2)
        .await
        .unwrap();

    // Started exactly at the cutoff: not before it, so not stale. Nothing changes, no event.
    let before = outbox_len(store).await;
    let err = begin_with_deadline(store, acme.id, session.id, 100, first.started_at)
        .await
        .unwrap_err();
    assert_conflict(
        err,
        "session",
        "turn",
        &format!("{} has a turn running", session.id),
    );
    assert_eq!(outbox_len(store).await, before);
    assert_eq!(
        store
            .get_session(acme.id, session.id)
            .await
            .unwrap()
            .last_turn,
        1
    );
    assert_eq!(
        store.list_turns(acme.id, session.id).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(
        store
            .list_steps(acme.id, session.id, None)
            .await
            .unwrap()
            .len(),
        1
    );
    // The running turn still applies its steps.
    assert!(
        append(store, acme.id, session.id, 1, "model_response", 101)
            .await
            .unwrap()
            .applied
    );

    // A microsecond later the same turn is stale.
    let began = begin_with_deadline(
        store,
        acme.id,
        session.id,
        101,
        first.started_at + Duration::microseconds(1),
    )
    .await
    .unwrap();
    assert_eq!(began.turn.turn, 2);
    assert_eq!(
        began.abandoned.map(|turn| (turn.turn, turn.status)),
        Some((1, TurnStatus::Failed))
    );
}

async fn steps_of_a_finished_turn_are_recorded_but_not_applied(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let session = create(store, new_session(acme.id)).await;
    begin(store, acme.id, session.id, 2).await.unwrap();
    let asked = append(store, acme.id, session.id, 1, "user_message", 2)
        .await
        .unwrap();
    assert!(asked.applied);
    let reason = "budget: the session's cost limit was reached";
    let halted = finish(
        store,
        acme.id,
        session.id,
        1,
        TurnStatus::Halted,
        Some(reason),
        3,
    )
    .await
    .unwrap();
    assert_eq!(
        (halted.status, halted.reason.as_deref(), halted.finished_at),
        (TurnStatus::Halted, Some(reason), Some(at(3)))
    );
    // Still the session's latest turn, but finished: a straggling result stays out.
    let late = append(store, acme.id, session.id, 1, "tool_result", 4)
        .await
        .unwrap();
    assert_eq!((late.seq, late.applied), (2, false));
    assert_eq!(
        store
            .list_steps(acme.id, session.id, Some(1))
            .await
            .unwrap()
            .iter()
            .map(|step| step.applied)
            .collect::<Vec<_>>(),
        vec![true, false]
    );
    assert_eq!(
        store.list_turns(acme.id, session.id).await.unwrap(),
        vec![halted]
    );
    // Finishing "to running" is refused before anything is written.
    assert_conflict(
        finish(store, acme.id, session.id, 1, TurnStatus::Running, None, 5)
            .await
            .unwrap_err(),
        "turn",
        "status",
        "turn 1 is not running",
    );
}

/// Records a step spending `input` tokens in, twice that out, and three times that in cost.
async fn spend(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    turn: i64,
    seconds: i64,
    input: i64,
) -> Step {
    let step = NewStep {
        input_tokens: input,
        output_tokens: 2 * input,
        cost_micros: 3 * input,
        ..step("model_response", seconds)
    };
    store
        .append_step(tenant_id, session_id, turn, step, event(tenant_id, "step"))
        .await
        .unwrap()
}

fn spent(input: i64) -> UsageTotals {
    UsageTotals {
        input_tokens: input,
        output_tokens: 2 * input,
        cost_micros: 3 * input,
    }
}

async fn usage_totals_add_up_per_session_turn_and_agent_window(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let with = |tenant_id, agent: &str, environment| NewSession {
        agent: agent.to_owned(),
        environment,
        ..new_session(tenant_id)
    };
    let a = create(store, with(acme.id, "sales-assistant", Environment::Dev)).await;
    let b = create(store, with(acme.id, "sales-assistant", Environment::Dev)).await;
    let other_agent = create(store, with(acme.id, "support", Environment::Dev)).await;
    let other_env = create(store, with(acme.id, "sales-assistant", Environment::Prod)).await;
    let other_tenant = create(store, with(other.id, "sales-assistant", Environment::Dev)).await;
    for session in [&a, &b, &other_agent, &other_env, &other_tenant] {
        begin(store, session.tenant_id, session.id, 1)
            .await
            .unwrap();
    }

    spend(store, acme.id, a.id, 1, 10, 1).await;
    spend(store, acme.id, a.id, 1, 20, 10).await;
    finish(store, acme.id, a.id, 1, TurnStatus::Completed, None, 25)
        .await
        .unwrap();
    begin(store, acme.id, a.id, 30).await.unwrap();
    spend(store, acme.id, a.id, 2, 40, 100).await;
    // Spent even though it is not applied: a late result of turn 1.
    let late = spend(store, acme.id, a.id, 1, 50, 1_000).await;
    assert!(!late.applied);
    spend(store, acme.id, b.id, 1, 5, 10_000).await;
    spend(store, acme.id, b.id, 1, 45, 100_000).await;
    spend(store, acme.id, other_agent.id, 1, 40, 1_000_000).await;
    spend(store, acme.id, other_env.id, 1, 40, 10_000_000).await;
    spend(store, other.id, other_tenant.id, 1, 40, 100_000_000).await;

    let totals = async |tenant_id: TenantId, scope: UsageScope| {
        store.usage_totals(tenant_id, scope).await.unwrap()
    };
    assert_eq!(
        totals(acme.id, UsageScope::Session(a.id)).await,
        spent(1_111)
    );
    assert_eq!(
        totals(
            acme.id,
            UsageScope::Turn {
                session_id: a.id,
                turn: 1
            }
        )
        .await,
        spent(1_011)
    );
    assert_eq!(
        totals(
            acme.id,
            UsageScope::Turn {
                session_id: a.id,
                turn: 2
            }
        )
        .await,
        spent(100)
    );
    let agent = |since| UsageScope::Agent {
        environment: Environment::Dev,
        agent: "sales-assistant".to_owned(),
        since,
    };
    // `since` is inclusive: the step at exactly 20 counts, b's step at 5 does not; other
    // agents, environments and tenants never do.
    assert_eq!(totals(acme.id, agent(at(20))).await, spent(101_110));
    assert_eq!(
        totals(acme.id, agent(at(20) + Duration::microseconds(1))).await,
        spent(101_100)
    );
    assert_eq!(totals(acme.id, agent(at(0))).await, spent(111_111));
    assert_eq!(totals(acme.id, agent(at(51))).await, UsageTotals::default());
    assert_eq!(
        totals(
            acme.id,
            UsageScope::Agent {
                environment: Environment::Prod,
                agent: "sales-assistant".to_owned(),
                since: at(0),
            }
        )
        .await,
        spent(10_000_000)
    );
    assert_eq!(totals(other.id, agent(at(0))).await, spent(100_000_000));
    assert_eq!(
        totals(other.id, UsageScope::Session(a.id)).await,
        UsageTotals::default()
    );
    assert_eq!(
        totals(acme.id, UsageScope::Session(SessionId::new())).await,
        UsageTotals::default()
    );
}

/// Every page of a listing, following cursors; checks the pages are full but the last.
async fn all_pages(
    store: &dyn Store,
    tenant_id: TenantId,
    filter: &SessionFilter,
    limit: u32,
) -> Vec<Session> {
    let mut sessions = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_sessions(tenant_id, filter.clone(), PageRequest { after, limit })
            .await
            .unwrap();
        let count = page.items.len();
        sessions.extend(page.items);
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(count, usize::try_from(limit).unwrap());
                assert_eq!(Some(cursor), sessions.last().map(|s| *s.id.as_uuid()));
                after = Some(cursor);
            }
            None => return sessions,
        }
    }
}

async fn sessions_are_listed_newest_first_by_filter_and_page(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    // Ids are time-ordered; sorted here so "newest" does not depend on the generator.
    let mut ids: Vec<SessionId> = (0..7).map(|_| SessionId::new()).collect();
    ids.sort_by_key(|id| *id.as_uuid());
    let shapes = [
        ("user", "u1", "sales-assistant", Environment::Dev),
        ("user", "u2", "sales-assistant", Environment::Dev),
        ("user", "u1", "support", Environment::Dev),
        ("user", "u1", "sales-assistant", Environment::Prod),
        ("api_key", "u1", "sales-assistant", Environment::Dev),
        ("user", "u1", "sales-assistant", Environment::Dev),
        ("customer", "c1", "support", Environment::Prod),
    ];
    let mut created = Vec::new();
    for (id, (kind, principal, agent, environment)) in ids.into_iter().zip(shapes) {
        created.push(
            create(
                store,
                NewSession {
                    id,
                    principal_kind: kind.to_owned(),
                    principal_id: principal.to_owned(),
                    agent: agent.to_owned(),
                    environment,
                    ..new_session(acme.id)
                },
            )
            .await,
        );
    }
    let theirs = create(store, new_session(other.id)).await;
    let expect = |indexes: &[usize]| -> Vec<Session> {
        indexes.iter().map(|&i| created[i].clone()).collect()
    };

    let everything = SessionFilter::default();
    let first = store
        .list_sessions(acme.id, everything.clone(), PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(first.items, expect(&[6, 5]));
    assert_eq!(first.next_cursor, Some(*created[5].id.as_uuid()));
    assert_eq!(
        all_pages(store, acme.id, &everything, 2).await,
        expect(&[6, 5, 4, 3, 2, 1, 0])
    );
    assert_eq!(
        all_pages(store, acme.id, &everything, 7).await,
        expect(&[6, 5, 4, 3, 2, 1, 0])
    );

    let by_principal = SessionFilter {
        principal: Some(("user".to_owned(), "u1".to_owned())),
        ..SessionFilter::default()
    };
    assert_eq!(
        all_pages(store, acme.id, &by_principal, 3).await,
        expect(&[5, 3, 2, 0])
    );
    let by_agent = SessionFilter {
        agent: Some("sales-assistant".to_owned()),
        ..SessionFilter::default()
    };
    assert_eq!(
        all_pages(store, acme.id, &by_agent, 2).await,
        expect(&[5, 4, 3, 1, 0])
    );
    let in_prod = SessionFilter {
        environment: Some(Environment::Prod),
        ..SessionFilter::default()
    };
    assert_eq!(
        all_pages(store, acme.id, &in_prod, 2).await,
        expect(&[6, 3])
    );
    let all_three = SessionFilter {
        principal: Some(("user".to_owned(), "u1".to_owned())),
        agent: Some("sales-assistant".to_owned()),
        environment: Some(Environment::Dev),
    };
    assert_eq!(
        all_pages(store, acme.id, &all_three, 1).await,
        expect(&[5, 0])
    );
    let nobody = SessionFilter {
        agent: Some("nobody".to_owned()),
        ..SessionFilter::default()
    };
    assert!(all_pages(store, acme.id, &nobody, 5).await.is_empty());
    assert_eq!(
        all_pages(store, other.id, &everything, 5).await,
        vec![theirs]
    );
}

async fn turns_are_listed_in_order_for_the_tenants_session_only(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let session = create(store, new_session(acme.id)).await;
    assert!(
        store
            .list_turns(acme.id, session.id)
            .await
            .unwrap()
            .is_empty()
    );
    let mut expected = Vec::new();
    for turn in 1..=3 {
        let started = begin(store, acme.id, session.id, turn * 10).await.unwrap();
        let finished = finish(
            store,
            acme.id,
            session.id,
            turn,
            TurnStatus::Completed,
            None,
            turn * 10 + 1,
        )
        .await
        .unwrap();
        assert_eq!(finished.execution_id, started.execution_id);
        expected.push(finished);
    }
    assert_eq!(
        store.list_turns(acme.id, session.id).await.unwrap(),
        expected
    );
    assert_not_found(
        store.list_turns(other.id, session.id).await.unwrap_err(),
        "session",
        session.id,
    );
    let unknown = SessionId::new();
    assert_not_found(
        store.list_turns(acme.id, unknown).await.unwrap_err(),
        "session",
        unknown,
    );
}

async fn the_verified_customer_is_recorded_on_the_session(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let session = create(store, new_session(acme.id)).await;
    assert_eq!(session.verified_customer_id, None);
    let before = outbox_len(store).await;
    let verified = store
        .set_verified_customer(
            acme.id,
            session.id,
            "003-alice",
            at(9),
            event(acme.id, "session.verify"),
        )
        .await
        .unwrap();
    assert_eq!(
        verified,
        Session {
            verified_customer_id: Some("003-alice".to_owned()),
            updated_at: at(9),
            ..session.clone()
        }
    );
    assert_eq!(outbox_len(store).await, before + 1);
    assert_eq!(
        store.get_session(acme.id, session.id).await.unwrap(),
        verified
    );
    for (tenant_id, session_id) in [(other.id, session.id), (acme.id, SessionId::new())] {
        assert_not_found(
            store
                .set_verified_customer(
                    tenant_id,
                    session_id,
                    "003-mallory",
                    at(10),
                    event(tenant_id, "session.verify"),
                )
                .await
                .unwrap_err(),
            "session",
            session_id,
        );
    }
    assert_eq!(outbox_len(store).await, before + 1);
    assert_eq!(
        store.get_session(acme.id, session.id).await.unwrap(),
        verified
    );
}

async fn a_halted_turn_resumes_only_while_it_is_the_latest(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let session = store
        .create_session(new_session(acme.id), event(acme.id, "session.create"))
        .await
        .unwrap();
    begin(store, acme.id, session.id, 1).await.unwrap();
    // A running turn is not resumed (it never stopped).
    let err = store
        .resume_turn(acme.id, session.id, 1, event(acme.id, "turn.resume"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: "turn",
                field: "status",
                ..
            }
        ),
        "{err:?}"
    );
    finish(
        store,
        acme.id,
        session.id,
        1,
        TurnStatus::Halted,
        Some("waiting"),
        2,
    )
    .await
    .unwrap();
    let resumed = store
        .resume_turn(acme.id, session.id, 1, event(acme.id, "turn.resume"))
        .await
        .unwrap();
    assert_eq!(
        (resumed.status, resumed.reason, resumed.finished_at),
        (TurnStatus::Running, None, None)
    );
    // Steps of the resumed turn enter the conversation again.
    let step = append(store, acme.id, session.id, 1, "tool_result", 3)
        .await
        .unwrap();
    assert!(step.applied);
    finish(
        store,
        acme.id,
        session.id,
        1,
        TurnStatus::Halted,
        Some("waiting"),
        4,
    )
    .await
    .unwrap();
    // The conversation moved on: turn 1 stays halted.
    begin(store, acme.id, session.id, 5).await.unwrap();
    let err = store
        .resume_turn(acme.id, session.id, 1, event(acme.id, "turn.resume"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: "turn",
                field: "status",
                ..
            }
        ),
        "{err:?}"
    );
    let other = tenant(store, "globex").await;
    assert!(
        store
            .resume_turn(other.id, session.id, 1, event(other.id, "turn.resume"))
            .await
            .is_err()
    );
}
