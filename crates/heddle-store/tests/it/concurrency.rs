//! Several pools (standing in for several `heddle serve` processes) writing at once.

use std::collections::{BTreeMap, BTreeSet};

use heddle_store::{SharedStore, StoreError};
use heddle_types::{PageRequest, Role, UserId};

use crate::fixtures::{at, event, new_api_key, new_policy, new_user, tenant};
use crate::harness::TestDb;

conformance_tests!(
    concurrent_user_creation_keeps_emails_unique,
    concurrent_policy_changes_are_all_counted,
    concurrent_touches_keep_the_latest_use,
);

async fn two_pools(db: &TestDb) -> [SharedStore; 2] {
    [db.another_store().await, db.another_store().await]
}

async fn concurrent_user_creation_keeps_emails_unique(db: TestDb) {
    const DISTINCT: usize = 60;
    const DUPLICATED: usize = 8;
    const ATTEMPTS_PER_DUPLICATE: usize = 4;
    let acme = tenant(&*db.store, "acme").await;
    let pools = two_pools(&db).await;

    let mut tasks = Vec::new();
    for i in 0..DISTINCT {
        let store = pools[i % 2].clone();
        let input = new_user(acme.id, &format!("distinct{i}@example.com"), Role::Viewer);
        tasks.push(tokio::spawn(async move {
            (
                input.email.clone(),
                store
                    .create_user(input, event(acme.id, "user.create"))
                    .await,
            )
        }));
    }
    for i in 0..DUPLICATED {
        for attempt in 0..ATTEMPTS_PER_DUPLICATE {
            let store = pools[attempt % 2].clone();
            // Case variants of one address: they are the same email.
            let email = if attempt % 2 == 0 {
                format!("dup{i}@example.com")
            } else {
                format!("DUP{i}@Example.com")
            };
            let input = new_user(acme.id, &email, Role::Viewer);
            tasks.push(tokio::spawn(async move {
                (
                    input.email.to_lowercase(),
                    store
                        .create_user(input, event(acme.id, "user.create"))
                        .await,
                )
            }));
        }
    }

    let mut created: BTreeMap<String, Vec<UserId>> = BTreeMap::new();
    let mut conflicts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let (email, outcome) = task.await.unwrap();
        match outcome {
            Ok(user) => created.entry(email).or_default().push(user.id),
            Err(StoreError::Conflict { field, value, .. }) => {
                assert_eq!(field, "email");
                assert_eq!(value, email);
                *conflicts.entry(email).or_default() += 1;
            }
            Err(other) => panic!("unexpected error for {email}: {other:?}"),
        }
    }

    assert_eq!(created.len(), DISTINCT + DUPLICATED);
    assert!(created.values().all(|ids| ids.len() == 1), "{created:?}");
    assert_eq!(conflicts.len(), DUPLICATED);
    assert!(
        conflicts
            .values()
            .all(|&count| count == ATTEMPTS_PER_DUPLICATE - 1)
    );

    let listed = db
        .store
        .list_users(acme.id, PageRequest::first(200))
        .await
        .unwrap();
    assert_eq!(listed.next_cursor, None);
    let listed_emails: BTreeSet<String> = listed.items.into_iter().map(|u| u.email).collect();
    let expected_emails: BTreeSet<String> = created.into_keys().collect();
    assert_eq!(listed_emails, expected_emails);
}

/// Both engines keep a per-tenant counter bumped in the policy's own transaction, so no
/// concurrent change is lost.
async fn concurrent_policy_changes_are_all_counted(db: TestDb) {
    const POLICIES: usize = 12;
    let acme = tenant(&*db.store, "acme").await;
    let before = db.store.policy_version(acme.id).await.unwrap();
    let pools = two_pools(&db).await;
    let mut tasks = Vec::new();
    for i in 0..POLICIES {
        let store = pools[i % 2].clone();
        let input = new_policy(acme.id, &format!("p{i}"));
        tasks.push(tokio::spawn(async move {
            store
                .create_policy(input, event(acme.id, "policy.create"))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let after = db.store.policy_version(acme.id).await.unwrap();
    assert_eq!(after - before, i64::try_from(POLICIES).unwrap());
    assert_eq!(
        db.store.list_policies(acme.id).await.unwrap().len(),
        POLICIES
    );
}

async fn concurrent_touches_keep_the_latest_use(db: TestDb) {
    let acme = tenant(&*db.store, "acme").await;
    let key = db
        .store
        .create_api_key(
            new_api_key(acme.id, "busy"),
            event(acme.id, "api_key.create"),
        )
        .await
        .unwrap();
    let pools = two_pools(&db).await;
    // Uses arrive out of order.
    let seconds: Vec<i64> = (0..24).map(|i| (i * 7919) % 97).collect();
    let latest = seconds.iter().copied().max().unwrap();
    let mut tasks = Vec::new();
    for (i, second) in seconds.into_iter().enumerate() {
        let store = pools[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            store.touch_api_key(key.id, at(second)).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stored = db.store.get_api_key(acme.id, key.id).await.unwrap();
    assert_eq!(stored.last_used_at, Some(at(latest)));
}
