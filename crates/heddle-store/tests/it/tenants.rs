//! Tenants, listing and bootstrap.

use std::collections::BTreeSet;

use heddle_store::{Bootstrap, NewTenant, NewUser};
use heddle_types::{PageRequest, Role, Tenant, TenantId, UserId};

use crate::fixtures::{assert_conflict, assert_not_found, at, event, new_tenant, tenant};
use crate::harness::TestDb;

conformance_tests!(
    ping_reports_engine,
    create_get_and_find_tenant,
    duplicate_slug_conflicts,
    duplicate_tenant_id_conflicts,
    list_tenants_walks_every_page_once,
    list_tenants_clamps_the_limit,
    bootstrap_creates_tenant_and_admin_once,
    bootstrap_does_nothing_when_a_tenant_exists,
    bootstrap_race_has_one_winner,
    tenant_with_admin_is_created_together,
    tenant_with_admin_leaves_nothing_on_conflict,
);

async fn tenant_with_admin_is_created_together(db: TestDb) {
    let store = &*db.store;
    let Bootstrap { tenant, admin } = bootstrap_input("acme");
    let tenant = NewTenant {
        operator: false,
        ..tenant
    };
    let (created, first_admin) = store
        .create_tenant_with_admin(
            tenant.clone(),
            admin.clone(),
            event(tenant.id, "tenant.create"),
        )
        .await
        .unwrap();
    assert_eq!(created.slug, "acme");
    assert_eq!(first_admin.tenant_id, tenant.id);
    assert_eq!(store.count_active_admins(tenant.id).await.unwrap(), 1);
}

async fn tenant_with_admin_leaves_nothing_on_conflict(db: TestDb) {
    let store = &*db.store;
    tenant(store, "acme").await;
    let Bootstrap {
        tenant: second,
        admin,
    } = bootstrap_input("acme");
    let err = store
        .create_tenant_with_admin(
            second.clone(),
            admin.clone(),
            event(second.id, "tenant.create"),
        )
        .await
        .unwrap_err();
    assert_conflict(err, "tenant", "slug", "acme");
    assert_not_found(
        store.get_user(second.id, admin.id).await.unwrap_err(),
        "user",
        admin.id,
    );
    // A duplicate admin id (the user insert fails after the tenant insert) rolls back the
    // tenant as well.
    let existing_user = {
        let Bootstrap { tenant, admin } = bootstrap_input("first");
        let audit = event(tenant.id, "tenant.create");
        store
            .create_tenant_with_admin(tenant, admin, audit)
            .await
            .unwrap()
            .1
    };
    let Bootstrap {
        tenant: third,
        admin,
    } = bootstrap_input("third");
    let clashing = NewUser {
        id: existing_user.id,
        ..admin
    };
    store
        .create_tenant_with_admin(third.clone(), clashing, event(third.id, "tenant.create"))
        .await
        .unwrap_err();
    assert_eq!(store.find_tenant_by_slug("third").await.unwrap(), None);
}

async fn ping_reports_engine(db: TestDb) {
    db.store.ping().await.unwrap();
    assert_eq!(db.store.engine(), db.engine());
}

async fn create_get_and_find_tenant(db: TestDb) {
    let store = &*db.store;
    let input = NewTenant {
        operator: true,
        ..new_tenant("acme")
    };
    let created = store
        .create_tenant(input.clone(), event(input.id, "tenant.create"))
        .await
        .unwrap();
    let expected = Tenant {
        id: input.id,
        slug: input.slug,
        name: input.name,
        operator: true,
        created_at: input.created_at,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_tenant(expected.id).await.unwrap(), expected);
    assert_eq!(
        store.find_tenant_by_slug("acme").await.unwrap(),
        Some(expected)
    );
    assert_eq!(store.find_tenant_by_slug("ACME").await.unwrap(), None);
    assert_eq!(store.find_tenant_by_slug("nope").await.unwrap(), None);

    let missing = TenantId::new();
    assert_not_found(
        store.get_tenant(missing).await.unwrap_err(),
        "tenant",
        missing,
    );
}

async fn duplicate_slug_conflicts(db: TestDb) {
    let store = &*db.store;
    tenant(store, "acme").await;
    let err = store
        .create_tenant(new_tenant("acme"), event(TenantId::new(), "tenant.create"))
        .await
        .unwrap_err();
    assert_conflict(err, "tenant", "slug", "acme");
}

async fn duplicate_tenant_id_conflicts(db: TestDb) {
    let store = &*db.store;
    let first = tenant(store, "first").await;
    let err = store
        .create_tenant(
            NewTenant {
                id: first.id,
                ..new_tenant("second")
            },
            event(first.id, "tenant.create"),
        )
        .await
        .unwrap_err();
    assert_conflict(err, "tenant", "id", &first.id.to_string());
}

async fn list_tenants_walks_every_page_once(db: TestDb) {
    let store = &*db.store;
    // Inserted newest id first, so the order can only come from sorting by id.
    let mut inputs: Vec<NewTenant> = (0..23).map(|i| new_tenant(&format!("t{i:02}"))).collect();
    inputs.reverse();
    for input in &inputs {
        store
            .create_tenant(input.clone(), event(input.id, "tenant.create"))
            .await
            .unwrap();
    }
    let expected: Vec<TenantId> = inputs.iter().rev().map(|t| t.id).collect();

    for page_size in [1, 5, 7, 23, 200] {
        let mut seen = Vec::new();
        let mut page = PageRequest::first(page_size);
        let mut pages = 0;
        loop {
            let result = store.list_tenants(page).await.unwrap();
            pages += 1;
            assert!(result.items.len() <= page_size as usize);
            seen.extend(result.items.iter().map(|t| t.id));
            match result.next_cursor {
                Some(cursor) => {
                    assert_eq!(Some(&cursor), result.items.last().map(|t| t.id.as_uuid()));
                    page.after = Some(cursor);
                }
                None => break,
            }
            assert!(pages <= 23, "pagination does not terminate");
        }
        assert_eq!(seen, expected, "page size {page_size}");
        assert_eq!(
            pages,
            23usize.div_ceil(page_size as usize),
            "page size {page_size}"
        );
    }
}

async fn list_tenants_clamps_the_limit(db: TestDb) {
    let store = &*db.store;
    for i in 0..3 {
        tenant(store, &format!("t{i}")).await;
    }
    let zero = store
        .list_tenants(PageRequest {
            after: None,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(zero.items.len(), 1);
    assert!(zero.next_cursor.is_some());
    let huge = store
        .list_tenants(PageRequest {
            after: None,
            limit: u32::MAX,
        })
        .await
        .unwrap();
    assert_eq!(huge.items.len(), 3);
    assert_eq!(huge.next_cursor, None);
}

fn bootstrap_input(slug: &str) -> Bootstrap {
    let tenant = NewTenant {
        operator: true,
        ..new_tenant(slug)
    };
    let admin = NewUser {
        id: UserId::new(),
        tenant_id: tenant.id,
        email: format!("Admin@{slug}.example"),
        display_name: "First Admin".to_owned(),
        role: Role::Admin,
        password_hash: Some("$argon2id$hash".to_owned()),
        created_at: at(10),
    };
    Bootstrap { tenant, admin }
}

async fn bootstrap_creates_tenant_and_admin_once(db: TestDb) {
    let store = &*db.store;
    let first = bootstrap_input("operator");
    assert!(
        store
            .bootstrap_if_empty(first.clone(), event(first.tenant.id, "tenant.bootstrap"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .bootstrap_if_empty(
                bootstrap_input("again"),
                event(TenantId::new(), "tenant.bootstrap")
            )
            .await
            .unwrap()
    );

    let tenants = store.list_tenants(PageRequest::first(10)).await.unwrap();
    assert_eq!(tenants.items.len(), 1);
    let operator = &tenants.items[0];
    assert_eq!(operator.id, first.tenant.id);
    assert!(operator.operator);
    let admin = store.get_user(operator.id, first.admin.id).await.unwrap();
    assert_eq!(admin.email, "admin@operator.example");
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(store.count_active_admins(operator.id).await.unwrap(), 1);
    let (_, hash) = store
        .find_user_credentials(operator.id, "ADMIN@operator.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash.as_deref(), Some("$argon2id$hash"));
}

async fn bootstrap_does_nothing_when_a_tenant_exists(db: TestDb) {
    let store = &*db.store;
    let existing = tenant(store, "existing").await;
    let input = bootstrap_input("operator");
    assert!(
        !store
            .bootstrap_if_empty(input.clone(), event(input.tenant.id, "tenant.bootstrap"))
            .await
            .unwrap()
    );
    assert_eq!(store.find_tenant_by_slug("operator").await.unwrap(), None);
    let tenants = store.list_tenants(PageRequest::first(10)).await.unwrap();
    assert_eq!(tenants.items, vec![existing]);
    let missing = input.admin.id;
    assert_not_found(
        store.get_user(input.tenant.id, missing).await.unwrap_err(),
        "user",
        missing,
    );
}

/// Eight callers, each on its own pool (its own "process"), race to bootstrap.
async fn bootstrap_race_has_one_winner(db: TestDb) {
    const RACERS: usize = 8;
    let mut stores = Vec::new();
    for _ in 0..RACERS {
        stores.push(db.another_store().await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut racers = Vec::new();
    for (i, store) in stores.into_iter().enumerate() {
        let barrier = barrier.clone();
        racers.push(tokio::spawn(async move {
            let input = bootstrap_input(&format!("racer{i}"));
            barrier.wait().await;
            let won = store
                .bootstrap_if_empty(input.clone(), event(input.tenant.id, "tenant.bootstrap"))
                .await
                .unwrap();
            (won, input)
        }));
    }
    let mut winners = Vec::new();
    for racer in racers {
        let (won, input) = racer.await.unwrap();
        if won {
            winners.push(input);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one bootstrap must win");
    let winner = &winners[0];

    let store = &*db.store;
    let tenants = store.list_tenants(PageRequest::first(50)).await.unwrap();
    let ids: BTreeSet<TenantId> = tenants.items.iter().map(|t| t.id).collect();
    assert_eq!(ids, BTreeSet::from([winner.tenant.id]));
    let users = store
        .list_users(winner.tenant.id, PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(users.items.len(), 1);
    assert_eq!(users.items[0].id, winner.admin.id);
    assert_eq!(
        store.count_active_admins(winner.tenant.id).await.unwrap(),
        1
    );
}
