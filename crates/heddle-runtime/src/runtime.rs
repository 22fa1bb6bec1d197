//! The runtime service: what it holds and the checks every entry point shares.

use std::sync::Arc;
use std::time::Duration;

use heddle_audit_log::ContentRecording;
use heddle_identity::{Actor, Caller, Identity, IdentityError};
use heddle_mail::Mailer;
use heddle_recordsource::EmbeddedRecords;
use heddle_store::{Session, SharedStore};
use heddle_types::{Action, Resource, SessionId, TenantId};

use crate::configs::ConfigCache;
use crate::providers::ProviderSettings;
use crate::{RuntimeError, RuntimeResult};

/// How the runtime behaves; the server fills it from its configuration.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// How message text appears in steps and audit events: a digest (default) or sealed
    /// under a vault scope for auditors.
    pub content: ContentRecording,
    /// Upper bound on tokens one model call may generate.
    pub max_output_tokens: u32,
    /// A running turn older than its agent's turn timeout plus this is taken as abandoned
    /// (its process died) and the next message may start a new turn.
    pub abandon_grace: Duration,
    pub verification: VerificationSettings,
    pub providers: ProviderSettings,
    /// Announces actions waiting for approval; none by default.
    pub approval_webhook: Option<crate::ApprovalWebhook>,
    /// How long a runner holds an approved action before another process may take it over
    /// (its holder presumed dead). Longer than the slowest action's effect.
    pub action_lease: Duration,
    /// The embedder agents' drift detection uses with `embedder: local` (the MiniLM model
    /// loaded from `[runtime] minilm_dir`); none by default.
    pub local_embedder: Option<std::sync::Arc<dyn heddle_providers::Embedder>>,
    /// Where upstream MCP servers over HTTP may be (`[mcp]` upstream settings): public
    /// addresses only by default.
    pub mcp_upstreams: heddle_mcp_upstream::UpstreamReach,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            content: ContentRecording::Digest,
            max_output_tokens: 1024,
            abandon_grace: Duration::from_secs(30),
            verification: VerificationSettings::default(),
            providers: ProviderSettings::default(),
            approval_webhook: None,
            action_lease: Duration::from_secs(120),
            local_embedder: None,
            mcp_upstreams: heddle_mcp_upstream::UpstreamReach::default(),
        }
    }
}

/// Customer verification by one-time code.
#[derive(Debug, Clone)]
pub struct VerificationSettings {
    /// How long a code is valid.
    pub code_ttl: Duration,
    /// Wrong codes accepted before the code is void and a new one must be requested.
    pub max_attempts: u32,
    /// The channel's name in the email ("Northwind support").
    pub sender_name: String,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(600),
            max_attempts: 5,
            sender_name: "Heddle".to_owned(),
        }
    }
}

/// The governed runtime. Cheap to clone; clones share caches.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) identity: Identity,
    pub(crate) records: EmbeddedRecords,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) settings: RuntimeSettings,
    pub(crate) configs: ConfigCache,
    /// Names this process as the holder of pending-action leases.
    pub(crate) runner_id: String,
    /// The trust layers' detectors and each agent's compiled settings.
    pub(crate) trust: crate::trust::TrustCache,
    /// Connections to upstream MCP servers (the gateway).
    pub(crate) upstreams: crate::upstream::UpstreamPool,
}

impl Runtime {
    pub fn new(
        identity: Identity,
        records: EmbeddedRecords,
        mailer: Arc<dyn Mailer>,
        settings: RuntimeSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                identity,
                records,
                mailer,
                settings,
                configs: ConfigCache::default(),
                runner_id: format!("runner-{}", uuid::Uuid::now_v7()),
                trust: crate::trust::TrustCache::default(),
                upstreams: crate::upstream::UpstreamPool::default(),
            }),
        }
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    pub(crate) fn store(&self) -> &SharedStore {
        self.inner.identity.store()
    }

    pub(crate) fn settings(&self) -> &RuntimeSettings {
        &self.inner.settings
    }

    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        action: Action,
    ) -> RuntimeResult<()> {
        self.identity()
            .authorize(&caller.actor, action, Resource::Tenant(tenant_id))
            .await
            .map_err(RuntimeError::from)
    }

    /// The session, when the caller may see it (any principal of the tenant who may view
    /// executions).
    pub(crate) async fn visible_session(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> RuntimeResult<Session> {
        self.authorize(caller, tenant_id, Action::ViewExecutions)
            .await?;
        Ok(self.store().get_session(tenant_id, session_id).await?)
    }

    /// The session, when the caller is the principal who opened it: only they talk in it.
    /// Anyone else is told it does not exist, so session ids cannot be probed.
    pub(crate) async fn own_session(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> RuntimeResult<Session> {
        self.authorize(caller, tenant_id, Action::ExecuteAgent)
            .await?;
        let not_found = || RuntimeError::NotFound {
            entity: "session",
            id: session_id.to_string(),
        };
        let session = self
            .store()
            .get_session(tenant_id, session_id)
            .await
            .map_err(|err| match err {
                heddle_store::StoreError::NotFound { .. } => not_found(),
                other => RuntimeError::from(other),
            })?;
        let (kind, id) = principal_of(caller)?;
        if session.principal_kind != kind || session.principal_id != id {
            return Err(not_found());
        }
        Ok(session)
    }
}

/// The (kind, id) a session records for its principal.
pub(crate) fn principal_of(caller: &Caller) -> RuntimeResult<(String, String)> {
    match &caller.actor {
        Actor::Principal(principal) => Ok((
            match principal.kind {
                heddle_types::PrincipalKind::User => "user".to_owned(),
                heddle_types::PrincipalKind::ApiKey => "api_key".to_owned(),
            },
            principal.id.to_string(),
        )),
        Actor::LocalOperator => Err(RuntimeError::Identity(IdentityError::Refused(
            "sessions belong to an authenticated principal; the local operator has none".to_owned(),
        ))),
    }
}

/// What the gateway endpoint (`heddle-gateway`) shares with the runtime: the applied
/// configuration, the trust layers, provider credentials and the content-privacy setting.
impl Runtime {
    /// The environment's current configuration version and its number.
    pub async fn current_configuration(
        &self,
        tenant_id: TenantId,
        environment: heddle_types::Environment,
    ) -> RuntimeResult<(i64, Arc<heddle_agents::ConfigSet>)> {
        self.inner
            .configs
            .load(self.store(), tenant_id, environment, None)
            .await
    }

    /// A binding's OpenAI-compatible endpoint: its base URL under the server's network rules
    /// and its API key opened from the vault. `purpose` names the use in errors.
    pub async fn openai_endpoint(
        &self,
        tenant_id: TenantId,
        environment: heddle_types::Environment,
        binding: &heddle_agents::ModelBindingSpec,
        purpose: &str,
    ) -> RuntimeResult<(
        heddle_providers::HttpSettings,
        Option<heddle_crypto::SecretString>,
    )> {
        crate::providers::openai_compatible_endpoint(
            self.identity(),
            &self.settings().providers,
            tenant_id,
            environment,
            binding,
            purpose,
        )
        .await
    }

    /// How message text appears in steps and audit events.
    pub fn content_recording(&self) -> &ContentRecording {
        &self.settings().content
    }
}
