//! Drift baselines: one opaque, versioned document per tenant, environment and agent,
//! created once and replaced by compare-and-set on its version; tenants see only their own.

use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::{DriftState, StepKindQuery, Store, StoreError};
use heddle_types::{Environment, TenantId};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::fixtures::{assert_conflict, at, tenant};
use crate::harness::{TestDb, create_schema, drop_schema, postgres_admin_options};

conformance_tests!(
    a_baseline_is_created_read_and_replaced_by_version,
    a_stale_version_or_a_second_create_conflicts_and_changes_nothing,
    baselines_are_kept_per_tenant_environment_and_agent,
    concurrent_first_puts_let_exactly_one_win,
    concurrent_updates_of_one_version_let_exactly_one_win,
    putting_for_a_missing_tenant_is_not_found,
);

const AGENT: &str = "support-bot";

async fn a_baseline_is_created_read_and_replaced_by_version(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let get = async || {
        store
            .get_drift_state(acme.id, Environment::Prod, AGENT)
            .await
            .unwrap()
    };
    assert_eq!(get().await, None);
    let first = json!({"centroid": [0.25, -1.5], "count": 1});
    let version = store
        .put_drift_state(acme.id, Environment::Prod, AGENT, &first, None, at(1))
        .await
        .unwrap();
    assert_eq!(version, 1);
    assert_eq!(
        get().await,
        Some(DriftState {
            state: first,
            version: 1,
            updated_at: at(1),
        })
    );
    let second = json!({"centroid": [0.5, -1.0], "count": 2});
    let version = store
        .put_drift_state(acme.id, Environment::Prod, AGENT, &second, Some(1), at(2))
        .await
        .unwrap();
    assert_eq!(version, 2);
    let third = json!(["not", "an", "object"]);
    let version = store
        .put_drift_state(acme.id, Environment::Prod, AGENT, &third, Some(2), at(3))
        .await
        .unwrap();
    assert_eq!(version, 3);
    assert_eq!(
        get().await,
        Some(DriftState {
            state: third,
            version: 3,
            updated_at: at(3),
        })
    );
}

async fn a_stale_version_or_a_second_create_conflicts_and_changes_nothing(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    store
        .put_drift_state(
            acme.id,
            Environment::Dev,
            AGENT,
            &json!({"v": 1}),
            None,
            at(1),
        )
        .await
        .unwrap();
    store
        .put_drift_state(
            acme.id,
            Environment::Dev,
            AGENT,
            &json!({"v": 2}),
            Some(1),
            at(2),
        )
        .await
        .unwrap();
    // Creating again, or writing over a version that is not the current one.
    for (stale, shown) in [
        (None, "none"),
        (Some(0), "0"),
        (Some(1), "1"),
        (Some(3), "3"),
    ] {
        let err = store
            .put_drift_state(
                acme.id,
                Environment::Dev,
                AGENT,
                &json!({"v": 9}),
                stale,
                at(9),
            )
            .await
            .unwrap_err();
        assert_conflict(err, "drift baseline", "version", shown);
    }
    assert_eq!(
        store
            .get_drift_state(acme.id, Environment::Dev, AGENT)
            .await
            .unwrap(),
        Some(DriftState {
            state: json!({"v": 2}),
            version: 2,
            updated_at: at(2),
        })
    );
    // Updating a baseline that does not exist is a conflict too: there is no such version.
    let err = store
        .put_drift_state(
            acme.id,
            Environment::Dev,
            "new-agent",
            &json!({}),
            Some(1),
            at(3),
        )
        .await
        .unwrap_err();
    assert_conflict(err, "drift baseline", "version", "1");
    assert_eq!(
        store
            .get_drift_state(acme.id, Environment::Dev, "new-agent")
            .await
            .unwrap(),
        None
    );
}

async fn baselines_are_kept_per_tenant_environment_and_agent(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    store
        .put_drift_state(
            acme.id,
            Environment::Prod,
            AGENT,
            &json!({"acme": 1}),
            None,
            at(1),
        )
        .await
        .unwrap();
    // The other tenant sees nothing of it, and its own first write is a create, not a conflict.
    assert_eq!(
        store
            .get_drift_state(other.id, Environment::Prod, AGENT)
            .await
            .unwrap(),
        None
    );
    let err = store
        .put_drift_state(
            other.id,
            Environment::Prod,
            AGENT,
            &json!({"x": 1}),
            Some(1),
            at(2),
        )
        .await
        .unwrap_err();
    assert_conflict(err, "drift baseline", "version", "1");
    assert_eq!(
        store
            .put_drift_state(
                other.id,
                Environment::Prod,
                AGENT,
                &json!({"other": 1}),
                None,
                at(2)
            )
            .await
            .unwrap(),
        1
    );
    // Another environment or agent of the same tenant is another baseline.
    for (environment, agent) in [(Environment::Staging, AGENT), (Environment::Prod, "sales")] {
        assert_eq!(
            store
                .get_drift_state(acme.id, environment, agent)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .put_drift_state(acme.id, environment, agent, &json!({}), None, at(3))
                .await
                .unwrap(),
            1
        );
    }
    assert_eq!(
        store
            .get_drift_state(acme.id, Environment::Prod, AGENT)
            .await
            .unwrap()
            .map(|state| (state.state, state.version)),
        Some((json!({"acme": 1}), 1))
    );
    assert_eq!(
        store
            .get_drift_state(other.id, Environment::Prod, AGENT)
            .await
            .unwrap()
            .map(|state| (state.state, state.version)),
        Some((json!({"other": 1}), 1))
    );
}

async fn concurrent_first_puts_let_exactly_one_win(db: TestDb) {
    let store = db.store.clone();
    let acme = tenant(&*store, "acme").await;
    let attempts: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_drift_state(
                        acme.id,
                        Environment::Prod,
                        AGENT,
                        &json!({"n": n}),
                        None,
                        at(1),
                    )
                    .await
                    .map(|version| (n, version))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(won) => winners.push(won),
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    let [(n, 1)] = winners[..] else {
        panic!("expected exactly one create, got {winners:?}");
    };
    assert_eq!(
        store
            .get_drift_state(acme.id, Environment::Prod, AGENT)
            .await
            .unwrap()
            .map(|state| state.state),
        Some(json!({"n": n}))
    );
}

async fn concurrent_updates_of_one_version_let_exactly_one_win(db: TestDb) {
    let store = db.store.clone();
    let acme = tenant(&*store, "acme").await;
    store
        .put_drift_state(acme.id, Environment::Prod, AGENT, &json!({}), None, at(1))
        .await
        .unwrap();
    // Several processes that all read version 1.
    let stores = [store.clone(), db.another_store().await];
    let attempts: Vec<_> = (0..8)
        .map(|n| {
            let store = stores[n % 2].clone();
            tokio::spawn(async move {
                store
                    .put_drift_state(
                        acme.id,
                        Environment::Prod,
                        AGENT,
                        &json!({"n": n}),
                        Some(1),
                        at(2),
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(version) => {
                assert_eq!(version, 2);
                won += 1;
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

async fn putting_for_a_missing_tenant_is_not_found(db: TestDb) {
    let missing = TenantId::new();
    let err = db
        .store
        .put_drift_state(missing, Environment::Dev, AGENT, &json!({}), None, at(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                entity: "tenant",
                ..
            }
        ),
        "{err:?}"
    );
}

/// The least-privilege grants of `src/postgres/app_role.sql` cover drift baselines and the
/// step listing by kind, and do not let the role delete a baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_runs_drift_baselines() {
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
    let role = format!("heddle_app_{}", Uuid::now_v7().simple());
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

    let outcome = tokio::spawn(run_drift_as(owner.clone().username(&role))).await;

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

async fn run_drift_as(options: PgConnectOptions) {
    let pg = PgStore::connect_with_options(options.clone())
        .await
        .unwrap();
    let store: &dyn Store = &pg;
    let acme = tenant(store, "acme").await;
    store
        .put_drift_state(
            acme.id,
            Environment::Prod,
            AGENT,
            &json!({"n": 1}),
            None,
            at(1),
        )
        .await
        .unwrap();
    store
        .put_drift_state(
            acme.id,
            Environment::Prod,
            AGENT,
            &json!({"n": 2}),
            Some(1),
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_drift_state(acme.id, Environment::Prod, AGENT)
            .await
            .unwrap()
            .map(|state| state.version),
        Some(2)
    );
    let query = StepKindQuery {
        kind: "guardrail".to_owned(),
        environment: None,
        agent: None,
        session_id: None,
        since: None,
        before: None,
        limit: 10,
    };
    assert_eq!(store.list_steps_of_kind(acme.id, &query).await.unwrap(), []);
    pg.close().await;

    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    let sql = "DELETE FROM drift_baselines";
    let err = sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect_err("deleting a baseline must be refused for the app role");
    assert!(err.to_string().contains("permission denied"), "{err}");
    conn.close().await.unwrap();
}
