//! Steps of one kind listed across a tenant's sessions (guardrail violations): newest first
//! by `(at, session_id, turn, seq)`, narrowed by environment, agent, session and time, paged by
//! a keyset cursor that neither skips nor repeats steps sharing an instant, within the tenant,
//! with the limit clamped. Also the cursor's token format.

use heddle_store::{
    ListedStep, NewSession, NewStep, Session, StepCursor, StepKindQuery, Store, Turn, TurnStatus,
};
use heddle_types::{Environment, ExecutionId, SessionId, TenantId};
use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;
use crate::sessions::new_session;

conformance_tests!(
    steps_of_a_kind_are_listed_newest_first_across_sessions_and_agents,
    steps_of_a_kind_are_narrowed_by_environment_agent_session_and_since,
    cursor_pages_return_each_step_once_when_steps_share_an_instant,
    other_tenants_steps_are_never_listed,
    the_limit_is_clamped,
);

const GUARDRAIL: &str = "guardrail";

async fn session_of(
    store: &dyn Store,
    tenant_id: TenantId,
    environment: Environment,
    agent: &str,
) -> Session {
    let new = NewSession {
        environment,
        agent: agent.to_owned(),
        ..new_session(tenant_id)
    };
    store
        .create_session(new, event(tenant_id, "session.create"))
        .await
        .unwrap()
}

async fn begin(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    seconds: i64,
) -> Turn {
    store
        .begin_turn(
            tenant_id,
            session_id,
            ExecutionId::new(),
            at(seconds),
            at(seconds - 600),
            event(tenant_id, "turn.abandon"),
            event(tenant_id, "turn.begin"),
        )
        .await
        .unwrap()
        .turn
}

async fn finish(store: &dyn Store, tenant_id: TenantId, session_id: SessionId, turn: i64) {
    store
        .finish_turn(
            tenant_id,
            session_id,
            turn,
            TurnStatus::Completed,
            None,
            at(1_000),
            event(tenant_id, "turn.finish"),
        )
        .await
        .unwrap();
}

/// Appends a step of `kind` at `when` to the turn and returns it as the listing shows it.
async fn append(
    store: &dyn Store,
    session: &Session,
    turn: &Turn,
    kind: &str,
    when: OffsetDateTime,
) -> ListedStep {
    let step = store
        .append_step(
            session.tenant_id,
            session.id,
            turn.turn,
            NewStep {
                kind: kind.to_owned(),
                payload: json!({"kind": kind, "rule": "pii.email"}),
                input_tokens: 1,
                output_tokens: 2,
                cost_micros: 3,
                latency_ms: None,
                at: when,
            },
            event(session.tenant_id, "step"),
        )
        .await
        .unwrap();
    ListedStep {
        session_id: session.id,
        environment: session.environment,
        agent: session.agent.clone(),
        execution_id: turn.execution_id,
        step,
    }
}

fn query(limit: u32) -> StepKindQuery {
    StepKindQuery {
        kind: GUARDRAIL.to_owned(),
        environment: None,
        agent: None,
        session_id: None,
        since: None,
        before: None,
        limit,
    }
}

async fn list(store: &dyn Store, tenant_id: TenantId, query: &StepKindQuery) -> Vec<ListedStep> {
    store.list_steps_of_kind(tenant_id, query).await.unwrap()
}

/// The listing's order: newest first by the full keyset.
fn newest_first(mut steps: Vec<ListedStep>) -> Vec<ListedStep> {
    steps.sort_by(|a, b| {
        (b.step.at, b.session_id, b.step.turn, b.step.seq).cmp(&(
            a.step.at,
            a.session_id,
            a.step.turn,
            a.step.seq,
        ))
    });
    steps
}

/// Two agents' sessions in two environments of one tenant, with guardrail steps among others.
struct Fixture {
    tenant_id: TenantId,
    sales: Session,
    support: Session,
    /// Every guardrail step, newest first.
    guardrails: Vec<ListedStep>,
}

async fn fixture(store: &dyn Store) -> Fixture {
    let acme = tenant(store, "acme").await;
    let sales = session_of(store, acme.id, Environment::Dev, "sales-assistant").await;
    let support = session_of(store, acme.id, Environment::Prod, "support-bot").await;
    let sales_1 = begin(store, acme.id, sales.id, 10).await;
    let support_1 = begin(store, acme.id, support.id, 10).await;
    append(store, &sales, &sales_1, "user_message", at(11)).await;
    let mut guardrails = vec![
        append(store, &sales, &sales_1, GUARDRAIL, at(12)).await,
        append(store, &support, &support_1, GUARDRAIL, at(13)).await,
    ];
    append(store, &support, &support_1, "model_response", at(14)).await;
    guardrails.push(append(store, &sales, &sales_1, GUARDRAIL, at(15)).await);
    finish(store, acme.id, sales.id, sales_1.turn).await;
    // A late step of a finished turn: recorded, not applied, and listed all the same.
    let late = append(store, &sales, &sales_1, GUARDRAIL, at(16)).await;
    assert!(!late.step.applied);
    guardrails.push(late);
    let sales_2 = begin(store, acme.id, sales.id, 20).await;
    guardrails.push(append(store, &sales, &sales_2, GUARDRAIL, at(21)).await);
    guardrails.push(append(store, &support, &support_1, GUARDRAIL, at(22)).await);
    Fixture {
        tenant_id: acme.id,
        sales,
        support,
        guardrails: newest_first(guardrails),
    }
}

async fn steps_of_a_kind_are_listed_newest_first_across_sessions_and_agents(db: TestDb) {
    let store = &*db.store;
    let f = fixture(store).await;
    let listed = list(store, f.tenant_id, &query(50)).await;
    assert_eq!(listed, f.guardrails);
    assert_eq!(
        listed.iter().map(|l| l.step.at).collect::<Vec<_>>(),
        [at(22), at(21), at(16), at(15), at(13), at(12)]
    );
    assert!(listed.iter().all(|l| l.step.kind == GUARDRAIL));
    // Each step names its session's agent and environment and its turn's execution.
    for listed in &listed {
        let turn = store
            .get_execution(f.tenant_id, listed.execution_id)
            .await
            .unwrap();
        assert_eq!(
            (turn.session_id, turn.turn),
            (listed.session_id, listed.step.turn)
        );
        let session = if listed.session_id == f.sales.id {
            &f.sales
        } else {
            &f.support
        };
        assert_eq!(
            (listed.environment, listed.agent.as_str()),
            (session.environment, session.agent.as_str())
        );
    }
    assert_eq!(
        listed.iter().filter(|l| !l.step.applied).count(),
        1,
        "the late step is listed, unapplied"
    );
    // Other kinds are listed by their own kind.
    let messages = list(
        store,
        f.tenant_id,
        &StepKindQuery {
            kind: "user_message".to_owned(),
            ..query(50)
        },
    )
    .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].session_id, f.sales.id);
    let none = StepKindQuery {
        kind: "no_such_kind".to_owned(),
        ..query(50)
    };
    assert_eq!(list(store, f.tenant_id, &none).await, []);
}

async fn steps_of_a_kind_are_narrowed_by_environment_agent_session_and_since(db: TestDb) {
    let store = &*db.store;
    let f = fixture(store).await;
    let of_session = |session: &Session| -> Vec<ListedStep> {
        f.guardrails
            .iter()
            .filter(|l| l.session_id == session.id)
            .cloned()
            .collect()
    };
    let prod = StepKindQuery {
        environment: Some(Environment::Prod),
        ..query(50)
    };
    assert_eq!(
        list(store, f.tenant_id, &prod).await,
        of_session(&f.support)
    );
    let staging = StepKindQuery {
        environment: Some(Environment::Staging),
        ..query(50)
    };
    assert_eq!(list(store, f.tenant_id, &staging).await, []);
    let sales = StepKindQuery {
        agent: Some("sales-assistant".to_owned()),
        ..query(50)
    };
    assert_eq!(list(store, f.tenant_id, &sales).await, of_session(&f.sales));
    // Agent and environment together: the sales assistant has no prod steps.
    let sales_in_prod = StepKindQuery {
        agent: Some("sales-assistant".to_owned()),
        environment: Some(Environment::Prod),
        ..query(50)
    };
    assert_eq!(list(store, f.tenant_id, &sales_in_prod).await, []);
    let support = StepKindQuery {
        session_id: Some(f.support.id),
        ..query(50)
    };
    assert_eq!(
        list(store, f.tenant_id, &support).await,
        of_session(&f.support)
    );
    let unknown = StepKindQuery {
        session_id: Some(SessionId::new()),
        ..query(50)
    };
    assert_eq!(list(store, f.tenant_id, &unknown).await, []);
    // `since` includes its own instant.
    let since = StepKindQuery {
        since: Some(at(16)),
        ..query(50)
    };
    let recent: Vec<_> = f
        .guardrails
        .iter()
        .filter(|l| l.step.at >= at(16))
        .cloned()
        .collect();
    assert_eq!(recent.len(), 3);
    assert_eq!(list(store, f.tenant_id, &since).await, recent);
    let everything = StepKindQuery {
        environment: Some(Environment::Dev),
        agent: Some("sales-assistant".to_owned()),
        session_id: Some(f.sales.id),
        since: Some(at(15)),
        ..query(50)
    };
    assert_eq!(
        list(store, f.tenant_id, &everything)
            .await
            .iter()
            .map(|l| l.step.at)
            .collect::<Vec<_>>(),
        [at(21), at(16), at(15)]
    );
}

async fn cursor_pages_return_each_step_once_when_steps_share_an_instant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let first = session_of(store, acme.id, Environment::Dev, "sales-assistant").await;
    let second = session_of(store, acme.id, Environment::Dev, "support-bot").await;
    let mut all = Vec::new();
    // Two turns of each session, three steps each, all at one of two instants: the order
    // within an instant is decided by session, turn and sequence number alone.
    for session in [&first, &second] {
        for turn_at in [10, 20] {
            let turn = begin(store, acme.id, session.id, turn_at).await;
            for when in [at(30), at(30), at(31)] {
                all.push(append(store, session, &turn, GUARDRAIL, when).await);
            }
            finish(store, acme.id, session.id, turn.turn).await;
        }
    }
    let all = newest_first(all);
    assert_eq!(list(store, acme.id, &query(100)).await, all);
    for limit in 1..=5 {
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = list(
                store,
                acme.id,
                &StepKindQuery {
                    before,
                    ..query(limit)
                },
            )
            .await;
            assert!(page.len() <= limit as usize);
            let Some(last) = page.last() else {
                break;
            };
            // Through the token, as an API client would carry it.
            before = Some(StepCursor::from_token(&last.cursor().to_token()).unwrap());
            paged.extend(page);
        }
        assert_eq!(paged, all, "limit {limit}");
    }
    // A cursor bounds strictly: the step it names is not listed again.
    let after_third = StepKindQuery {
        before: Some(all[2].cursor()),
        ..query(100)
    };
    assert_eq!(list(store, acme.id, &after_third).await, all[3..]);
    // Cursor and filters combine.
    let second_only = StepKindQuery {
        session_id: Some(second.id),
        before: Some(all[0].cursor()),
        ..query(100)
    };
    let expected: Vec<_> = all[1..]
        .iter()
        .filter(|l| l.session_id == second.id)
        .cloned()
        .collect();
    assert_eq!(list(store, acme.id, &second_only).await, expected);
}

async fn other_tenants_steps_are_never_listed(db: TestDb) {
    let store = &*db.store;
    let f = fixture(store).await;
    let other = tenant(store, "other").await;
    let theirs = session_of(store, other.id, Environment::Dev, "sales-assistant").await;
    let turn = begin(store, other.id, theirs.id, 10).await;
    let their_step = append(store, &theirs, &turn, GUARDRAIL, at(100)).await;

    assert_eq!(list(store, f.tenant_id, &query(50)).await, f.guardrails);
    assert_eq!(
        list(store, other.id, &query(50)).await,
        std::slice::from_ref(&their_step)
    );
    // Naming the other tenant's session, or paging from its step, finds nothing of theirs.
    let their_session = StepKindQuery {
        session_id: Some(theirs.id),
        ..query(50)
    };
    assert_eq!(list(store, f.tenant_id, &their_session).await, []);
    let from_their_step = StepKindQuery {
        before: Some(their_step.cursor()),
        ..query(50)
    };
    assert_eq!(
        list(store, f.tenant_id, &from_their_step).await,
        f.guardrails
    );
    assert_eq!(list(store, TenantId::new(), &query(50)).await, []);
}

async fn the_limit_is_clamped(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let session = session_of(store, acme.id, Environment::Dev, "sales-assistant").await;
    let turn = begin(store, acme.id, session.id, 1).await;
    let max = StepKindQuery::MAX_LIMIT as usize;
    for _ in 0..=max {
        append(store, &session, &turn, GUARDRAIL, at(2)).await;
    }
    // Zero lists one rather than nothing (or everything).
    let one = list(store, acme.id, &query(0)).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].step.seq, i64::try_from(max).unwrap() + 1);
    assert_eq!(list(store, acme.id, &query(u32::MAX)).await.len(), max);
    assert_eq!(
        list(store, acme.id, &query(StepKindQuery::MAX_LIMIT + 1))
            .await
            .len(),
        max
    );
    assert_eq!(list(store, acme.id, &query(7)).await.len(), 7);
}

#[test]
fn a_cursor_round_trips_through_its_token() {
    let cursor = StepCursor {
        at: at(30) + time::Duration::nanoseconds(789),
        session_id: SessionId::new(),
        turn: 3,
        seq: 12,
    };
    let token = cursor.to_token();
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    assert_eq!(StepCursor::from_token(&token), Ok(cursor));
}

#[test]
fn garbage_tokens_are_refused_with_a_reason() {
    use base64::Engine as _;
    let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let session = SessionId::new().as_uuid().simple().to_string();
    let cases = [
        (String::new(), "unknown format"),
        ("not base64!".to_owned(), "not base64url"),
        ("a".repeat(1_000), "too long"),
        (encode("s2.1.x.1.1"), "unknown format"),
        (
            encode(&format!("s1.1.{session}.1")),
            "wrong number of fields",
        ),
        (
            encode(&format!("s1.1.{session}.1.1.1")),
            "wrong number of fields",
        ),
        (encode(&format!("s1.x.{session}.1.1")), "bad instant"),
        (
            encode(&format!("s1.{}.{session}.1.1", i128::MAX)),
            "bad instant",
        ),
        (encode("s1.1.not-a-uuid.1.1"), "bad session id"),
        (encode(&format!("s1.1.{session}.0.1")), "bad turn"),
        (
            encode(&format!("s1.1.{session}.1.-1")),
            "bad sequence number",
        ),
    ];
    for (token, reason) in cases {
        let err = StepCursor::from_token(&token).unwrap_err();
        assert_eq!(err.reason, reason, "{token}");
        assert!(err.to_string().starts_with("invalid step cursor: "));
    }
}

proptest! {
    #[test]
    fn any_cursor_round_trips(
        nanos in -62_000_000_000_000_000_000i128..250_000_000_000_000_000_000i128,
        uuid in any::<u128>(),
        turn in 1..i64::MAX,
        seq in 1..i64::MAX,
    ) {
        let cursor = StepCursor {
            at: OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap(),
            session_id: SessionId::from_uuid(uuid::Uuid::from_u128(uuid)),
            turn,
            seq,
        };
        prop_assert_eq!(StepCursor::from_token(&cursor.to_token()), Ok(cursor));
    }

    #[test]
    fn any_string_is_parsed_or_refused_without_panicking(token in ".{0,300}") {
        let _ = StepCursor::from_token(&token);
    }
}
