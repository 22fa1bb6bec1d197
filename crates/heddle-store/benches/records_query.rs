//! User-mode record queries on 100,000 Accounts against the same queries with no access
//! checks, on SQLite (temp file, the store's settings) and on PostgreSQL in a fresh schema
//! when `HEDDLE_TEST_DATABASE_URL` is set.
//!
//! The org: a VP over nine reps; Account is Private; each rep owns a tenth of the records; a
//! criteria rule shares `Industry = Finance` accounts with the reps, and a few records are
//! shared by hand; reps may not read `AnnualRevenue` (FLS). Measured, per engine:
//! - `list_page`: the first 50 records in id order;
//! - `filtered_sorted`: `Industry = Retail`, sorted by `Name`, 50 records;
//! - `point_read`: one record by id.
//!
//! Each has `user_mode/rep` (the store's query as a rep: sharing filter in SQL, then FLS
//! stripping), `user_mode/vp` (sees everyone's records through the hierarchy) and
//! `unchecked` (the same SQL without any sharing filter, fields decoded, nothing stripped).
#![expect(
    clippy::expect_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::collections::BTreeMap;
use std::str::FromStr;

use criterion::{Criterion, criterion_group, criterion_main};
use heddle_records::query::{RecordQuery, validate_query};
use heddle_records::{
    FieldPermissions, ManualShare, ManualShareTarget, ObjectPermissions, Org, OrgUser,
    PermissionSet, PermissionSetId, Record, RecordId, Role, RoleId, ShareAccess, ShareTarget,
    SharingRule, SharingRuleKind, UserId, UserKind, builtin_objects,
};
use heddle_store::postgres::{PgConnectOptions, PgStore};
use heddle_store::sqlite::SqliteStore;
use heddle_store::{NewAuditEvent, NewTenant, SharedStore};
use heddle_types::TenantId;
use serde_json::{Value as JsonValue, json};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Row, SqlitePool};
use time::OffsetDateTime;

const RECORDS: u64 = 100_000;
const REPS: u64 = 9;
const PAGE: i64 = 50;
const INDUSTRIES: [&str; 5] = [
    "Technology",
    "Finance",
    "Retail",
    "Healthcare",
    "Manufacturing",
];

fn event(tenant_id: TenantId) -> NewAuditEvent {
    NewAuditEvent {
        tenant_id,
        canonical: br#"{"action":"bench"}"#.to_vec(),
        occurred_at: OffsetDateTime::now_utc(),
        action: "bench".to_owned(),
        actor_kind: "local_operator".to_owned(),
        actor_id: None,
        outcome: "success".to_owned(),
    }
}

fn user_id(n: u64) -> UserId {
    UserId::new(RecordId::generate("005", n).expect("user id").as_str())
}

fn account_id(n: u64) -> RecordId {
    RecordId::generate("001", n).expect("account id")
}

fn org() -> Org {
    let rw = FieldPermissions {
        read: true,
        edit: true,
    };
    let rep = PermissionSet {
        id: PermissionSetId::new("rep"),
        objects: BTreeMap::from([(
            "Account".to_owned(),
            ObjectPermissions {
                read: true,
                create: true,
                edit: true,
                ..ObjectPermissions::default()
            },
        )]),
        fields: BTreeMap::from([(
            "Account".to_owned(),
            ["Name", "Industry", "Phone", "Website", "NumberOfEmployees"]
                .into_iter()
                .map(|f| (f.to_owned(), rw))
                .collect(),
        )]),
    };
    let mut users = vec![OrgUser {
        id: user_id(0),
        role: Some(RoleId::new("vp")),
        profile: PermissionSetId::new("rep"),
        permission_sets: Vec::new(),
        groups: Vec::new(),
        kind: UserKind::Internal,
    }];
    users.extend((1..=REPS).map(|n| OrgUser {
        id: user_id(n),
        role: Some(RoleId::new("rep")),
        profile: PermissionSetId::new("rep"),
        permission_sets: Vec::new(),
        groups: Vec::new(),
        kind: UserKind::Internal,
    }));
    Org {
        users,
        roles: vec![
            Role {
                id: RoleId::new("vp"),
                parent: None,
            },
            Role {
                id: RoleId::new("rep"),
                parent: Some(RoleId::new("vp")),
            },
        ],
        profiles: vec![rep],
        permission_sets: Vec::new(),
        sharing_rules: vec![SharingRule {
            object: "Account".to_owned(),
            kind: SharingRuleKind::CriteriaBased {
                field: "Industry".to_owned(),
                equals: json!("Finance"),
            },
            share_with: ShareTarget::Role(RoleId::new("rep")),
            access: ShareAccess::Read,
        }],
        manual_shares: (0..20)
            .map(|n| ManualShare {
                record_id: account_id(n * 997 + 2),
                share_with: ManualShareTarget::User(user_id(1)),
                access: ShareAccess::Read,
            })
            .collect(),
        objects: builtin_objects(),
    }
}

fn account(n: u64) -> Record {
    Record {
        id: account_id(n),
        object: "Account".to_owned(),
        owner_id: user_id(1 + n % REPS),
        fields: BTreeMap::from([
            (
                "Name".to_owned(),
                json!(format!("Account {:05}", (n * 7919) % RECORDS)),
            ),
            (
                "Industry".to_owned(),
                json!(INDUSTRIES[usize::try_from(n % 5).unwrap_or(0)]),
            ),
            ("Phone".to_owned(), json!("(555) 010-0000")),
            ("AnnualRevenue".to_owned(), json!(n * 1_000)),
            ("NumberOfEmployees".to_owned(), json!(n % 5_000)),
        ]),
    }
}

async fn seed(store: &SharedStore) -> TenantId {
    let tenant_id = TenantId::new();
    let tenant = store
        .create_tenant(
            NewTenant {
                id: tenant_id,
                slug: "bench".to_owned(),
                name: "Bench".to_owned(),
                operator: false,
                created_at: OffsetDateTime::now_utc(),
            },
            event(tenant_id),
        )
        .await
        .expect("tenant");
    let all: Vec<u64> = (0..RECORDS).collect();
    for chunk in all.chunks(10_000) {
        store
            .insert_records(
                tenant.id,
                chunk.iter().map(|&n| account(n)).collect(),
                OffsetDateTime::now_utc(),
                event(tenant.id),
            )
            .await
            .expect("insert records");
    }
    tenant.id
}

/// The same SQL as the store's, without a sharing filter: the baseline.
#[derive(Clone)]
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

fn decode(id: String, owner: String, fields: Json<BTreeMap<String, JsonValue>>) -> Record {
    Record {
        id: RecordId::parse(&id).expect("id"),
        object: "Account".to_owned(),
        owner_id: UserId::new(owner),
        fields: fields.0,
    }
}

impl Raw {
    async fn list(&self, tenant: TenantId) -> Vec<Record> {
        match self {
            Raw::Sqlite(pool) => sqlx::query(
                "SELECT id, owner_id, fields FROM records WHERE tenant_id = $1 AND object = $2 \
                 ORDER BY id LIMIT $3",
            )
            .bind(tenant.as_uuid())
            .bind("Account")
            .bind(PAGE)
            .fetch_all(pool)
            .await
            .expect("raw list")
            .iter()
            .map(|r| decode(r.get(0), r.get(1), r.get(2)))
            .collect(),
            Raw::Postgres(pool) => sqlx::query(
                "SELECT id, owner_id, fields FROM records WHERE tenant_id = $1 AND object = $2 \
                 ORDER BY id LIMIT $3",
            )
            .bind(tenant.as_uuid())
            .bind("Account")
            .bind(PAGE)
            .fetch_all(pool)
            .await
            .expect("raw list")
            .iter()
            .map(|r| decode(r.get(0), r.get(1), r.get(2)))
            .collect(),
        }
    }

    async fn filtered_sorted(&self, tenant: TenantId) -> Vec<Record> {
        match self {
            Raw::Sqlite(pool) => sqlx::query(
                "SELECT id, owner_id, fields FROM records WHERE tenant_id = $1 AND object = $2 \
                 AND json_extract(fields, '$.Industry') = $3 \
                 ORDER BY json_extract(fields, '$.Name'), id LIMIT $4",
            )
            .bind(tenant.as_uuid())
            .bind("Account")
            .bind("Retail")
            .bind(PAGE)
            .fetch_all(pool)
            .await
            .expect("raw filtered")
            .iter()
            .map(|r| decode(r.get(0), r.get(1), r.get(2)))
            .collect(),
            Raw::Postgres(pool) => sqlx::query(
                "SELECT id, owner_id, fields FROM records WHERE tenant_id = $1 AND object = $2 \
                 AND fields ->> 'Industry' = $3 \
                 ORDER BY fields ->> 'Name' COLLATE \"C\", id LIMIT $4",
            )
            .bind(tenant.as_uuid())
            .bind("Account")
            .bind("Retail")
            .bind(PAGE)
            .fetch_all(pool)
            .await
            .expect("raw filtered")
            .iter()
            .map(|r| decode(r.get(0), r.get(1), r.get(2)))
            .collect(),
        }
    }

    async fn point(&self, tenant: TenantId, id: &RecordId) -> Option<Record> {
        let sql = "SELECT id, owner_id, fields FROM records WHERE tenant_id = $1 AND id = $2";
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .bind(tenant.as_uuid())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .expect("raw point")
                .map(|r| decode(r.get(0), r.get(1), r.get(2))),
            Raw::Postgres(pool) => sqlx::query(sql)
                .bind(tenant.as_uuid())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .expect("raw point")
                .map(|r| decode(r.get(0), r.get(1), r.get(2))),
        }
    }
}

fn bench_engine(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    store: SharedStore,
    raw: Raw,
) {
    let tenant = runtime.block_on(seed(&store));
    if let Raw::Postgres(pool) = &raw {
        // Fresh statistics, as autovacuum would gather them: the planner must not plan for
        // an empty table.
        runtime
            .block_on(sqlx::query("ANALYZE records").execute(pool))
            .expect("analyze");
    }
    let org = org();
    let vp = org.users[0].clone();
    let rep = org.users[1].clone();
    let list: RecordQuery =
        serde_json::from_value(json!({"object": "Account", "limit": PAGE})).expect("query");
    let filtered: RecordQuery = serde_json::from_value(json!({
        "object": "Account",
        "filter": {"field": "Industry", "op": "eq", "value": "Retail"},
        "order_by": [{"field": "Name", "direction": "asc"}],
        "limit": PAGE,
    }))
    .expect("query");
    // Owned by rep 1 (n % 9 == 0).
    let own = account_id(9 * 1_111);

    let mut group = c.benchmark_group(format!("records_100k/{name}"));
    for (label, query) in [("list_page", &list), ("filtered_sorted", &filtered)] {
        for (who, user) in [("rep", &rep), ("vp", &vp)] {
            let valid = validate_query(&org, user, query).expect("valid query");
            group.bench_function(format!("{label}/user_mode/{who}"), |b| {
                b.to_async(runtime).iter(|| async {
                    let page = store
                        .query_records(tenant, &org, user, &valid)
                        .await
                        .expect("user-mode query");
                    assert_eq!(page.records.len(), 50);
                    page
                });
            });
        }
        group.bench_function(format!("{label}/unchecked"), |b| {
            b.to_async(runtime).iter(|| async {
                let records = if label == "list_page" {
                    raw.list(tenant).await
                } else {
                    raw.filtered_sorted(tenant).await
                };
                assert_eq!(records.len(), 50);
                records
            });
        });
    }
    group.bench_function("point_read/user_mode/rep", |b| {
        b.to_async(runtime).iter(|| async {
            store
                .get_visible(tenant, &org, &rep, &own)
                .await
                .expect("point read")
                .expect("visible")
        });
    });
    group.bench_function("point_read/unchecked", |b| {
        b.to_async(runtime)
            .iter(|| async { raw.point(tenant, &own).await.expect("present") });
    });
    group.finish();
}

fn records_query(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("records.db").display());
    let sqlite: SharedStore = std::sync::Arc::new(
        runtime
            .block_on(SqliteStore::connect(&url))
            .expect("open sqlite"),
    );
    let raw = Raw::Sqlite(
        runtime
            .block_on(SqlitePool::connect(&url))
            .expect("raw sqlite"),
    );
    bench_engine(c, &runtime, "sqlite", sqlite, raw);

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
                .block_on(PgStore::connect_with_options(options.clone()))
                .expect("open postgres"),
        );
        let raw = Raw::Postgres(
            runtime
                .block_on(PgPool::connect_with(options.clone()))
                .expect("raw postgres"),
        );
        bench_engine(c, &runtime, "postgres", postgres, raw);
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
        .expect("run statement");
    conn.close().await.expect("close");
}

criterion_group!(benches, records_query);
criterion_main!(benches);
