//! Engine-specific behaviour the shared traits do not cover: opening, migrating, URLs.

use std::sync::Arc;

use heddle_store::postgres::PgStore;
use heddle_store::sqlite::SqliteStore;
use heddle_store::{HealthStore, Store, StoreError, TenantStore};
use heddle_types::PageRequest;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::fixtures::{event, new_tenant, tenant};
use crate::harness::{create_schema, drop_schema, postgres_admin_options};

#[tokio::test]
async fn sqlite_connect_creates_the_file_and_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("heddle.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = heddle_store::connect(&url).await.unwrap();
    assert_eq!(store.engine(), "sqlite");
    assert!(path.is_file());
    let created = tenant(&*store, "kept").await;
    drop(store);

    // Reopening (and migrating again) keeps the data.
    let reopened = SqliteStore::connect(&url).await.unwrap();
    reopened.migrate().await.unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(
        reopened.find_tenant_by_slug("kept").await.unwrap(),
        Some(created)
    );
    reopened.close().await;

    // The journal mode is stored in the file, so a plain connection can see it.
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_url_without_mode_still_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert!(path.is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_store_is_shared_by_its_connections() {
    let store = Arc::new(SqliteStore::open_in_memory().await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let input = new_tenant(&format!("t{i}"));
            let audit = event(input.id, "tenant.create");
            store.create_tenant(input, audit).await.unwrap();
            store.list_tenants(PageRequest::first(50)).await.unwrap()
        }));
    }
    for task in tasks {
        assert!(!task.await.unwrap().items.is_empty());
    }
    let all = store.list_tenants(PageRequest::first(50)).await.unwrap();
    assert_eq!(all.items.len(), 16);
    // Two in-memory stores are separate databases.
    let other = SqliteStore::open_in_memory().await.unwrap();
    assert!(
        other
            .list_tenants(PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn connect_rejects_an_unknown_scheme() {
    let err = heddle_store::connect("mysql://localhost/heddle")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { ref scheme } if scheme == "mysql"));
    assert_eq!(
        err.to_string(),
        "unsupported database url scheme `mysql`; use sqlite:// or postgres://"
    );
}

/// Several processes starting at once all migrate the same (fresh) schema: sqlx's advisory
/// lock makes exactly one apply each migration and the others find it applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_migrations_apply_once() {
    let Some(admin) = postgres_admin_options() else {
        return;
    };
    let schema = create_schema(&admin).await;
    let options = admin.clone().options([("search_path", schema.as_str())]);
    let mut starts = Vec::new();
    for _ in 0..6 {
        let options = options.clone();
        starts.push(tokio::spawn(async move {
            PgStore::connect_with_options(options).await
        }));
    }
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().unwrap());
    }
    stores[0].migrate().await.unwrap();
    let store: &dyn Store = &stores[0];
    tenant(store, "after-migrations").await;

    let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let (applied, failed): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT success) FROM _sqlx_migrations",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let migration_files =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .count();
    assert_eq!(applied, i64::try_from(migration_files).unwrap());
    assert_eq!(failed, 0);
    conn.close().await.unwrap();
    for store in &stores {
        store.close().await;
    }
    drop_schema(&admin, &schema).await;
}

/// `heddle_store::connect` with a `postgres://` URL (the schema chosen through the URL's
/// `options`, so the shared `public` schema stays untouched).
#[tokio::test]
async fn postgres_connect_by_url() {
    let Some(admin) = postgres_admin_options() else {
        return;
    };
    let schema = create_schema(&admin).await;
    let base = std::env::var(crate::harness::DATABASE_URL_VAR).unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let store = heddle_store::connect(&url).await.unwrap();
    assert_eq!(store.engine(), "postgres");
    store.ping().await.unwrap();
    let created = tenant(&*store, "by-url").await;
    assert_eq!(store.get_tenant(created.id).await.unwrap(), created);
    drop(store);
    drop_schema(&admin, &schema).await;
}
