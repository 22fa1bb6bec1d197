//! The MCP handler: one per MCP session (HTTP) or process (stdio). Thin: it finds who asks,
//! binds the session to them, and calls one runtime function per request.

use std::sync::Arc;

use heddle_identity::{Actor, Caller};
use heddle_runtime::{DirectTarget, Runtime, RuntimeError};
use heddle_types::{SessionId, TenantId};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, Extensions, Implementation,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::render::{action_result, builtin_tools, call_result, protocol_error, tool};
use crate::{ACTION_STATUS_TOOL, CONFIRM_TOOL};

/// Who asks, and of which agent: what the server's authentication puts into each HTTP
/// request's extensions, and what `heddle mcp` fixes for its process.
#[derive(Debug, Clone)]
pub struct McpRequest {
    pub caller: Caller,
    pub tenant_id: TenantId,
    pub target: DirectTarget,
}

impl McpRequest {
    /// The principal's identity as a session binds it: tenant, kind and id.
    fn principal_key(&self) -> Option<(TenantId, String)> {
        match &self.caller.actor {
            Actor::Principal(p) => Some((p.tenant_id, format!("{:?}:{}", p.kind, p.id))),
            Actor::LocalOperator => None,
        }
    }
}

/// The Heddle session an MCP session is bound to, and to whom.
#[derive(Debug, Clone)]
struct Bound {
    session_id: SessionId,
    config_version: i64,
    principal: (TenantId, String),
    target: DirectTarget,
}

#[derive(Debug, Default)]
struct SessionState {
    bound: Mutex<Option<Bound>>,
    /// A Heddle session runs one turn at a time: calls of one MCP session take turns.
    calls: Mutex<()>,
}

/// The rmcp server handler. Cheap to clone; clones share the session binding.
#[derive(Debug, Clone)]
pub struct HeddleMcp {
    runtime: Runtime,
    /// The principal and agent of a stdio process; HTTP requests carry their own.
    fixed: Option<McpRequest>,
    state: Arc<SessionState>,
}

const INSTRUCTIONS: &str = "Heddle runs each tool call on its governed path as you, the \
authenticated principal: tenant policies, record access and review apply, and every call is \
recorded (the result's `_meta` names its `heddle/execution_id`). A call that needs a person \
does not run: its result has `status` `awaiting_confirmation` (ask the person you act for, then \
call `heddle-confirm` with the `action_id` and `confirmation_token` it gave) or \
`awaiting_approval` (an approver decides in Heddle). Follow either with `heddle-action-status`. \
Refusals (arguments outside the schema, a policy that forbids the call) are results with \
`isError: true` that say why.";

impl HeddleMcp {
    /// A handler for HTTP: each request names its principal and agent (see [`McpRequest`]).
    pub fn new(runtime: Runtime) -> Self {
        Self {
            runtime,
            fixed: None,
            state: Arc::default(),
        }
    }

    /// A handler acting for one principal and agent (stdio).
    pub fn for_principal(runtime: Runtime, request: McpRequest) -> Self {
        Self {
            runtime,
            fixed: Some(request),
            state: Arc::default(),
        }
    }

    /// Who asks. Over HTTP the request's own authenticated principal (set by the server's
    /// layer); a request without one is refused rather than served as anyone.
    fn request_of(&self, extensions: &Extensions) -> Result<McpRequest, ErrorData> {
        if let Some(parts) = extensions.get::<http::request::Parts>() {
            return parts
                .extensions
                .get::<McpRequest>()
                .cloned()
                .ok_or_else(unauthenticated);
        }
        self.fixed.clone().ok_or_else(unauthenticated)
    }

    /// The session's binding, opening the Heddle session on first use. A bound session
    /// serves only the principal and agent it was opened for.
    async fn ensure_session(&self, request: &McpRequest) -> Result<Bound, ErrorData> {
        let principal = request.principal_key().ok_or_else(unauthenticated)?;
        let mut bound = self.state.bound.lock().await;
        if let Some(existing) = &*bound {
            check_binding(existing, &principal, &request.target)?;
            return Ok(existing.clone());
        }
        let session = self
            .runtime
            .open_direct_session(&request.caller, request.tenant_id, &request.target)
            .await
            .map_err(protocol_error)?;
        let opened = Bound {
            session_id: session.id,
            config_version: session.config_version,
            principal,
            target: request.target.clone(),
        };
        *bound = Some(opened.clone());
        Ok(opened)
    }

    /// The bound session's configuration version, after checking the binding; `None` before
    /// the session is opened (stateless requests list the current version).
    async fn bound_version(&self, request: &McpRequest) -> Result<Option<i64>, ErrorData> {
        let principal = request.principal_key().ok_or_else(unauthenticated)?;
        let bound = self.state.bound.lock().await;
        match &*bound {
            Some(existing) => {
                check_binding(existing, &principal, &request.target)?;
                Ok(Some(existing.config_version))
            }
            None => Ok(None),
        }
    }

    async fn call_capability(
        &self,
        request: &McpRequest,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResponse, ErrorData> {
        let bound = self.ensure_session(request).await?;
        let _turn = self.state.calls.lock().await;
        match self
            .runtime
            .call_tool(
                &request.caller,
                request.tenant_id,
                bound.session_id,
                name,
                arguments,
            )
            .await
        {
            Ok(call) => Ok(call_result(&call).into()),
            Err(RuntimeError::NotFound { entity: "tool", .. }) => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{}`; tools/list names the tools",
                    name.chars().take(64).collect::<String>()
                ),
                None,
            )),
            Err(error) => Err(protocol_error(error)),
        }
    }

    async fn action_status(
        &self,
        request: &McpRequest,
        arguments: &Map<String, Value>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.bound_version(request).await?;
        let action_id = action_id(arguments)?;
        let view = self
            .runtime
            .direct_action(&request.caller, request.tenant_id, action_id)
            .await
            .map_err(protocol_error)?;
        Ok(action_result(&view).into())
    }

    async fn confirm(
        &self,
        request: &McpRequest,
        arguments: &Map<String, Value>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.bound_version(request).await?;
        let action_id = action_id(arguments)?;
        let token = arguments
            .get("confirmation_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    "`confirmation_token` is the token the held call's result gave",
                    None,
                )
            })?;
        let confirm = match arguments.get("confirm") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(confirm)) => *confirm,
            Some(_) => {
                return Err(ErrorData::invalid_params(
                    "`confirm` is true or false",
                    None,
                ));
            }
        };
        match self
            .runtime
            .confirm_direct_action(
                &request.caller,
                request.tenant_id,
                action_id,
                token,
                confirm,
            )
            .await
        {
            Ok(view) => Ok(action_result(&view).into()),
            // A wrong or used token, an expired or decided action: the caller's to read.
            Err(RuntimeError::Refused(message)) => {
                Ok(
                    rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
                        format!("refused (confirmation): {message}"),
                    )])
                    .into(),
                )
            }
            Err(error) => Err(protocol_error(error)),
        }
    }
}

fn check_binding(
    bound: &Bound,
    principal: &(TenantId, String),
    target: &DirectTarget,
) -> Result<(), ErrorData> {
    if &bound.principal != principal || &bound.target != target {
        return Err(ErrorData::invalid_request(
            "this MCP session belongs to another principal or agent; start a new session",
            None,
        ));
    }
    Ok(())
}

fn action_id(arguments: &Map<String, Value>) -> Result<uuid::Uuid, ErrorData> {
    arguments
        .get("action_id")
        .and_then(Value::as_str)
        .and_then(|raw| uuid::Uuid::parse_str(raw).ok())
        .ok_or_else(|| {
            ErrorData::invalid_params("`action_id` is the id the held call's result gave", None)
        })
}

fn unauthenticated() -> ErrorData {
    ErrorData::invalid_request("this request carries no authenticated principal", None)
}

impl ServerHandler for HeddleMcp {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("heddle", env!("CARGO_PKG_VERSION"))
                    .with_title("Heddle governed runtime"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    /// The handshake of sessions (MCP before 2026-07-28): the Heddle session is opened here,
    /// so a principal the agent cannot serve is refused before any tool is listed.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let asker = self.request_of(&context.extensions)?;
        self.ensure_session(&asker).await?;
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let asker = self.request_of(&context.extensions)?;
        let version = self.bound_version(&asker).await?;
        let offered = self
            .runtime
            .list_tools(&asker.caller, asker.tenant_id, &asker.target, version)
            .await
            .map_err(protocol_error)?;
        let mut tools: Vec<_> = offered.iter().map(tool).collect();
        tools.extend(builtin_tools());
        // Filtered per principal and policy: nobody else may reuse it, and a policy change
        // must show at once.
        Ok(ListToolsResult::with_all_items(tools)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let asker = self.request_of(&context.extensions)?;
        let arguments = request.arguments.unwrap_or_default();
        match request.name.as_ref() {
            ACTION_STATUS_TOOL => self.action_status(&asker, &arguments).await,
            CONFIRM_TOOL => self.confirm(&asker, &arguments).await,
            name => {
                self.call_capability(&asker, name, Value::Object(arguments))
                    .await
            }
        }
    }
}
