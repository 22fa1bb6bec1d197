//! Users: creation, lookup, updates, admin counting and tenant isolation.

use std::collections::BTreeSet;

use heddle_store::{NewAccessToken, NewAuditEvent, NewUser, UserUpdate};
use heddle_types::{PageRequest, Role, TenantId, User, UserId};

use crate::fixtures::{
    assert_conflict, assert_not_found, at, event, new_access_token, new_user, tenant, user,
};
use crate::harness::TestDb;

conformance_tests!(
    create_and_get_user_lowercases_email,
    duplicate_email_conflicts_case_insensitively,
    duplicate_user_id_conflicts,
    create_user_in_unknown_tenant_is_not_found,
    find_user_credentials_matches_email_case_insensitively,
    update_user_changes_only_given_fields,
    update_unknown_user_is_not_found,
    count_active_admins_counts_enabled_admins_of_the_tenant,
    list_users_walks_every_page_once,
    users_are_isolated_between_tenants,
    disabling_or_new_password_revokes_only_live_tokens_of_that_user,
);

async fn create_and_get_user_lowercases_email(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let input = NewUser {
        password_hash: None,
        ..new_user(acme.id, "Alice.Smith@Example.COM", Role::Builder)
    };
    let created = store
        .create_user(input.clone(), event(input.tenant_id, "user.create"))
        .await
        .unwrap();
    let expected = User {
        id: input.id,
        tenant_id: acme.id,
        email: "alice.smith@example.com".to_owned(),
        display_name: input.display_name.clone(),
        role: Role::Builder,
        disabled: false,
        created_at: input.created_at,
        updated_at: input.created_at,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_user(acme.id, input.id).await.unwrap(), expected);
}

async fn duplicate_email_conflicts_case_insensitively(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    user(store, acme.id, "bob@example.com", Role::Viewer).await;
    let err = store
        .create_user(
            new_user(acme.id, "BOB@Example.com", Role::Admin),
            event(acme.id, "user.create"),
        )
        .await
        .unwrap_err();
    assert_conflict(err, "user", "email", "bob@example.com");
    // The same address is free in another tenant.
    user(store, other.id, "Bob@example.com", Role::Viewer).await;
}

async fn duplicate_user_id_conflicts(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let first = user(store, acme.id, "one@example.com", Role::Viewer).await;
    let err = store
        .create_user(
            NewUser {
                id: first.id,
                ..new_user(acme.id, "two@example.com", Role::Viewer)
            },
            event(acme.id, "user.create"),
        )
        .await
        .unwrap_err();
    assert_conflict(err, "user", "id", &first.id.to_string());
}

async fn create_user_in_unknown_tenant_is_not_found(db: TestDb) {
    let store = &*db.store;
    let missing = TenantId::new();
    let err = store
        .create_user(
            new_user(missing, "a@example.com", Role::Admin),
            event(missing, "user.create"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "tenant", missing);
}

async fn find_user_credentials_matches_email_case_insensitively(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let with_password = user(store, acme.id, "Carol@Example.com", Role::Operator).await;
    let without_password = store
        .create_user(
            NewUser {
                password_hash: None,
                ..new_user(acme.id, "sso@example.com", Role::Viewer)
            },
            event(acme.id, "user.create"),
        )
        .await
        .unwrap();

    let (found, hash) = store
        .find_user_credentials(acme.id, "CAROL@EXAMPLE.COM")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, with_password);
    assert_eq!(
        hash.as_deref(),
        Some("$argon2id$v=19$m=8,t=1,p=1$Carol@Example.com")
    );

    let (found, hash) = store
        .find_user_credentials(acme.id, "sso@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, without_password);
    assert_eq!(hash, None);

    assert_eq!(
        store
            .find_user_credentials(acme.id, "nobody@example.com")
            .await
            .unwrap(),
        None
    );
}

async fn update_user_changes_only_given_fields(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let original = user(store, acme.id, "dave@example.com", Role::Viewer).await;

    let renamed = store
        .update_user(
            acme.id,
            original.id,
            UserUpdate {
                display_name: Some("Dave Ünicode".to_owned()),
                updated_at: Some(at(100)),
                ..UserUpdate::default()
            },
            event(acme.id, "user.update"),
        )
        .await
        .unwrap();
    assert_eq!(
        renamed,
        User {
            display_name: "Dave Ünicode".to_owned(),
            updated_at: at(100),
            ..original.clone()
        }
    );

    let promoted = store
        .update_user(
            acme.id,
            original.id,
            UserUpdate {
                role: Some(Role::ComplianceOfficer),
                disabled: Some(true),
                password_hash: Some("$argon2id$new".to_owned()),
                updated_at: Some(at(200)),
                ..UserUpdate::default()
            },
            event(acme.id, "user.update"),
        )
        .await
        .unwrap();
    let expected = User {
        role: Role::ComplianceOfficer,
        disabled: true,
        updated_at: at(200),
        ..renamed
    };
    assert_eq!(promoted, expected);
    assert_eq!(
        store.get_user(acme.id, original.id).await.unwrap(),
        expected
    );
    let (_, hash) = store
        .find_user_credentials(acme.id, "dave@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash.as_deref(), Some("$argon2id$new"));

    // An empty update changes nothing.
    let unchanged = store
        .update_user(
            acme.id,
            original.id,
            UserUpdate::default(),
            event(acme.id, "user.update"),
        )
        .await
        .unwrap();
    assert_eq!(unchanged, expected);

    let enabled = store
        .update_user(
            acme.id,
            original.id,
            UserUpdate {
                disabled: Some(false),
                ..UserUpdate::default()
            },
            event(acme.id, "user.update"),
        )
        .await
        .unwrap();
    assert!(!enabled.disabled);
}

async fn update_unknown_user_is_not_found(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let missing = UserId::new();
    let err = store
        .update_user(
            acme.id,
            missing,
            UserUpdate::default(),
            event(acme.id, "user.update"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "user", missing);
}

async fn count_active_admins_counts_enabled_admins_of_the_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    assert_eq!(store.count_active_admins(acme.id).await.unwrap(), 0);
    let first = user(store, acme.id, "a1@example.com", Role::Admin).await;
    let second = user(store, acme.id, "a2@example.com", Role::Admin).await;
    user(store, acme.id, "v@example.com", Role::Viewer).await;
    user(store, other.id, "a@other.example", Role::Admin).await;
    assert_eq!(store.count_active_admins(acme.id).await.unwrap(), 2);

    let disable = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    store
        .update_user(acme.id, first.id, disable, event(acme.id, "user.update"))
        .await
        .unwrap();
    assert_eq!(store.count_active_admins(acme.id).await.unwrap(), 1);

    let demote = UserUpdate {
        role: Some(Role::Builder),
        ..UserUpdate::default()
    };
    store
        .update_user(acme.id, second.id, demote, event(acme.id, "user.update"))
        .await
        .unwrap();
    assert_eq!(store.count_active_admins(acme.id).await.unwrap(), 0);
    assert_eq!(store.count_active_admins(other.id).await.unwrap(), 1);
    assert_eq!(store.count_active_admins(TenantId::new()).await.unwrap(), 0);
}

async fn list_users_walks_every_page_once(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let mut inputs: Vec<NewUser> = (0..17)
        .map(|i| new_user(acme.id, &format!("u{i}@example.com"), Role::Viewer))
        .collect();
    inputs.reverse();
    for input in &inputs {
        store
            .create_user(input.clone(), event(input.tenant_id, "user.create"))
            .await
            .unwrap();
        // Interleave another tenant's users; they must never show up.
        store
            .create_user(
                new_user(other.id, &input.email, Role::Viewer),
                event(other.id, "user.create"),
            )
            .await
            .unwrap();
    }
    let mut expected: Vec<UserId> = inputs.iter().map(|u| u.id).collect();
    expected.sort();

    let mut seen = Vec::new();
    let mut page = PageRequest::first(4);
    loop {
        let result = store.list_users(acme.id, page).await.unwrap();
        assert!(result.items.iter().all(|u| u.tenant_id == acme.id));
        seen.extend(result.items.iter().map(|u| u.id));
        match result.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 17);

    let empty = store
        .list_users(TenantId::new(), PageRequest::first(10))
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next_cursor, None);
}

async fn users_are_isolated_between_tenants(db: TestDb) {
    let store = &*db.store;
    let tenant_a = tenant(store, "tenant-a").await;
    let tenant_b = tenant(store, "tenant-b").await;
    let alice = user(store, tenant_a.id, "alice@example.com", Role::Admin).await;

    assert_not_found(
        store.get_user(tenant_b.id, alice.id).await.unwrap_err(),
        "user",
        alice.id,
    );
    let err = store
        .update_user(
            tenant_b.id,
            alice.id,
            UserUpdate {
                disabled: Some(true),
                ..UserUpdate::default()
            },
            event(tenant_b.id, "user.update"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "user", alice.id);
    assert!(
        !store
            .get_user(tenant_a.id, alice.id)
            .await
            .unwrap()
            .disabled
    );
    assert_eq!(
        store
            .find_user_credentials(tenant_b.id, "alice@example.com")
            .await
            .unwrap(),
        None
    );
    let listed = store
        .list_users(tenant_b.id, PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert_eq!(store.count_active_admins(tenant_b.id).await.unwrap(), 0);
}

/// `update_user` revokes the user's live login tokens in its own transaction when it disables
/// the user or sets a password, and only then.
async fn disabling_or_new_password_revokes_only_live_tokens_of_that_user(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let erin = user(store, acme.id, "erin@example.com", Role::Viewer).await;
    let frank = user(store, acme.id, "frank@example.com", Role::Viewer).await;
    let create_token = async |input: NewAccessToken| {
        store
            .create_access_token(input, event(acme.id, "access_token.create"))
            .await
            .unwrap()
    };
    for i in 0..3 {
        create_token(new_access_token(acme.id, erin.id, &format!("live{i}"))).await;
    }
    create_token(NewAccessToken {
        expires_at: at(50),
        ..new_access_token(acme.id, erin.id, "expired")
    })
    .await;
    let already = create_token(new_access_token(acme.id, erin.id, "already")).await;
    store
        .revoke_access_token(already.id, at(5), event(acme.id, "access_token.revoke"))
        .await
        .unwrap();
    create_token(new_access_token(acme.id, frank.id, "frank")).await;
    let revoked_at = async |lookup: &str| {
        store
            .find_access_token_by_lookup(lookup)
            .await
            .unwrap()
            .unwrap()
            .0
            .revoked_at
    };
    let update = async |user_id, update: UserUpdate| {
        store
            .update_user(acme.id, user_id, update, event(acme.id, "user.update"))
            .await
            .unwrap()
    };

    // Renaming, re-enabling or changing the role leaves the tokens alone.
    update(
        erin.id,
        UserUpdate {
            display_name: Some("Erin".to_owned()),
            role: Some(Role::Builder),
            disabled: Some(false),
            updated_at: Some(at(60)),
            ..UserUpdate::default()
        },
    )
    .await;
    assert_eq!(revoked_at("live0").await, None);

    update(
        erin.id,
        UserUpdate {
            disabled: Some(true),
            updated_at: Some(at(100)),
            ..UserUpdate::default()
        },
    )
    .await;
    for i in 0..3 {
        assert_eq!(revoked_at(&format!("live{i}")).await, Some(at(100)));
    }
    assert_eq!(revoked_at("expired").await, None);
    assert_eq!(revoked_at("already").await, Some(at(5)));
    assert_eq!(revoked_at("frank").await, None);

    // A new password revokes tokens issued since; earlier revocations keep their time.
    create_token(new_access_token(acme.id, erin.id, "later")).await;
    update(
        erin.id,
        UserUpdate {
            password_hash: Some("$argon2id$changed".to_owned()),
            updated_at: Some(at(200)),
            ..UserUpdate::default()
        },
    )
    .await;
    assert_eq!(revoked_at("later").await, Some(at(200)));
    assert_eq!(revoked_at("live0").await, Some(at(100)));

    // Scoped to the tenant: naming frank under another tenant changes nothing.
    let other = tenant(store, "other").await;
    let err = store
        .update_user(
            other.id,
            frank.id,
            UserUpdate {
                disabled: Some(true),
                ..UserUpdate::default()
            },
            event(other.id, "user.update"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "user", frank.id);
    assert_eq!(revoked_at("frank").await, None);

    // Without `updated_at` the event's time is the revocation time.
    store
        .update_user(
            acme.id,
            frank.id,
            UserUpdate {
                password_hash: Some("$argon2id$frank".to_owned()),
                ..UserUpdate::default()
            },
            NewAuditEvent {
                occurred_at: at(300),
                ..event(acme.id, "user.update")
            },
        )
        .await
        .unwrap();
    assert_eq!(revoked_at("frank").await, Some(at(300)));
}
