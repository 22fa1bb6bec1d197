//! The gateway's MCP endpoint for one upstream server (`/mcp/{environment}/upstream/{server}`):
//! `tools/list` → the tools exposed now (allowed and pinned), `tools/call` → the runtime's
//! gateway pipeline. Stateless: every request acts as the principal its own bearer
//! credential authenticated, and nothing is kept between requests.

use std::sync::Arc;

use heddle_identity::Caller;
use heddle_runtime::{Runtime, UpstreamCall};
use heddle_types::{Environment, TenantId};

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::http::McpHttpSettings;
use crate::render::protocol_error;

/// Who asks, and for which upstream: put into each request by the server after bearer
/// authentication.
#[derive(Debug, Clone)]
pub struct UpstreamMcpRequest {
    pub tenant_id: TenantId,
    pub caller: Caller,
    pub environment: Environment,
    pub server: String,
}

/// The rmcp handler of the gateway endpoint.
#[derive(Clone)]
pub struct UpstreamMcp {
    runtime: Runtime,
}

impl std::fmt::Debug for UpstreamMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamMcp").finish_non_exhaustive()
    }
}

fn request_of(extensions: &rmcp::model::Extensions) -> Result<UpstreamMcpRequest, ErrorData> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<UpstreamMcpRequest>())
        .cloned()
        .ok_or_else(|| {
            ErrorData::invalid_request("this request carries no authenticated principal", None)
        })
}

impl ServerHandler for UpstreamMcp {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("heddle-gateway", env!("CARGO_PKG_VERSION"))
                    .with_title("Heddle MCP gateway"),
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let asker = request_of(&context.extensions)?;
        let exposed = self
            .runtime
            .list_upstream_tools(
                &asker.caller,
                asker.tenant_id,
                asker.environment,
                &asker.server,
            )
            .await
            .map_err(protocol_error)?;
        let tools = exposed
            .into_iter()
            .map(serde_json::from_value::<Tool>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                ErrorData::internal_error("an exposed tool could not be rendered", None)
            })?;
        // Pins can be revoked and definitions change: nobody may cache this listing.
        Ok(ListToolsResult::with_all_items(tools)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let asker = request_of(&context.extensions)?;
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let outcome = self
            .runtime
            .call_upstream_tool(
                &asker.caller,
                asker.tenant_id,
                asker.environment,
                &asker.server,
                &request.name,
                arguments,
            )
            .await
            .map_err(protocol_error)?;
        let result = match outcome {
            UpstreamCall::Result(wire) => {
                serde_json::from_value::<CallToolResult>(wire).map_err(|_| {
                    ErrorData::internal_error("the upstream result could not be read", None)
                })?
            }
            UpstreamCall::Refused { stage, reason } => {
                let mut refused = CallToolResult::error(vec![ContentBlock::text(format!(
                    "Heddle refused this call ({stage}): {reason}"
                ))]);
                refused.structured_content =
                    Some(json!({"status": "refused", "stage": stage, "reason": reason}));
                refused
            }
        };
        Ok(CallToolResponse::Complete(result))
    }
}

/// The gateway endpoint as a tower service; cheap to clone.
#[derive(Clone)]
pub struct UpstreamEndpoint(StreamableHttpService<UpstreamMcp, LocalSessionManager>);

impl UpstreamEndpoint {
    pub fn service(&self) -> StreamableHttpService<UpstreamMcp, LocalSessionManager> {
        self.0.clone()
    }
}

impl std::fmt::Debug for UpstreamEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamEndpoint").finish_non_exhaustive()
    }
}

/// The streamable HTTP service of the gateway, with the same `Origin`/`Host` checks as the
/// agent endpoint.
pub fn upstream_http_service(runtime: Runtime, settings: &McpHttpSettings) -> UpstreamEndpoint {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(settings.max_request_body_bytes);
    let config = if settings.allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(settings.allowed_hosts.clone())
    };
    UpstreamEndpoint(StreamableHttpService::new(
        move || {
            Ok(UpstreamMcp {
                runtime: runtime.clone(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        config,
    ))
}
