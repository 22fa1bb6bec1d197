//! Secrets: metadata and sealed values, names unique among live secrets, versioned rotation,
//! soft delete that forgets the ciphertext, filters, pagination and tenant isolation.

use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::{NewSecret, SealedSecret, SecretFilter, SecretRotation, Store, StoreError};
use heddle_types::{
    Environment, PageRequest, Role, Secret, SecretId, SecretKind, TenantId, UserId,
};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::fixtures::{assert_conflict, assert_not_found, at, event, tenant, user};
use crate::harness::{TestDb, create_schema, drop_schema, postgres_admin_options};

conformance_tests!(
    create_get_and_open_a_secret,
    secret_parents_must_exist_in_the_tenant,
    names_are_unique_per_environment_among_live_secrets,
    rotation_replaces_the_value_and_checks_the_version,
    delete_forgets_the_sealed_value_for_good,
    list_secrets_filters_and_walks_every_page_once,
    secrets_are_isolated_between_tenants,
    every_change_writes_one_outbox_event_and_failures_none,
);

fn sealed(marker: u8, data_key_version: u32) -> SealedSecret {
    SealedSecret {
        data_key_version,
        // Arbitrary bytes, including NUL and 0xff, must round-trip.
        ciphertext: [0, marker, 255, 7].repeat(16),
    }
}

fn new_secret(tenant_id: TenantId, environment: Environment, name: &str) -> NewSecret {
    NewSecret {
        id: SecretId::new(),
        tenant_id,
        environment,
        name: name.to_owned(),
        kind: SecretKind::ApiKey,
        sealed: sealed(1, 1),
        masked: "…abcd".to_owned(),
        created_by: None,
        created_at: at(10),
    }
}

async fn create(store: &dyn Store, input: NewSecret) -> Secret {
    let tenant_id = input.tenant_id;
    store
        .create_secret(input, event(tenant_id, "secret.create"))
        .await
        .unwrap()
}

fn rotation(version: u32, marker: u8) -> SecretRotation {
    SecretRotation {
        version,
        sealed: sealed(marker, 2),
        masked: format!("…{marker:04}"),
        at: at(20 + i64::from(version)),
    }
}

async fn create_get_and_open_a_secret(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let creator = user(store, acme.id, "admin@example.com", Role::Admin).await;
    let input = NewSecret {
        kind: SecretKind::DatabaseCredential,
        created_by: Some(creator.id),
        masked: "username=app, host=db.internal, password=…wxyz".to_owned(),
        ..new_secret(acme.id, Environment::Staging, "orders-db")
    };
    let created = create(store, input.clone()).await;
    let expected = Secret {
        id: input.id,
        tenant_id: acme.id,
        environment: Environment::Staging,
        name: "orders-db".to_owned(),
        kind: SecretKind::DatabaseCredential,
        version: 1,
        masked: input.masked.clone(),
        created_by: Some(creator.id),
        created_at: at(10),
        updated_at: at(10),
        deleted_at: None,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_secret(acme.id, input.id).await.unwrap(), expected);
    let (secret, value) = store.get_sealed_secret(acme.id, input.id).await.unwrap();
    assert_eq!(secret, expected);
    assert_eq!(value, input.sealed);

    let missing = SecretId::new();
    assert_not_found(
        store.get_secret(acme.id, missing).await.unwrap_err(),
        "secret",
        missing,
    );
    assert_not_found(
        store.get_sealed_secret(acme.id, missing).await.unwrap_err(),
        "secret",
        missing,
    );
}

async fn secret_parents_must_exist_in_the_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let outsider = user(store, other.id, "eve@example.com", Role::Admin).await;

    let nowhere = TenantId::new();
    let err = store
        .create_secret(
            new_secret(nowhere, Environment::Dev, "x"),
            event(nowhere, "secret.create"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "tenant", nowhere);

    // The composite foreign key refuses a creator from another tenant.
    let input = NewSecret {
        created_by: Some(outsider.id),
        ..new_secret(acme.id, Environment::Dev, "x")
    };
    let err = store
        .create_secret(input, event(acme.id, "secret.create"))
        .await
        .unwrap_err();
    assert_not_found(err, "user", outsider.id);

    let ghost = UserId::new();
    let input = NewSecret {
        created_by: Some(ghost),
        ..new_secret(acme.id, Environment::Dev, "x")
    };
    let err = store
        .create_secret(input, event(acme.id, "secret.create"))
        .await
        .unwrap_err();
    assert_not_found(err, "user", ghost);
}

async fn names_are_unique_per_environment_among_live_secrets(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let first = create(store, new_secret(acme.id, Environment::Prod, "openai")).await;

    let err = store
        .create_secret(
            new_secret(acme.id, Environment::Prod, "openai"),
            event(acme.id, "secret.create"),
        )
        .await
        .unwrap_err();
    assert_conflict(err, "secret", "name", "openai");

    // Another environment, another tenant, or another case is another name.
    create(store, new_secret(acme.id, Environment::Dev, "openai")).await;
    create(store, new_secret(other.id, Environment::Prod, "openai")).await;
    create(store, new_secret(acme.id, Environment::Prod, "OpenAI")).await;

    // Once deleted, the name is free again; the deleted row stays as history.
    store
        .delete_secret(acme.id, first.id, at(30), event(acme.id, "secret.delete"))
        .await
        .unwrap();
    let again = create(store, new_secret(acme.id, Environment::Prod, "openai")).await;
    assert_ne!(again.id, first.id);
    assert_eq!(again.version, 1);
}

async fn rotation_replaces_the_value_and_checks_the_version(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let created = create(store, new_secret(acme.id, Environment::Dev, "stripe")).await;

    let rotated = store
        .rotate_secret(
            acme.id,
            created.id,
            rotation(2, 9),
            event(acme.id, "secret.rotate"),
        )
        .await
        .unwrap();
    assert_eq!(
        rotated,
        Secret {
            version: 2,
            masked: "…0009".to_owned(),
            updated_at: at(22),
            ..created.clone()
        }
    );
    let (_, value) = store.get_sealed_secret(acme.id, created.id).await.unwrap();
    assert_eq!(value, sealed(9, 2));

    // A value sealed for a version that is not next (a lost race, a replay) is refused.
    for stale in [1, 2, 4] {
        let err = store
            .rotate_secret(
                acme.id,
                created.id,
                rotation(stale, 3),
                event(acme.id, "secret.rotate"),
            )
            .await
            .unwrap_err();
        assert_conflict(err, "secret", "version", "2");
    }
    let (secret, value) = store.get_sealed_secret(acme.id, created.id).await.unwrap();
    assert_eq!((secret.version, value), (2, sealed(9, 2)));

    store
        .rotate_secret(
            acme.id,
            created.id,
            rotation(3, 4),
            event(acme.id, "secret.rotate"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_secret(acme.id, created.id).await.unwrap().version,
        3
    );

    let missing = SecretId::new();
    let err = store
        .rotate_secret(
            acme.id,
            missing,
            rotation(2, 1),
            event(acme.id, "secret.rotate"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "secret", missing);
}

async fn delete_forgets_the_sealed_value_for_good(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let kept = create(store, new_secret(acme.id, Environment::Dev, "kept")).await;
    let doomed = create(store, new_secret(acme.id, Environment::Dev, "doomed")).await;

    let deleted = store
        .delete_secret(acme.id, doomed.id, at(40), event(acme.id, "secret.delete"))
        .await
        .unwrap();
    assert_eq!(
        deleted,
        Secret {
            deleted_at: Some(at(40)),
            updated_at: at(40),
            ..doomed.clone()
        }
    );
    assert_not_found(
        store.get_secret(acme.id, doomed.id).await.unwrap_err(),
        "secret",
        doomed.id,
    );
    assert_not_found(
        store
            .get_sealed_secret(acme.id, doomed.id)
            .await
            .unwrap_err(),
        "secret",
        doomed.id,
    );
    let err = store
        .delete_secret(acme.id, doomed.id, at(41), event(acme.id, "secret.delete"))
        .await
        .unwrap_err();
    assert_not_found(err, "secret", doomed.id);
    let err = store
        .rotate_secret(
            acme.id,
            doomed.id,
            rotation(2, 1),
            event(acme.id, "secret.rotate"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "secret", doomed.id);
    let listed = store
        .list_secrets(acme.id, SecretFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items, std::slice::from_ref(&kept));

    // The database itself holds no ciphertext for the deleted row, refuses to change it,
    // and refuses a live secret without a value.
    assert!(
        db.execute_raw("UPDATE secrets SET masked = 'x' WHERE deleted_at IS NOT NULL")
            .await
            .is_err(),
        "a deleted secret was changed"
    );
    assert!(
        db.execute_raw("UPDATE secrets SET sealed = NULL WHERE deleted_at IS NULL")
            .await
            .is_err(),
        "a live secret lost its value"
    );
    assert_eq!(
        db.execute_raw("DELETE FROM secrets WHERE sealed IS NULL AND deleted_at IS NOT NULL")
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.get_secret(acme.id, kept.id).await.unwrap(), kept);
}

async fn list_secrets_filters_and_walks_every_page_once(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    create(store, new_secret(other.id, Environment::Dev, "foreign")).await;
    let mut all = Vec::new();
    for (i, environment) in [Environment::Dev, Environment::Staging, Environment::Prod]
        .into_iter()
        .cycle()
        .take(9)
        .enumerate()
    {
        let kind = if i % 2 == 0 {
            SecretKind::ApiKey
        } else {
            SecretKind::Custom
        };
        let input = NewSecret {
            kind,
            ..new_secret(acme.id, environment, &format!("s{i}"))
        };
        all.push(create(store, input).await);
    }

    let mut seen = Vec::new();
    let mut page = PageRequest::first(4);
    loop {
        let result = store
            .list_secrets(acme.id, SecretFilter::default(), page)
            .await
            .unwrap();
        assert!(result.items.len() <= 4);
        seen.extend(result.items);
        match result.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, all);

    for environment in [Environment::Dev, Environment::Staging, Environment::Prod] {
        for kind in [None, Some(SecretKind::ApiKey), Some(SecretKind::Custom)] {
            let filter = SecretFilter {
                environment: Some(environment),
                kind,
            };
            let listed = store
                .list_secrets(acme.id, filter, PageRequest::first(50))
                .await
                .unwrap();
            let expected: Vec<Secret> = all
                .iter()
                .filter(|s| s.environment == environment && kind.is_none_or(|k| s.kind == k))
                .cloned()
                .collect();
            assert_eq!(listed.items, expected, "{filter:?}");
            assert_eq!(listed.next_cursor, None);
        }
    }
    let only_kind = SecretFilter {
        environment: None,
        kind: Some(SecretKind::OauthClient),
    };
    let listed = store
        .list_secrets(acme.id, only_kind, PageRequest::first(50))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
}

async fn secrets_are_isolated_between_tenants(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let theirs = create(store, new_secret(other.id, Environment::Dev, "theirs")).await;

    assert_not_found(
        store.get_secret(acme.id, theirs.id).await.unwrap_err(),
        "secret",
        theirs.id,
    );
    assert_not_found(
        store
            .get_sealed_secret(acme.id, theirs.id)
            .await
            .unwrap_err(),
        "secret",
        theirs.id,
    );
    let err = store
        .rotate_secret(
            acme.id,
            theirs.id,
            rotation(2, 1),
            event(acme.id, "secret.rotate"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, "secret", theirs.id);
    let err = store
        .delete_secret(acme.id, theirs.id, at(50), event(acme.id, "secret.delete"))
        .await
        .unwrap_err();
    assert_not_found(err, "secret", theirs.id);
    let listed = store
        .list_secrets(acme.id, SecretFilter::default(), PageRequest::first(50))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    // Untouched by all of the above.
    assert_eq!(store.get_secret(other.id, theirs.id).await.unwrap(), theirs);
}

async fn outbox(store: &dyn Store) -> u64 {
    store.audit_outbox_len().await.unwrap()
}

async fn every_change_writes_one_outbox_event_and_failures_none(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let start = outbox(store).await;

    let secret = create(store, new_secret(acme.id, Environment::Dev, "a")).await;
    assert_eq!(outbox(store).await, start + 1);
    store
        .rotate_secret(
            acme.id,
            secret.id,
            rotation(2, 1),
            event(acme.id, "secret.rotate"),
        )
        .await
        .unwrap();
    assert_eq!(outbox(store).await, start + 2);
    store
        .delete_secret(acme.id, secret.id, at(60), event(acme.id, "secret.delete"))
        .await
        .unwrap();
    assert_eq!(outbox(store).await, start + 3);

    // Refused changes roll back with their event.
    let taken = create(store, new_secret(acme.id, Environment::Dev, "taken")).await;
    let before = outbox(store).await;
    let failures: [StoreError; 3] = [
        store
            .create_secret(
                new_secret(acme.id, Environment::Dev, "taken"),
                event(acme.id, "secret.create"),
            )
            .await
            .unwrap_err(),
        store
            .rotate_secret(
                acme.id,
                taken.id,
                rotation(5, 1),
                event(acme.id, "secret.rotate"),
            )
            .await
            .unwrap_err(),
        store
            .delete_secret(acme.id, secret.id, at(61), event(acme.id, "secret.delete"))
            .await
            .unwrap_err(),
    ];
    assert_eq!(failures.len(), 3);
    assert_eq!(outbox(store).await, before);
}

/// The least-privilege grants of `src/postgres/app_role.sql` cover every secret operation,
/// and leave the role no way to remove a secret's history or bring back a deleted value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_manages_secrets_but_cannot_erase_them() {
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

    let outcome = tokio::spawn(manage_secrets_as(owner.clone().username(&role))).await;

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

async fn manage_secrets_as(options: PgConnectOptions) {
    let pg = PgStore::connect_with_options(options.clone())
        .await
        .unwrap();
    let store: &dyn Store = &pg;
    let acme = tenant(store, "acme").await;
    let secret = create(store, new_secret(acme.id, Environment::Prod, "openai")).await;
    store
        .rotate_secret(
            acme.id,
            secret.id,
            rotation(2, 5),
            event(acme.id, "secret.rotate"),
        )
        .await
        .unwrap();
    store
        .list_secrets(acme.id, SecretFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    store
        .delete_secret(acme.id, secret.id, at(70), event(acme.id, "secret.delete"))
        .await
        .unwrap();
    pg.close().await;

    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    for (sql, reason) in [
        ("DELETE FROM secrets", "permission denied"),
        ("TRUNCATE secrets", "permission denied"),
        (
            "UPDATE secrets SET sealed = '\\x00'::bytea, deleted_at = NULL",
            "cannot be changed",
        ),
        (
            "ALTER TABLE secrets DISABLE TRIGGER secrets_stay_deleted",
            "must be owner",
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
