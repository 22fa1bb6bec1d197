//! Opening sessions and reading them back.

use heddle_agents::config::{AgentKind, IdentityMode};
use heddle_identity::Caller;
use heddle_records::RecordId;
use heddle_store::{NewSession, Session, SessionChannel, SessionFilter, Turn};
use heddle_types::{Action, Environment, ExecutionId, Page, PageRequest, SessionId, TenantId};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::events::{Subject, change, details};
use crate::runtime::principal_of;
use crate::{Runtime, RuntimeError, RuntimeResult};

/// What a new session is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSession {
    pub agent: String,
    pub environment: Environment,
    /// The record the conversation is about (the page the user is on); capabilities may bind
    /// it as `session_record_id`.
    pub record_id: Option<String>,
}

/// A session as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub id: SessionId,
    pub agent: String,
    pub environment: Environment,
    /// The configuration version the session runs, for life.
    pub config_version: i64,
    pub principal_kind: String,
    pub principal_id: String,
    pub record_id: Option<String>,
    /// `conversation` (messages, the agent's model), `mcp` (direct tool calls) or `gateway`
    /// (one OpenAI-compatible request through a route).
    pub channel: &'static str,
    /// Whether a customer verified on this (service) session; the id itself is not shown.
    pub customer_verified: bool,
    pub last_turn: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Present when the session is read on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turns: Option<Vec<TurnView>>,
}

/// One turn of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnView {
    pub turn: i64,
    pub execution_id: ExecutionId,
    pub status: &'static str,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

impl From<Turn> for TurnView {
    fn from(turn: Turn) -> Self {
        Self {
            turn: turn.turn,
            execution_id: turn.execution_id,
            status: turn.status.as_str(),
            reason: turn.reason,
            started_at: turn.started_at,
            finished_at: turn.finished_at,
        }
    }
}

impl SessionView {
    pub(crate) fn new(session: Session, turns: Option<Vec<Turn>>) -> Self {
        Self {
            id: session.id,
            agent: session.agent,
            environment: session.environment,
            config_version: session.config_version,
            principal_kind: session.principal_kind,
            principal_id: session.principal_id,
            record_id: session.session_record_id,
            channel: session.channel.as_str(),
            customer_verified: session.verified_customer_id.is_some(),
            last_turn: session.last_turn,
            created_at: session.created_at,
            updated_at: session.updated_at,
            turns: turns.map(|t| t.into_iter().map(TurnView::from).collect()),
        }
    }
}

/// Longest agent name accepted (names are `[a-z][a-z0-9_]{0,63}`).
const MAX_AGENT_NAME: usize = 64;

impl Runtime {
    /// Opens a session with `agent` of the environment's current configuration version.
    /// Needs `execute_agent`. An employee agent runs as the person asking, so it needs a
    /// person (not an API key) who is a user of the tenant's record org.
    pub async fn create_session(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        request: CreateSession,
    ) -> RuntimeResult<SessionView> {
        self.open_session(caller, tenant_id, request, SessionChannel::Conversation)
            .await
    }

    /// [`Runtime::create_session`] for either channel.
    pub(crate) async fn open_session(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        request: CreateSession,
        channel: SessionChannel,
    ) -> RuntimeResult<SessionView> {
        if request.agent.is_empty() || request.agent.len() > MAX_AGENT_NAME {
            return Err(RuntimeError::invalid(
                "agent",
                "name an agent of the applied configuration (1 to 64 characters)",
            ));
        }
        let record_id = match &request.record_id {
            Some(raw) => Some(
                RecordId::parse(raw)
                    .map_err(|err| RuntimeError::invalid("record_id", err.to_string()))?
                    .to_string(),
            ),
            None => None,
        };
        self.authorize(caller, tenant_id, Action::ExecuteAgent)
            .await?;
        let (version, set) = self
            .inner
            .configs
            .load(self.store(), tenant_id, request.environment, None)
            .await?;
        let agent = agent_of(&set, version, request.environment, &request.agent)?;
        self.check_principal_fits(caller, &request.agent, agent)
            .await?;
        let (principal_kind, principal_id) = principal_of(caller)?;
        let id = SessionId::new();
        let subject = Subject {
            tenant_id,
            environment: Some(request.environment),
            kind: "session",
            id: id.to_string(),
        };
        let audit = change(
            self.identity(),
            caller,
            &subject,
            "session.create",
            details([
                ("agent", Value::from(request.agent.clone())),
                ("config_version", Value::from(version)),
                (
                    "agent_kind",
                    serde_json::to_value(agent.spec.kind).unwrap_or_default(),
                ),
                ("channel", Value::from(channel.as_str())),
            ]),
        );
        let session = self
            .store()
            .create_session(
                NewSession {
                    id,
                    tenant_id,
                    environment: request.environment,
                    agent: request.agent,
                    config_version: version,
                    principal_kind,
                    principal_id,
                    verified_customer_id: None,
                    session_record_id: record_id,
                    channel,
                    created_at: self.identity().now(),
                },
                audit,
            )
            .await?;
        self.identity().audit_log().nudge();
        Ok(SessionView::new(session, None))
    }

    /// Refuses a principal the agent cannot act for: an employee agent runs as the person
    /// asking, so it needs a person (not an API key) who is a user of the tenant's record org.
    pub(crate) async fn check_principal_fits(
        &self,
        caller: &Caller,
        name: &str,
        agent: &heddle_agents::Agent,
    ) -> RuntimeResult<()> {
        if agent.spec.kind == AgentKind::Employee
            && agent.spec.identity.mode == IdentityMode::User
            && !agent.spec.capabilities.is_empty()
        {
            if let heddle_identity::Actor::Principal(principal) = &caller.actor
                && principal.kind == heddle_types::PrincipalKind::ApiKey
            {
                return Err(RuntimeError::Refused(format!(
                    "`{name}` is an employee agent: it acts as the signed-in person, and an API \
                     key is no person of the record org; log in as a person, or use a service \
                     agent (or one with `identity: service_user`) for applications"
                )));
            }
            // Fails early, with the reason, instead of at the first tool call.
            self.inner.records.user_actor(caller).await?;
        }
        Ok(())
    }

    /// One session with its turns. Needs `view_executions`.
    pub async fn get_session(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> RuntimeResult<SessionView> {
        let session = self.visible_session(caller, tenant_id, session_id).await?;
        let turns = self.store().list_turns(tenant_id, session_id).await?;
        Ok(SessionView::new(session, Some(turns)))
    }

    /// Sessions of the tenant, newest first; `mine` keeps the caller's own. Needs
    /// `view_executions`.
    pub async fn list_sessions(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        mine: bool,
        agent: Option<String>,
        page: PageRequest,
    ) -> RuntimeResult<Page<SessionView>> {
        self.authorize(caller, tenant_id, Action::ViewExecutions)
            .await?;
        let principal = if mine {
            Some(principal_of(caller)?)
        } else {
            None
        };
        let listed = self
            .store()
            .list_sessions(
                tenant_id,
                SessionFilter {
                    principal,
                    agent,
                    environment: None,
                },
                page,
            )
            .await?;
        Ok(Page {
            items: listed
                .items
                .into_iter()
                .map(|s| SessionView::new(s, None))
                .collect(),
            next_cursor: listed.next_cursor,
        })
    }
}

/// The agent named `name` in a loaded configuration version, or an error listing its agents.
pub(crate) fn agent_of<'a>(
    set: &'a heddle_agents::ConfigSet,
    version: i64,
    environment: Environment,
    name: &str,
) -> RuntimeResult<&'a heddle_agents::Agent> {
    set.agent(name).ok_or_else(|| {
        let known: Vec<&str> = set.agents.keys().map(String::as_str).collect();
        RuntimeError::invalid(
            "agent",
            format!(
                "`{name}` is not an agent of {environment} version {version}; its agents are: {}",
                known.join(", ")
            ),
        )
    })
}
