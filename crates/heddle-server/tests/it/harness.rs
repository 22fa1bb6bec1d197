//! Starts the full application (every layer) on 127.0.0.1:0 with a temp SQLite database.

use std::sync::Arc;

use heddle_crypto::{ExposeSecret, PasswordHasher, SecretString};
use heddle_identity::{BootstrapOutcome, Caller, CreateApiKey, Identity, IdentitySettings};
use heddle_server::config::Config;
use heddle_types::{ManualClock, Role};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@heddle.local";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub base: String,
    pub client: Client,
    pub identity: Identity,
    pub clock: Arc<ManualClock>,
    /// An API key per role, in the operator tenant.
    pub keys: Vec<(Role, String)>,
    /// Every mail the server sent (verification codes), in order.
    pub mailer: Arc<heddle_mail::MemoryMailer>,
    /// The server's runtime, for what a background worker would do (`run_due_actions`).
    pub runtime: heddle_runtime::Runtime,
    /// The server's OpenAI-compatible gateway, for its background sweep.
    pub gateway: heddle_gateway::Gateway,
    /// The server's database, for tests that break it on purpose.
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        configure(&mut config);
        let database_url = config.effective_database_url();
        let store = heddle_store::connect(&database_url).await.unwrap();
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
        let outcome = identity
            .bootstrap(
                Some(ADMIN_EMAIL),
                Some(SecretString::from(ADMIN_PASSWORD.to_owned())),
            )
            .await
            .unwrap();
        assert!(matches!(outcome, BootstrapOutcome::Created { .. }));
        let tenant = identity.tenant_by_slug("default").await.unwrap();
        let mut keys = Vec::new();
        for role in Role::ALL {
            let issued = identity
                .create_api_key(
                    &Caller::local_operator(),
                    CreateApiKey {
                        tenant_id: tenant.id,
                        name: format!("{role} test key"),
                        role,
                        expires_at: None,
                        route: None,
                    },
                )
                .await
                .unwrap();
            keys.push((role, issued.token.expose_secret().to_owned()));
        }
        identity
            .audit_log()
            .spawn_siem_delivery(identity.vault().clone(), config.siem_settings())
            .unwrap();
        let mailer = Arc::new(heddle_mail::MemoryMailer::new());
        let state = heddle_server::build_state_with_mailer(
            identity.clone(),
            config,
            heddle_server::telemetry::metrics_handle(),
            mailer.clone(),
        )
        .await
        .unwrap();
        let runtime = state.runtime.clone();
        let gateway = state.gateway.clone();
        let router = heddle_server::build_router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(heddle_server::serve_until(
            listener,
            router,
            std::time::Duration::from_secs(5),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            base: format!("http://{addr}"),
            client: Client::new(),
            identity,
            clock,
            keys,
            mailer,
            runtime,
            gateway,
            database_url,
            stop: Some(stop),
            _dir: dir,
        }
    }

    pub fn key(&self, role: Role) -> &str {
        &self.keys.iter().find(|(r, _)| *r == role).unwrap().1
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub fn as_role(&self, role: Role, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(self.key(role))
    }

    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> Response {
        self.request(Method::POST, "/v1/auth/login")
            .json(&serde_json::json!({"tenant": tenant, "email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts an RFC 9457 problem with the given status and returns its body.
pub async fn expect_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .expect("content-type")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:heddle:problem:"),
        "{body}"
    );
    assert!(!body["title"].as_str().unwrap().is_empty(), "{body}");
    assert!(!body["detail"].as_str().unwrap().is_empty(), "{body}");
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    body
}

pub async fn json(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}
