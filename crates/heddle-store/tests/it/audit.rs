//! The audit log's storage: the outbox written with every change, sequencing (append and
//! drain, also from several processes at once), queries, retention, checkpoints, and the
//! database triggers that keep the log append-only.

use std::collections::{BTreeMap, BTreeSet};

use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::{
    AuditFilter, AuditHead, AuditSequencer, Bootstrap, NewAccessToken, NewApiKey, NewAuditEvent,
    NewUser, SequencedLeaf, SharedStore, Store, StoreError, StoredAuditEvent, StoredCheckpoint,
    UserUpdate,
};
use heddle_types::{AccessTokenId, ApiKeyId, PolicyId, Role, TenantId, UserId};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::fixtures::{
    assert_conflict, assert_not_found, at, event, new_access_token, new_api_key, new_policy,
    new_tenant, new_user, tenant, user,
};
use crate::harness::{TestDb, create_schema, drop_schema, postgres_admin_options};
use crate::sequencer::{GENESIS_CHAIN, TestSequencer, test_chain_hash, test_leaf_hash};

conformance_tests!(
    every_change_writes_exactly_one_outbox_event,
    failed_changes_write_no_event,
    a_change_whose_event_cannot_be_stored_is_rolled_back,
    append_drains_the_tenant_outbox_first,
    seqs_are_contiguous_per_tenant_and_returned_in_input_order,
    sequencer_failure_rolls_back_the_whole_batch,
    a_tenant_that_cannot_be_sequenced_does_not_hold_up_the_others,
    concurrent_drains_and_appends_sequence_every_event_once,
    list_filters_combine,
    triggers_refuse_rewrites_and_deletes,
    purge_keeps_leaves_and_hides_payloads,
    checkpoints_insert_list_latest_and_conflict,
    audit_tenants_lists_logs_and_pending_outboxes,
);

/// Refuses every batch, as a sequencer meeting a corrupt head would.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefusingSequencer;

impl AuditSequencer for RefusingSequencer {
    fn sequence(
        &self,
        _head: Option<&AuditHead>,
        _events: &[&[u8]],
    ) -> Result<(AuditHead, Vec<SequencedLeaf>), String> {
        Err("refused: frontier does not match `tree_size`".to_owned())
    }
}

fn everything() -> AuditFilter {
    AuditFilter {
        include_purged: true,
        ..AuditFilter::default()
    }
}

async fn outbox_len(store: &dyn Store) -> u64 {
    store.audit_outbox_len().await.unwrap()
}

async fn drain(store: &dyn Store) -> u64 {
    store
        .drain_audit_outbox(&TestSequencer, u32::MAX)
        .await
        .unwrap()
}

async fn seqs(store: &dyn Store, tenant_id: TenantId, filter: AuditFilter) -> Vec<u64> {
    store
        .list_audit_events(tenant_id, &filter)
        .await
        .unwrap()
        .iter()
        .map(|event| event.seq)
        .collect()
}

/// Checks that `events` are the whole log from seq 0, with leaf and chain hashes as the test
/// sequencer computes them (so nothing was skipped, repeated or reordered).
#[track_caller]
fn assert_log_verifies(events: &[StoredAuditEvent]) {
    let mut chain = GENESIS_CHAIN.to_vec();
    for (expected_seq, event) in (0..).zip(events) {
        assert_eq!(event.seq, expected_seq, "gap or duplicate in {events:?}");
        if let Some(canonical) = &event.canonical {
            assert_eq!(event.leaf_hash, test_leaf_hash(event.seq, canonical));
        }
        chain = test_chain_hash(&chain, &event.leaf_hash);
        assert_eq!(event.chain_hash, chain, "chain broken at seq {}", event.seq);
    }
}

fn actions(events: &[StoredAuditEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event.action.as_deref().unwrap_or("<purged>"))
        .collect()
}

async fn every_change_writes_exactly_one_outbox_event(db: TestDb) {
    let store = &*db.store;
    let mut written: BTreeMap<TenantId, Vec<NewAuditEvent>> = BTreeMap::new();
    let mut expect_one_more = async |audit: &NewAuditEvent| {
        written
            .entry(audit.tenant_id)
            .or_default()
            .push(audit.clone());
        let total: usize = written.values().map(Vec::len).sum();
        assert_eq!(outbox_len(store).await, u64::try_from(total).unwrap());
    };
    assert_eq!(outbox_len(store).await, 0);

    let bootstrap = Bootstrap {
        tenant: new_tenant("operator"),
        admin: new_user(TenantId::new(), "root@example.com", Role::Admin),
    };
    let audit = event(bootstrap.tenant.id, "tenant.bootstrap");
    assert!(
        store
            .bootstrap_if_empty(bootstrap, audit.clone())
            .await
            .unwrap()
    );
    expect_one_more(&audit).await;

    let acme_input = new_tenant("acme");
    let audit = event(acme_input.id, "tenant.create");
    let acme = store
        .create_tenant(acme_input, audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let beta_input = new_tenant("beta");
    let audit = event(beta_input.id, "tenant.create");
    let beta_admin = new_user(beta_input.id, "admin@beta.example", Role::Admin);
    store
        .create_tenant_with_admin(beta_input, beta_admin, audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let audit = event(acme.id, "user.create");
    let dave = store
        .create_user(
            new_user(acme.id, "dave@example.com", Role::Viewer),
            audit.clone(),
        )
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let audit = event(acme.id, "user.update");
    let disable = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    store
        .update_user(acme.id, dave.id, disable, audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let audit = event(acme.id, "api_key.create");
    let key = store
        .create_api_key(new_api_key(acme.id, "k1"), audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    // Revoking twice records both attempts; the key keeps its first revocation time.
    for second in [10, 20] {
        let audit = event(acme.id, "api_key.revoke");
        let revoked = store
            .revoke_api_key(acme.id, key.id, at(second), audit.clone())
            .await
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(at(10)));
        expect_one_more(&audit).await;
    }

    let audit = event(acme.id, "user.create");
    let erin = store
        .create_user(
            new_user(acme.id, "erin@example.com", Role::Viewer),
            audit.clone(),
        )
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let audit = event(acme.id, "access_token.create");
    let token = store
        .create_access_token(new_access_token(acme.id, erin.id, "t1"), audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let audit = event(acme.id, "access_token.revoke");
    store
        .revoke_access_token(token.id, at(30), audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let audit = event(acme.id, "policy.create");
    let policy = store
        .create_policy(new_policy(acme.id, "p"), audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    let audit = event(acme.id, "policy.delete");
    store
        .delete_policy(acme.id, policy.id, audit.clone())
        .await
        .unwrap();
    expect_one_more(&audit).await;

    // Recording use is not a change anyone audits.
    store.touch_api_key(key.id, at(40)).await.unwrap();
    let total: usize = written.values().map(Vec::len).sum();
    assert_eq!(outbox_len(store).await, u64::try_from(total).unwrap());

    assert_eq!(drain(store).await, u64::try_from(total).unwrap());
    assert_eq!(outbox_len(store).await, 0);
    assert_eq!(drain(store).await, 0);
    for (tenant_id, expected) in &written {
        let stored = store
            .list_audit_events(*tenant_id, &everything())
            .await
            .unwrap();
        assert_log_verifies(&stored);
        let expected_actions: Vec<&str> = expected.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions(&stored), expected_actions);
        for (stored, expected) in stored.iter().zip(expected) {
            assert_eq!(stored.canonical.as_ref(), Some(&expected.canonical));
            assert_eq!(stored.tenant_id, *tenant_id);
            assert_eq!(stored.occurred_at, Some(expected.occurred_at));
            assert_eq!(stored.actor_kind.as_deref(), Some("user"));
            assert_eq!(stored.actor_id.as_deref(), Some("actor-1"));
            assert_eq!(stored.outcome.as_deref(), Some("success"));
        }
    }
}

async fn failed_changes_write_no_event(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    let key = store
        .create_api_key(new_api_key(acme.id, "k1"), event(acme.id, "api_key.create"))
        .await
        .unwrap();
    store
        .create_access_token(
            new_access_token(acme.id, erin.id, "t1"),
            event(acme.id, "access_token.create"),
        )
        .await
        .unwrap();
    store
        .create_policy(new_policy(acme.id, "p"), event(acme.id, "policy.create"))
        .await
        .unwrap();
    let logged = drain(store).await;
    assert_eq!(logged, 5);

    let missing_tenant = TenantId::new();
    let ev = |action: &str| event(acme.id, action);
    let failures: Vec<StoreError> = vec![
        store
            .create_tenant(new_tenant("acme"), ev("tenant.create"))
            .await
            .unwrap_err(),
        store
            .create_tenant_with_admin(
                new_tenant("acme"),
                new_user(acme.id, "a@example.com", Role::Admin),
                ev("tenant.create"),
            )
            .await
            .unwrap_err(),
        // The tenant insert succeeds, the admin insert fails: the tenant and the event roll
        // back together.
        store
            .create_tenant_with_admin(
                new_tenant("fresh"),
                NewUser {
                    id: erin.id,
                    ..new_user(acme.id, "b@example.com", Role::Admin)
                },
                ev("tenant.create"),
            )
            .await
            .unwrap_err(),
        store
            .create_user(new_user(acme.id, "ERIN@example.com", Role::Viewer), ev("u"))
            .await
            .unwrap_err(),
        store
            .create_user(
                new_user(missing_tenant, "x@example.com", Role::Viewer),
                ev("u"),
            )
            .await
            .unwrap_err(),
        store
            .update_user(acme.id, UserId::new(), UserUpdate::default(), ev("u"))
            .await
            .unwrap_err(),
        store
            .create_api_key(new_api_key(acme.id, "k1"), ev("k"))
            .await
            .unwrap_err(),
        store
            .create_api_key(new_api_key(missing_tenant, "k2"), ev("k"))
            .await
            .unwrap_err(),
        store
            .create_api_key(
                NewApiKey {
                    created_by: Some(UserId::new()),
                    ..new_api_key(acme.id, "k3")
                },
                ev("k"),
            )
            .await
            .unwrap_err(),
        store
            .revoke_api_key(acme.id, ApiKeyId::new(), at(1), ev("k"))
            .await
            .unwrap_err(),
        // Another tenant's key is not found either.
        store
            .revoke_api_key(TenantId::new(), key.id, at(1), ev("k"))
            .await
            .unwrap_err(),
        store
            .create_access_token(new_access_token(acme.id, erin.id, "t1"), ev("t"))
            .await
            .unwrap_err(),
        store
            .create_access_token(
                NewAccessToken {
                    user_id: UserId::new(),
                    ..new_access_token(acme.id, erin.id, "t2")
                },
                ev("t"),
            )
            .await
            .unwrap_err(),
        store
            .revoke_access_token(AccessTokenId::new(), at(1), ev("t"))
            .await
            .unwrap_err(),
        store
            .create_policy(new_policy(acme.id, "p"), ev("p"))
            .await
            .unwrap_err(),
        store
            .delete_policy(acme.id, PolicyId::new(), ev("p"))
            .await
            .unwrap_err(),
    ];
    for failure in &failures {
        assert!(
            matches!(
                failure,
                StoreError::Conflict { .. } | StoreError::NotFound { .. }
            ),
            "{failure:?}"
        );
    }
    assert_eq!(store.find_tenant_by_slug("fresh").await.unwrap(), None);

    // Bootstrap does nothing, and says nothing, once a tenant exists.
    let bootstrap = Bootstrap {
        tenant: new_tenant("operator"),
        admin: new_user(TenantId::new(), "root@example.com", Role::Admin),
    };
    assert!(
        !store
            .bootstrap_if_empty(bootstrap, ev("tenant.bootstrap"))
            .await
            .unwrap()
    );

    assert_eq!(outbox_len(store).await, 0);
    assert_eq!(drain(store).await, 0);
    let stored = store
        .list_audit_events(acme.id, &everything())
        .await
        .unwrap();
    assert_eq!(u64::try_from(stored.len()).unwrap(), logged);
}

/// The event goes in the change's own transaction: when the event cannot be stored (its
/// tenant does not exist), the change is undone too.
async fn a_change_whose_event_cannot_be_stored_is_rolled_back(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    store
        .create_access_token(
            new_access_token(acme.id, erin.id, "t1"),
            event(acme.id, "access_token.create"),
        )
        .await
        .unwrap();
    let before = outbox_len(store).await;
    let nowhere = TenantId::new();

    let input = new_tenant("ghost");
    assert_not_found(
        store
            .create_tenant(input, event(nowhere, "tenant.create"))
            .await
            .unwrap_err(),
        "tenant",
        nowhere,
    );
    assert_eq!(store.find_tenant_by_slug("ghost").await.unwrap(), None);

    let input = new_user(acme.id, "ghost@example.com", Role::Viewer);
    assert_not_found(
        store
            .create_user(input, event(nowhere, "user.create"))
            .await
            .unwrap_err(),
        "tenant",
        nowhere,
    );
    assert_eq!(
        store
            .find_user_credentials(acme.id, "ghost@example.com")
            .await
            .unwrap(),
        None
    );

    let disable = UserUpdate {
        disabled: Some(true),
        updated_at: Some(at(100)),
        ..UserUpdate::default()
    };
    assert_not_found(
        store
            .update_user(acme.id, erin.id, disable, event(nowhere, "user.update"))
            .await
            .unwrap_err(),
        "tenant",
        nowhere,
    );
    assert!(!store.get_user(acme.id, erin.id).await.unwrap().disabled);
    let (token, _) = store
        .find_access_token_by_lookup("t1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.revoked_at, None, "token revocation rolled back too");

    let policy = new_policy(acme.id, "p");
    let version = store.policy_version(acme.id).await.unwrap();
    store
        .create_policy(policy, event(nowhere, "policy.create"))
        .await
        .unwrap_err();
    assert_eq!(store.policy_version(acme.id).await.unwrap(), version);
    assert!(store.list_policies(acme.id).await.unwrap().is_empty());

    assert_eq!(outbox_len(store).await, before);
}

async fn append_drains_the_tenant_outbox_first(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    user(store, acme.id, "erin@example.com", Role::Viewer).await;
    assert_eq!(outbox_len(store).await, 3);

    let appended = [
        event(acme.id, "decision.allow"),
        event(acme.id, "decision.deny"),
    ];
    let seqs_given = store
        .append_audit(appended.to_vec(), &TestSequencer)
        .await
        .unwrap();
    assert_eq!(seqs_given, [2, 3]);
    // Only acme's pending rows were drained.
    assert_eq!(outbox_len(store).await, 1);
    let stored = store
        .list_audit_events(acme.id, &everything())
        .await
        .unwrap();
    assert_log_verifies(&stored);
    assert_eq!(
        actions(&stored),
        [
            "tenant.create",
            "user.create",
            "decision.allow",
            "decision.deny"
        ]
    );
    assert_eq!(stored[2].canonical.as_ref(), Some(&appended[0].canonical));
    assert_eq!(stored[3].canonical.as_ref(), Some(&appended[1].canonical));

    let seqs_given = store
        .append_audit(vec![event(other.id, "decision.allow")], &TestSequencer)
        .await
        .unwrap();
    assert_eq!(seqs_given, [1]);
    assert_eq!(outbox_len(store).await, 0);
    assert_eq!(
        actions(
            &store
                .list_audit_events(other.id, &everything())
                .await
                .unwrap()
        ),
        ["tenant.create", "decision.allow"]
    );
}

async fn seqs_are_contiguous_per_tenant_and_returned_in_input_order(db: TestDb) {
    let store = &*db.store;
    let a = tenant(store, "a").await.id;
    let b = tenant(store, "b").await.id;
    let c = tenant(store, "c").await.id;
    assert_eq!(drain(store).await, 3);

    let batch = vec![
        event(a, "a1"),
        event(b, "b1"),
        event(a, "a2"),
        event(c, "c1"),
        event(b, "b2"),
        event(a, "a3"),
    ];
    assert_eq!(
        store
            .append_audit(batch.clone(), &TestSequencer)
            .await
            .unwrap(),
        [1, 1, 2, 1, 2, 3]
    );
    assert_eq!(
        store
            .append_audit(vec![event(b, "b3"), event(a, "a4")], &TestSequencer)
            .await
            .unwrap(),
        [3, 4]
    );
    assert!(
        store
            .append_audit(Vec::new(), &TestSequencer)
            .await
            .unwrap()
            .is_empty()
    );

    for (tenant_id, size) in [(a, 5), (b, 4), (c, 2)] {
        let stored = store
            .list_audit_events(tenant_id, &everything())
            .await
            .unwrap();
        assert_eq!(stored.len(), size);
        assert_log_verifies(&stored);
        let head = store.audit_head(tenant_id).await.unwrap().unwrap();
        assert_eq!(head.tree_size, u64::try_from(size).unwrap());
        assert_eq!(Some(&head.chain_hash), stored.last().map(|e| &e.chain_hash));
        assert_eq!(head.frontier, head.tree_size.to_be_bytes());

        let leaves = store
            .audit_leaf_hashes(tenant_id, head.tree_size)
            .await
            .unwrap();
        let expected: Vec<Vec<u8>> = stored.iter().map(|e| e.leaf_hash.clone()).collect();
        assert_eq!(leaves, expected);
        assert_eq!(
            store.audit_leaf_hashes(tenant_id, 1).await.unwrap(),
            expected[..1]
        );
        assert!(
            store
                .audit_leaf_hashes(tenant_id, 0)
                .await
                .unwrap()
                .is_empty()
        );
        assert_not_found(
            store
                .audit_leaf_hashes(tenant_id, head.tree_size + 1)
                .await
                .unwrap_err(),
            "audit leaf",
            head.tree_size,
        );
    }

    let a2 = store.get_audit_event(a, 2).await.unwrap().unwrap();
    assert_eq!(a2.canonical.as_ref(), Some(&batch[2].canonical));
    assert_eq!(a2.action.as_deref(), Some("a2"));
    assert_eq!(store.get_audit_event(a, 5).await.unwrap(), None);
    assert_eq!(store.get_audit_event(a, u64::MAX).await.unwrap(), None);
    // Another tenant's seq is not visible through this tenant.
    assert_eq!(store.get_audit_event(c, 3).await.unwrap(), None);
    assert_eq!(store.audit_head(TenantId::new()).await.unwrap(), None);
}

async fn sequencer_failure_rolls_back_the_whole_batch(db: TestDb) {
    let store = &*db.store;
    let a = tenant(store, "a").await.id;
    let b = tenant(store, "b").await.id;

    let err = store
        .append_audit(vec![event(a, "x"), event(b, "y")], &RefusingSequencer)
        .await
        .unwrap_err();
    let StoreError::Sequencer(message) = &err else {
        panic!("expected a sequencer error, got {err:?}");
    };
    assert!(message.contains("refused"), "{message}");
    assert_eq!(
        err.to_string(),
        "audit sequencing failed: refused: frontier does not match `tree_size`"
    );
    let err = store
        .drain_audit_outbox(&RefusingSequencer, 10)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Sequencer(_)), "{err:?}");

    // A tenant that does not exist fails the whole batch, whichever order it sorts in.
    let missing = TenantId::new();
    assert_not_found(
        store
            .append_audit(vec![event(a, "x"), event(missing, "y")], &TestSequencer)
            .await
            .unwrap_err(),
        "tenant",
        missing,
    );

    for tenant_id in [a, b] {
        assert_eq!(store.audit_head(tenant_id).await.unwrap(), None);
        assert!(
            store
                .list_audit_events(tenant_id, &everything())
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(outbox_len(store).await, 2);
    assert_eq!(
        store
            .append_audit(vec![event(b, "y")], &TestSequencer)
            .await
            .unwrap(),
        [1]
    );
}

/// Sequences like [`TestSequencer`] but refuses any batch holding a `poison` event.
struct PoisonSequencer;

impl AuditSequencer for PoisonSequencer {
    fn sequence(
        &self,
        head: Option<&AuditHead>,
        events: &[&[u8]],
    ) -> Result<(AuditHead, Vec<SequencedLeaf>), String> {
        if events
            .iter()
            .any(|event| event.windows(6).any(|w| w == b"poison"))
        {
            return Err("poisoned batch".to_owned());
        }
        TestSequencer.sequence(head, events)
    }
}

async fn a_tenant_that_cannot_be_sequenced_does_not_hold_up_the_others(db: TestDb) {
    let store = &*db.store;
    let mut ids = [tenant(store, "a").await.id, tenant(store, "b").await.id];
    ids.sort();
    // The tenant drained first is the one that fails.
    let [poisoned, healthy] = ids;
    user(store, healthy, "h@example.com", Role::Viewer).await;
    store
        .create_user(
            new_user(poisoned, "p@example.com", Role::Viewer),
            event(poisoned, "poison"),
        )
        .await
        .unwrap();

    let err = store
        .drain_audit_outbox(&PoisonSequencer, 10)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Sequencer(_)), "{err:?}");
    assert_eq!(seqs(store, healthy, AuditFilter::default()).await, [0, 1]);
    assert_eq!(store.audit_head(poisoned).await.unwrap(), None);
    assert_eq!(outbox_len(store).await, 2);
}

/// Two pools (two processes) drain and append at once while changes keep filling the
/// outbox: every event ends up in its tenant's log exactly once, with no gap in the seqs.
async fn concurrent_drains_and_appends_sequence_every_event_once(db: TestDb) {
    const TENANTS: usize = 3;
    const CHANGES: usize = 24;
    const APPENDS: usize = 16;
    const APPEND_BATCH: usize = 5;
    const DRAINERS: usize = 8;
    let mut tenants = Vec::new();
    let mut expected: BTreeMap<TenantId, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for i in 0..TENANTS {
        let input = new_tenant(&format!("t{i}"));
        let audit = event(input.id, "tenant.create");
        expected
            .entry(input.id)
            .or_default()
            .insert(audit.canonical.clone());
        tenants.push(db.store.create_tenant(input, audit).await.unwrap().id);
    }
    let pools: [SharedStore; 2] = [db.another_store().await, db.another_store().await];

    let mut changes = Vec::new();
    for i in 0..CHANGES {
        let store = pools[i % 2].clone();
        let tenant_id = tenants[i % TENANTS];
        let audit = event(tenant_id, "user.create");
        expected
            .entry(tenant_id)
            .or_default()
            .insert(audit.canonical.clone());
        let input = new_user(tenant_id, &format!("u{i}@example.com"), Role::Viewer);
        changes.push(tokio::spawn(async move {
            store.create_user(input, audit).await.unwrap();
        }));
    }
    let mut appends = Vec::new();
    for i in 0..APPENDS {
        let store = pools[(i + 1) % 2].clone();
        let batch: Vec<NewAuditEvent> = (0..APPEND_BATCH)
            .map(|j| event(tenants[(i + j) % TENANTS], "decision"))
            .collect();
        for audit in &batch {
            expected
                .entry(audit.tenant_id)
                .or_default()
                .insert(audit.canonical.clone());
        }
        appends.push(tokio::spawn(async move {
            let seqs = store
                .append_audit(batch.clone(), &TestSequencer)
                .await
                .unwrap();
            (batch, seqs)
        }));
    }
    let mut drainers = Vec::new();
    for i in 0..DRAINERS {
        let store = pools[i % 2].clone();
        drainers.push(tokio::spawn(async move {
            let mut drained = 0;
            for _ in 0..4 {
                drained += store.drain_audit_outbox(&TestSequencer, 2).await.unwrap();
                tokio::task::yield_now().await;
            }
            drained
        }));
    }
    for change in changes {
        change.await.unwrap();
    }
    let mut appended = Vec::new();
    for append in appends {
        appended.push(append.await.unwrap());
    }
    let mut drained = 0;
    for drainer in drainers {
        drained += drainer.await.unwrap();
    }
    drained += drain(&*db.store).await;
    assert_eq!(outbox_len(&*db.store).await, 0);
    // Appends drain their tenants' outbox rows too, so the drainers saw at most all of them.
    assert!(drained <= u64::try_from(TENANTS + CHANGES).unwrap());

    let mut logs = BTreeMap::new();
    for tenant_id in &tenants {
        let stored = db
            .store
            .list_audit_events(*tenant_id, &everything())
            .await
            .unwrap();
        assert_log_verifies(&stored);
        let canonical: Vec<Vec<u8>> = stored
            .iter()
            .map(|event| event.canonical.clone().unwrap())
            .collect();
        let distinct: BTreeSet<Vec<u8>> = canonical.iter().cloned().collect();
        assert_eq!(distinct.len(), canonical.len(), "an event was stored twice");
        assert_eq!(&distinct, &expected[tenant_id]);
        logs.insert(*tenant_id, canonical);
    }
    // Each append got the seqs its events actually hold.
    for (batch, seqs) in appended {
        for (audit, seq) in batch.iter().zip(seqs) {
            let log = &logs[&audit.tenant_id];
            assert_eq!(log[usize::try_from(seq).unwrap()], audit.canonical);
        }
    }
}

async fn list_filters_combine(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await.id;
    let other = tenant(store, "other").await.id;
    let custom =
        |tenant_id, action: &str, actor: Option<&str>, outcome: &str, second| NewAuditEvent {
            action: action.to_owned(),
            actor_id: actor.map(str::to_owned),
            actor_kind: if actor.is_some() { "user" } else { "system" }.to_owned(),
            outcome: outcome.to_owned(),
            occurred_at: at(second),
            ..event(tenant_id, action)
        };
    let rows = [
        ("user.login", Some("alice"), "success", 100),
        ("user.login", Some("bob"), "denied", 200),
        ("policy.create", Some("alice"), "success", 300),
        ("user.login", Some("alice"), "failure", 400),
        ("key.use", None, "success", 500),
    ];
    for tenant_id in [acme, other] {
        let batch = rows
            .iter()
            .map(|(action, actor, outcome, second)| {
                custom(tenant_id, action, *actor, outcome, *second)
            })
            .collect();
        store.append_audit(batch, &TestSequencer).await.unwrap();
    }
    // seq 0 is the tenant's creation: "tenant.create" by actor-1, success, at(0).
    let with = |change: fn(&mut AuditFilter)| {
        let mut filter = AuditFilter::default();
        change(&mut filter);
        filter
    };
    let cases: Vec<(AuditFilter, Vec<u64>)> = vec![
        (AuditFilter::default(), vec![0, 1, 2, 3, 4, 5]),
        (
            with(|f| f.action = Some("user.login".to_owned())),
            vec![1, 2, 4],
        ),
        (
            with(|f| f.actor_id = Some("alice".to_owned())),
            vec![1, 3, 4],
        ),
        (
            with(|f| f.outcome = Some("success".to_owned())),
            vec![0, 1, 3, 5],
        ),
        (with(|f| f.since = Some(at(200))), vec![2, 3, 4, 5]),
        (with(|f| f.until = Some(at(400))), vec![0, 1, 2, 3]),
        (
            with(|f| {
                f.since = Some(at(200));
                f.until = Some(at(400));
            }),
            vec![2, 3],
        ),
        (with(|f| f.after_seq = Some(2)), vec![3, 4, 5]),
        (with(|f| f.before_seq = Some(3)), vec![0, 1, 2]),
        (
            with(|f| {
                f.after_seq = Some(1);
                f.before_seq = Some(4);
            }),
            vec![2, 3],
        ),
        (with(|f| f.limit = 2), vec![0, 1]),
        (
            with(|f| {
                f.limit = 2;
                f.after_seq = Some(3);
            }),
            vec![4, 5],
        ),
        (
            with(|f| {
                f.action = Some("user.login".to_owned());
                f.actor_id = Some("alice".to_owned());
                f.outcome = Some("failure".to_owned());
            }),
            vec![4],
        ),
        (with(|f| f.action = Some("nothing".to_owned())), vec![]),
        // Values are bound, never spliced into the SQL.
        (with(|f| f.action = Some("x' OR '1'='1".to_owned())), vec![]),
        (with(|f| f.after_seq = Some(u64::MAX)), vec![]),
        (
            with(|f| f.before_seq = Some(u64::MAX)),
            vec![0, 1, 2, 3, 4, 5],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            seqs(store, acme, filter.clone()).await,
            expected,
            "{filter:?}"
        );
    }

    let stored = store
        .list_audit_events(acme, &with(|f| f.after_seq = Some(4)))
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![StoredAuditEvent {
            tenant_id: acme,
            seq: 5,
            leaf_hash: stored[0].leaf_hash.clone(),
            chain_hash: stored[0].chain_hash.clone(),
            canonical: stored[0].canonical.clone(),
            occurred_at: Some(at(500)),
            action: Some("key.use".to_owned()),
            actor_kind: Some("system".to_owned()),
            actor_id: None,
            outcome: Some("success".to_owned()),
        }]
    );
    assert_eq!(stored[0].leaf_hash.len(), 16);
    assert!(
        stored[0]
            .canonical
            .as_ref()
            .unwrap()
            .starts_with(br#"{"action":"key.use""#)
    );
    assert!(
        store
            .list_audit_events(TenantId::new(), &AuditFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Append-only is the database's rule, not only the store's: statements that go around the
/// store are refused.
async fn triggers_refuse_rewrites_and_deletes(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await.id;
    let batch = (0..5).map(|i| event(acme, &format!("e{i}"))).collect();
    store.append_audit(batch, &TestSequencer).await.unwrap();
    assert_eq!(store.purge_audit_events(acme, 2).await.unwrap(), 2);
    store
        .insert_audit_checkpoint(checkpoint(acme, 6))
        .await
        .unwrap();
    // One row left in the outbox.
    user(store, acme, "erin@example.com", Role::Viewer).await;
    let before = store.list_audit_events(acme, &everything()).await.unwrap();
    let head_before = store.audit_head(acme).await.unwrap();

    let mut refused = vec![
        (
            "UPDATE audit_leaves SET leaf_hash = chain_hash",
            "audit_leaves is append-only",
        ),
        (
            "DELETE FROM audit_leaves WHERE seq = 5",
            "audit_leaves is append-only",
        ),
        (
            "UPDATE audit_events SET action = 'forged'",
            "audit_events is append-only",
        ),
        (
            "DELETE FROM audit_events WHERE seq >= 2",
            "audit_events is append-only",
        ),
        ("DELETE FROM audit_events", "audit_events is append-only"),
        (
            "UPDATE audit_checkpoints SET signature = root_hash",
            "audit_checkpoints is append-only",
        ),
        (
            "DELETE FROM audit_checkpoints",
            "audit_checkpoints is append-only",
        ),
        (
            "UPDATE audit_retention SET purged_below = 1",
            "audit_retention only moves forward",
        ),
        ("DELETE FROM audit_retention", "audit_retention"),
        (
            "UPDATE audit_heads SET tree_size = 3",
            "audit_heads only grow",
        ),
        (
            "UPDATE audit_heads SET chain_hash = frontier",
            "audit_heads only grow",
        ),
        ("DELETE FROM audit_heads", "audit_heads"),
        (
            "UPDATE audit_outbox SET canonical = canonical",
            "audit_outbox",
        ),
    ];
    match db.engine() {
        // REPLACE deletes the old row without firing delete triggers; insert triggers stop it.
        "sqlite" => refused.extend([
            (
                "INSERT OR REPLACE INTO audit_leaves \
                 SELECT tenant_id, seq, X'00', chain_hash FROM audit_leaves WHERE seq = 3",
                "audit_leaves is append-only",
            ),
            (
                "REPLACE INTO audit_events SELECT tenant_id, seq, X'00', occurred_at, action, \
                 actor_kind, actor_id, outcome FROM audit_events WHERE seq = 3",
                "audit_events is append-only",
            ),
            (
                "INSERT OR REPLACE INTO audit_checkpoints SELECT tenant_id, tree_size, X'00', \
                 chain_hash, issued_at, key_id, signature FROM audit_checkpoints",
                "audit_checkpoints is append-only",
            ),
            (
                "INSERT OR REPLACE INTO audit_heads SELECT tenant_id, 1, X'00', X'00' \
                 FROM audit_heads",
                "audit_heads only grow",
            ),
            (
                "INSERT OR REPLACE INTO audit_retention SELECT tenant_id, 0 FROM audit_retention",
                "audit_retention only moves forward",
            ),
        ]),
        _ => refused.extend([
            ("TRUNCATE audit_leaves CASCADE", "append-only"),
            ("TRUNCATE audit_events", "audit_events is append-only"),
            (
                "TRUNCATE audit_checkpoints",
                "audit_checkpoints is append-only",
            ),
            ("TRUNCATE audit_heads", "audit_heads is append-only"),
            ("TRUNCATE audit_retention", "audit_retention is append-only"),
            (
                "INSERT INTO audit_leaves SELECT tenant_id, seq, '\\x00'::bytea, chain_hash \
                 FROM audit_leaves WHERE seq = 3 \
                 ON CONFLICT (tenant_id, seq) DO UPDATE SET leaf_hash = EXCLUDED.leaf_hash",
                "audit_leaves is append-only",
            ),
        ]),
    }
    for (sql, reason) in refused {
        let err = db
            .execute_raw(sql)
            .await
            .expect_err(&format!("`{sql}` must be refused"));
        assert!(err.to_string().contains(reason), "`{sql}`: {err}");
    }

    assert_eq!(
        store.list_audit_events(acme, &everything()).await.unwrap(),
        before
    );
    assert_eq!(store.audit_head(acme).await.unwrap(), head_before);
    assert_eq!(store.list_audit_checkpoints(acme).await.unwrap().len(), 1);
    assert_eq!(outbox_len(store).await, 1);

    // Moving the watermark forward is allowed, and so is then deleting below it.
    assert_eq!(
        db.execute_raw("UPDATE audit_retention SET purged_below = 4")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.execute_raw("DELETE FROM audit_events WHERE seq = 2")
            .await
            .unwrap(),
        1
    );
    let err = db
        .execute_raw("DELETE FROM audit_events WHERE seq = 4")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

fn checkpoint(tenant_id: TenantId, tree_size: u64) -> StoredCheckpoint {
    StoredCheckpoint {
        tenant_id,
        tree_size,
        root_hash: vec![1; 32],
        chain_hash: tree_size.to_be_bytes().to_vec(),
        issued_at: at(i64::try_from(tree_size).unwrap()),
        key_id: "ed25519:key-1".to_owned(),
        signature: vec![0, 255, 7, u8::try_from(tree_size % 256).unwrap()],
    }
}

async fn purge_keeps_leaves_and_hides_payloads(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await.id;
    let batch = (1..=5).map(|i| event(acme, &format!("e{i}"))).collect();
    store.append_audit(batch, &TestSequencer).await.unwrap();
    store
        .insert_audit_checkpoint(checkpoint(acme, 6))
        .await
        .unwrap();
    let leaves = store.audit_leaf_hashes(acme, 6).await.unwrap();
    let full = store.list_audit_events(acme, &everything()).await.unwrap();

    assert_eq!(store.purge_audit_events(acme, 3).await.unwrap(), 3);
    assert_eq!(seqs(store, acme, AuditFilter::default()).await, [3, 4, 5]);
    let with_purged = store.list_audit_events(acme, &everything()).await.unwrap();
    assert_eq!(with_purged.len(), 6);
    assert_log_verifies(&with_purged);
    for (stored, original) in with_purged.iter().zip(&full) {
        assert_eq!(stored.leaf_hash, original.leaf_hash);
        assert_eq!(stored.chain_hash, original.chain_hash);
        if stored.seq < 3 {
            assert_eq!(
                stored,
                &StoredAuditEvent {
                    canonical: None,
                    occurred_at: None,
                    action: None,
                    actor_kind: None,
                    actor_id: None,
                    outcome: None,
                    ..original.clone()
                }
            );
        } else {
            assert_eq!(stored, original);
        }
    }
    let purged = store.get_audit_event(acme, 1).await.unwrap().unwrap();
    assert_eq!(purged.canonical, None);
    assert_eq!(purged.leaf_hash, full[1].leaf_hash);
    assert_eq!(store.audit_leaf_hashes(acme, 6).await.unwrap(), leaves);
    assert_eq!(store.list_audit_checkpoints(acme).await.unwrap().len(), 1);
    // A search on payload columns cannot match a purged event, even with include_purged.
    let search = AuditFilter {
        action: Some("e1".to_owned()),
        include_purged: true,
        ..AuditFilter::default()
    };
    assert!(seqs(store, acme, search).await.is_empty());

    // The watermark never goes back.
    assert_eq!(store.purge_audit_events(acme, 2).await.unwrap(), 0);
    assert_eq!(store.purge_audit_events(acme, 3).await.unwrap(), 0);
    assert_eq!(seqs(store, acme, AuditFilter::default()).await, [3, 4, 5]);
    assert!(
        db.execute_raw("DELETE FROM audit_events WHERE seq = 3")
            .await
            .is_err()
    );

    // Nor past the head: events appended later are not pre-purged.
    assert_eq!(store.purge_audit_events(acme, u64::MAX).await.unwrap(), 3);
    let later = store
        .append_audit(vec![event(acme, "later")], &TestSequencer)
        .await
        .unwrap();
    assert_eq!(later, [6]);
    assert_eq!(seqs(store, acme, AuditFilter::default()).await, [6]);
    assert!(
        db.execute_raw("DELETE FROM audit_events WHERE seq = 6")
            .await
            .is_err()
    );
    assert_eq!(store.audit_leaf_hashes(acme, 7).await.unwrap().len(), 7);

    // Tenants without a log have nothing to purge.
    let other = tenant(store, "other").await.id;
    assert_eq!(store.purge_audit_events(other, 10).await.unwrap(), 0);
    assert_eq!(
        store.purge_audit_events(TenantId::new(), 10).await.unwrap(),
        0
    );
}

async fn checkpoints_insert_list_latest_and_conflict(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await.id;
    let other = tenant(store, "other").await.id;
    assert!(store.list_audit_checkpoints(acme).await.unwrap().is_empty());
    assert_eq!(store.latest_audit_checkpoint(acme).await.unwrap(), None);

    for size in [2, 5, 3] {
        store
            .insert_audit_checkpoint(checkpoint(acme, size))
            .await
            .unwrap();
    }
    store
        .insert_audit_checkpoint(checkpoint(other, 9))
        .await
        .unwrap();
    assert_eq!(
        store.list_audit_checkpoints(acme).await.unwrap(),
        vec![
            checkpoint(acme, 2),
            checkpoint(acme, 3),
            checkpoint(acme, 5)
        ]
    );
    assert_eq!(
        store.latest_audit_checkpoint(acme).await.unwrap(),
        Some(checkpoint(acme, 5))
    );
    assert_eq!(
        store.latest_audit_checkpoint(other).await.unwrap(),
        Some(checkpoint(other, 9))
    );

    let forged = StoredCheckpoint {
        root_hash: vec![9; 32],
        ..checkpoint(acme, 3)
    };
    assert_conflict(
        store.insert_audit_checkpoint(forged).await.unwrap_err(),
        "audit checkpoint",
        "tree_size",
        "3",
    );
    assert_eq!(
        store.list_audit_checkpoints(acme).await.unwrap()[1],
        checkpoint(acme, 3)
    );
    // The same size in another tenant is a different checkpoint.
    store
        .insert_audit_checkpoint(checkpoint(other, 3))
        .await
        .unwrap();

    let missing = TenantId::new();
    assert_not_found(
        store
            .insert_audit_checkpoint(checkpoint(missing, 1))
            .await
            .unwrap_err(),
        "tenant",
        missing,
    );
}

async fn audit_tenants_lists_logs_and_pending_outboxes(db: TestDb) {
    let store = &*db.store;
    assert!(store.audit_tenants().await.unwrap().is_empty());
    let a = tenant(store, "a").await.id;
    let b = tenant(store, "b").await.id;
    let mut both = vec![a, b];
    both.sort();
    // Pending outbox rows only.
    assert_eq!(store.audit_tenants().await.unwrap(), both);
    drain(store).await;
    // Logs only.
    assert_eq!(store.audit_tenants().await.unwrap(), both);
    let c_input = new_tenant("c");
    let c = c_input.id;
    store
        .create_tenant(c_input, event(a, "tenant.create"))
        .await
        .unwrap();
    // The event of c's creation belongs to a (say, the operator tenant); c has no log.
    assert_eq!(store.audit_tenants().await.unwrap(), both);
    assert_eq!(store.audit_head(c).await.unwrap(), None);
}

/// The least-privilege grants documented in `src/postgres/app_role.sql` are enough to run
/// every store operation, and leave the role no way around the audit triggers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_runs_the_store_but_cannot_bypass_the_triggers() {
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
    let role = format!("heddle_app_{}", uuid::Uuid::now_v7().simple());
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

    let outcome = tokio::spawn(run_as_app_role(owner.clone().username(&role))).await;

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

async fn run_as_app_role(options: PgConnectOptions) {
    let pg = PgStore::connect_with_options(options.clone())
        .await
        .unwrap();
    let store: &dyn Store = &pg;
    let bootstrap = Bootstrap {
        tenant: new_tenant("operator"),
        admin: new_user(TenantId::new(), "root@example.com", Role::Admin),
    };
    let acme = bootstrap.tenant.id;
    let admin_id = bootstrap.admin.id;
    assert!(
        store
            .bootstrap_if_empty(bootstrap, event(acme, "tenant.bootstrap"))
            .await
            .unwrap()
    );
    let erin = user(store, acme, "erin@example.com", Role::Viewer).await;
    let key = store
        .create_api_key(
            NewApiKey {
                created_by: Some(admin_id),
                ..new_api_key(acme, "k1")
            },
            event(acme, "api_key.create"),
        )
        .await
        .unwrap();
    store.touch_api_key(key.id, at(5)).await.unwrap();
    store
        .revoke_api_key(acme, key.id, at(6), event(acme, "api_key.revoke"))
        .await
        .unwrap();
    let token = store
        .create_access_token(
            new_access_token(acme, erin.id, "t1"),
            event(acme, "access_token.create"),
        )
        .await
        .unwrap();
    store
        .revoke_access_token(token.id, at(7), event(acme, "access_token.revoke"))
        .await
        .unwrap();
    let disable = UserUpdate {
        disabled: Some(true),
        updated_at: Some(at(8)),
        ..UserUpdate::default()
    };
    store
        .update_user(acme, erin.id, disable, event(acme, "user.update"))
        .await
        .unwrap();
    let policy = store
        .create_policy(new_policy(acme, "p"), event(acme, "policy.create"))
        .await
        .unwrap();
    store
        .delete_policy(acme, policy.id, event(acme, "policy.delete"))
        .await
        .unwrap();
    let other = tenant(store, "other").await.id;

    store
        .append_audit(
            vec![event(acme, "decision"), event(other, "decision")],
            &TestSequencer,
        )
        .await
        .unwrap();
    drain(store).await;
    let size = store.audit_head(acme).await.unwrap().unwrap().tree_size;
    assert_eq!(size, 10);
    assert_eq!(store.audit_leaf_hashes(acme, size).await.unwrap().len(), 10);
    store
        .insert_audit_checkpoint(checkpoint(acme, size))
        .await
        .unwrap();
    assert_eq!(store.purge_audit_events(acme, 4).await.unwrap(), 4);
    assert_eq!(seqs(store, acme, AuditFilter::default()).await.len(), 6);
    assert_eq!(store.audit_tenants().await.unwrap().len(), 2);
    pg.close().await;

    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    // Not the owner: cannot disable, drop or replace the triggers. Not a superuser: cannot
    // switch triggers off for the session. Grants and triggers refuse the rest.
    for (sql, reason) in [
        (
            "ALTER TABLE audit_leaves DISABLE TRIGGER ALL",
            "must be owner",
        ),
        (
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_delete_only_purged",
            "must be owner",
        ),
        (
            "DROP TRIGGER audit_leaves_no_delete ON audit_leaves",
            "must be owner",
        ),
        (
            "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END; $$",
            "must be owner",
        ),
        ("DROP TABLE audit_leaves", "must be owner"),
        (
            "SET session_replication_role = replica",
            "permission denied",
        ),
        ("TRUNCATE audit_events", "permission denied"),
        ("DELETE FROM audit_leaves", "permission denied"),
        ("DELETE FROM audit_checkpoints", "permission denied"),
        (
            "UPDATE audit_events SET action = 'forged'",
            "permission denied",
        ),
        ("DELETE FROM audit_events WHERE seq >= 4", "append-only"),
        ("UPDATE audit_heads SET tree_size = 1", "only grow"),
        (
            "UPDATE audit_retention SET purged_below = 0",
            "only moves forward",
        ),
    ] {
        let err = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect_err(&format!("`{sql}` must be refused for the app role"));
        assert!(err.to_string().contains(reason), "`{sql}`: {err}");
    }
    conn.close().await.unwrap();
}
