//! Pending actions (human in the loop): the initial status per mode, confirmations that need
//! and spend their token, approvals, rejections, expiry and discarding only from the right
//! states, the exactly-once claim (also raced from two pools), lease expiry handing the
//! action to another runner and fencing the first, results, the resume sweep, listings,
//! tenant isolation; and record writes under an idempotency key, applied once even when
//! retried concurrently, with an append-only effect ledger.

use heddle_records::Record;
use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::{
    Decision, HitlMode, NewPendingAction, OnStale, PendingAction, PendingFilter, PendingStatus,
    RecordWriteError, Session, Store, StoreError,
};
use heddle_types::{Environment, ExecutionId, PageRequest, SessionId, TenantId};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::fixtures::{assert_conflict, assert_not_found, at, event, tenant};
use crate::harness::{TestDb, create_schema, drop_schema, postgres_admin_options};
use crate::record_writes::{changes, id, read, record, team, text};
use crate::sessions::new_session;

conformance_tests!(
    a_new_action_waits_for_what_its_mode_needs,
    a_confirmation_needs_its_token_and_spends_it,
    approve_reject_and_discard_apply_only_from_their_states,
    an_action_expires_only_once_its_deadline_passed,
    concurrent_claims_hand_the_action_to_exactly_one_runner,
    an_expired_lease_moves_to_the_next_runner_and_fences_the_first,
    finishing_stores_the_result_once,
    due_actions_are_the_approved_the_abandoned_and_the_overdue,
    actions_are_listed_newest_first_by_filter_and_page,
    actions_stay_in_their_tenant,
    an_idempotent_record_write_applies_once,
    concurrent_idempotent_writes_from_two_pools_write_once,
    action_effects_cannot_be_changed_or_deleted,
);

const TOKEN: [u8; 32] = [0x5A; 32];
const WRONG_TOKEN: [u8; 32] = [0x5B; 32];
const LEASE: Duration = Duration::seconds(60);

fn new_action(
    tenant_id: TenantId,
    session: &Session,
    mode: HitlMode,
    created: i64,
) -> NewPendingAction {
    NewPendingAction {
        id: Uuid::now_v7(),
        tenant_id,
        session_id: session.id,
        turn: 1,
        execution_id: ExecutionId::new(),
        environment: Environment::Dev,
        agent: "sales-assistant".to_owned(),
        capability: "update_account".to_owned(),
        call_id: "call_1".to_owned(),
        arguments_sealed: json!({"v": 1, "nonce": "bm9uY2U", "ciphertext": "c2VhbGVk"}),
        arguments_display: json!({"Name": "Initech", "Phone": "[redacted]"}),
        arguments_hash: "ab".repeat(32),
        mode,
        reason: Some("writes to accounts need a person".to_owned()),
        requested_by_kind: "user".to_owned(),
        requested_by_id: "user-1".to_owned(),
        approver_role: mode.needs_approval().then(|| "admin".to_owned()),
        confirmation_token_hash: mode.needs_confirmation().then(|| TOKEN.to_vec()),
        on_stale: OnStale::Run,
        expires_at: at(created + 3_600),
        created_at: at(created),
    }
}

/// What `create_pending_action` returns for `input`.
fn as_created(input: &NewPendingAction, status: PendingStatus) -> PendingAction {
    let input = input.clone();
    PendingAction {
        id: input.id,
        tenant_id: input.tenant_id,
        session_id: input.session_id,
        turn: input.turn,
        execution_id: input.execution_id,
        environment: input.environment,
        agent: input.agent,
        capability: input.capability,
        call_id: input.call_id,
        arguments_sealed: input.arguments_sealed,
        arguments_display: input.arguments_display,
        arguments_hash: input.arguments_hash,
        mode: input.mode,
        reason: input.reason,
        requested_by_kind: input.requested_by_kind,
        requested_by_id: input.requested_by_id,
        approver_role: input.approver_role,
        confirmation_token_hash: input.confirmation_token_hash,
        on_stale: input.on_stale,
        expires_at: input.expires_at,
        created_at: input.created_at,
        status,
        decided_by: None,
        decided_at: None,
        comment: None,
        confirmed_at: None,
        lease_owner: None,
        lease_expires_at: None,
        attempts: 0,
        result: None,
        completed_at: None,
        updated_at: input.created_at,
    }
}

async fn session(store: &dyn Store, tenant_id: TenantId) -> Session {
    store
        .create_session(new_session(tenant_id), event(tenant_id, "session.create"))
        .await
        .unwrap()
}

async fn create(store: &dyn Store, action: NewPendingAction) -> PendingAction {
    let audit = event(action.tenant_id, "pending_action.create");
    store.create_pending_action(action, audit).await.unwrap()
}

async fn get(store: &dyn Store, tenant_id: TenantId, id: Uuid) -> PendingAction {
    store.get_pending_action(tenant_id, id).await.unwrap()
}

/// One decision by `by` (with a comment naming it when `by` is given) at `when`.
async fn decide(
    store: &dyn Store,
    tenant_id: TenantId,
    id: Uuid,
    decision: Decision,
    token: Option<&[u8]>,
    by: Option<&str>,
    when: OffsetDateTime,
) -> Result<PendingAction, StoreError> {
    store
        .decide_pending_action(
            tenant_id,
            id,
            decision,
            token,
            by.map(str::to_owned),
            by.map(|by| format!("{} by {by}", decision.as_str())),
            when,
            event(tenant_id, "pending_action.decide"),
        )
        .await
}

async fn claim(
    store: &dyn Store,
    tenant_id: TenantId,
    id: Uuid,
    owner: &str,
    when: OffsetDateTime,
) -> Option<PendingAction> {
    store
        .claim_pending_action(tenant_id, id, owner, when, LEASE)
        .await
        .unwrap()
}

async fn finish(
    store: &dyn Store,
    tenant_id: TenantId,
    id: Uuid,
    owner: &str,
    succeeded: bool,
    result: Value,
    when: OffsetDateTime,
) -> Result<PendingAction, StoreError> {
    store
        .finish_pending_action(
            tenant_id,
            id,
            owner,
            succeeded,
            result,
            when,
            event(tenant_id, "pending_action.finish"),
        )
        .await
}

/// An approval-mode action created at `created` and approved a second later.
async fn approved(
    store: &dyn Store,
    tenant_id: TenantId,
    session: &Session,
    created: i64,
) -> PendingAction {
    let action = create(
        store,
        new_action(tenant_id, session, HitlMode::Approval, created),
    )
    .await;
    decide(
        store,
        tenant_id,
        action.id,
        Decision::Approve,
        None,
        Some("admin-1"),
        at(created + 1),
    )
    .await
    .unwrap()
}

async fn outbox_len(store: &dyn Store) -> u64 {
    store.audit_outbox_len().await.unwrap()
}

fn status_conflict(err: StoreError, action: &PendingAction, status: &str, decision: &str) {
    assert_conflict(
        err,
        "pending_action",
        "status",
        &format!(
            "pending action {} is {status}, so it cannot {decision}",
            action.id
        ),
    );
}

async fn a_new_action_waits_for_what_its_mode_needs(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let s = session(store, acme.id).await;
    for (mode, status) in [
        (HitlMode::Confirmation, PendingStatus::AwaitingConfirmation),
        (HitlMode::Approval, PendingStatus::AwaitingApproval),
        (
            HitlMode::ConfirmationThenApproval,
            PendingStatus::AwaitingConfirmation,
        ),
    ] {
        assert_eq!(mode.initial_status(), status);
        let before = outbox_len(store).await;
        let input = new_action(acme.id, &s, mode, 10);
        let created = create(store, input.clone()).await;
        assert_eq!(created, as_created(&input, status));
        assert_eq!(get(store, acme.id, input.id).await, created);
        assert_eq!(outbox_len(store).await, before + 1);
    }

    let before = outbox_len(store).await;
    let mut taken = new_action(acme.id, &s, HitlMode::Approval, 20);
    let first = create(store, taken.clone()).await;
    taken.capability = "delete_account".to_owned();
    let err = store
        .create_pending_action(taken, event(acme.id, "pending_action.create"))
        .await
        .unwrap_err();
    assert_conflict(err, "pending_action", "id", &first.id.to_string());
    // Another tenant's session and a made-up one are not found.
    let mut foreign = new_action(other.id, &s, HitlMode::Approval, 20);
    foreign.tenant_id = other.id;
    let err = store
        .create_pending_action(foreign, event(other.id, "pending_action.create"))
        .await
        .unwrap_err();
    assert_not_found(err, "session", s.id);
    let mut unknown = new_action(acme.id, &s, HitlMode::Approval, 20);
    unknown.session_id = SessionId::new();
    let missing = unknown.session_id;
    let err = store
        .create_pending_action(unknown, event(acme.id, "pending_action.create"))
        .await
        .unwrap_err();
    assert_not_found(err, "session", missing);
    assert_eq!(outbox_len(store).await, before + 1);
    assert_eq!(get(store, acme.id, first.id).await, first);

    // The stored names round-trip.
    for status in [
        PendingStatus::AwaitingConfirmation,
        PendingStatus::AwaitingApproval,
        PendingStatus::Approved,
        PendingStatus::Running,
        PendingStatus::Completed,
        PendingStatus::Failed,
        PendingStatus::Rejected,
        PendingStatus::Expired,
        PendingStatus::Discarded,
    ] {
        assert_eq!(PendingStatus::parse(status.as_str()), Some(status));
    }
    for mode in [
        HitlMode::Confirmation,
        HitlMode::Approval,
        HitlMode::ConfirmationThenApproval,
    ] {
        assert_eq!(HitlMode::parse(mode.as_str()), Some(mode));
    }
    assert_eq!(OnStale::parse("discard"), Some(OnStale::Discard));
    assert_eq!(PendingStatus::parse("Approved"), None);
    // Debug output keeps the sealed arguments and the token hash out of logs.
    let debug = format!("{first:?}");
    assert!(
        !debug.contains("c2VhbGVk") && debug.contains("[sealed]"),
        "{debug}"
    );
}

async fn a_confirmation_needs_its_token_and_spends_it(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    let action = create(store, new_action(acme.id, &s, HitlMode::Confirmation, 10)).await;
    let before = outbox_len(store).await;
    let mismatch = format!(
        "pending action {}: the confirmation token does not match",
        action.id
    );
    for token in [Some(&WRONG_TOKEN[..]), Some(&TOKEN[..31]), None] {
        let err = decide(
            store,
            acme.id,
            action.id,
            Decision::Confirm,
            token,
            Some("user-1"),
            at(11),
        )
        .await
        .unwrap_err();
        assert_conflict(err, "pending_action", "token", &mismatch);
    }
    // Refused as a whole: nothing changed, no event.
    assert_eq!(get(store, acme.id, action.id).await, action);
    assert_eq!(outbox_len(store).await, before);

    let confirmed = decide(
        store,
        acme.id,
        action.id,
        Decision::Confirm,
        Some(&TOKEN),
        Some("user-1"),
        at(12),
    )
    .await
    .unwrap();
    assert_eq!(
        confirmed,
        PendingAction {
            status: PendingStatus::Approved,
            confirmation_token_hash: None,
            confirmed_at: Some(at(12)),
            decided_by: Some("user-1".to_owned()),
            decided_at: Some(at(12)),
            comment: Some("confirm by user-1".to_owned()),
            updated_at: at(12),
            ..action.clone()
        }
    );
    assert_eq!(get(store, acme.id, action.id).await, confirmed);
    assert_eq!(outbox_len(store).await, before + 1);
    // The token worked once.
    let err = decide(
        store,
        acme.id,
        action.id,
        Decision::Confirm,
        Some(&TOKEN),
        Some("user-1"),
        at(13),
    )
    .await
    .unwrap_err();
    status_conflict(err, &action, "approved", "confirm");

    // Confirmation then approval: the user's confirmation hands it to the approver.
    let two_step = create(
        store,
        new_action(acme.id, &s, HitlMode::ConfirmationThenApproval, 20),
    )
    .await;
    let err = decide(
        store,
        acme.id,
        two_step.id,
        Decision::Approve,
        None,
        Some("admin-1"),
        at(21),
    )
    .await
    .unwrap_err();
    status_conflict(err, &two_step, "awaiting_confirmation", "approve");
    let confirmed = decide(
        store,
        acme.id,
        two_step.id,
        Decision::Confirm,
        Some(&TOKEN),
        Some("user-1"),
        at(22),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            confirmed.status,
            confirmed.confirmation_token_hash.as_deref(),
            confirmed.confirmed_at
        ),
        (PendingStatus::AwaitingApproval, None, Some(at(22)))
    );
    let err = decide(
        store,
        acme.id,
        two_step.id,
        Decision::Confirm,
        Some(&TOKEN),
        Some("user-1"),
        at(23),
    )
    .await
    .unwrap_err();
    status_conflict(err, &two_step, "awaiting_approval", "confirm");
    let approved = decide(
        store,
        acme.id,
        two_step.id,
        Decision::Approve,
        None,
        Some("admin-1"),
        at(24),
    )
    .await
    .unwrap();
    assert_eq!(
        approved,
        PendingAction {
            status: PendingStatus::Approved,
            decided_by: Some("admin-1".to_owned()),
            decided_at: Some(at(24)),
            comment: Some("approve by admin-1".to_owned()),
            updated_at: at(24),
            ..confirmed
        }
    );

    // Too late: the right token no longer confirms, and is not spent by trying.
    let late = create(store, new_action(acme.id, &s, HitlMode::Confirmation, 30)).await;
    let err = decide(
        store,
        acme.id,
        late.id,
        Decision::Confirm,
        Some(&TOKEN),
        Some("user-1"),
        late.expires_at,
    )
    .await
    .unwrap_err();
    assert_conflict(
        err,
        "pending_action",
        "expires_at",
        &format!("pending action {} has expired", late.id),
    );
    assert_eq!(get(store, acme.id, late.id).await, late);
}

async fn approve_reject_and_discard_apply_only_from_their_states(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;

    let rejected = create(store, new_action(acme.id, &s, HitlMode::Approval, 10)).await;
    let err = decide(
        store,
        acme.id,
        rejected.id,
        Decision::Discard,
        None,
        None,
        at(11),
    )
    .await
    .unwrap_err();
    status_conflict(err, &rejected, "awaiting_approval", "discard");
    let before = outbox_len(store).await;
    let done = decide(
        store,
        acme.id,
        rejected.id,
        Decision::Reject,
        None,
        Some("admin-1"),
        at(12),
    )
    .await
    .unwrap();
    assert_eq!(
        done,
        PendingAction {
            status: PendingStatus::Rejected,
            decided_by: Some("admin-1".to_owned()),
            decided_at: Some(at(12)),
            comment: Some("reject by admin-1".to_owned()),
            updated_at: at(12),
            ..rejected.clone()
        }
    );
    assert_eq!(outbox_len(store).await, before + 1);
    for (decision, name) in [
        (Decision::Approve, "approve"),
        (Decision::Reject, "reject"),
        (Decision::Expire, "expire"),
        (Decision::Discard, "discard"),
    ] {
        let err = decide(
            store,
            acme.id,
            rejected.id,
            decision,
            None,
            Some("admin-2"),
            rejected.expires_at,
        )
        .await
        .unwrap_err();
        status_conflict(err, &rejected, "rejected", name);
    }
    assert_eq!(get(store, acme.id, rejected.id).await, done);
    assert_eq!(outbox_len(store).await, before + 1);

    // Approval before the deadline only; then it can be discarded, not rejected.
    let action = create(store, new_action(acme.id, &s, HitlMode::Approval, 20)).await;
    let err = decide(
        store,
        acme.id,
        action.id,
        Decision::Approve,
        None,
        Some("admin-1"),
        action.expires_at,
    )
    .await
    .unwrap_err();
    assert_conflict(
        err,
        "pending_action",
        "expires_at",
        &format!("pending action {} has expired", action.id),
    );
    let granted = decide(
        store,
        acme.id,
        action.id,
        Decision::Approve,
        None,
        Some("admin-1"),
        at(21),
    )
    .await
    .unwrap();
    assert_eq!(granted.status, PendingStatus::Approved);
    for (decision, name) in [(Decision::Approve, "approve"), (Decision::Reject, "reject")] {
        let err = decide(
            store,
            acme.id,
            action.id,
            decision,
            None,
            Some("admin-2"),
            at(22),
        )
        .await
        .unwrap_err();
        status_conflict(err, &action, "approved", name);
    }
    // The system discards without naming anyone: who approved stays on record.
    let discarded = decide(
        store,
        acme.id,
        action.id,
        Decision::Discard,
        None,
        None,
        at(23),
    )
    .await
    .unwrap();
    assert_eq!(
        discarded,
        PendingAction {
            status: PendingStatus::Discarded,
            updated_at: at(23),
            ..granted
        }
    );
    assert!(
        claim(store, acme.id, action.id, "runner-a", at(24))
            .await
            .is_none()
    );

    // The user declines with the token, checked like a confirmation's; an approver rejects
    // without one. Either way the token is gone afterwards.
    let declined = create(store, new_action(acme.id, &s, HitlMode::Confirmation, 25)).await;
    let err = decide(
        store,
        acme.id,
        declined.id,
        Decision::Reject,
        Some(&WRONG_TOKEN),
        Some("user-1"),
        at(26),
    )
    .await
    .unwrap_err();
    assert_conflict(
        err,
        "pending_action",
        "token",
        &format!(
            "pending action {}: the confirmation token does not match",
            declined.id
        ),
    );
    assert_eq!(get(store, acme.id, declined.id).await, declined);
    let done = decide(
        store,
        acme.id,
        declined.id,
        Decision::Reject,
        Some(&TOKEN),
        Some("user-1"),
        at(27),
    )
    .await
    .unwrap();
    assert_eq!(
        (done.status, done.confirmation_token_hash),
        (PendingStatus::Rejected, None)
    );
    let unconfirmed = create(store, new_action(acme.id, &s, HitlMode::Confirmation, 30)).await;
    let refused = decide(
        store,
        acme.id,
        unconfirmed.id,
        Decision::Reject,
        None,
        Some("user-1"),
        at(31),
    )
    .await
    .unwrap();
    assert_eq!(
        (refused.status, refused.confirmation_token_hash),
        (PendingStatus::Rejected, None)
    );
}

async fn an_action_expires_only_once_its_deadline_passed(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    for mode in [HitlMode::Confirmation, HitlMode::Approval] {
        let action = create(store, new_action(acme.id, &s, mode, 10)).await;
        let before = outbox_len(store).await;
        let err = decide(
            store,
            acme.id,
            action.id,
            Decision::Expire,
            None,
            None,
            action.expires_at - Duration::microseconds(1),
        )
        .await
        .unwrap_err();
        assert_conflict(
            err,
            "pending_action",
            "expires_at",
            &format!("pending action {} has not expired", action.id),
        );
        assert_eq!(outbox_len(store).await, before);
        let expired = decide(
            store,
            acme.id,
            action.id,
            Decision::Expire,
            None,
            None,
            action.expires_at,
        )
        .await
        .unwrap();
        assert_eq!(
            expired,
            PendingAction {
                status: PendingStatus::Expired,
                confirmation_token_hash: None,
                updated_at: action.expires_at,
                ..action.clone()
            }
        );
        assert_eq!(outbox_len(store).await, before + 1);
        let err = decide(
            store,
            acme.id,
            action.id,
            Decision::Expire,
            None,
            None,
            at(10_000),
        )
        .await
        .unwrap_err();
        status_conflict(err, &action, "expired", "expire");
    }
    // An approved action is past waiting: it does not expire (the runtime runs or discards it).
    let granted = approved(store, acme.id, &s, 20).await;
    let err = decide(
        store,
        acme.id,
        granted.id,
        Decision::Expire,
        None,
        None,
        at(10_000),
    )
    .await
    .unwrap_err();
    status_conflict(err, &granted, "approved", "expire");
}

async fn concurrent_claims_hand_the_action_to_exactly_one_runner(db: TestDb) {
    let store = db.store.clone();
    // A second pool: the stand-in for another `heddle serve` process resuming the same work.
    let elsewhere = db.another_store().await;
    let acme = tenant(&*store, "acme").await;
    let s = session(&*store, acme.id).await;
    let waiting = create(&*store, new_action(acme.id, &s, HitlMode::Approval, 5)).await;
    assert!(
        claim(&*store, acme.id, waiting.id, "runner-x", at(6))
            .await
            .is_none()
    );
    assert_eq!(get(&*store, acme.id, waiting.id).await, waiting);
    let unknown = Uuid::now_v7();
    let err = store
        .claim_pending_action(acme.id, unknown, "runner-x", at(6), LEASE)
        .await
        .unwrap_err();
    assert_not_found(err, "pending_action", unknown);

    let action = approved(&*store, acme.id, &s, 10).await;
    for (round, when, attempts) in [(0, at(100), 1), (1, at(100) + LEASE + Duration::SECOND, 2)] {
        let claims: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 {
                    store.clone()
                } else {
                    elsewhere.clone()
                };
                let owner = format!("runner-{round}-{i}");
                tokio::spawn(async move {
                    let claimed = claim(&*store, acme.id, action.id, &owner, when).await;
                    (owner, claimed)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in claims {
            if let (owner, Some(claimed)) = task.await.unwrap() {
                winners.push((owner, claimed));
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (owner, claimed) = winners.pop().unwrap();
        assert_eq!(
            claimed,
            PendingAction {
                status: PendingStatus::Running,
                lease_owner: Some(owner.clone()),
                lease_expires_at: Some(when + LEASE),
                attempts,
                updated_at: when,
                ..action.clone()
            }
        );
        assert_eq!(get(&*elsewhere, acme.id, action.id).await, claimed);
        // While the lease lives nobody gets it, the holder included.
        for who in [owner.as_str(), "runner-late"] {
            assert!(
                claim(&*store, acme.id, action.id, who, when + LEASE)
                    .await
                    .is_none()
            );
        }
    }
}

async fn an_expired_lease_moves_to_the_next_runner_and_fences_the_first(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    let action = approved(store, acme.id, &s, 10).await;
    let first = claim(store, acme.id, action.id, "runner-a", at(100))
        .await
        .unwrap();
    assert_eq!(first.lease_expires_at, Some(at(100) + LEASE));
    assert!(
        claim(store, acme.id, action.id, "runner-b", at(150))
            .await
            .is_none()
    );
    // The holder renews; another runner cannot.
    let renewed = store
        .renew_pending_action_lease(acme.id, action.id, "runner-a", at(150), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renewed.lease_expires_at, renewed.attempts),
        (Some(at(150) + LEASE), 1)
    );
    assert!(
        store
            .renew_pending_action_lease(acme.id, action.id, "runner-b", at(151), LEASE)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        claim(store, acme.id, action.id, "runner-b", at(170))
            .await
            .is_none()
    );

    // runner-a stops renewing (its process died, or it hangs): runner-b takes over.
    let taken = claim(store, acme.id, action.id, "runner-b", at(211))
        .await
        .unwrap();
    assert_eq!(
        (taken.lease_owner.as_deref(), taken.attempts),
        (Some("runner-b"), 2)
    );
    let before = outbox_len(store).await;
    // runner-a comes back: it can neither renew nor record a result.
    assert!(
        store
            .renew_pending_action_lease(acme.id, action.id, "runner-a", at(212), LEASE)
            .await
            .unwrap()
            .is_none()
    );
    let err = finish(
        store,
        acme.id,
        action.id,
        "runner-a",
        true,
        json!({"by": "a"}),
        at(213),
    )
    .await
    .unwrap_err();
    assert_conflict(
        err,
        "pending_action",
        "lease_owner",
        &format!(
            "pending action {} is no longer leased to `runner-a`",
            action.id
        ),
    );
    assert_eq!(get(store, acme.id, action.id).await, taken);
    assert_eq!(outbox_len(store).await, before);
    let done = finish(
        store,
        acme.id,
        action.id,
        "runner-b",
        true,
        json!({"by": "b"}),
        at(214),
    )
    .await
    .unwrap();
    assert_eq!(
        (done.status, done.result),
        (PendingStatus::Completed, Some(json!({"by": "b"})))
    );
    assert_eq!(outbox_len(store).await, before + 1);
}

async fn finishing_stores_the_result_once(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;

    let action = approved(store, acme.id, &s, 10).await;
    let err = finish(
        store,
        acme.id,
        action.id,
        "runner-a",
        true,
        json!({}),
        at(99),
    )
    .await
    .unwrap_err();
    assert_conflict(
        err,
        "pending_action",
        "status",
        &format!(
            "pending action {} is approved, so it cannot finish",
            action.id
        ),
    );
    let claimed = claim(store, acme.id, action.id, "runner-a", at(100))
        .await
        .unwrap();
    let before = outbox_len(store).await;
    let result = json!({"record": {"id": "001Hn0000000001IAA", "action": "update"}});
    let done = finish(
        store,
        acme.id,
        action.id,
        "runner-a",
        true,
        result.clone(),
        at(110),
    )
    .await
    .unwrap();
    assert_eq!(
        done,
        PendingAction {
            status: PendingStatus::Completed,
            result: Some(result),
            completed_at: Some(at(110)),
            updated_at: at(110),
            ..claimed
        }
    );
    assert_eq!(get(store, acme.id, action.id).await, done);
    assert_eq!(outbox_len(store).await, before + 1);
    let err = finish(
        store,
        acme.id,
        action.id,
        "runner-a",
        false,
        json!({"error": "again"}),
        at(111),
    )
    .await
    .unwrap_err();
    assert_conflict(
        err,
        "pending_action",
        "status",
        &format!(
            "pending action {} is completed, so it cannot finish",
            action.id
        ),
    );
    assert!(
        claim(store, acme.id, action.id, "runner-b", at(10_000))
            .await
            .is_none()
    );
    assert_eq!(get(store, acme.id, action.id).await, done);

    // A failure is recorded as such; a runner that overran its lease (nobody took over)
    // still records what it did.
    let failing = approved(store, acme.id, &s, 20).await;
    claim(store, acme.id, failing.id, "runner-a", at(100))
        .await
        .unwrap();
    let failed = finish(
        store,
        acme.id,
        failing.id,
        "runner-a",
        false,
        json!({"error": "upstream refused"}),
        at(100) + LEASE * 10,
    )
    .await
    .unwrap();
    assert_eq!(
        (failed.status, failed.result, failed.completed_at),
        (
            PendingStatus::Failed,
            Some(json!({"error": "upstream refused"})),
            Some(at(100) + LEASE * 10)
        )
    );
}

async fn due_actions_are_the_approved_the_abandoned_and_the_overdue(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let s = session(store, acme.id).await;
    let o = session(store, other.id).await;
    let now = at(5_000);

    let approved_first = approved(store, acme.id, &s, 10).await;
    let live = approved(store, acme.id, &s, 20).await;
    claim(store, acme.id, live.id, "runner-a", now - Duration::SECOND)
        .await
        .unwrap();
    let abandoned = approved(store, other.id, &o, 30).await;
    claim(store, other.id, abandoned.id, "runner-dead", at(100))
        .await
        .unwrap();
    let overdue = create(store, new_action(acme.id, &s, HitlMode::Confirmation, 40)).await;
    let mut fresh_input = new_action(acme.id, &s, HitlMode::Approval, 50);
    fresh_input.expires_at = at(10_000);
    let fresh = create(store, fresh_input).await;
    let completed = approved(store, acme.id, &s, 60).await;
    claim(store, acme.id, completed.id, "runner-a", at(100))
        .await
        .unwrap();
    finish(
        store,
        acme.id,
        completed.id,
        "runner-a",
        true,
        json!({}),
        at(101),
    )
    .await
    .unwrap();
    let rejected = create(store, new_action(acme.id, &s, HitlMode::Approval, 70)).await;
    decide(
        store,
        acme.id,
        rejected.id,
        Decision::Reject,
        None,
        Some("admin-1"),
        at(71),
    )
    .await
    .unwrap();
    let approved_last = approved(store, other.id, &o, 80).await;

    let due = |when: OffsetDateTime, limit: u32| async move {
        store
            .due_pending_actions(when, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|action| action.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        due(now, 100).await,
        vec![
            approved_first.id,
            abandoned.id,
            overdue.id,
            approved_last.id
        ]
    );
    assert_eq!(due(now, 2).await, vec![approved_first.id, abandoned.id]);
    // Waiting is overdue from its deadline on.
    assert!(due(overdue.expires_at, 100).await.contains(&overdue.id));
    let just_before = overdue.expires_at - Duration::microseconds(1);
    assert!(!due(just_before, 100).await.contains(&overdue.id));
    // The sweep expires the overdue one; the live lease becomes due once it runs out.
    decide(
        store,
        acme.id,
        overdue.id,
        Decision::Expire,
        None,
        None,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        due(now + LEASE, 100).await,
        vec![approved_first.id, live.id, abandoned.id, approved_last.id]
    );
    assert!(!due(at(20_000), 100).await.contains(&completed.id));
    assert!(due(at(20_000), 100).await.contains(&fresh.id));
}

async fn actions_are_listed_newest_first_by_filter_and_page(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let s = session(store, acme.id).await;
    let t = session(store, acme.id).await;
    let mut inputs = Vec::new();
    for (i, (sess, capability, requester)) in [
        (&s, "update_account", "user-1"),
        (&s, "delete_account", "user-1"),
        (&t, "update_account", "user-2"),
        (&t, "update_account", "user-1"),
        (&s, "update_account", "user-2"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut input = new_action(
            acme.id,
            sess,
            HitlMode::Approval,
            10 * i64::try_from(i).unwrap(),
        );
        input.capability = capability.to_owned();
        input.requested_by_id = requester.to_owned();
        inputs.push(create(store, input).await);
    }
    decide(
        store,
        acme.id,
        inputs[3].id,
        Decision::Approve,
        None,
        Some("admin-1"),
        at(100),
    )
    .await
    .unwrap();
    let newest_first = |picks: &[usize]| {
        picks
            .iter()
            .rev()
            .map(|&i| inputs[i].id)
            .collect::<Vec<_>>()
    };
    let list = async |filter: PendingFilter| {
        store
            .list_pending_actions(acme.id, filter, PageRequest::first(50))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|action| action.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(PendingFilter::default()).await,
        newest_first(&[0, 1, 2, 3, 4])
    );
    assert_eq!(
        list(PendingFilter {
            status: Some(PendingStatus::AwaitingApproval),
            ..PendingFilter::default()
        })
        .await,
        newest_first(&[0, 1, 2, 4])
    );
    assert_eq!(
        list(PendingFilter {
            status: Some(PendingStatus::Approved),
            ..PendingFilter::default()
        })
        .await,
        newest_first(&[3])
    );
    assert_eq!(
        list(PendingFilter {
            session_id: Some(t.id),
            ..PendingFilter::default()
        })
        .await,
        newest_first(&[2, 3])
    );
    assert_eq!(
        list(PendingFilter {
            capability: Some("delete_account".to_owned()),
            ..PendingFilter::default()
        })
        .await,
        newest_first(&[1])
    );
    assert_eq!(
        list(PendingFilter {
            requested_by: Some(("user".to_owned(), "user-2".to_owned())),
            ..PendingFilter::default()
        })
        .await,
        newest_first(&[2, 4])
    );
    assert_eq!(
        list(PendingFilter {
            requested_by: Some(("api_key".to_owned(), "user-2".to_owned())),
            ..PendingFilter::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        list(PendingFilter {
            status: Some(PendingStatus::AwaitingApproval),
            session_id: Some(s.id),
            capability: Some("update_account".to_owned()),
            requested_by: Some(("user".to_owned(), "user-1".to_owned())),
        })
        .await,
        newest_first(&[0])
    );

    // Pages of two follow each other without gaps or repeats.
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_pending_actions(
                acme.id,
                PendingFilter::default(),
                PageRequest { limit: 2, after },
            )
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|action| action.id));
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first(&[0, 1, 2, 3, 4]));
}

async fn actions_stay_in_their_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let s = session(store, acme.id).await;
    let waiting = create(store, new_action(acme.id, &s, HitlMode::Confirmation, 10)).await;
    let granted = approved(store, acme.id, &s, 20).await;
    let before = outbox_len(store).await;

    assert_not_found(
        store
            .get_pending_action(other.id, waiting.id)
            .await
            .unwrap_err(),
        "pending_action",
        waiting.id,
    );
    for decision in [Decision::Confirm, Decision::Reject, Decision::Expire] {
        let err = decide(
            store,
            other.id,
            waiting.id,
            decision,
            Some(&TOKEN),
            Some("mallory"),
            at(10_000),
        )
        .await
        .unwrap_err();
        assert_not_found(err, "pending_action", waiting.id);
    }
    assert_not_found(
        store
            .claim_pending_action(other.id, granted.id, "mallory", at(30), LEASE)
            .await
            .unwrap_err(),
        "pending_action",
        granted.id,
    );
    let running = claim(store, acme.id, granted.id, "runner-a", at(30))
        .await
        .unwrap();
    assert_not_found(
        store
            .renew_pending_action_lease(other.id, granted.id, "runner-a", at(31), LEASE)
            .await
            .unwrap_err(),
        "pending_action",
        granted.id,
    );
    assert_not_found(
        finish(
            store,
            other.id,
            granted.id,
            "runner-a",
            true,
            json!({}),
            at(32),
        )
        .await
        .unwrap_err(),
        "pending_action",
        granted.id,
    );
    assert!(
        store
            .list_pending_actions(other.id, PendingFilter::default(), PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(get(store, acme.id, waiting.id).await, waiting);
    assert_eq!(get(store, acme.id, granted.id).await, running);
    assert_eq!(outbox_len(store).await, before);
}

fn effect(action: &str, object: &str, id: &heddle_records::RecordId) -> Value {
    json!({"action": action, "object": object, "id": id.as_str()})
}

#[track_caller]
fn assert_already_applied<T: std::fmt::Debug>(
    outcome: Result<T, RecordWriteError>,
    expected: &Value,
) {
    match outcome {
        Err(RecordWriteError::AlreadyApplied { result }) => assert_eq!(&result, expected),
        other => panic!("expected already applied, got {other:?}"),
    }
}

fn account(n: u64, name: &str) -> Record {
    record("Account", id("001", n), "rep", &[("Name", text(name))])
}

async fn an_idempotent_record_write_applies_once(db: TestDb) {
    let store = &*db.store;
    let t = team(store).await;
    let other = tenant(store, "other").await;
    let before = outbox_len(store).await;

    // Create: a retry (which picks a new record id) reports the first write.
    let key = "pending_action:create";
    let created = store
        .create_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            account(50, "Initech"),
            at(2),
            Some(key),
            event(t.tenant_id, "record.create"),
        )
        .await
        .unwrap();
    let first = effect("create", "Account", &created.id);
    assert_eq!(
        store.get_action_effect(t.tenant_id, key).await.unwrap(),
        Some(first.clone())
    );
    let retry = store
        .create_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            account(51, "Initech"),
            at(3),
            Some(key),
            event(t.tenant_id, "record.create"),
        )
        .await;
    assert_already_applied(retry, &first);
    assert_eq!(read(store, t.tenant_id, &t.org, &id("001", 51)).await, None);
    assert_eq!(
        read(store, t.tenant_id, &t.org, &created.id).await,
        Some(created.clone())
    );
    assert_eq!(outbox_len(store).await, before + 1);

    // Update: a later change stays; the retried one does not apply again.
    let update = async |name: &str, key: Option<&str>| {
        store
            .update_record(
                t.tenant_id,
                &t.org,
                &t.rep,
                &t.mine,
                changes(&[("Name", text(name))]),
                at(4),
                key,
                event(t.tenant_id, "record.update"),
            )
            .await
    };
    update("First", Some("pending_action:update"))
        .await
        .unwrap();
    update("Second", None).await.unwrap();
    assert_already_applied(
        update("First", Some("pending_action:update")).await,
        &effect("update", "Account", &t.mine),
    );
    let stored = read(store, t.tenant_id, &t.org, &t.mine).await.unwrap();
    assert_eq!(stored.fields.get("Name"), Some(&text("Second")));

    // Delete: the retry is already applied, not "not found".
    let delete = async || {
        store
            .delete_record(
                t.tenant_id,
                &t.org,
                &t.rep,
                &created.id,
                at(5),
                Some("pending_action:delete"),
                event(t.tenant_id, "record.delete"),
            )
            .await
    };
    delete().await.unwrap();
    assert_already_applied(delete().await, &effect("delete", "Account", &created.id));
    assert_eq!(read(store, t.tenant_id, &t.org, &created.id).await, None);
    assert_eq!(outbox_len(store).await, before + 4);

    // A refused write stores no key, so the key still works for a write that is allowed.
    let refused_key = Some("pending_action:refused");
    let refused = store
        .update_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            &t.theirs,
            changes(&[("Name", text("Mine now"))]),
            at(6),
            refused_key,
            event(t.tenant_id, "record.update"),
        )
        .await;
    assert!(
        matches!(refused, Err(RecordWriteError::NotFound { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store
            .get_action_effect(t.tenant_id, "pending_action:refused")
            .await
            .unwrap(),
        None
    );
    store
        .update_record(
            t.tenant_id,
            &t.org,
            &t.vp,
            &t.theirs,
            changes(&[("Name", text("Renamed by the vp"))]),
            at(7),
            refused_key,
            event(t.tenant_id, "record.update"),
        )
        .await
        .unwrap();
    assert_eq!(outbox_len(store).await, before + 5);
    // Keys belong to their tenant.
    assert_eq!(store.get_action_effect(other.id, key).await.unwrap(), None);
}

async fn concurrent_idempotent_writes_from_two_pools_write_once(db: TestDb) {
    let store = db.store.clone();
    let elsewhere = db.another_store().await;
    let t = std::sync::Arc::new(team(&*store).await);
    let before = outbox_len(&*store).await;

    let creates: Vec<_> = (0..8_u64)
        .map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                elsewhere.clone()
            };
            let t = t.clone();
            tokio::spawn(async move {
                store
                    .create_record(
                        t.tenant_id,
                        &t.org,
                        &t.rep,
                        account(100 + i, &format!("attempt {i}")),
                        at(2),
                        Some("resume:create"),
                        event(t.tenant_id, "record.create"),
                    )
                    .await
            })
        })
        .collect();
    let mut written = Vec::new();
    let mut repeats = Vec::new();
    for task in creates {
        match task.await.unwrap() {
            Ok(record) => written.push(record),
            Err(RecordWriteError::AlreadyApplied { result }) => repeats.push(result),
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(written.len(), 1, "{written:?}");
    let winner = written.pop().unwrap();
    let first = effect("create", "Account", &winner.id);
    assert_eq!(repeats, vec![first.clone(); 7]);
    for i in 0..8 {
        let candidate = id("001", 100 + i);
        let found = read(&*store, t.tenant_id, &t.org, &candidate).await;
        assert_eq!(found.is_some(), candidate == winner.id, "{candidate}");
    }
    assert_eq!(
        store
            .get_action_effect(t.tenant_id, "resume:create")
            .await
            .unwrap(),
        Some(first)
    );

    let updates: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                elsewhere.clone()
            };
            let t = t.clone();
            tokio::spawn(async move {
                store
                    .update_record(
                        t.tenant_id,
                        &t.org,
                        &t.rep,
                        &t.mine,
                        changes(&[("Name", text(&format!("attempt {i}")))]),
                        at(3),
                        Some("resume:update"),
                        event(t.tenant_id, "record.update"),
                    )
                    .await
            })
        })
        .collect();
    let mut written = Vec::new();
    let mut repeats = 0;
    for task in updates {
        match task.await.unwrap() {
            Ok(record) => written.push(record),
            Err(RecordWriteError::AlreadyApplied { result }) => {
                assert_eq!(result, effect("update", "Account", &t.mine));
                repeats += 1;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((written.len(), repeats), (1, 7));
    let stored = read(&*store, t.tenant_id, &t.org, &t.mine).await.unwrap();
    assert_eq!(stored.fields.get("Name"), written[0].fields.get("Name"));
    // One event per applied write, none for the repeats.
    assert_eq!(outbox_len(&*store).await, before + 2);
}

async fn action_effects_cannot_be_changed_or_deleted(db: TestDb) {
    let store = &*db.store;
    let t = team(store).await;
    store
        .create_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            account(60, "Globex"),
            at(2),
            Some("resume:create"),
            event(t.tenant_id, "record.create"),
        )
        .await
        .unwrap();
    let mut statements = vec![
        "UPDATE action_effects SET result = '{}'",
        "UPDATE action_effects SET idempotency_key = 'other'",
        "DELETE FROM action_effects",
    ];
    if db.engine() == "postgres" {
        statements.push("TRUNCATE action_effects");
    }
    for sql in statements {
        let err = db.execute_raw(sql).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "`{sql}` must be refused: {err}"
        );
    }
    assert_eq!(
        store
            .get_action_effect(t.tenant_id, "resume:create")
            .await
            .unwrap(),
        Some(effect("create", "Account", &id("001", 60)))
    );
}

/// The least-privilege grants of `src/postgres/app_role.sql` cover pending actions and
/// idempotent record writes (its advisory lock included), and do not let the role erase
/// pending actions or rewrite the effect ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_runs_pending_actions() {
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

    let outcome = tokio::spawn(run_pending_actions_as(owner.clone().username(&role))).await;

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

async fn run_pending_actions_as(options: PgConnectOptions) {
    let pg = PgStore::connect_with_options(options.clone())
        .await
        .unwrap();
    let store: &dyn Store = &pg;
    let t = team(store).await;
    let s = session(store, t.tenant_id).await;
    let action = create(
        store,
        new_action(t.tenant_id, &s, HitlMode::ConfirmationThenApproval, 10),
    )
    .await;
    decide(
        store,
        t.tenant_id,
        action.id,
        Decision::Confirm,
        Some(&TOKEN),
        Some("user-1"),
        at(11),
    )
    .await
    .unwrap();
    decide(
        store,
        t.tenant_id,
        action.id,
        Decision::Approve,
        None,
        Some("admin-1"),
        at(12),
    )
    .await
    .unwrap();
    assert_eq!(
        store.due_pending_actions(at(13), 10).await.unwrap().len(),
        1
    );
    claim(store, t.tenant_id, action.id, "runner-a", at(13))
        .await
        .unwrap();
    store
        .renew_pending_action_lease(t.tenant_id, action.id, "runner-a", at(14), LEASE)
        .await
        .unwrap()
        .unwrap();
    let key = format!("pending_action:{}", action.id);
    let update = async || {
        store
            .update_record(
                t.tenant_id,
                &t.org,
                &t.rep,
                &t.mine,
                changes(&[("Name", text("Approved name"))]),
                at(15),
                Some(&key),
                event(t.tenant_id, "record.update"),
            )
            .await
    };
    update().await.unwrap();
    let result = store
        .get_action_effect(t.tenant_id, &key)
        .await
        .unwrap()
        .unwrap();
    assert_already_applied(update().await, &result);
    finish(
        store,
        t.tenant_id,
        action.id,
        "runner-a",
        true,
        result,
        at(16),
    )
    .await
    .unwrap();
    assert_eq!(
        store
            .list_pending_actions(
                t.tenant_id,
                PendingFilter {
                    status: Some(PendingStatus::Completed),
                    ..PendingFilter::default()
                },
                PageRequest::first(5)
            )
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    pg.close().await;

    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    for sql in [
        "DELETE FROM pending_actions",
        "UPDATE action_effects SET result = '{}'",
        "DELETE FROM action_effects",
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
