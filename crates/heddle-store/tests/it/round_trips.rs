//! Values come back exactly as they went in: timestamps to the microsecond, any Unicode text.

use heddle_store::{NewTenant, NewUser, UserUpdate};
use heddle_types::{Role, TenantId};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use time::OffsetDateTime;
use time::macros::{datetime, offset};

use crate::fixtures::{event, new_api_key, new_policy, new_tenant, new_user, tenant};
use crate::harness::TestDb;

conformance_tests!(
    timestamps_round_trip_to_the_microsecond,
    unicode_text_round_trips,
    generated_text_and_timestamps_round_trip,
);

const EDGE_TIMES: [OffsetDateTime; 7] = [
    datetime!(1970-01-01 00:00:00 UTC),
    datetime!(1969-12-31 23:59:59.999999 UTC),
    datetime!(2000-01-01 00:00:00.000001 UTC),
    datetime!(1999-12-31 23:59:59.999999 UTC),
    datetime!(0001-01-01 00:00:00 UTC),
    datetime!(9999-12-31 23:59:59.999999 UTC),
    datetime!(2026-07-15 12:34:56.789012 +05:30),
];

async fn timestamps_round_trip_to_the_microsecond(db: TestDb) {
    let store = &*db.store;
    for (i, when) in EDGE_TIMES.into_iter().enumerate() {
        let input = NewTenant {
            created_at: when,
            ..new_tenant(&format!("t{i}"))
        };
        let audit = event(input.id, "tenant.create");
        let tenant = store.create_tenant(input, audit).await.unwrap();
        assert_eq!(tenant.created_at, when);
        let stored = store.get_tenant(tenant.id).await.unwrap();
        assert_eq!(stored.created_at, when);
        assert_eq!(
            stored.created_at.unix_timestamp_nanos(),
            when.unix_timestamp_nanos()
        );

        let user = store
            .create_user(
                NewUser {
                    created_at: when,
                    ..new_user(tenant.id, "u@example.com", Role::Viewer)
                },
                event(tenant.id, "user.create"),
            )
            .await
            .unwrap();
        let updated = store
            .update_user(
                tenant.id,
                user.id,
                UserUpdate {
                    updated_at: Some(when.to_offset(offset!(-07:00))),
                    ..UserUpdate::default()
                },
                event(tenant.id, "user.update"),
            )
            .await
            .unwrap();
        assert_eq!((updated.created_at, updated.updated_at), (when, when));

        let key = store
            .create_api_key(
                heddle_store::NewApiKey {
                    created_at: when,
                    expires_at: Some(when),
                    ..new_api_key(tenant.id, &format!("k{i}"))
                },
                event(tenant.id, "api_key.create"),
            )
            .await
            .unwrap();
        store.touch_api_key(key.id, when).await.unwrap();
        let revoked = store
            .revoke_api_key(tenant.id, key.id, when, event(tenant.id, "api_key.revoke"))
            .await
            .unwrap();
        assert_eq!(
            (
                revoked.created_at,
                revoked.expires_at,
                revoked.revoked_at,
                revoked.last_used_at
            ),
            (when, Some(when), Some(when), Some(when))
        );
    }
}

const UNICODE_SAMPLES: [&str; 6] = [
    "Zoë Ångström",
    "山田 太郎 — 東京",
    "שלום عالم",
    "👩🏽‍💻 family: 👨‍👩‍👧‍👦",
    "e\u{301} combining, \u{200d} zero-width, \u{feff} bom",
    "quotes ' \" \\ ; -- /* */ and %_ wildcards",
];

async fn unicode_text_round_trips(db: TestDb) {
    let store = &*db.store;
    for (i, text) in UNICODE_SAMPLES.into_iter().enumerate() {
        let input = NewTenant {
            name: text.to_owned(),
            ..new_tenant(&format!("{text}-{i}"))
        };
        let created = store
            .create_tenant(input.clone(), event(input.id, "tenant.create"))
            .await
            .unwrap();
        assert_eq!(created.name, text);
        assert_eq!(
            store.find_tenant_by_slug(&input.slug).await.unwrap(),
            Some(created.clone())
        );
        let user = store
            .create_user(
                NewUser {
                    display_name: text.to_owned(),
                    ..new_user(created.id, &format!("{text}@example.com"), Role::Builder)
                },
                event(created.id, "user.create"),
            )
            .await
            .unwrap();
        assert_eq!(user.display_name, text);
        assert_eq!(user.email, format!("{text}@example.com").to_lowercase());
        let (found, _) = store
            .find_user_credentials(created.id, &format!("{text}@EXAMPLE.com").to_uppercase())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, user);
        let policy = store
            .create_policy(
                heddle_store::NewTenantPolicy {
                    description: text.to_owned(),
                    cedar: format!("// {text}\npermit (principal, action, resource);"),
                    ..new_policy(created.id, text)
                },
                event(created.id, "policy.create"),
            )
            .await
            .unwrap();
        assert_eq!(
            store.get_policy(created.id, policy.id).await.unwrap(),
            policy
        );
        assert_eq!(policy.name, text);
    }
    let long = "ü".repeat(100_000);
    let acme = tenant(store, "long").await;
    let user = store
        .create_user(
            NewUser {
                display_name: long.clone(),
                ..new_user(acme.id, "long@example.com", Role::Viewer)
            },
            event(acme.id, "user.create"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_user(acme.id, user.id).await.unwrap().display_name,
        long
    );
}

/// Property check: generated names and instants survive a write and a read. Samples are drawn
/// with a deterministic proptest runner (the store is async, so no shrinking). PostgreSQL text
/// cannot hold NUL, so the strings exclude it.
async fn generated_text_and_timestamps_round_trip(db: TestDb) {
    const CASES: usize = 48;
    // Microseconds from year 1 to year 9999.
    let micros = -62_135_596_800_000_000_i64..=253_402_300_799_999_999_i64;
    let strategy = ("[^\u{0}]{0,40}", micros);
    let mut runner = TestRunner::deterministic();
    for case in 0..CASES {
        let (name, micros) = strategy.new_tree(&mut runner).unwrap().current();
        let when = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap();
        let input = NewTenant {
            id: TenantId::new(),
            slug: format!("case-{case}"),
            name: name.clone(),
            operator: case % 2 == 0,
            created_at: when,
        };
        let created = db
            .store
            .create_tenant(input.clone(), event(input.id, "tenant.create"))
            .await
            .unwrap();
        let stored = db.store.get_tenant(input.id).await.unwrap();
        assert_eq!(created, stored);
        assert_eq!(
            (stored.name, stored.created_at, stored.operator),
            (name, when, input.operator),
            "case {case}"
        );
    }
}
