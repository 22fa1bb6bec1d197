//! A tenant with a small record org, three people and an agent configuration built per test.

use std::sync::Arc;

use heddle_crypto::{PasswordHasher, SecretString};
use heddle_identity::{Actor, Caller, CreateUser, Identity, IdentitySettings};
use heddle_mail::MemoryMailer;
use heddle_records::RecordId;
use heddle_records::config::OrgConfig;
use heddle_records::import::ImportRow;
use heddle_recordsource::{EmbeddedRecords, RecordSettings};
use heddle_runtime::{CreateSession, Runtime, RuntimeSettings, SessionView, TurnOutcome};
use heddle_types::{
    Environment, ManualClock, Principal, RequestContext, Role, SessionId, TenantId,
};
use serde_json::{Value, json};

pub fn id(prefix: &str, n: u64) -> String {
    RecordId::generate(prefix, n).unwrap().as_str().to_owned()
}

pub fn user_id(n: u64) -> String {
    id("005", n)
}

pub const ANA: &str = "ana@acme.test";
pub const BEN: &str = "ben@acme.test";

/// Two reps (private accounts), a customer linked to contact 1, a service user.
fn org() -> Value {
    let rw = json!({"read": true, "edit": true});
    let r = json!({"read": true});
    json!({
        "roles": [{"id": "sales_rep"}],
        "profiles": [
            {
                "id": "rep",
                "objects": {
                    "Account": {"read": true, "create": true, "edit": true},
                    "Case": {"read": true}
                },
                "fields": {
                    "Account": {"Name": rw, "Industry": rw, "AnnualRevenue": r},
                    "Case": {"Subject": r, "Status": r, "ContactId": r}
                }
            },
            {
                "id": "customer",
                "objects": {"Case": {"read": true}},
                "fields": {"Case": {"Subject": r, "Status": r, "ContactId": r}}
            }
        ],
        "users": [
            {"id": user_id(1), "login": ANA, "role": "sales_rep", "profile": "rep"},
            {"id": user_id(2), "login": BEN, "role": "sales_rep", "profile": "rep"},
            {"id": user_id(3), "login": "ivy@customer.test", "profile": "customer",
             "kind": "customer", "contact_id": id("003", 1)},
            {"id": user_id(4), "profile": "rep"}
        ],
        "service_users": [
            {"user": user_id(4), "justification": "Reads cases for the public status page"}
        ]
    })
}

fn row(record: &str, owner: &str, fields: Value) -> ImportRow {
    ImportRow {
        id: Some(RecordId::parse(record).unwrap()),
        owner_id: heddle_records::UserId::new(owner),
        fields: serde_json::from_value(fields).unwrap(),
    }
}

pub struct World {
    pub runtime: Runtime,
    pub records: EmbeddedRecords,
    pub identity: Identity,
    pub clock: Arc<ManualClock>,
    pub mailer: Arc<MemoryMailer>,
    pub tenant: TenantId,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(RuntimeSettings::default()).await
    }

    pub async fn start_with(settings: RuntimeSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("heddle.db").display()
        );
        let store = heddle_store::connect(&url).await.unwrap();
        Self::start_on(store, dir, settings).await
    }

    /// The same world on PostgreSQL (`HEDDLE_TEST_DATABASE_URL`, a fresh schema per test);
    /// `None` when the variable is unset outside CI.
    pub async fn postgres() -> Option<Self> {
        use heddle_store::postgres::{PgConnectOptions, PgStore};
        use sqlx::Connection;
        let admin: PgConnectOptions = match std::env::var("HEDDLE_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url.parse().unwrap(),
            _ if std::env::var_os("CI").is_some() => {
                panic!("HEDDLE_TEST_DATABASE_URL must be set in CI so the PostgreSQL tests run")
            }
            _ => {
                eprintln!("skipping PostgreSQL test: HEDDLE_TEST_DATABASE_URL is not set");
                return None;
            }
        };
        let schema = format!("rt_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect_with(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let options = admin.options([("search_path", schema.as_str())]);
        let store: heddle_store::SharedStore =
            Arc::new(PgStore::connect_with_options(options).await.unwrap());
        Some(
            Self::start_on(
                store,
                tempfile::tempdir().unwrap(),
                RuntimeSettings::default(),
            )
            .await,
        )
    }

    async fn start_on(
        store: heddle_store::SharedStore,
        dir: tempfile::TempDir,
        settings: RuntimeSettings,
    ) -> Self {
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let vault = heddle_vault::Vault::new(
            store.clone(),
            heddle_crypto::MasterKey::generate().unwrap(),
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
            clock.clone(),
            IdentitySettings {
                policy_cache_ttl: std::time::Duration::ZERO,
                ..IdentitySettings::default()
            },
        )
        .unwrap();
        identity
            .bootstrap(
                Some("admin@acme.test"),
                Some(SecretString::from(
                    "correct horse battery staple".to_owned(),
                )),
            )
            .await
            .unwrap();
        let tenant = identity.tenant_by_slug("default").await.unwrap().id;
        let records = EmbeddedRecords::new(identity.clone(), RecordSettings::default());
        let operator = Caller::local_operator();
        let config: OrgConfig = serde_json::from_value(org()).unwrap();
        records
            .apply_org(&operator, tenant, config, None)
            .await
            .unwrap();
        for (object, rows) in [
            (
                "Account",
                vec![
                    row(
                        &id("001", 1),
                        &user_id(1),
                        json!({"Name": "Alpine", "Industry": "Retail", "AnnualRevenue": 5}),
                    ),
                    row(
                        &id("001", 2),
                        &user_id(2),
                        json!({"Name": "Borealis", "Industry": "Retail"}),
                    ),
                ],
            ),
            (
                "Case",
                vec![
                    row(
                        &id("500", 1),
                        &user_id(1),
                        json!({"Subject": "Broken zipper", "Status": "New", "ContactId": id("003", 1)}),
                    ),
                    row(
                        &id("500", 2),
                        &user_id(1),
                        json!({"Subject": "Late delivery", "Status": "New", "ContactId": id("003", 2)}),
                    ),
                ],
            ),
        ] {
            records
                .import_records(&operator, tenant, object, rows)
                .await
                .unwrap();
        }
        for (email, role) in [(ANA, Role::Operator), (BEN, Role::Operator)] {
            identity
                .create_user(
                    &operator,
                    CreateUser {
                        tenant_id: tenant,
                        email: email.to_owned(),
                        display_name: email.to_owned(),
                        role,
                        password: Some(SecretString::from("a long enough password".to_owned())),
                    },
                )
                .await
                .unwrap();
        }
        let mailer = Arc::new(MemoryMailer::new());
        let runtime = Runtime::new(identity.clone(), records.clone(), mailer.clone(), settings);
        Self {
            runtime,
            records,
            identity,
            clock,
            mailer,
            tenant,
            _dir: dir,
        }
    }

    /// An API-key secret of `dev` in the vault, as a model binding's `credential` names it.
    pub async fn store_api_key_secret(&self, name: &str, key: &str) {
        self.identity
            .create_secret(
                &Caller::local_operator(),
                heddle_identity::CreateSecret {
                    tenant_id: self.tenant,
                    environment: Environment::Dev,
                    name: name.to_owned(),
                    value: heddle_identity::SecretValue::ApiKey {
                        key: SecretString::from(key.to_owned()),
                    },
                },
            )
            .await
            .unwrap();
    }

    /// A person of the tenant as a caller.
    pub async fn person(&self, email: &str) -> Caller {
        let user = self
            .identity
            .store()
            .find_user_credentials(self.tenant, email)
            .await
            .unwrap()
            .unwrap()
            .0;
        Caller::new(
            Actor::Principal(Principal::for_user(&user, false)),
            RequestContext::default(),
        )
    }

    /// An application (the service channel) as a caller.
    pub async fn api_key(&self, role: Role) -> Caller {
        let issued = self
            .identity
            .create_api_key(
                &Caller::local_operator(),
                heddle_identity::CreateApiKey {
                    tenant_id: self.tenant,
                    name: format!("{role} channel"),
                    role,
                    expires_at: None,
                    route: None,
                },
            )
            .await
            .unwrap();
        Caller::new(
            Actor::Principal(Principal::for_api_key(&issued.key, false)),
            RequestContext::default(),
        )
    }

    /// Loads and applies agent files to `dev`.
    pub async fn apply(&self, files: &[(&str, String)]) {
        let set = heddle_agents::load_dir(files).unwrap_or_else(|errors| {
            panic!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        self.identity
            .apply_config(
                &Caller::local_operator(),
                self.tenant,
                Environment::Dev,
                &set,
            )
            .await
            .unwrap();
    }

    /// Stores agent files as the next `dev` version without the contract lint, as a version
    /// applied by an older Heddle (or through the database) would be: what the runtime must
    /// still hold against.
    pub async fn store_unlinted(&self, files: &[(&str, String)]) {
        let set = heddle_agents::load_dir(files).unwrap();
        let latest = self
            .identity
            .store()
            .get_config_snapshot(self.tenant, Environment::Dev, None)
            .await
            .unwrap();
        let caller = Caller::local_operator();
        let event = heddle_types::AuditEvent {
            tenant_id: self.tenant,
            environment: Some("dev".to_owned()),
            actor: caller.audit_actor(),
            action: "config.apply".to_owned(),
            target: None,
            outcome: heddle_types::AuditOutcome::Success,
            request: RequestContext::default(),
            duration_ms: None,
            occurred_at: self.identity.now(),
            details: serde_json::Map::new(),
        };
        self.identity
            .store()
            .put_config_snapshot(
                heddle_store::NewConfigSnapshot {
                    tenant_id: self.tenant,
                    environment: Environment::Dev,
                    content_hash: set.content_hash().trim_start_matches("sha256:").to_owned(),
                    documents: serde_json::from_slice(&set.canonical_json()).unwrap(),
                    applied_by: None,
                    created_at: self.identity.now(),
                },
                latest.map(|l| l.version),
                heddle_audit_log::prepare_event(&event),
            )
            .await
            .unwrap();
    }

    pub async fn session(&self, caller: &Caller, agent: &str) -> SessionView {
        self.runtime
            .create_session(
                caller,
                self.tenant,
                CreateSession {
                    agent: agent.to_owned(),
                    environment: Environment::Dev,
                    record_id: None,
                },
            )
            .await
            .unwrap()
    }

    pub async fn say(&self, caller: &Caller, session: SessionId, text: &str) -> TurnOutcome {
        self.runtime
            .post_message(caller, self.tenant, session, text.to_owned())
            .await
            .unwrap()
    }

    /// The kinds of an execution's steps, in order.
    pub async fn step_kinds(&self, outcome: &TurnOutcome) -> Vec<String> {
        self.runtime
            .get_execution(&Caller::local_operator(), self.tenant, outcome.execution_id)
            .await
            .unwrap()
            .steps
            .into_iter()
            .map(|s| s.kind)
            .collect()
    }
}

/// The agent files every test starts from: an employee agent with a query bound to the
/// caller, a get by id, a confirmed update, and the model binding playing `script`.
pub fn files(script: &str, agent_extra: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "model.yaml",
            format!(
                "api_version: heddle/v1\nkind: ModelBinding\nname: m\nspec:\n  provider: scripted\n  model: scripted-test\n  script:\n{}",
                indent(script, 4)
            ),
        ),
        (
            "agent.yaml",
            format!(
                "api_version: heddle/v1
kind: Agent
name: rep_assistant
spec:
  kind: employee
  model: m
  system_prompt: Help reps with their own accounts.
  capabilities: [list_my_accounts, get_account, rename_account]
{agent_extra}"
            ),
        ),
        (
            "list.yaml",
            "api_version: heddle/v1
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
      industry: { type: string, enum: [Retail, Energy] }
  bound_inputs:
    owner: user_id
  backend:
    records.query:
      query:
        object: Account
        fields: [Name, Industry, AnnualRevenue]
        filter:
          and:
            - { field: OwnerId, op: eq, value: \"{{owner}}\" }
            - { field: Industry, op: eq, value: \"{{industry}}\" }
        limit: 20
"
            .to_owned(),
        ),
        (
            "get.yaml",
            "api_version: heddle/v1
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
      account_id: { type: string, pattern: \"^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\", maxLength: 18 }
  backend:
    records.get: { object: Account, record_id: \"{{account_id}}\", fields: [Name, Industry] }
"
            .to_owned(),
        ),
        (
            "rename.yaml",
            "api_version: heddle/v1
kind: Capability
name: rename_account
spec:
  description: Rename one account.
  classification: { effect: write, data: private, audience: employee }
  human_in_the_loop: confirmation
  input_schema:
    type: object
    additionalProperties: false
    required: [account_id, name]
    properties:
      account_id: { type: string, pattern: \"^001[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$\", maxLength: 18 }
      name: { type: string, maxLength: 80 }
  backend:
    records.update: { object: Account, record_id: \"{{account_id}}\", fields: { Name: \"{{name}}\" } }
"
            .to_owned(),
        ),
    ]
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|line| format!("{pad}{line}\n")).collect()
}

/// The Name of account 1, read as Ana.
pub async fn account_name(world: &World) -> String {
    use heddle_recordsource::RecordSource;
    let ana = world.person(ANA).await;
    let actor = world.records.user_actor(&ana).await.unwrap();
    world
        .records
        .get(&actor, &RecordId::parse(&id("001", 1)).unwrap())
        .await
        .unwrap()
        .fields["Name"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Confirms a held call with the token its turn returned, as the person who asked.
pub async fn confirm(
    world: &World,
    caller: &Caller,
    outcome: &TurnOutcome,
) -> heddle_runtime::ActionOutcome {
    let request = outcome.pending_action.as_ref().unwrap();
    world
        .runtime
        .confirm_action(
            caller,
            world.tenant,
            outcome.session_id,
            request.id,
            request.confirmation_token.as_deref().unwrap(),
            true,
        )
        .await
        .unwrap()
}
