//! API keys: lookup, conflicts, revocation, use tracking and tenant isolation.

use heddle_store::{NewApiKey, StoreError};
use heddle_types::{ApiKey, ApiKeyId, PageRequest, Role, TenantId, UserId};

use crate::fixtures::{assert_conflict, assert_not_found, at, event, new_api_key, tenant, user};
use crate::harness::TestDb;

conformance_tests!(
    create_get_and_find_api_key,
    api_key_without_expiry_or_creator,
    duplicate_prefix_and_lookup_conflict,
    api_key_parents_must_exist_in_the_tenant,
    revoke_api_key_keeps_the_first_time,
    touch_api_key_only_moves_forward,
    list_api_keys_walks_every_page_once,
    api_keys_are_isolated_between_tenants,
);

async fn create_get_and_find_api_key(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let creator = user(store, acme.id, "admin@example.com", Role::Admin).await;
    let input = NewApiKey {
        created_by: Some(creator.id),
        role: Role::Operator,
        ..new_api_key(acme.id, "lookup1")
    };
    let created = store
        .create_api_key(input.clone(), event(input.tenant_id, "api_key.create"))
        .await
        .unwrap();
    let expected = ApiKey {
        id: input.id,
        tenant_id: acme.id,
        name: input.name.clone(),
        prefix: "hdl_lookup1".to_owned(),
        role: Role::Operator,
        created_by: Some(creator.id),
        created_at: input.created_at,
        expires_at: input.expires_at,
        revoked_at: None,
        last_used_at: None,
        route: None,
    };
    assert_eq!(created, expected);
    assert_eq!(
        store.get_api_key(acme.id, input.id).await.unwrap(),
        expected
    );
    let (found, hash) = store
        .find_api_key_by_lookup("lookup1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, expected);
    assert_eq!(hash, input.secret_hash);
    assert_eq!(store.find_api_key_by_lookup("LOOKUP1").await.unwrap(), None);
    assert_eq!(store.find_api_key_by_lookup("missing").await.unwrap(), None);

    let missing = ApiKeyId::new();
    assert_not_found(
        store.get_api_key(acme.id, missing).await.unwrap_err(),
        "api key",
        missing,
    );
}

async fn api_key_without_expiry_or_creator(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let input = NewApiKey {
        expires_at: None,
        created_by: None,
        ..new_api_key(acme.id, "forever")
    };
    let created = store
        .create_api_key(input, event(acme.id, "api_key.create"))
        .await
        .unwrap();
    assert_eq!(created.expires_at, None);
    assert_eq!(created.created_by, None);
    // A found key whose state is revoked or expired is still returned; the caller checks.
    store
        .revoke_api_key(acme.id, created.id, at(5), event(acme.id, "api_key.revoke"))
        .await
        .unwrap();
    let (found, _) = store
        .find_api_key_by_lookup("forever")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.revoked_at, Some(at(5)));
    assert!(!found.is_active(at(6)));
}

async fn duplicate_prefix_and_lookup_conflict(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let first = store
        .create_api_key(
            new_api_key(acme.id, "same"),
            event(acme.id, "api_key.create"),
        )
        .await
        .unwrap();

    // Prefix and lookup are globally unique, not per tenant.
    let err = store
        .create_api_key(
            new_api_key(other.id, "same"),
            event(other.id, "api_key.create"),
        )
        .await
        .unwrap_err();
    let StoreError::Conflict { entity, field, .. } = err else {
        panic!("expected a conflict, got {err:?}");
    };
    assert_eq!(entity, "api key");
    assert!(field == "prefix" || field == "lookup", "field {field}");

    let same_prefix = NewApiKey {
        lookup: "different".to_owned(),
        ..new_api_key(acme.id, "same")
    };
    assert_conflict(
        store
            .create_api_key(same_prefix, event(acme.id, "api_key.create"))
            .await
            .unwrap_err(),
        "api key",
        "prefix",
        "hdl_same",
    );

    let same_lookup = NewApiKey {
        prefix: "hdl_different".to_owned(),
        ..new_api_key(acme.id, "same")
    };
    assert_conflict(
        store
            .create_api_key(same_lookup, event(acme.id, "api_key.create"))
            .await
            .unwrap_err(),
        "api key",
        "lookup",
        "same",
    );

    let same_id = NewApiKey {
        id: first.id,
        ..new_api_key(acme.id, "fresh")
    };
    assert_conflict(
        store
            .create_api_key(same_id, event(acme.id, "api_key.create"))
            .await
            .unwrap_err(),
        "api key",
        "id",
        &first.id.to_string(),
    );
}

async fn api_key_parents_must_exist_in_the_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let outsider = user(store, other.id, "outsider@example.com", Role::Admin).await;

    let missing_tenant = TenantId::new();
    assert_not_found(
        store
            .create_api_key(
                new_api_key(missing_tenant, "k1"),
                event(missing_tenant, "api_key.create"),
            )
            .await
            .unwrap_err(),
        "tenant",
        missing_tenant,
    );

    // The creator must belong to the key's tenant.
    let cross_tenant = NewApiKey {
        created_by: Some(outsider.id),
        ..new_api_key(acme.id, "k2")
    };
    assert_not_found(
        store
            .create_api_key(cross_tenant, event(acme.id, "api_key.create"))
            .await
            .unwrap_err(),
        "user",
        outsider.id,
    );

    let missing_user = UserId::new();
    let unknown_creator = NewApiKey {
        created_by: Some(missing_user),
        ..new_api_key(acme.id, "k3")
    };
    assert_not_found(
        store
            .create_api_key(unknown_creator, event(acme.id, "api_key.create"))
            .await
            .unwrap_err(),
        "user",
        missing_user,
    );
    assert_eq!(store.find_api_key_by_lookup("k2").await.unwrap(), None);
}

async fn revoke_api_key_keeps_the_first_time(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let key = store
        .create_api_key(new_api_key(acme.id, "k"), event(acme.id, "api_key.create"))
        .await
        .unwrap();

    let revoked = store
        .revoke_api_key(acme.id, key.id, at(60), event(acme.id, "api_key.revoke"))
        .await
        .unwrap();
    assert_eq!(
        revoked,
        ApiKey {
            revoked_at: Some(at(60)),
            ..key.clone()
        }
    );
    let again = store
        .revoke_api_key(acme.id, key.id, at(120), event(acme.id, "api_key.revoke"))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(at(60)));
    let earlier = store
        .revoke_api_key(acme.id, key.id, at(30), event(acme.id, "api_key.revoke"))
        .await
        .unwrap();
    assert_eq!(earlier.revoked_at, Some(at(60)));
    assert_eq!(
        store.get_api_key(acme.id, key.id).await.unwrap().revoked_at,
        Some(at(60))
    );

    let missing = ApiKeyId::new();
    assert_not_found(
        store
            .revoke_api_key(acme.id, missing, at(1), event(acme.id, "api_key.revoke"))
            .await
            .unwrap_err(),
        "api key",
        missing,
    );
}

async fn touch_api_key_only_moves_forward(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let key = store
        .create_api_key(new_api_key(acme.id, "k"), event(acme.id, "api_key.create"))
        .await
        .unwrap();
    let last_used = async |id| store.get_api_key(acme.id, id).await.unwrap().last_used_at;

    store.touch_api_key(key.id, at(100)).await.unwrap();
    assert_eq!(last_used(key.id).await, Some(at(100)));
    store.touch_api_key(key.id, at(50)).await.unwrap();
    assert_eq!(last_used(key.id).await, Some(at(100)));
    store.touch_api_key(key.id, at(100)).await.unwrap();
    assert_eq!(last_used(key.id).await, Some(at(100)));
    store.touch_api_key(key.id, at(101)).await.unwrap();
    assert_eq!(last_used(key.id).await, Some(at(101)));

    let missing = ApiKeyId::new();
    assert_not_found(
        store.touch_api_key(missing, at(1)).await.unwrap_err(),
        "api key",
        missing,
    );
}

async fn list_api_keys_walks_every_page_once(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let mut expected = Vec::new();
    for i in (0..12).rev() {
        let key = store
            .create_api_key(
                new_api_key(acme.id, &format!("acme{i}")),
                event(acme.id, "api_key.create"),
            )
            .await
            .unwrap();
        expected.push(key.id);
        store
            .create_api_key(
                new_api_key(other.id, &format!("other{i}")),
                event(other.id, "api_key.create"),
            )
            .await
            .unwrap();
    }
    expected.sort();

    let mut seen = Vec::new();
    let mut page = PageRequest::first(5);
    loop {
        let result = store.list_api_keys(acme.id, page).await.unwrap();
        assert!(result.items.iter().all(|k| k.tenant_id == acme.id));
        seen.extend(result.items.iter().map(|k| k.id));
        match result.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

async fn api_keys_are_isolated_between_tenants(db: TestDb) {
    let store = &*db.store;
    let tenant_a = tenant(store, "tenant-a").await;
    let tenant_b = tenant(store, "tenant-b").await;
    let key = store
        .create_api_key(
            new_api_key(tenant_a.id, "ka"),
            event(tenant_a.id, "api_key.create"),
        )
        .await
        .unwrap();

    assert_not_found(
        store.get_api_key(tenant_b.id, key.id).await.unwrap_err(),
        "api key",
        key.id,
    );
    assert_not_found(
        store
            .revoke_api_key(
                tenant_b.id,
                key.id,
                at(9),
                event(tenant_b.id, "api_key.revoke"),
            )
            .await
            .unwrap_err(),
        "api key",
        key.id,
    );
    assert_eq!(
        store
            .get_api_key(tenant_a.id, key.id)
            .await
            .unwrap()
            .revoked_at,
        None
    );
    let listed = store
        .list_api_keys(tenant_b.id, PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
}
