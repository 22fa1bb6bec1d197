//! Per-test databases for both engines.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use heddle_store::SharedStore;
use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::sqlite::SqliteStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use tempfile::TempDir;

pub const DATABASE_URL_VAR: &str = "HEDDLE_TEST_DATABASE_URL";

/// One test's database and a way to open more pools onto it.
#[derive(Clone)]
pub struct TestDb {
    pub store: SharedStore,
    target: Target,
}

#[derive(Clone)]
enum Target {
    Sqlite {
        url: String,
        /// Deleted when the last clone is dropped.
        _dir: Arc<TempDir>,
    },
    Postgres {
        options: Box<PgConnectOptions>,
        admin: Box<PgConnectOptions>,
        schema: String,
    },
}

impl TestDb {
    /// `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        match self.target {
            Target::Sqlite { .. } => "sqlite",
            Target::Postgres { .. } => "postgres",
        }
    }

    /// A second, independent pool onto the same database: the in-process stand-in for
    /// another `heddle serve` process.
    pub async fn another_store(&self) -> SharedStore {
        match &self.target {
            Target::Sqlite { url, .. } => Arc::new(SqliteStore::connect(url).await.unwrap()),
            Target::Postgres { options, .. } => Arc::new(
                PgStore::connect_with_options((**options).clone())
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Runs one SQL statement on a fresh connection of its own, outside the store: the way
    /// an operator with database access (or an attacker with the app's credentials) would
    /// reach the tables. Returns the rows affected, or the database's refusal.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let affected = match &self.target {
            Target::Sqlite { url, .. } => {
                let mut conn = SqliteConnection::connect(url).await?;
                let result = sqlx::query(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await;
                conn.close().await?;
                result?.rows_affected()
            }
            Target::Postgres { options, .. } => {
                let mut conn = PgConnection::connect_with(options).await?;
                let result = sqlx::query(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await;
                conn.close().await?;
                result?.rows_affected()
            }
        };
        Ok(affected)
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("heddle.db").display()
        );
        let store = SqliteStore::connect(&url).await.unwrap();
        Self {
            store: Arc::new(store),
            target: Target::Sqlite {
                url,
                _dir: Arc::new(dir),
            },
        }
    }

    /// `None` when no PostgreSQL is configured (outside CI).
    async fn postgres() -> Option<Self> {
        let admin = postgres_admin_options()?;
        let schema = create_schema(&admin).await;
        let options = admin.clone().options([("search_path", schema.as_str())]);
        let store = PgStore::connect_with_options(options.clone())
            .await
            .unwrap();
        Some(Self {
            store: Arc::new(store),
            target: Target::Postgres {
                options: Box::new(options),
                admin: Box::new(admin),
                schema,
            },
        })
    }

    async fn clean_up(self) {
        if let Target::Postgres { admin, schema, .. } = self.target {
            drop_schema(&admin, &schema).await;
        }
    }
}

/// A fresh schema named from a UUIDv7 (never from input), so identifiers need no quoting.
pub async fn create_schema(admin: &PgConnectOptions) -> String {
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect_with(admin).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    schema
}

pub async fn drop_schema(admin: &PgConnectOptions, schema: &str) {
    let mut conn = PgConnection::connect_with(admin).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// The admin connection options for PostgreSQL tests, or `None` when skipped.
pub fn postgres_admin_options() -> Option<PgConnectOptions> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(PgConnectOptions::from_str(&url).unwrap()),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{DATABASE_URL_VAR} must be set in CI so the PostgreSQL tests run")
        }
        _ => {
            eprintln!("skipping PostgreSQL test: {DATABASE_URL_VAR} is not set");
            None
        }
    }
}

pub async fn run_sqlite<T, F>(test: T)
where
    T: FnOnce(TestDb) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    run(TestDb::sqlite().await, test).await;
}

pub async fn run_postgres<T, F>(test: T)
where
    T: FnOnce(TestDb) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    if let Some(db) = TestDb::postgres().await {
        run(db, test).await;
    }
}

/// Runs the test on its own task so the database is cleaned up even when it panics.
async fn run<T, F>(db: TestDb, test: T)
where
    T: FnOnce(TestDb) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(test(db.clone())).await;
    db.clean_up().await;
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(err) => panic!("test task failed: {err}"),
        }
    }
}
