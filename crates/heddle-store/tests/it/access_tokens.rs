//! Access tokens: lookup, conflicts, parents and revocation.

use heddle_store::NewAccessToken;
use heddle_types::{AccessToken, AccessTokenId, Role, TenantId, UserId};

use crate::fixtures::{assert_conflict, assert_not_found, at, new_access_token, tenant, user};
use crate::harness::TestDb;

conformance_tests!(
    create_and_find_access_token,
    duplicate_token_lookup_conflicts,
    access_token_parents_must_exist_in_the_tenant,
    revoke_access_token_keeps_the_first_time,
    revoke_user_access_tokens_revokes_only_live_tokens_of_that_user,
);

async fn create_and_find_access_token(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    let input = new_access_token(acme.id, erin.id, "tok1");
    let created = store.create_access_token(input.clone()).await.unwrap();
    let expected = AccessToken {
        id: input.id,
        tenant_id: acme.id,
        user_id: erin.id,
        created_at: input.created_at,
        expires_at: input.expires_at,
        revoked_at: None,
    };
    assert_eq!(created, expected);
    let (found, hash) = store
        .find_access_token_by_lookup("tok1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, expected);
    assert_eq!(hash, input.secret_hash);
    assert_eq!(
        store.find_access_token_by_lookup("tok2").await.unwrap(),
        None
    );
}

async fn duplicate_token_lookup_conflicts(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    let first = store
        .create_access_token(new_access_token(acme.id, erin.id, "tok"))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_access_token(new_access_token(acme.id, erin.id, "tok"))
            .await
            .unwrap_err(),
        "access token",
        "lookup",
        "tok",
    );
    let same_id = NewAccessToken {
        id: first.id,
        ..new_access_token(acme.id, erin.id, "other")
    };
    assert_conflict(
        store.create_access_token(same_id).await.unwrap_err(),
        "access token",
        "id",
        &first.id.to_string(),
    );
}

async fn access_token_parents_must_exist_in_the_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let outsider = user(store, other.id, "o@example.com", Role::Admin).await;

    let missing_tenant = TenantId::new();
    assert_not_found(
        store
            .create_access_token(new_access_token(missing_tenant, outsider.id, "t1"))
            .await
            .unwrap_err(),
        "tenant",
        missing_tenant,
    );
    assert_not_found(
        store
            .create_access_token(new_access_token(acme.id, outsider.id, "t2"))
            .await
            .unwrap_err(),
        "user",
        outsider.id,
    );
    let missing_user = UserId::new();
    assert_not_found(
        store
            .create_access_token(new_access_token(acme.id, missing_user, "t3"))
            .await
            .unwrap_err(),
        "user",
        missing_user,
    );
}

async fn revoke_access_token_keeps_the_first_time(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    let token = store
        .create_access_token(new_access_token(acme.id, erin.id, "tok"))
        .await
        .unwrap();
    store.revoke_access_token(token.id, at(10)).await.unwrap();
    store.revoke_access_token(token.id, at(20)).await.unwrap();
    let (found, _) = store
        .find_access_token_by_lookup("tok")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.revoked_at, Some(at(10)));

    let missing = AccessTokenId::new();
    assert_not_found(
        store.revoke_access_token(missing, at(1)).await.unwrap_err(),
        "access token",
        missing,
    );
}

async fn revoke_user_access_tokens_revokes_only_live_tokens_of_that_user(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    let frank = user(store, acme.id, "frank@example.com", Role::Viewer).await;

    for i in 0..3 {
        store
            .create_access_token(new_access_token(acme.id, erin.id, &format!("live{i}")))
            .await
            .unwrap();
    }
    let expired = NewAccessToken {
        expires_at: at(50),
        ..new_access_token(acme.id, erin.id, "expired")
    };
    store.create_access_token(expired).await.unwrap();
    let already = store
        .create_access_token(new_access_token(acme.id, erin.id, "already"))
        .await
        .unwrap();
    store.revoke_access_token(already.id, at(5)).await.unwrap();
    store
        .create_access_token(new_access_token(acme.id, frank.id, "frank"))
        .await
        .unwrap();

    let now = at(100);
    assert_eq!(
        store
            .revoke_user_access_tokens(acme.id, erin.id, now)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .revoke_user_access_tokens(acme.id, erin.id, at(200))
            .await
            .unwrap(),
        0
    );
    let revoked_at = async |lookup: &str| {
        store
            .find_access_token_by_lookup(lookup)
            .await
            .unwrap()
            .unwrap()
            .0
            .revoked_at
    };
    for i in 0..3 {
        assert_eq!(revoked_at(&format!("live{i}")).await, Some(now));
    }
    assert_eq!(revoked_at("expired").await, None);
    assert_eq!(revoked_at("already").await, Some(at(5)));
    assert_eq!(revoked_at("frank").await, None);

    // Scoped to the tenant: naming the user under another tenant revokes nothing.
    let other = tenant(store, "other").await;
    assert_eq!(
        store
            .revoke_user_access_tokens(other.id, frank.id, now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(revoked_at("frank").await, None);
}
