//! Customer verification challenges: one open per session, attempts capped even under
//! concurrency (and across processes), success verifies the session's customer, expired and
//! closed challenges take no attempts, tenant isolation, and the app role's grants.

use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::{
    ChallengeAttempt, NewVerificationChallenge, Session, SessionFilter, Store, StoreError,
    TurnStatus, UsageScope, VerificationChallenge,
};
use heddle_types::{ExecutionId, PageRequest, SessionId, TenantId};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::fixtures::{assert_conflict, assert_not_found, at, event, tenant};
use crate::harness::{TestDb, create_schema, drop_schema, postgres_admin_options};
use crate::sessions::new_session;

conformance_tests!(
    a_new_challenge_closes_the_open_one,
    concurrent_attempts_never_pass_the_cap,
    a_successful_attempt_verifies_the_customer,
    a_challenge_that_matched_nobody_never_verifies,
    an_expired_challenge_stays_open_but_takes_no_attempts,
    challenges_stay_in_their_tenant_and_session,
);

const CODE_HASH: [u8; 32] = [0xA5; 32];

fn new_challenge(
    tenant_id: TenantId,
    session_id: SessionId,
    customer_id: Option<&str>,
    created: i64,
) -> NewVerificationChallenge {
    NewVerificationChallenge {
        id: Uuid::now_v7(),
        tenant_id,
        session_id,
        code_hash: CODE_HASH.to_vec(),
        customer_id: customer_id.map(str::to_owned),
        max_attempts: 3,
        expires_at: at(created + 600),
        created_at: at(created),
    }
}

async fn session(store: &dyn Store, tenant_id: TenantId) -> Session {
    store
        .create_session(new_session(tenant_id), event(tenant_id, "session.create"))
        .await
        .unwrap()
}

async fn create(store: &dyn Store, challenge: NewVerificationChallenge) -> VerificationChallenge {
    let audit = event(challenge.tenant_id, "verification.create");
    store
        .create_verification_challenge(challenge, audit)
        .await
        .unwrap()
}

async fn open(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
) -> Option<VerificationChallenge> {
    store
        .open_verification_challenge(tenant_id, session_id)
        .await
        .unwrap()
}

async fn attempt(
    store: &dyn Store,
    tenant_id: TenantId,
    session_id: SessionId,
    challenge_id: Uuid,
    outcome: ChallengeAttempt,
    seconds: i64,
) -> Result<VerificationChallenge, StoreError> {
    store
        .attempt_verification_challenge(
            tenant_id,
            session_id,
            challenge_id,
            outcome,
            at(seconds),
            event(tenant_id, "verification.attempt"),
        )
        .await
}

async fn outbox_len(store: &dyn Store) -> u64 {
    store.audit_outbox_len().await.unwrap()
}

async fn a_new_challenge_closes_the_open_one(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    assert_eq!(open(store, acme.id, s.id).await, None);
    let input = new_challenge(acme.id, s.id, Some("003-alice"), 10);
    let first = create(store, input.clone()).await;
    assert_eq!(
        first,
        VerificationChallenge {
            id: input.id,
            tenant_id: acme.id,
            session_id: s.id,
            code_hash: CODE_HASH.to_vec(),
            customer_id: Some("003-alice".to_owned()),
            attempts: 0,
            max_attempts: 3,
            expires_at: at(610),
            created_at: at(10),
            consumed_at: None,
        }
    );
    assert_eq!(open(store, acme.id, s.id).await, Some(first.clone()));

    // The customer asks for a new code: the old one stops working.
    let second = create(store, new_challenge(acme.id, s.id, Some("003-alice"), 20)).await;
    assert_eq!(open(store, acme.id, s.id).await, Some(second.clone()));
    for outcome in [ChallengeAttempt::Succeeded, ChallengeAttempt::Failed] {
        assert_conflict(
            attempt(store, acme.id, s.id, first.id, outcome, 21)
                .await
                .unwrap_err(),
            "verification",
            "consumed_at",
            &format!("challenge {} is closed", first.id),
        );
    }
    let counted = attempt(
        store,
        acme.id,
        s.id,
        second.id,
        ChallengeAttempt::Failed,
        22,
    )
    .await
    .unwrap();
    assert_eq!(counted.attempts, 1);
    assert_eq!(
        store
            .get_session(acme.id, s.id)
            .await
            .unwrap()
            .verified_customer_id,
        None
    );
    // Reusing an id is a conflict, not a second row.
    let mut reused = new_challenge(acme.id, s.id, None, 30);
    reused.id = second.id;
    let err = store
        .create_verification_challenge(reused, event(acme.id, "verification.create"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: "verification challenge",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(open(store, acme.id, s.id).await, Some(counted));
}

async fn concurrent_attempts_never_pass_the_cap(db: TestDb) {
    let store = db.store.clone();
    // A second pool: the stand-in for another server process guessing at the same time.
    let elsewhere = db.another_store().await;
    let acme = tenant(&*store, "acme").await;
    let s = session(&*store, acme.id).await;
    let challenge = create(&*store, new_challenge(acme.id, s.id, Some("003-alice"), 10)).await;
    let before = outbox_len(&*store).await;
    let guesses: Vec<_> = (0..10)
        .map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                elsewhere.clone()
            };
            tokio::spawn(async move {
                attempt(
                    &*store,
                    acme.id,
                    s.id,
                    challenge.id,
                    ChallengeAttempt::Failed,
                    11,
                )
                .await
            })
        })
        .collect();
    let mut counted = Vec::new();
    let mut refused = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Ok(updated) => counted.push(updated.attempts),
            Err(StoreError::Conflict {
                entity: "verification",
                field: "attempts",
                ..
            }) => refused += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, vec![1, 2, 3]);
    assert_eq!(refused, 7);
    // One event per counted attempt, none for the refused ones.
    assert_eq!(outbox_len(&*store).await, before + 3);
    assert_eq!(open(&*store, acme.id, s.id).await.unwrap().attempts, 3);

    // Out of attempts: even the right code no longer verifies.
    assert_conflict(
        attempt(
            &*store,
            acme.id,
            s.id,
            challenge.id,
            ChallengeAttempt::Succeeded,
            12,
        )
        .await
        .unwrap_err(),
        "verification",
        "attempts",
        &format!("challenge {} has no attempts left", challenge.id),
    );
    assert_eq!(
        store
            .get_session(acme.id, s.id)
            .await
            .unwrap()
            .verified_customer_id,
        None
    );
}

async fn a_successful_attempt_verifies_the_customer(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    let challenge = create(store, new_challenge(acme.id, s.id, Some("003-alice"), 10)).await;
    let failed = attempt(
        store,
        acme.id,
        s.id,
        challenge.id,
        ChallengeAttempt::Failed,
        11,
    )
    .await
    .unwrap();
    assert_eq!((failed.attempts, failed.consumed_at), (1, None));
    assert_eq!(
        store
            .get_session(acme.id, s.id)
            .await
            .unwrap()
            .verified_customer_id,
        None
    );

    let before = outbox_len(store).await;
    let succeeded = attempt(
        store,
        acme.id,
        s.id,
        challenge.id,
        ChallengeAttempt::Succeeded,
        12,
    )
    .await
    .unwrap();
    assert_eq!(
        succeeded,
        VerificationChallenge {
            attempts: 2,
            consumed_at: Some(at(12)),
            ..challenge.clone()
        }
    );
    assert_eq!(outbox_len(store).await, before + 1);
    let verified = store.get_session(acme.id, s.id).await.unwrap();
    assert_eq!(
        (
            verified.verified_customer_id.as_deref(),
            verified.updated_at
        ),
        (Some("003-alice"), at(12))
    );
    assert_eq!(open(store, acme.id, s.id).await, None);
    // A code works once.
    for outcome in [ChallengeAttempt::Succeeded, ChallengeAttempt::Failed] {
        assert_conflict(
            attempt(store, acme.id, s.id, challenge.id, outcome, 13)
                .await
                .unwrap_err(),
            "verification",
            "consumed_at",
            &format!("challenge {} is closed", challenge.id),
        );
    }
    assert_eq!(outbox_len(store).await, before + 1);
}

async fn a_challenge_that_matched_nobody_never_verifies(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    let challenge = create(store, new_challenge(acme.id, s.id, None, 10)).await;
    assert_eq!(challenge.customer_id, None);
    let before = outbox_len(store).await;
    assert_conflict(
        attempt(
            store,
            acme.id,
            s.id,
            challenge.id,
            ChallengeAttempt::Succeeded,
            11,
        )
        .await
        .unwrap_err(),
        "verification",
        "customer_id",
        &format!("challenge {} matched no customer", challenge.id),
    );
    // Refused as a whole: nothing counted, nothing verified, no event.
    assert_eq!(outbox_len(store).await, before);
    assert_eq!(open(store, acme.id, s.id).await, Some(challenge.clone()));
    assert_eq!(
        store
            .get_session(acme.id, s.id)
            .await
            .unwrap()
            .verified_customer_id,
        None
    );
    let failed = attempt(
        store,
        acme.id,
        s.id,
        challenge.id,
        ChallengeAttempt::Failed,
        12,
    )
    .await
    .unwrap();
    assert_eq!(failed.attempts, 1);
}

async fn an_expired_challenge_stays_open_but_takes_no_attempts(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    let challenge = create(store, new_challenge(acme.id, s.id, Some("003-alice"), 10)).await;
    assert_eq!(challenge.expires_at, at(610));
    let last_moment = attempt(
        store,
        acme.id,
        s.id,
        challenge.id,
        ChallengeAttempt::Failed,
        609,
    )
    .await
    .unwrap();
    assert_eq!(last_moment.attempts, 1);
    for outcome in [ChallengeAttempt::Succeeded, ChallengeAttempt::Failed] {
        assert_conflict(
            attempt(store, acme.id, s.id, challenge.id, outcome, 610)
                .await
                .unwrap_err(),
            "verification",
            "expires_at",
            &format!("challenge {} has expired", challenge.id),
        );
    }
    // Still the open challenge (the caller judges expiry with its clock), unchanged.
    assert_eq!(open(store, acme.id, s.id).await, Some(last_moment));
    assert_eq!(
        store
            .get_session(acme.id, s.id)
            .await
            .unwrap()
            .verified_customer_id,
        None
    );
}

async fn challenges_stay_in_their_tenant_and_session(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let s = session(store, acme.id).await;
    let sibling = session(store, acme.id).await;

    // Another tenant cannot open a challenge on acme's session, nor one on a made-up session.
    for (tenant_id, session_id) in [(other.id, s.id), (acme.id, SessionId::new())] {
        let err = store
            .create_verification_challenge(
                new_challenge(tenant_id, session_id, Some("003-mallory"), 5),
                event(tenant_id, "verification.create"),
            )
            .await
            .unwrap_err();
        assert_not_found(err, "session", session_id);
    }
    let challenge = create(store, new_challenge(acme.id, s.id, Some("003-alice"), 10)).await;
    assert_eq!(open(store, other.id, s.id).await, None);
    assert_eq!(open(store, acme.id, sibling.id).await, None);

    let before = outbox_len(store).await;
    assert_not_found(
        attempt(
            store,
            other.id,
            s.id,
            challenge.id,
            ChallengeAttempt::Succeeded,
            11,
        )
        .await
        .unwrap_err(),
        "session",
        s.id,
    );
    // The right id under the wrong session, and an unknown id, are not found either.
    assert_not_found(
        attempt(
            store,
            acme.id,
            sibling.id,
            challenge.id,
            ChallengeAttempt::Succeeded,
            11,
        )
        .await
        .unwrap_err(),
        "verification challenge",
        format!("{}/{}", sibling.id, challenge.id),
    );
    let unknown = Uuid::now_v7();
    assert_not_found(
        attempt(store, acme.id, s.id, unknown, ChallengeAttempt::Failed, 11)
            .await
            .unwrap_err(),
        "verification challenge",
        format!("{}/{unknown}", s.id),
    );
    assert_eq!(outbox_len(store).await, before);
    assert_eq!(open(store, acme.id, s.id).await, Some(challenge));
    assert_eq!(
        store
            .get_session(acme.id, sibling.id)
            .await
            .unwrap()
            .verified_customer_id,
        None
    );
}

/// The least-privilege grants of `src/postgres/app_role.sql` cover the runtime's session and
/// verification operations, and do not let the role rewrite steps or erase challenges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_runs_sessions_and_verification() {
    let Some(admin) = postgres_admin_options() else {
        return;
    };
    let schema = create_schema(&admin).await;
    let owner = admin.clone().options([("search_path", schema.as_str())]);
    PgStore::connect_with_options(owner.clone())
        .await
        .unwrap()
        .close()
        .await;
    // Named from a UUIDv7, never from input, like the schema.
    let role = format!("heddle_app_{}", Uuid::now_v7().simple());
    let grants = include_str!("../../src/postgres/app_role.sql")
        .replace("heddle_app", &role)
        .replace("SCHEMA public", &format!("SCHEMA {schema}"));
    let mut conn = PgConnection::connect_with(&owner).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE ROLE {role} LOGIN")))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(grants))
        .execute(&mut conn)
        .await
        .unwrap();

    let outcome = tokio::spawn(run_sessions_as(owner.clone().username(&role))).await;

    drop_schema(&admin, &schema).await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn run_sessions_as(options: PgConnectOptions) {
    let pg = PgStore::connect_with_options(options.clone())
        .await
        .unwrap();
    let store: &dyn Store = &pg;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    let begin = async |seconds: i64| {
        store
            .begin_turn(
                acme.id,
                s.id,
                ExecutionId::new(),
                at(seconds),
                at(seconds - 600),
                event(acme.id, "turn.abandon"),
                event(acme.id, "turn.begin"),
            )
            .await
            .unwrap()
    };
    begin(1).await;
    // Abandons turn 1 (an update of turns and a status step).
    let began = begin(1_000).await;
    assert_eq!(began.abandoned.map(|turn| turn.turn), Some(1));
    store
        .finish_turn(
            acme.id,
            s.id,
            2,
            TurnStatus::Halted,
            Some("budget".to_owned()),
            at(1_001),
            event(acme.id, "turn.finish"),
        )
        .await
        .unwrap();
    assert_eq!(store.list_turns(acme.id, s.id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .list_sessions(acme.id, SessionFilter::default(), PageRequest::first(5))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    store
        .usage_totals(acme.id, UsageScope::Session(s.id))
        .await
        .unwrap();
    store
        .set_verified_customer(acme.id, s.id, "003-bob", at(1_002), event(acme.id, "v"))
        .await
        .unwrap();
    let first = create(
        store,
        new_challenge(acme.id, s.id, Some("003-alice"), 1_003),
    )
    .await;
    let second = create(
        store,
        new_challenge(acme.id, s.id, Some("003-alice"), 1_004),
    )
    .await;
    assert_ne!(first.id, second.id);
    attempt(
        store,
        acme.id,
        s.id,
        second.id,
        ChallengeAttempt::Succeeded,
        1_005,
    )
    .await
    .unwrap();
    assert_eq!(
        store
            .get_session(acme.id, s.id)
            .await
            .unwrap()
            .verified_customer_id
            .as_deref(),
        Some("003-alice")
    );
    pg.close().await;

    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    for sql in [
        "DELETE FROM verification_challenges",
        "UPDATE execution_steps SET applied = true",
        "DELETE FROM turns",
    ] {
        let err = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect_err(&format!("`{sql}` must be refused for the app role"));
        assert!(
            err.to_string().contains("permission denied"),
            "`{sql}`: {err}"
        );
    }
    conn.close().await.unwrap();
}
