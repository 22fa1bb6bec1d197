//! Tenant policies and the policy version processes cache against.

use std::collections::BTreeSet;

use heddle_store::NewTenantPolicy;
use heddle_types::{PolicyId, Role, TenantId, TenantPolicy, UserId};

use crate::fixtures::{assert_conflict, assert_not_found, at, event, new_policy, tenant, user};
use crate::harness::TestDb;

conformance_tests!(
    create_get_and_list_policies,
    duplicate_policy_name_conflicts_within_a_tenant,
    policy_parents_must_exist_in_the_tenant,
    policy_version_changes_on_create_and_delete_only,
    policies_are_isolated_between_tenants,
);

async fn create_get_and_list_policies(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let author = user(store, acme.id, "author@example.com", Role::Admin).await;
    let later = NewTenantPolicy {
        created_at: at(500),
        ..new_policy(acme.id, "later")
    };
    let earlier = NewTenantPolicy {
        created_by: Some(author.id),
        description: "Blocks exports — « ünïcödé » 🚫".to_owned(),
        cedar: "forbid (principal, action == Heddle::Action::\"export\", resource)\n\
                when { resource.label == \"機密\" };"
            .to_owned(),
        created_at: at(100),
        ..new_policy(acme.id, "earlier")
    };
    let created_later = store
        .create_policy(later.clone(), event(later.tenant_id, "policy.create"))
        .await
        .unwrap();
    let created_earlier = store
        .create_policy(earlier.clone(), event(earlier.tenant_id, "policy.create"))
        .await
        .unwrap();
    let expected = TenantPolicy {
        id: earlier.id,
        tenant_id: acme.id,
        name: "earlier".to_owned(),
        description: earlier.description.clone(),
        cedar: earlier.cedar.clone(),
        created_by: Some(author.id),
        created_at: at(100),
    };
    assert_eq!(created_earlier, expected);
    assert_eq!(
        store.get_policy(acme.id, earlier.id).await.unwrap(),
        expected
    );
    assert_eq!(
        store.list_policies(acme.id).await.unwrap(),
        vec![expected, created_later]
    );
    let missing = PolicyId::new();
    assert_not_found(
        store.get_policy(acme.id, missing).await.unwrap_err(),
        "policy",
        missing,
    );
}

async fn duplicate_policy_name_conflicts_within_a_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    store
        .create_policy(new_policy(acme.id, "p"), event(acme.id, "policy.create"))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_policy(new_policy(acme.id, "p"), event(acme.id, "policy.create"))
            .await
            .unwrap_err(),
        "policy",
        "name",
        "p",
    );
    store
        .create_policy(new_policy(other.id, "p"), event(other.id, "policy.create"))
        .await
        .unwrap();
}

async fn policy_parents_must_exist_in_the_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let outsider = user(store, other.id, "o@example.com", Role::Admin).await;

    let missing_tenant = TenantId::new();
    assert_not_found(
        store
            .create_policy(
                new_policy(missing_tenant, "p"),
                event(missing_tenant, "policy.create"),
            )
            .await
            .unwrap_err(),
        "tenant",
        missing_tenant,
    );
    assert_not_found(
        store.policy_version(missing_tenant).await.unwrap_err(),
        "tenant",
        missing_tenant,
    );
    let cross_tenant = NewTenantPolicy {
        created_by: Some(outsider.id),
        ..new_policy(acme.id, "p")
    };
    assert_not_found(
        store
            .create_policy(cross_tenant, event(acme.id, "policy.create"))
            .await
            .unwrap_err(),
        "user",
        outsider.id,
    );
    let missing_user = UserId::new();
    let unknown_author = NewTenantPolicy {
        created_by: Some(missing_user),
        ..new_policy(acme.id, "p")
    };
    assert_not_found(
        store
            .create_policy(unknown_author, event(acme.id, "policy.create"))
            .await
            .unwrap_err(),
        "user",
        missing_user,
    );
    assert!(store.list_policies(acme.id).await.unwrap().is_empty());
    assert_eq!(store.policy_version(acme.id).await.unwrap(), 0);
}

async fn policy_version_changes_on_create_and_delete_only(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let mut versions = vec![store.policy_version(acme.id).await.unwrap()];

    let first = store
        .create_policy(new_policy(acme.id, "one"), event(acme.id, "policy.create"))
        .await
        .unwrap();
    versions.push(store.policy_version(acme.id).await.unwrap());
    let second = store
        .create_policy(new_policy(acme.id, "two"), event(acme.id, "policy.create"))
        .await
        .unwrap();
    versions.push(store.policy_version(acme.id).await.unwrap());

    // Failed changes and reads leave the version alone.
    let unchanged = *versions.last().unwrap();
    store
        .create_policy(new_policy(acme.id, "one"), event(acme.id, "policy.create"))
        .await
        .unwrap_err();
    let missing = PolicyId::new();
    assert_not_found(
        store
            .delete_policy(acme.id, missing, event(acme.id, "policy.delete"))
            .await
            .unwrap_err(),
        "policy",
        missing,
    );
    store.list_policies(acme.id).await.unwrap();
    assert_eq!(store.policy_version(acme.id).await.unwrap(), unchanged);

    // Another tenant's changes do not touch this tenant's version.
    let other_before = store.policy_version(other.id).await.unwrap();
    store
        .create_policy(new_policy(other.id, "x"), event(other.id, "policy.create"))
        .await
        .unwrap();
    assert_eq!(store.policy_version(acme.id).await.unwrap(), unchanged);
    assert_ne!(store.policy_version(other.id).await.unwrap(), other_before);

    store
        .delete_policy(acme.id, first.id, event(acme.id, "policy.delete"))
        .await
        .unwrap();
    versions.push(store.policy_version(acme.id).await.unwrap());
    // Re-creating the same name must still yield a new version (no ABA).
    store
        .create_policy(new_policy(acme.id, "one"), event(acme.id, "policy.create"))
        .await
        .unwrap();
    versions.push(store.policy_version(acme.id).await.unwrap());
    store
        .delete_policy(acme.id, second.id, event(acme.id, "policy.delete"))
        .await
        .unwrap();
    versions.push(store.policy_version(acme.id).await.unwrap());

    let distinct: BTreeSet<i64> = versions.iter().copied().collect();
    assert_eq!(distinct.len(), versions.len(), "versions {versions:?}");
    assert!(versions.windows(2).all(|pair| pair[0] < pair[1]));

    let names: Vec<String> = store
        .list_policies(acme.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["one".to_owned()]);
    assert_not_found(
        store.get_policy(acme.id, first.id).await.unwrap_err(),
        "policy",
        first.id,
    );
}

async fn policies_are_isolated_between_tenants(db: TestDb) {
    let store = &*db.store;
    let tenant_a = tenant(store, "tenant-a").await;
    let tenant_b = tenant(store, "tenant-b").await;
    let policy = store
        .create_policy(
            new_policy(tenant_a.id, "p"),
            event(tenant_a.id, "policy.create"),
        )
        .await
        .unwrap();
    let version_b = store.policy_version(tenant_b.id).await.unwrap();

    assert_not_found(
        store.get_policy(tenant_b.id, policy.id).await.unwrap_err(),
        "policy",
        policy.id,
    );
    assert_not_found(
        store
            .delete_policy(tenant_b.id, policy.id, event(tenant_b.id, "policy.delete"))
            .await
            .unwrap_err(),
        "policy",
        policy.id,
    );
    assert!(store.list_policies(tenant_b.id).await.unwrap().is_empty());
    assert_eq!(store.policy_version(tenant_b.id).await.unwrap(), version_b);
    assert_eq!(
        store.get_policy(tenant_a.id, policy.id).await.unwrap(),
        policy
    );
}
