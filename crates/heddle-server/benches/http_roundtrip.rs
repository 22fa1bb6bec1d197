//! Round trip of an authenticated `GET /v1/users/me` over loopback through every layer
//! (request id, security headers, problem rendering, per-IP and per-principal rate limits,
//! API key lookup on SQLite, Cedar-free path), compared in the same run with `GET /healthz`
//! (same layers, no authentication) as the baseline.
#![expect(
    clippy::expect_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use heddle_crypto::{ExposeSecret, PasswordHasher};
use heddle_identity::{Caller, CreateApiKey, Identity, IdentitySettings};
use heddle_server::config::{Config, QuotaConfig};
use heddle_types::{Role, SystemClock};

struct Running {
    base: String,
    token: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    // The benchmark measures the path, not the limiter saying no.
    let generous = QuotaConfig {
        per_minute: 100_000_000,
        burst: 1_000_000,
    };
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    config.rate_limits.per_ip = generous;
    config.rate_limits.per_principal = generous;
    let store = heddle_store::connect(&config.effective_database_url())
        .await
        .expect("store");
    let vault = heddle_vault::Vault::new(
        store.clone(),
        heddle_crypto::MasterKey::generate().expect("master key"),
        Vec::new(),
        Arc::new(SystemClock),
    );
    let identity = Identity::new(
        store.clone(),
        heddle_audit_log::AuditLog::start(
            store,
            Arc::new(SystemClock),
            heddle_audit_log::AuditLogSettings::default(),
        ),
        vault,
        PasswordHasher::fast_insecure_for_tests(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    )
    .expect("identity");
    identity.bootstrap(None, None).await.expect("bootstrap");
    let tenant = identity.tenant_by_slug("default").await.expect("tenant");
    let issued = identity
        .create_api_key(
            &Caller::local_operator(),
            CreateApiKey {
                tenant_id: tenant.id,
                name: "bench".into(),
                role: Role::Viewer,
                expires_at: None,
                route: None,
            },
        )
        .await
        .expect("key");
    let state = heddle_server::build_state(identity, config, None)
        .await
        .expect("state");
    let router = heddle_server::build_router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(heddle_server::serve_until(
        listener,
        router,
        std::time::Duration::from_secs(1),
        std::future::pending(),
    ));
    Running {
        base: format!("http://{addr}"),
        token: issued.token.expose_secret().to_owned(),
        _dir: dir,
    }
}

fn roundtrip(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let running = runtime.block_on(start());
    let client = reqwest::Client::new();
    let me = format!("{}/v1/users/me", running.base);
    let health = format!("{}/healthz", running.base);

    let mut group = c.benchmark_group("http_roundtrip");
    group.bench_function("GET /healthz (baseline)", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client.get(&health).send().await.expect("send");
            assert_eq!(response.status().as_u16(), 200);
            response.bytes().await.expect("body")
        });
    });
    group.bench_function("GET /v1/users/me (API key)", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client
                .get(&me)
                .bearer_auth(&running.token)
                .send()
                .await
                .expect("send");
            assert_eq!(response.status().as_u16(), 200);
            response.bytes().await.expect("body")
        });
    });
    group.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
