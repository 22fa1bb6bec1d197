//! The runtime's own cost per turn and per tool-call step, with the model taken out: every
//! agent plays a scripted binding, which answers in microseconds, so what is left is Heddle —
//! contract checks, Cedar, user-mode record access, sealing the conversation and one SQLite
//! transaction (step + audit outbox row) per recorded step.
//!
//! The store is SQLite in a temp directory, opened the way `heddle serve` opens its default
//! database (`sqlite://<dir>/heddle.db?mode=rwc`: WAL, `synchronous=FULL`), with the system
//! clock, default identity settings and the audit log's background sequencer running.
//!
//! The setup: one tenant; a record org with four reps (Account is Private, so each rep sees
//! only their own; `AnnualRevenue` is not readable) and 1,000 Accounts spread over them; the
//! first rep is a Heddle user whose email is their org login. Employee agents run as that rep
//! with `list_my_accounts` (`records.query`, `owner` bound to the caller's user id, 20 rows of
//! the 50 that match) and `get_account` (`records.get`). Measured, each turn in a fresh
//! session (its creation is outside the timing), so the script position and the history read
//! back stay at zero:
//! - `turn/0_tool_calls`: the message, one model call, the answer;
//! - `turn/1_tool_call`: one model step proposing one query, then the answer;
//! - `turn/4_tool_calls_4_model_steps`: four model steps of one query each, then the answer;
//! - `turn/4_tool_calls_1_model_step`: one model step proposing four queries, then the answer.
//!
//! Baselines in the same run, the pieces a step is made of: one stored step with its audit
//! event (`append_step`, a real `tool_result` payload), the same `RecordSource::query` as the
//! rep, sealing and opening one conversation entry, the `call_capability` decision, the
//! once-a-turn record identity lookup; and what a turn re-reads of a long session
//! (`list_steps`, and the whole history read back, of a 100-turn conversation).
//!
//! Before the benchmarks, that 100-turn conversation is played and timed turn by turn. After
//! them, a summary prints the medians of the very turns criterion timed (collected inside its
//! measurement loops), the derived per-step overhead, where a step's time goes (from the
//! stored steps' own timestamps, over 30 more turns), and the per-turn costs that grow with
//! history. Expect SQLite's commits (an fsync each) to dominate, and noise when the machine
//! is busy: the summary prints p10 and p90 beside each median.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use heddle_crypto::{ExposeSecret, PasswordHasher, SecretString};
use heddle_identity::{Actor, Caller, CreateUser, Identity, IdentitySettings};
use heddle_mail::MemoryMailer;
use heddle_providers::{Message, ScriptedToolCall, ScriptedTurn};
use heddle_records::RecordId;
use heddle_records::config::OrgConfig;
use heddle_records::import::ImportRow;
use heddle_records::query::RecordQuery;
use heddle_recordsource::{EmbeddedRecords, RecordActor, RecordSettings, RecordSource};
use heddle_runtime::{CreateSession, Runtime, RuntimeSettings, TurnOutcome};
use heddle_store::{NewStep, UsageScope};
use heddle_types::{
    Action, AuditEvent, AuditOutcome, AuditTarget, CapabilityResource, Environment, ExecutionId,
    Principal, RequestContext, Resource, Role, SessionId, SystemClock, TenantId,
};
use heddle_vault::Sealed;
use serde_json::{Map, Value, json};

const ACCOUNTS: u64 = 1_000;
const REPS: u64 = 4;
const INDUSTRIES: [&str; 5] = [
    "Technology",
    "Finance",
    "Retail",
    "Healthcare",
    "Manufacturing",
];
const REP_EMAIL: &str = "rep1@bench.test";
/// Turns of the conversation that shows the cost of a session's length.
const DEPTH: usize = 100;
const MESSAGE: &str = "Which of my accounts are in retail?";

/// The agents measured: name, tool calls per turn, and the script of one turn.
const ZERO: &str = "zero_calls";
const ONE: &str = "one_call";
const FOUR_STEPS: &str = "four_steps";
const FOUR_AT_ONCE: &str = "four_at_once";
const CHAT: &str = "chat";

fn id(prefix: &str, n: u64) -> String {
    RecordId::generate(prefix, n)
        .expect("record id")
        .as_str()
        .to_owned()
}

fn user_id(n: u64) -> String {
    id("005", n)
}

fn org() -> OrgConfig {
    let rw = json!({"read": true, "edit": true});
    let users: Vec<Value> = (1..=REPS)
        .map(|n| {
            let mut user = json!({"id": user_id(n), "role": "sales_rep", "profile": "rep"});
            if n == 1 {
                user["login"] = json!(REP_EMAIL);
            }
            user
        })
        .collect();
    serde_json::from_value(json!({
        "roles": [{"id": "sales_rep"}],
        "profiles": [{
            "id": "rep",
            "objects": {"Account": {"read": true, "create": true, "edit": true}},
            // AnnualRevenue is stored but not readable: field-level security strips it.
            "fields": {"Account": {"Name": rw, "Industry": rw, "Phone": rw}}
        }],
        "users": users,
        "objects": {"Account": {"sharing_default": "private"}}
    }))
    .expect("org config")
}

fn accounts() -> Vec<ImportRow> {
    (1..=ACCOUNTS)
        .map(|n| ImportRow {
            id: Some(RecordId::generate("001", n).expect("account id")),
            owner_id: heddle_records::UserId::new(user_id(1 + n % REPS)),
            fields: serde_json::from_value(json!({
                "Name": format!("Account {n:04}"),
                "Industry": INDUSTRIES[usize::try_from(n % 5).unwrap_or(0)],
                "Phone": "(555) 010-0000",
                "AnnualRevenue": n * 1_000,
            }))
            .expect("fields"),
        })
        .collect()
}

fn query_call(industry: &str) -> ScriptedToolCall {
    ScriptedToolCall {
        id: None,
        name: "list_my_accounts".to_owned(),
        arguments: json!({"industry": industry}),
    }
}

fn answer() -> ScriptedTurn {
    ScriptedTurn::text("You have twenty retail accounts; the first is Account 0002.")
}

/// The script of each agent's binding: one turn's worth (sessions are fresh), or `DEPTH`
/// answers for the long conversation.
fn scripts() -> Vec<(&'static str, Vec<ScriptedTurn>)> {
    let step = |industry: &str| ScriptedTurn {
        tool_calls: vec![query_call(industry)],
        ..ScriptedTurn::default()
    };
    vec![
        (ZERO, vec![answer()]),
        (ONE, vec![step("Retail"), answer()]),
        (
            FOUR_STEPS,
            vec![
                step("Retail"),
                step("Finance"),
                step("Technology"),
                step("Healthcare"),
                answer(),
            ],
        ),
        (
            FOUR_AT_ONCE,
            vec![
                ScriptedTurn {
                    tool_calls: ["Retail", "Finance", "Technology", "Healthcare"]
                        .into_iter()
                        .map(query_call)
                        .collect(),
                    ..ScriptedTurn::default()
                },
                answer(),
            ],
        ),
        (CHAT, (0..DEPTH).map(|_| answer()).collect()),
    ]
}

fn agent_files() -> Vec<(String, String)> {
    let mut files = vec![
        (
            "list.yaml".to_owned(),
            r#"api_version: heddle/v1
kind: Capability
name: list_my_accounts
spec:
  description: List the calling rep's accounts in one industry.
  classification: { effect: read, data: private, audience: employee }
  input_schema:
    type: object
    additionalProperties: false
    required: [industry]
    properties:
      industry: { type: string, enum: [Technology, Finance, Retail, Healthcare, Manufacturing] }
  bound_inputs:
    owner: user_id
  backend:
    records.query:
      query:
        object: Account
        fields: [Name, Industry]
        filter:
          and:
            - { field: OwnerId, op: eq, value: "{{owner}}" }
            - { field: Industry, op: eq, value: "{{industry}}" }
        limit: 20
"#
            .to_owned(),
        ),
        (
            "get.yaml".to_owned(),
            r#"api_version: heddle/v1
kind: Capability
name: get_account
spec:
  description: Show one account by its id.
  classification: { effect: read, data: private, audience: employee }
  input_schema:
    type: object
    additionalProperties: false
    required: [account_id]
    properties:
      account_id: { type: string, pattern: "^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$", maxLength: 18 }
  backend:
    records.get: { object: Account, record_id: "{{account_id}}", fields: [Name, Industry] }
"#
            .to_owned(),
        ),
    ];
    for (agent, script) in scripts() {
        // JSON is YAML: the script goes in as one flow sequence.
        let script = serde_json::to_string(&script).expect("script");
        files.push((
            format!("{agent}_model.yaml"),
            format!(
                "api_version: heddle/v1\nkind: ModelBinding\nname: {agent}_model\nspec:\n  \
                 provider: scripted\n  model: scripted-bench\n  script: {script}\n"
            ),
        ));
        files.push((
            format!("{agent}.yaml"),
            format!(
                "api_version: heddle/v1\nkind: Agent\nname: {agent}\nspec:\n  kind: employee\n  \
                 model: {agent}_model\n  system_prompt: Help reps with their own accounts.\n  \
                 capabilities: [list_my_accounts, get_account]\n"
            ),
        ));
    }
    files
}

struct World {
    runtime: Runtime,
    records: EmbeddedRecords,
    identity: Identity,
    tenant: TenantId,
    rep: Caller,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // What `heddle serve` opens when no database URL is configured.
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("heddle.db").display()
        );
        let store = heddle_store::connect(&url).await.expect("store");
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
        identity
            .bootstrap(
                Some("admin@bench.test"),
                Some(SecretString::from(
                    "correct horse battery staple".to_owned(),
                )),
            )
            .await
            .expect("bootstrap");
        let tenant = identity.tenant_by_slug("default").await.expect("tenant").id;
        let records = EmbeddedRecords::new(identity.clone(), RecordSettings::default());
        let operator = Caller::local_operator();
        records
            .apply_org(&operator, tenant, org(), None)
            .await
            .expect("record org");
        records
            .import_records(&operator, tenant, "Account", accounts())
            .await
            .expect("accounts");
        identity
            .create_user(
                &operator,
                CreateUser {
                    tenant_id: tenant,
                    email: REP_EMAIL.to_owned(),
                    display_name: "Rep One".to_owned(),
                    role: Role::Operator,
                    password: Some(SecretString::from("a long enough password".to_owned())),
                },
            )
            .await
            .expect("user");
        let user = identity
            .store()
            .find_user_credentials(tenant, REP_EMAIL)
            .await
            .expect("user lookup")
            .expect("the rep exists")
            .0;
        let rep = Caller::new(
            Actor::Principal(Principal::for_user(&user, false)),
            RequestContext::default(),
        );
        let set = heddle_agents::load_dir(&agent_files()).unwrap_or_else(|errors| {
            let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("agent files: {}", listed.join("\n"));
        });
        identity
            .apply_config(&operator, tenant, Environment::Dev, &set)
            .await
            .expect("apply agents");
        let runtime = Runtime::new(
            identity.clone(),
            records.clone(),
            Arc::new(MemoryMailer::new()),
            RuntimeSettings::default(),
        );
        Self {
            runtime,
            records,
            identity,
            tenant,
            rep,
            _dir: dir,
        }
    }

    async fn session(&self, agent: &str) -> SessionId {
        self.runtime
            .create_session(
                &self.rep,
                self.tenant,
                CreateSession {
                    agent: agent.to_owned(),
                    environment: Environment::Dev,
                    record_id: None,
                },
            )
            .await
            .expect("session")
            .id
    }

    async fn say(&self, session: SessionId) -> TurnOutcome {
        let outcome = self
            .runtime
            .post_message(&self.rep, self.tenant, session, MESSAGE.to_owned())
            .await
            .expect("turn");
        assert_eq!(outcome.status, "completed", "{outcome:?}");
        outcome
    }

    /// One timed turn in a fresh session.
    async fn timed_turn(&self, agent: &str) -> Duration {
        let session = self.session(agent).await;
        let started = Instant::now();
        let outcome = self
            .runtime
            .post_message(&self.rep, self.tenant, session, MESSAGE.to_owned())
            .await;
        let elapsed = started.elapsed();
        let outcome = outcome.expect("turn");
        assert_eq!(outcome.status, "completed", "{outcome:?}");
        elapsed
    }
}

/// Every duration timed inside criterion's loops, by benchmark: the summary's source.
#[derive(Default)]
struct Samples(Mutex<BTreeMap<&'static str, Vec<Duration>>>);

impl Samples {
    fn push(&self, name: &'static str, elapsed: Duration) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name)
            .or_default()
            .push(elapsed);
    }

    /// (median, count) of a benchmark's samples, when it ran.
    fn median(&self, name: &str) -> Option<(Duration, usize)> {
        let samples = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let values = samples.get(name)?;
        Some((median(values)?, values.len()))
    }

    /// How many samples each benchmark took.
    fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, values)| (*name, values.len()))
            .collect()
    }

    /// The 10th and 90th percentiles of a benchmark's samples.
    fn spread(&self, name: &str) -> Option<(Duration, Duration)> {
        let samples = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut values = samples.get(name)?.clone();
        values.sort_unstable();
        let at = |q: usize| {
            values
                .get((values.len() * q / 100).min(values.len().saturating_sub(1)))
                .copied()
        };
        Some((at(10)?, at(90)?))
    }
}

fn median(values: &[Duration]) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => sorted.get(mid).copied(),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn signed_ms(seconds: f64) -> String {
    format!("{:.3} ms", seconds * 1e3)
}

/// The query `list_my_accounts` compiles to for the rep and `Retail`.
fn rep_query() -> RecordQuery {
    serde_json::from_value(json!({
        "object": "Account",
        "fields": ["Name", "Industry"],
        "filter": {"and": [
            {"field": "OwnerId", "op": "eq", "value": user_id(1)},
            {"field": "Industry", "op": "eq", "value": "Retail"},
        ]},
        "limit": 20,
    }))
    .expect("query")
}

/// Checks a turn of each agent did what it is measured for, and returns a real `tool_result`
/// step payload (for the `append_step` baseline) and how many steps each agent's turn stores.
async fn verify(world: &World) -> (Value, BTreeMap<&'static str, usize>) {
    let mut steps_per_turn = BTreeMap::new();
    let mut tool_result = Value::Null;
    for (agent, calls) in [(ZERO, 0), (ONE, 1), (FOUR_STEPS, 4), (FOUR_AT_ONCE, 4)] {
        let session = world.session(agent).await;
        let outcome = world.say(session).await;
        let view = world
            .runtime
            .get_execution(
                &Caller::local_operator(),
                world.tenant,
                outcome.execution_id,
            )
            .await
            .expect("execution");
        let results: Vec<&Value> = view
            .steps
            .iter()
            .filter(|s| s.kind == "tool_result")
            .map(|s| &s.detail)
            .collect();
        assert_eq!(results.len(), calls, "{agent}");
        for result in &results {
            assert_eq!(result["ok"], true, "{agent}: {result}");
            // 50 of the rep's 250 accounts match; the page is 20, all the rep's own.
            assert_eq!(result["records"], 20, "{agent}: {result}");
        }
        steps_per_turn.insert(agent, view.steps.len());
        if agent == ONE {
            let stored = world
                .identity
                .store()
                .list_steps(world.tenant, session, Some(outcome.turn))
                .await
                .expect("steps");
            tool_result = stored
                .into_iter()
                .find(|s| s.kind == "tool_result")
                .expect("a tool result")
                .payload;
        }
    }
    (tool_result, steps_per_turn)
}

/// One long conversation: how a turn's cost grows with the turns before it. Returns the
/// session (for the history baselines) and each turn's time.
async fn conversation(world: &World) -> (SessionId, Vec<Duration>) {
    let session = world.session(CHAT).await;
    let mut times = Vec::with_capacity(DEPTH);
    for _ in 0..DEPTH {
        let started = Instant::now();
        world.say(session).await;
        times.push(started.elapsed());
    }
    (session, times)
}

/// What a turn re-reads of its session's history before the first model call: the turns,
/// every step, each sealed conversation entry opened, and every step again to find the
/// script position (`earlier_messages` and `model_calls` in the runtime). Returns how many
/// entries were opened.
async fn read_back_history(world: &World, session: SessionId) -> usize {
    let store = world.identity.store();
    let vault = world.identity.vault();
    let turns = store
        .list_turns(world.tenant, session)
        .await
        .expect("turns");
    std::hint::black_box(turns);
    let steps = store
        .list_steps(world.tenant, session, None)
        .await
        .expect("steps");
    let scope = format!("session:{session}");
    let mut opened = 0;
    for step in steps.iter().filter(|s| s.applied) {
        let Some(entry) = step.payload.get("transcript") else {
            continue;
        };
        let sealed = Sealed {
            data_key_version: entry["key_version"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .expect("key version"),
            ciphertext: heddle_crypto::base64_decode(
                entry["ciphertext"].as_str().expect("ciphertext"),
            )
            .expect("base64"),
        };
        let context = format!("{session}/{}", entry["entry"].as_str().expect("entry id"));
        let plaintext = vault
            .open(
                world.tenant,
                &scope,
                "session-transcript",
                &context,
                &sealed,
            )
            .await
            .expect("open");
        let message: Message =
            serde_json::from_slice(plaintext.expose_secret()).expect("a message");
        std::hint::black_box(message);
        opened += 1;
    }
    let again = store
        .list_steps(world.tenant, session, None)
        .await
        .expect("steps");
    std::hint::black_box(again.iter().filter(|s| s.kind == "model_request").count());
    opened
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let world = runtime.block_on(World::start());
    let world = &world;
    let (tool_result_payload, steps_per_turn) = runtime.block_on(verify(world));
    let (long_session, by_depth) = runtime.block_on(conversation(world));
    let samples = Samples::default();
    let samples = &samples;
    let actor: RecordActor = runtime
        .block_on(world.records.user_actor(&world.rep))
        .expect("the rep's record identity");
    let actor = &actor;
    let query = rep_query();
    let query = &query;
    // The conversation entry a tool result seals: the page the model gets back.
    let page = runtime
        .block_on(world.records.query(actor, query))
        .expect("query");
    assert_eq!(page.records.len(), 20);
    assert!(
        page.records
            .iter()
            .all(|r| !r.fields.contains_key("AnnualRevenue")),
        "field-level security strips AnnualRevenue"
    );
    let content = json!({
        "records": page.records.iter().map(|r| json!({
            "id": r.id.as_str(), "object": r.object, "fields": r.fields,
        })).collect::<Vec<_>>(),
        "more": page.next_cursor.is_some(),
    })
    .to_string();
    let entry = serde_json::to_vec(&Message::tool_result("call_1_0", content)).expect("entry");
    let entry = &entry;
    // A running turn to append steps to, for the store baseline.
    let (step_session, step_turn, execution_id) = runtime.block_on(async {
        let session = world.session(CHAT).await;
        let execution_id = ExecutionId::new();
        let now = world.identity.now();
        let begin = |action: &str| {
            heddle_audit_log::prepare_event(&step_event(world, execution_id, action, Map::new()))
        };
        let began = world
            .identity
            .store()
            .begin_turn(
                world.tenant,
                session,
                execution_id,
                now,
                now - time::Duration::HOUR,
                begin("turn.abandon"),
                begin("turn.begin"),
            )
            .await
            .expect("begin turn");
        (session, began.turn.turn, execution_id)
    });
    let capability = Resource::Capability(Box::new(CapabilityResource {
        tenant_id: world.tenant,
        environment: Environment::Dev,
        agent: ONE.to_owned(),
        name: "list_my_accounts".to_owned(),
        effect: "read".to_owned(),
        data: "private".to_owned(),
        audience: "employee".to_owned(),
    }));
    let capability = &capability;
    let scope = format!("session:{step_session}");
    let scope = &scope;

    let mut group = c.benchmark_group("turn_overhead/sqlite");
    for (name, agent) in [
        ("turn/0_tool_calls", ZERO),
        ("turn/1_tool_call", ONE),
        ("turn/4_tool_calls_4_model_steps", FOUR_STEPS),
        ("turn/4_tool_calls_1_model_step", FOUR_AT_ONCE),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let elapsed = world.timed_turn(agent).await;
                    samples.push(name, elapsed);
                    total += elapsed;
                }
                total
            });
        });
    }

    group.bench_function("piece/append_step", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let payload = tool_result_payload.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    append_step(
                        world,
                        step_session,
                        step_turn,
                        execution_id,
                        payload.clone(),
                    )
                    .await;
                    let elapsed = started.elapsed();
                    samples.push("piece/append_step", elapsed);
                    total += elapsed;
                }
                total
            }
        });
    });
    group.bench_function("piece/records_query_as_rep", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let page = world.records.query(actor, query).await.expect("query");
                let elapsed = started.elapsed();
                assert_eq!(page.records.len(), 20);
                samples.push("piece/records_query_as_rep", elapsed);
                total += elapsed;
            }
            total
        });
    });
    group.bench_function("piece/vault_seal_entry", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let context = format!("{step_session}/{}", uuid::Uuid::now_v7());
                let started = Instant::now();
                let sealed = world
                    .identity
                    .vault()
                    .seal(world.tenant, scope, "session-transcript", &context, entry)
                    .await
                    .expect("seal");
                let elapsed = started.elapsed();
                std::hint::black_box(sealed);
                samples.push("piece/vault_seal_entry", elapsed);
                total += elapsed;
            }
            total
        });
    });
    let context = format!("{step_session}/open");
    let context = &context;
    let sealed = runtime
        .block_on(world.identity.vault().seal(
            world.tenant,
            scope,
            "session-transcript",
            context,
            entry,
        ))
        .expect("seal");
    let sealed = &sealed;
    group.bench_function("piece/vault_open_entry", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let opened = world
                    .identity
                    .vault()
                    .open(world.tenant, scope, "session-transcript", context, sealed)
                    .await
                    .expect("open");
                let elapsed = started.elapsed();
                std::hint::black_box(opened);
                samples.push("piece/vault_open_entry", elapsed);
                total += elapsed;
            }
            total
        });
    });
    group.bench_function("piece/authorize_call_capability", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                world
                    .identity
                    .authorize(&world.rep.actor, Action::CallCapability, capability.clone())
                    .await
                    .expect("allowed");
                let elapsed = started.elapsed();
                samples.push("piece/authorize_call_capability", elapsed);
                total += elapsed;
            }
            total
        });
    });
    group.bench_function("piece/user_actor", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let actor = world.records.user_actor(&world.rep).await.expect("actor");
                let elapsed = started.elapsed();
                std::hint::black_box(actor);
                samples.push("piece/user_actor", elapsed);
                total += elapsed;
            }
            total
        });
    });
    let long_steps = runtime
        .block_on(
            world
                .identity
                .store()
                .list_steps(world.tenant, long_session, None),
        )
        .expect("steps")
        .len();
    group.bench_function(format!("piece/list_steps_{DEPTH}_turn_session"), |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let steps = world
                    .identity
                    .store()
                    .list_steps(world.tenant, long_session, None)
                    .await
                    .expect("steps");
                let elapsed = started.elapsed();
                assert_eq!(steps.len(), long_steps);
                samples.push("piece/list_steps_long_session", elapsed);
                total += elapsed;
            }
            total
        });
    });
    let entries = runtime.block_on(read_back_history(world, long_session));
    group.bench_function(format!("piece/history_read_back_{DEPTH}_turns"), |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let opened = read_back_history(world, long_session).await;
                let elapsed = started.elapsed();
                assert_eq!(opened, entries);
                samples.push("piece/history_read_back", elapsed);
                total += elapsed;
            }
            total
        });
    });
    group.finish();

    runtime.block_on(summary(
        world,
        samples,
        &steps_per_turn,
        History {
            by_depth,
            steps: long_steps,
            entries,
        },
    ));
}

fn step_event(
    world: &World,
    execution_id: ExecutionId,
    action: &str,
    details: Map<String, Value>,
) -> AuditEvent {
    AuditEvent {
        tenant_id: world.tenant,
        environment: Some(Environment::Dev.as_str().to_owned()),
        actor: world.rep.audit_actor(),
        action: action.to_owned(),
        target: Some(AuditTarget {
            kind: "execution".to_owned(),
            id: execution_id.to_string(),
        }),
        outcome: AuditOutcome::Success,
        request: world.rep.request.clone(),
        duration_ms: Some(0),
        occurred_at: world.identity.now(),
        details,
    }
}

/// What the runtime does to record a step: the audit event from the payload (without the
/// sealed entry), prepared, and the step written with it in one transaction.
async fn append_step(
    world: &World,
    session: SessionId,
    turn: i64,
    execution_id: ExecutionId,
    payload: Value,
) {
    let mut details = payload.as_object().cloned().unwrap_or_default();
    details.remove("transcript");
    details.insert("session".to_owned(), Value::from(session.to_string()));
    details.insert("turn".to_owned(), Value::from(turn));
    let audit = heddle_audit_log::prepare_event(&step_event(
        world,
        execution_id,
        "execution.tool_result",
        details,
    ));
    world
        .identity
        .store()
        .append_step(
            world.tenant,
            session,
            turn,
            NewStep {
                kind: "tool_result".to_owned(),
                payload,
                input_tokens: 0,
                output_tokens: 0,
                cost_micros: 0,
                latency_ms: None,
                at: world.identity.now(),
            },
            audit,
        )
        .await
        .expect("append step");
}

/// The long conversation, for the summary.
struct History {
    /// Each turn's time, in order.
    by_depth: Vec<Duration>,
    /// Steps the session stored.
    steps: usize,
    /// Sealed conversation entries a turn opens again.
    entries: usize,
}

const TURNS: [(&str, &str, &str); 4] = [
    ("turn/0_tool_calls", "0 tool calls", ZERO),
    ("turn/1_tool_call", "1 tool call", ONE),
    (
        "turn/4_tool_calls_4_model_steps",
        "4 tool calls in 4 model steps",
        FOUR_STEPS,
    ),
    (
        "turn/4_tool_calls_1_model_step",
        "4 tool calls in 1 model step",
        FOUR_AT_ONCE,
    ),
];

const PIECES: [(&str, &str); 8] = [
    (
        "piece/append_step",
        "append_step (1 step + audit outbox row, 1 commit)",
    ),
    (
        "piece/records_query_as_rep",
        "RecordSource::query as the rep (20 of 50)",
    ),
    (
        "piece/vault_seal_entry",
        "vault seal, one conversation entry",
    ),
    (
        "piece/vault_open_entry",
        "vault open, one conversation entry",
    ),
    (
        "piece/authorize_call_capability",
        "Cedar call_capability decision",
    ),
    (
        "piece/user_actor",
        "record identity of the caller (once a turn)",
    ),
    ("piece/list_steps_long_session", "list_steps, long session"),
    ("piece/history_read_back", "history read back, long session"),
];

async fn summary(
    world: &World,
    samples: &Samples,
    steps_per_turn: &BTreeMap<&'static str, usize>,
    history: History,
) {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "\n==== turn_overhead: SQLite (WAL, synchronous=FULL) in a temp dir, {cores} cores, \
         scripted model ===="
    );
    println!("turns, each in a fresh session (medians of the turns criterion timed above):");
    let mut turns = BTreeMap::new();
    for (name, label, agent) in TURNS {
        if let (Some((m, n)), Some((p10, p90))) = (samples.median(name), samples.spread(name)) {
            println!(
                "  {label:<36} {:>10}   (p10 {}, p90 {}; {n} turns; {} steps stored)",
                ms(m),
                ms(p10),
                ms(p90),
                steps_per_turn.get(agent).copied().unwrap_or_default()
            );
            turns.insert(name, m.as_secs_f64());
        }
    }
    let turn = |name: &str| turns.get(name).copied();
    let (zero, one, four, at_once) = (
        turn("turn/0_tool_calls"),
        turn("turn/1_tool_call"),
        turn("turn/4_tool_calls_4_model_steps"),
        turn("turn/4_tool_calls_1_model_step"),
    );
    println!(
        "per tool-call step, model excluded (model_request, model_response, tool_call, \
         policy_decision, tool_result):"
    );
    if let (Some(zero), Some(four)) = (zero, four) {
        println!(
            "  >> PER STEP  (4 steps − 0 calls) / 4     {:>10}",
            signed_ms((four - zero) / 4.0)
        );
    }
    if let (Some(zero), Some(one)) = (zero, one) {
        println!(
            "     per step  (1 step − 0 calls)          {:>10}",
            signed_ms(one - zero)
        );
    }
    if let (Some(one), Some(four)) = (one, four) {
        println!(
            "     marginal  (4 steps − 1 step) / 3      {:>10}",
            signed_ms((four - one) / 3.0)
        );
    }
    if let (Some(one), Some(at_once)) = (one, at_once) {
        println!(
            "     one more call in the same model step  {:>10}   ((4 at once − 1) / 3: \
             tool_call, policy_decision, tool_result)",
            signed_ms((at_once - one) / 3.0)
        );
    }

    println!("pieces (same run, medians):");
    let mut pieces = BTreeMap::new();
    for (name, label) in PIECES {
        if let Some((m, n)) = samples.median(name) {
            let label = match name {
                "piece/list_steps_long_session" => {
                    format!("{label} ({DEPTH} turns, {} steps)", history.steps)
                }
                "piece/history_read_back" => format!(
                    "{label} ({DEPTH} turns: list_turns, 2 × list_steps, {} opens)",
                    history.entries
                ),
                _ => label.to_owned(),
            };
            println!("  {label:<70} {:>10}   (n = {n})", ms(m));
            pieces.insert(name, m.as_secs_f64());
        }
    }
    let piece = |name: &str| pieces.get(name).copied();
    if let (Some(append), Some(query), Some(seal), Some(authorize)) = (
        piece("piece/append_step"),
        piece("piece/records_query_as_rep"),
        piece("piece/vault_seal_entry"),
        piece("piece/authorize_call_capability"),
    ) {
        let estimate = 5.0 * append + query + 2.0 * seal + authorize;
        println!(
            "  a step from its pieces: 5 × append_step + query + 2 × seal + authorize = {} \
             (the 5 commits: {})",
            signed_ms(estimate),
            signed_ms(5.0 * append),
        );
    }

    timeline(world, FOUR_STEPS, 30).await;

    println!("history (per turn, grows with the session and with the agent's day):");
    let bucket =
        |from: usize, to: usize| median(history.by_depth.get(from - 1..to).unwrap_or_default());
    if let (Some(first), Some(middle), Some(last)) =
        (bucket(1, 10), bucket(46, 55), bucket(91, 100))
    {
        println!(
            "  0-call turn by session length: turns 1–10 {}, 46–55 {}, 91–100 {} \
             (+{} per earlier turn)",
            ms(first),
            ms(middle),
            ms(last),
            signed_ms((last.as_secs_f64() - first.as_secs_f64()) / 90.0)
        );
    }
    let store = world.identity.store();
    let since = world.identity.now().replace_time(time::Time::MIDNIGHT);
    let counts = samples.counts();
    for (agent, _) in scripts() {
        let mut times = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let totals = store
                .usage_totals(
                    world.tenant,
                    UsageScope::Agent {
                        environment: Environment::Dev,
                        agent: agent.to_owned(),
                        since,
                    },
                )
                .await
                .expect("usage");
            times.push(started.elapsed());
            std::hint::black_box(totals);
        }
        let steps = if agent == CHAT {
            // The long conversation, and what the `append_step` baseline stored.
            history.steps + counts.get("piece/append_step").copied().unwrap_or_default()
        } else {
            // The measured turns, and the one that verified the agent.
            let name = TURNS
                .iter()
                .find(|(_, _, a)| *a == agent)
                .map_or("", |(name, _, _)| *name);
            (counts.get(name).copied().unwrap_or_default() + 1)
                * steps_per_turn.get(agent).copied().unwrap_or_default()
        };
        if let Some(m) = median(&times) {
            println!(
                "  usage_totals(agent `{agent}`, today) over {steps:>6} steps {:>26}",
                ms(m)
            );
        }
    }
}

/// Where a tool-call step goes, from the stored steps themselves: each step's `at` is taken
/// just before it is written, so the gap from one step to the next is that step's commit plus
/// the work before the next one. Medians over fresh-session turns of the agent, by
/// transition.
async fn timeline(world: &World, agent: &'static str, turns: usize) {
    let mut gaps: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut totals = Vec::new();
    let mut played = Vec::new();
    for _ in 0..turns {
        let session = world.session(agent).await;
        let started = Instant::now();
        let outcome = world.say(session).await;
        totals.push(started.elapsed());
        played.push((session, outcome.turn));
    }
    for (session, turn) in played {
        let steps = world
            .identity
            .store()
            .list_steps(world.tenant, session, Some(turn))
            .await
            .expect("steps");
        for pair in steps.windows(2) {
            let [from, to] = pair else { continue };
            gaps.entry(format!("{} → {}", from.kind, to.kind))
                .or_default()
                .push((to.at - from.at).unsigned_abs());
        }
    }
    let gap = |label: &str| gaps.get(label).and_then(|values| median(values));
    println!(
        "where a tool-call step goes ({turns} turns of `{agent}` timed again; median gap \
         between consecutive steps' timestamps = the earlier step's commit + the work before \
         the next):"
    );
    let cycle = [
        (
            "model_request → model_response",
            "the model call, the reply's digest, seal the reply",
        ),
        (
            "model_response → tool_call",
            "record identity (first call), contract check, digests",
        ),
        ("tool_call → policy_decision", "the Cedar decision"),
        (
            "policy_decision → tool_result",
            "RecordSource::query as the rep, digest, seal the result",
        ),
        (
            "tool_result → model_request",
            "budget check, the next request",
        ),
    ];
    let mut step = Duration::ZERO;
    for (label, work) in cycle {
        if let Some(m) = gap(label) {
            step += m;
            println!("  {label:<32} {:>10}   (commit + {work})", ms(m));
        }
    }
    println!("  {:<32} {:>10}", "one tool-call step", ms(step));
    let per_turn = [
        (
            "status → user_message",
            "seal the message; a fresh session's data key is created here",
        ),
        (
            "user_message → model_request",
            "history read back, 2 usage sums, list_steps, provider",
        ),
        ("model_response → status", "—"),
    ];
    println!("  once a turn:");
    for (label, work) in per_turn {
        if let Some(m) = gap(label) {
            println!("  {label:<32} {:>10}   (commit + {work})", ms(m));
        }
    }
    if let Some(total) = median(&totals) {
        println!(
            "  {:<32} {:>10}   (also outside the steps: authorization, session lookup, \
             begin_turn, the final status commit, finish_turn)",
            "whole turn",
            ms(total)
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
