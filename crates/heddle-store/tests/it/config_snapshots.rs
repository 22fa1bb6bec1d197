//! Configuration snapshots: numbered per tenant and environment, compare-and-set on the
//! version, immutable once written.

use heddle_store::{NewConfigSnapshot, StoreError};
use heddle_types::{Environment, TenantId};
use serde_json::json;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    versions_count_up_per_environment_and_latest_is_the_default,
    a_stale_version_conflicts_and_stores_nothing,
    concurrent_applies_of_the_same_version_let_one_win,
    snapshots_cannot_be_changed_or_deleted,
    a_missing_tenant_is_not_found,
);

fn snapshot(tenant_id: TenantId, environment: Environment, n: u8) -> NewConfigSnapshot {
    NewConfigSnapshot {
        tenant_id,
        environment,
        content_hash: format!("{n:064x}"),
        documents: json!({"agents": [format!("agent-{n}")]}),
        applied_by: Some("user-1".to_owned()),
        created_at: at(i64::from(n)),
    }
}

async fn versions_count_up_per_environment_and_latest_is_the_default(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let outbox = store.audit_outbox_len().await.unwrap();
    let first = store
        .put_config_snapshot(
            snapshot(acme.id, Environment::Dev, 1),
            None,
            event(acme.id, "config.apply"),
        )
        .await
        .unwrap();
    let second = store
        .put_config_snapshot(
            snapshot(acme.id, Environment::Dev, 2),
            Some(1),
            event(acme.id, "config.apply"),
        )
        .await
        .unwrap();
    let prod = store
        .put_config_snapshot(
            snapshot(acme.id, Environment::Prod, 3),
            None,
            event(acme.id, "config.apply"),
        )
        .await
        .unwrap();
    assert_eq!((first.version, second.version, prod.version), (1, 2, 1));
    assert_eq!(store.audit_outbox_len().await.unwrap(), outbox + 3);

    let latest = store
        .get_config_snapshot(acme.id, Environment::Dev, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest, second);
    let old = store
        .get_config_snapshot(acme.id, Environment::Dev, Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old, first);
    assert_eq!(old.documents, json!({"agents": ["agent-1"]}));
    assert_eq!(
        store
            .get_config_snapshot(acme.id, Environment::Dev, Some(3))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_config_snapshot(acme.id, Environment::Staging, None)
            .await
            .unwrap(),
        None
    );
    let history = store
        .list_config_snapshots(acme.id, Environment::Dev)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(history[0].content_hash, second.content_hash);
    let other = tenant(store, "other").await;
    assert_eq!(
        store
            .get_config_snapshot(other.id, Environment::Dev, None)
            .await
            .unwrap(),
        None
    );
}

async fn a_stale_version_conflicts_and_stores_nothing(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    store
        .put_config_snapshot(
            snapshot(acme.id, Environment::Dev, 1),
            None,
            event(acme.id, "config.apply"),
        )
        .await
        .unwrap();
    let outbox = store.audit_outbox_len().await.unwrap();
    for stale in [None, Some(0), Some(2)] {
        let err = store
            .put_config_snapshot(
                snapshot(acme.id, Environment::Dev, 9),
                stale,
                event(acme.id, "config.apply"),
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
    assert_eq!(
        store
            .list_config_snapshots(acme.id, Environment::Dev)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.audit_outbox_len().await.unwrap(), outbox);
}

async fn concurrent_applies_of_the_same_version_let_one_win(db: TestDb) {
    let store = db.store.clone();
    let acme = tenant(&*store, "acme").await;
    let attempts = (0..8_u8).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_config_snapshot(
                    snapshot(acme.id, Environment::Prod, n),
                    None,
                    event(acme.id, "config.apply"),
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

async fn snapshots_cannot_be_changed_or_deleted(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    store
        .put_config_snapshot(
            snapshot(acme.id, Environment::Dev, 1),
            None,
            event(acme.id, "config.apply"),
        )
        .await
        .unwrap();
    for statement in [
        "UPDATE config_snapshots SET content_hash = 'x'",
        "DELETE FROM config_snapshots",
    ] {
        assert!(
            db.execute_raw(statement).await.is_err(),
            "{statement} was allowed"
        );
    }
    let kept = store
        .get_config_snapshot(acme.id, Environment::Dev, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.content_hash, format!("{:064x}", 1));
}

async fn a_missing_tenant_is_not_found(db: TestDb) {
    let missing = TenantId::new();
    let err = db
        .store
        .put_config_snapshot(
            snapshot(missing, Environment::Dev, 1),
            None,
            event(missing, "config.apply"),
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
