//! The vault's tables: data key versions, re-wrapping, crypto-shredding, signing keys.

use heddle_store::{StoredDataKey, StoredSigningKey};
use heddle_types::TenantId;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    data_keys_are_versioned_per_scope,
    a_data_key_version_is_inserted_once,
    rewrap_replaces_live_keys_only,
    destroyed_keys_stay_destroyed_and_are_audited,
    signing_keys_are_listed_and_append_only,
);

fn data_key(tenant_id: TenantId, scope: &str, version: u32) -> StoredDataKey {
    StoredDataKey {
        tenant_id,
        scope: scope.to_owned(),
        version,
        wrapped: Some(vec![version as u8; 60]),
        master_key_id: "kek-1".to_owned(),
        created_at: at(i64::from(version)),
        destroyed_at: None,
    }
}

async fn data_keys_are_versioned_per_scope(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    assert_eq!(
        store.current_data_key(acme.id, "tenant").await.unwrap(),
        None
    );
    store
        .insert_data_key(data_key(acme.id, "tenant", 1))
        .await
        .unwrap();
    store
        .insert_data_key(data_key(acme.id, "tenant", 2))
        .await
        .unwrap();
    store
        .insert_data_key(data_key(acme.id, "subject:42", 1))
        .await
        .unwrap();
    let current = store
        .current_data_key(acme.id, "tenant")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current, data_key(acme.id, "tenant", 2));
    let first = store
        .get_data_key(acme.id, "tenant", 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, data_key(acme.id, "tenant", 1));
    assert_eq!(
        store.get_data_key(acme.id, "tenant", 3).await.unwrap(),
        None
    );
    let other = tenant(store, "other").await;
    assert_eq!(
        store.current_data_key(other.id, "tenant").await.unwrap(),
        None
    );
}

async fn a_data_key_version_is_inserted_once(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    store
        .insert_data_key(data_key(acme.id, "tenant", 1))
        .await
        .unwrap();
    let err = store
        .insert_data_key(data_key(acme.id, "tenant", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, heddle_store::StoreError::Conflict { .. }),
        "{err:?}"
    );
}

async fn rewrap_replaces_live_keys_only(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    store
        .insert_data_key(data_key(acme.id, "tenant", 1))
        .await
        .unwrap();
    store
        .insert_data_key(data_key(acme.id, "subject:7", 1))
        .await
        .unwrap();
    store
        .destroy_data_keys(acme.id, "subject:7", at(50), event(acme.id, "vault.shred"))
        .await
        .unwrap();
    let live = store.list_live_data_keys().await.unwrap();
    assert_eq!(live.len(), 1);
    let rewrapped = StoredDataKey {
        wrapped: Some(vec![9; 60]),
        master_key_id: "kek-2".to_owned(),
        ..live[0].clone()
    };
    let shredded_attempt = StoredDataKey {
        wrapped: Some(vec![9; 60]),
        master_key_id: "kek-2".to_owned(),
        ..data_key(acme.id, "subject:7", 1)
    };
    let changed = store
        .rewrap_data_keys(vec![rewrapped.clone(), shredded_attempt])
        .await
        .unwrap();
    assert_eq!(
        changed, 1,
        "a destroyed key is not brought back by a rewrap"
    );
    let current = store
        .current_data_key(acme.id, "tenant")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current, rewrapped);
    let shredded = store
        .current_data_key(acme.id, "subject:7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shredded.wrapped, None);
}

async fn destroyed_keys_stay_destroyed_and_are_audited(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    store
        .insert_data_key(data_key(acme.id, "tenant", 1))
        .await
        .unwrap();
    store
        .insert_data_key(data_key(acme.id, "tenant", 2))
        .await
        .unwrap();
    let outbox_before = store.audit_outbox_len().await.unwrap();
    let destroyed = store
        .destroy_data_keys(acme.id, "tenant", at(100), event(acme.id, "vault.shred"))
        .await
        .unwrap();
    assert_eq!(destroyed, 2);
    assert_eq!(store.audit_outbox_len().await.unwrap(), outbox_before + 1);
    let key = store
        .get_data_key(acme.id, "tenant", 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.wrapped, None);
    assert_eq!(key.destroyed_at, Some(at(100)));
    // Not by the store's API, and not behind its back either.
    let restore = "UPDATE vault_data_keys SET wrapped = x'00', destroyed_at = NULL";
    assert!(
        db.execute_raw(restore).await.is_err(),
        "restoring a shredded key is refused"
    );
    assert!(
        db.execute_raw("DELETE FROM vault_data_keys").await.is_err(),
        "key rows are never deleted"
    );
}

async fn signing_keys_are_listed_and_append_only(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    assert_eq!(store.current_signing_key(acme.id).await.unwrap(), None);
    let key = |key_id: &str, seconds| StoredSigningKey {
        tenant_id: acme.id,
        key_id: key_id.to_owned(),
        public_key: vec![1; 32],
        sealed_private_key: Some(vec![2; 80]),
        data_key_version: 1,
        created_at: at(seconds),
    };
    store.insert_signing_key(key("a1", 1)).await.unwrap();
    store.insert_signing_key(key("b2", 2)).await.unwrap();
    assert_eq!(
        store.current_signing_key(acme.id).await.unwrap(),
        Some(key("b2", 2))
    );
    let listed = store.list_signing_keys(acme.id).await.unwrap();
    assert_eq!(listed, vec![key("a1", 1), key("b2", 2)]);
    assert!(store.insert_signing_key(key("a1", 3)).await.is_err());
    assert!(
        db.execute_raw("UPDATE audit_signing_keys SET public_key = x'00'")
            .await
            .is_err()
    );
    assert!(
        db.execute_raw("DELETE FROM audit_signing_keys")
            .await
            .is_err()
    );
}
