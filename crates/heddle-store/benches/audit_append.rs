//! Durable audit appends per second: `append_audit` batches of 1 (no group commit: one
//! transaction and one fsync per event, the baseline), 100 and 1,000 events of ~400 bytes
//! into one tenant's log, on a temp-file SQLite database with the store's own settings (WAL,
//! `synchronous=FULL`), and on PostgreSQL in a fresh schema when `HEDDLE_TEST_DATABASE_URL`
//! is set. The sequencer is the tests' stand-in; its cost is not what is measured.
//!
//! Over TCP, sqlx 0.9.0 leaves Nagle's algorithm on (transact-rs/sqlx#4335), so large
//! statements can stall ~40 ms on delayed ACKs; a Unix-socket URL
//! (`postgres:///db?host=/var/run/postgresql`) measures PostgreSQL itself.
#![expect(
    clippy::expect_used,
    reason = "a benchmark that cannot set up or append should stop loudly"
)]

use std::str::FromStr;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::sqlite::SqliteStore;
use heddle_store::{NewAuditEvent, NewTenant, SharedStore};
use heddle_types::TenantId;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use time::OffsetDateTime;

#[path = "../tests/it/sequencer.rs"]
mod sequencer;

use sequencer::TestSequencer;

const BATCH_SIZES: [usize; 3] = [1, 100, 1_000];
const EVENT_BYTES: usize = 400;

fn event(tenant_id: TenantId, n: usize) -> NewAuditEvent {
    let mut canonical = format!(
        r#"{{"action":"agent.tool_call","actor":{{"kind":"api_key","id":"key-{n}"}},"n":{n},"details":""#
    );
    canonical.push_str(&"x".repeat(EVENT_BYTES.saturating_sub(canonical.len() + 2)));
    canonical.push_str(r#""}"#);
    NewAuditEvent {
        tenant_id,
        canonical: canonical.into_bytes(),
        occurred_at: OffsetDateTime::now_utc(),
        action: "agent.tool_call".to_owned(),
        actor_kind: "api_key".to_owned(),
        actor_id: Some(format!("key-{}", n % 50)),
        outcome: "success".to_owned(),
    }
}

async fn with_tenant(store: SharedStore) -> (SharedStore, TenantId) {
    let tenant = NewTenant {
        id: TenantId::new(),
        slug: "bench".to_owned(),
        name: "Bench".to_owned(),
        operator: false,
        created_at: OffsetDateTime::now_utc(),
    };
    let audit = event(tenant.id, 0);
    let tenant = store
        .create_tenant(tenant, audit)
        .await
        .expect("create the tenant");
    (store, tenant.id)
}

fn bench_engine(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    store: SharedStore,
) {
    let (store, tenant_id) = runtime.block_on(with_tenant(store));
    let mut group = c.benchmark_group(format!("audit_append/{name}"));
    for batch in BATCH_SIZES {
        group.throughput(Throughput::Elements(
            u64::try_from(batch).unwrap_or(u64::MAX),
        ));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.to_async(runtime).iter_batched(
                || (0..batch).map(|n| event(tenant_id, n)).collect::<Vec<_>>(),
                |events| {
                    let store = store.clone();
                    async move {
                        store
                            .append_audit(events, &TestSequencer)
                            .await
                            .expect("append a batch")
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn audit_append(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let sqlite: SharedStore = std::sync::Arc::new(
        runtime
            .block_on(SqliteStore::connect(&url))
            .expect("open sqlite"),
    );
    bench_engine(c, &runtime, "sqlite", sqlite);

    if let Some(admin) = std::env::var("HEDDLE_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let admin = PgConnectOptions::from_str(&admin).expect("postgres url");
        // Named from a UUIDv7, never from input.
        let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
        runtime.block_on(execute(&admin, &format!("CREATE SCHEMA {schema}")));
        let options = admin.clone().options([("search_path", schema.as_str())]);
        let postgres: SharedStore = std::sync::Arc::new(
            runtime
                .block_on(PgStore::connect_with_options(options))
                .expect("open postgres"),
        );
        bench_engine(c, &runtime, "postgres", postgres);
        runtime.block_on(execute(&admin, &format!("DROP SCHEMA {schema} CASCADE")));
    }
}

async fn execute(options: &PgConnectOptions, sql: &str) {
    let mut conn = PgConnection::connect_with(options)
        .await
        .expect("connect to postgres");
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect("run schema statement");
    conn.close().await.expect("close");
}

criterion_group!(benches, audit_append);
criterion_main!(benches);
