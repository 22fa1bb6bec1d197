//! Record orgs: one versioned document per tenant, replaced by compare-and-set on its version.

use heddle_store::{StoreError, StoredRecordOrg};
use heddle_types::TenantId;
use serde_json::json;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    a_record_org_is_put_read_and_replaced_by_version,
    a_stale_version_conflicts_and_changes_nothing,
    concurrent_first_puts_let_exactly_one_win,
    putting_for_a_missing_tenant_is_not_found,
);

async fn a_record_org_is_put_read_and_replaced_by_version(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    assert_eq!(store.get_record_org(acme.id).await.unwrap(), None);
    let outbox = store.audit_outbox_len().await.unwrap();

    let first = store
        .put_record_org(
            acme.id,
            json!({"users": []}),
            None,
            at(1),
            event(acme.id, "record_org.put"),
        )
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(store.audit_outbox_len().await.unwrap(), outbox + 1);
    let second = store
        .put_record_org(
            acme.id,
            json!({"users": ["u"]}),
            Some(1),
            at(2),
            event(acme.id, "record_org.put"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_record_org(acme.id).await.unwrap(),
        Some(StoredRecordOrg {
            tenant_id: acme.id,
            version: 2,
            config: json!({"users": ["u"]}),
            updated_at: at(2),
        })
    );
    assert_eq!(second.version, 2);
    assert_eq!(store.get_record_org(other.id).await.unwrap(), None);
}

async fn a_stale_version_conflicts_and_changes_nothing(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    store
        .put_record_org(
            acme.id,
            json!({"v": 1}),
            None,
            at(1),
            event(acme.id, "record_org.put"),
        )
        .await
        .unwrap();
    let outbox = store.audit_outbox_len().await.unwrap();
    for stale in [None, Some(0), Some(2)] {
        let err = store
            .put_record_org(
                acme.id,
                json!({"v": 2}),
                stale,
                at(2),
                event(acme.id, "record_org.put"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    field: "version",
                    ..
                }
            ),
            "{stale:?}: {err:?}"
        );
    }
    let stored = store.get_record_org(acme.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.config), (1, json!({"v": 1})));
    assert_eq!(store.audit_outbox_len().await.unwrap(), outbox);
}

async fn concurrent_first_puts_let_exactly_one_win(db: TestDb) {
    let store = db.store.clone();
    let acme = tenant(&*store, "acme").await;
    let attempts = (0..8).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_record_org(
                    acme.id,
                    json!({"n": n}),
                    None,
                    at(1),
                    event(acme.id, "record_org.put"),
                )
                .await
        })
    });
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(stored) => {
                assert_eq!(stored.version, 1);
                won += 1;
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

async fn putting_for_a_missing_tenant_is_not_found(db: TestDb) {
    let missing = TenantId::new();
    let err = db
        .store
        .put_record_org(
            missing,
            json!({}),
            None,
            at(1),
            event(missing, "record_org.put"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                entity: "tenant",
                ..
            }
        ),
        "{err:?}"
    );
}
