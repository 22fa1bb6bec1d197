//! Added latency of the OpenAI-compatible endpoint: the same chat completion sent directly to
//! a fake OpenAI upstream on loopback, and through Heddle (API key authentication, Cedar
//! `use_route`, the route's trust layers over a prompt with personal data, masking, the
//! execution recorded (the open group-committed before the upstream call), the upstream call,
//! unmasking). Open loop at several request rates, all paths in one run: direct, and through
//! two Heddle servers — one recording each request before it goes upstream (the default,
//! `[gateway] record = "before_upstream"`), one recording it with the next batch
//! (`"batched"`); prints p50 and p99 of each and the added latency.
//!
//! `cargo bench -p heddle-server --bench gateway_latency` (or `benches/gateway_latency.sh`).
//! `GATEWAY_BENCH_RATES=10,100,500` and `GATEWAY_BENCH_SECONDS=5` change the load.
#![expect(
    clippy::expect_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::sync::Arc;

/// As in the `heddle` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

use heddle_crypto::{ExposeSecret, PasswordHasher};
use heddle_gateway::RecordTiming;
use heddle_identity::{Caller, CreateApiKey, Identity, IdentitySettings};
use heddle_server::config::{Config, QuotaConfig};
use heddle_testkit::{FakeModelReply, FakeOpenAi};
use heddle_types::{Role, SystemClock};
use serde_json::{Value, json};

const UPSTREAM_KEY: &str = "sk-bench-upstream-key";

struct Setup {
    heddle: String,
    key: String,
    _dir: tempfile::TempDir,
}

async fn setup(fake: &FakeOpenAi, record: RecordTiming) -> Setup {
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
    config.runtime.providers_allow_private_network = true;
    config.gateway.record = record;
    let store = heddle_store::connect(&config.effective_database_url())
        .await
        .expect("store");
    let clock = Arc::new(SystemClock);
    let vault = heddle_vault::Vault::new(
        store.clone(),
        heddle_crypto::MasterKey::generate().expect("master key"),
        Vec::new(),
        clock.clone(),
    );
    let identity = Identity::new(
        store.clone(),
        heddle_audit_log::AuditLog::start(
            store,
            clock.clone(),
            heddle_audit_log::AuditLogSettings::default(),
        ),
        vault,
        PasswordHasher::fast_insecure_for_tests(),
        clock,
        IdentitySettings::default(),
    )
    .expect("identity");
    identity.bootstrap(None, None).await.expect("bootstrap");
    let tenant = identity.tenant_by_slug("default").await.expect("tenant");
    let admin = identity
        .create_api_key(
            &Caller::local_operator(),
            CreateApiKey {
                tenant_id: tenant.id,
                name: "bench admin".into(),
                role: Role::Admin,
                expires_at: None,
                route: None,
            },
        )
        .await
        .expect("admin key");
    let admin = admin.token.expose_secret().to_owned();
    let state = heddle_server::build_state(identity, config, None)
        .await
        .expect("state");
    let router = heddle_server::build_router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let heddle = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(heddle_server::serve_until(
        listener,
        router,
        Duration::from_secs(1),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{heddle}{path}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let created = post(
        "/v1/secrets",
        json!({"name": "openai_key", "environment": "dev",
               "secret": {"kind": "api_key", "key": UPSTREAM_KEY}}),
    )
    .await
    .expect("secret");
    assert_eq!(created.status(), 201);
    let binding = format!(
        "api_version: heddle/v1\nkind: ModelBinding\nname: gpt\nspec:\n  provider: openai\n  \
         model: gpt-4o-mini\n  base_url: {}\n  credential: openai_key\n",
        fake.url()
    );
    let route = "api_version: heddle/v1\nkind: Route\nname: bench\nspec:\n  model: gpt\n";
    let applied = post(
        "/v1/configs/dev",
        json!({"files": [{"path": "gpt.yaml", "content": binding},
                         {"path": "route.yaml", "content": route}]}),
    )
    .await
    .expect("apply");
    assert_eq!(applied.status(), 200);
    let key: Value = post(
        "/v1/api-keys",
        json!({"name": "bench app", "role": "operator", "route": "bench", "environment": "dev"}),
    )
    .await
    .expect("key")
    .json()
    .await
    .expect("key body");
    Setup {
        heddle,
        key: key["token"].as_str().expect("token").to_owned(),
        _dir: dir,
    }
}

fn request_body() -> Value {
    json!({
        "model": "bench",
        "max_tokens": 64,
        "messages": [
            {"role": "system", "content": "You are a helpful support assistant for Northwind."},
            {"role": "user", "content": "Please write to ana.lopez@example.com that order 18842 \
             shipped today and call her back on +1 415 555 0100 if it does not arrive by Friday."}
        ]
    })
}

/// Sends `count` requests at `rate` per second (open loop: on schedule, whatever the answers
/// do) and returns each one's latency.
async fn run(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    rate: u32,
    count: usize,
) -> Vec<Duration> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = tokio::time::Instant::now();
    let body = Arc::new(request_body());
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tokio::time::sleep_until(start + interval * u32::try_from(i).expect("count")).await;
        let (client, url, token, body) = (
            client.clone(),
            url.to_owned(),
            token.to_owned(),
            Arc::clone(&body),
        );
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(&url)
                .bearer_auth(&token)
                .json(&*body)
                .send()
                .await
                .expect("send");
            let status = response.status();
            let bytes = response.bytes().await.expect("body");
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
            sent.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.push(task.await.expect("task"));
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rates: Vec<u32> = std::env::var("GATEWAY_BENCH_RATES")
        .unwrap_or_else(|_| "10,50,200".to_owned())
        .split(',')
        .map(|r| r.trim().parse().expect("a rate"))
        .collect();
    let seconds: u32 = std::env::var("GATEWAY_BENCH_SECONDS")
        .ok()
        .map_or(5, |s| s.parse().expect("seconds"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let fake = FakeOpenAi::start(UPSTREAM_KEY).await.expect("fake");
        let servers = [
            ("before_upstream", setup(&fake, RecordTiming::BeforeUpstream).await),
            ("batched", setup(&fake, RecordTiming::Batched).await),
        ];
        let client = reqwest::Client::new();
        let direct = format!("{}/v1/chat/completions", fake.url());
        let total: usize = rates.iter().map(|r| (r * seconds) as usize).sum::<usize>() + 40;
        for _ in 0..total * (1 + servers.len()) {
            fake.push_reply(
                FakeModelReply::text("Done: I wrote to <EMAIL_1> and will call <PHONE_1>.")
                    .with_usage(60, 16),
            );
        }
        // Warm up every path (connections, caches, the upstream client).
        run(&client, &direct, UPSTREAM_KEY, 20, 20).await;
        for (_, server) in &servers {
            let url = format!("{}/v1/chat/completions", server.heddle);
            run(&client, &url, &server.key, 20, 20).await;
        }
        println!(
            "\ngateway latency, chat completion on loopback, {seconds} s per rate, open loop \
             (2 worker threads shared by load generator, Heddle and the fake)"
        );
        println!(
            "{:>8} {:>16} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
            "rate/s", "path", "requests", "p50", "p99", "added p50", "added p99", "max"
        );
        for &rate in &rates {
            let count = (rate * seconds) as usize;
            let mut d = run(&client, &direct, UPSTREAM_KEY, rate, count).await;
            d.sort_unstable();
            let (d50, d99) = (percentile(&d, 50.0), percentile(&d, 99.0));
            println!(
                "{rate:>8} {:>16} {count:>9} {:>7.2}ms {:>8.2}ms {:>10} {:>10} {:>8.2}ms",
                "direct",
                millis(d50),
                millis(d99),
                "",
                "",
                millis(d[d.len() - 1]),
            );
            for (name, server) in &servers {
                let url = format!("{}/v1/chat/completions", server.heddle);
                let mut h = run(&client, &url, &server.key, rate, count).await;
                h.sort_unstable();
                let (h50, h99) = (percentile(&h, 50.0), percentile(&h, 99.0));
                println!(
                    "{rate:>8} {name:>16} {count:>9} {:>7.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms",
                    millis(h50),
                    millis(h99),
                    millis(h50) - millis(d50),
                    millis(h99) - millis(d99),
                    millis(h[h.len() - 1]),
                );
            }
        }
    });
}
