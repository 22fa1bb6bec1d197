//! MCP over streamable HTTP: the rmcp service, configured the way the MCP specification's
//! security advice asks. The server mounts it behind its own bearer authentication, which
//! puts an [`McpRequest`](crate::McpRequest) into every request it lets through.

use std::sync::Arc;

use heddle_runtime::Runtime;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::HeddleMcp;

/// The MCP endpoint as an HTTP (tower) service.
pub type McpHttpService = StreamableHttpService<HeddleMcp, LocalSessionManager>;

/// The endpoint as the server keeps it. Cheap to clone; clones share the MCP sessions.
#[derive(Clone)]
pub struct McpEndpoint(McpHttpService);

impl McpEndpoint {
    /// The tower service that answers a request (with an [`McpRequest`](crate::McpRequest)
    /// in its extensions).
    pub fn service(&self) -> McpHttpService {
        self.0.clone()
    }
}

impl std::fmt::Debug for McpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpEndpoint").finish_non_exhaustive()
    }
}

/// What the HTTP transport checks before anything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpHttpSettings {
    /// Browser origins allowed to call (`https://app.example.com:443`, `http://localhost:*`).
    /// A request carrying any other `Origin` is refused with 403 — with an empty list, every
    /// request that carries one (DNS rebinding comes from a browser; MCP clients send none).
    pub allowed_origins: Vec<String>,
    /// `Host` values (`mcp.example.com`, `localhost:8080`) accepted; empty accepts any. Every
    /// request also needs a bearer credential, which a rebinding page cannot supply.
    pub allowed_hosts: Vec<String>,
    /// Largest request body, in bytes.
    pub max_request_body_bytes: usize,
}

/// The streamable HTTP service: one [`HeddleMcp`] per MCP session (or per request, for
/// clients of the stateless protocol revision), sessions kept in this process.
pub fn streamable_http_service(runtime: Runtime, settings: &McpHttpSettings) -> McpEndpoint {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(settings.max_request_body_bytes);
    let config = if settings.allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(settings.allowed_hosts.clone())
    };
    McpEndpoint(StreamableHttpService::new(
        move || Ok(HeddleMcp::new(runtime.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    ))
}
