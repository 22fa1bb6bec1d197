//! Access tokens: lookup, conflicts, parents and revocation.

use heddle_store::NewAccessToken;
use heddle_types::{AccessToken, AccessTokenId, Role, TenantId, UserId};

use crate::fixtures::{
    assert_conflict, assert_not_found, at, event, new_access_token, tenant, user,
};
use crate::harness::TestDb;

conformance_tests!(
    create_and_find_access_token,
    duplicate_token_lookup_conflicts,
    access_token_parents_must_exist_in_the_tenant,
    revoke_access_token_keeps_the_first_time,
);

async fn create_and_find_access_token(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    let input = new_access_token(acme.id, erin.id, "tok1");
    let created = store
        .create_access_token(input.clone(), event(input.tenant_id, "access_token.create"))
        .await
        .unwrap();
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
        .create_access_token(
            new_access_token(acme.id, erin.id, "tok"),
            event(acme.id, "access_token.create"),
        )
        .await
        .unwrap();
    assert_conflict(
        store
            .create_access_token(
                new_access_token(acme.id, erin.id, "tok"),
                event(acme.id, "access_token.create"),
            )
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
        store
            .create_access_token(same_id, event(acme.id, "access_token.create"))
            .await
            .unwrap_err(),
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
            .create_access_token(
                new_access_token(missing_tenant, outsider.id, "t1"),
                event(missing_tenant, "access_token.create"),
            )
            .await
            .unwrap_err(),
        "tenant",
        missing_tenant,
    );
    assert_not_found(
        store
            .create_access_token(
                new_access_token(acme.id, outsider.id, "t2"),
                event(acme.id, "access_token.create"),
            )
            .await
            .unwrap_err(),
        "user",
        outsider.id,
    );
    let missing_user = UserId::new();
    assert_not_found(
        store
            .create_access_token(
                new_access_token(acme.id, missing_user, "t3"),
                event(acme.id, "access_token.create"),
            )
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
        .create_access_token(
            new_access_token(acme.id, erin.id, "tok"),
            event(acme.id, "access_token.create"),
        )
        .await
        .unwrap();
    store
        .revoke_access_token(token.id, at(10), event(acme.id, "access_token.revoke"))
        .await
        .unwrap();
    store
        .revoke_access_token(token.id, at(20), event(acme.id, "access_token.revoke"))
        .await
        .unwrap();
    let (found, _) = store
        .find_access_token_by_lookup("tok")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.revoked_at, Some(at(10)));

    let missing = AccessTokenId::new();
    assert_not_found(
        store
            .revoke_access_token(missing, at(1), event(acme.id, "access_token.revoke"))
            .await
            .unwrap_err(),
        "access token",
        missing,
    );
}
