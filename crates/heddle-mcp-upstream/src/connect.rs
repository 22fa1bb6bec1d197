//! The connection to one upstream MCP server: an rmcp client over a child process's
//! stdin/stdout (or any byte stream, for tests) or over streamable HTTP through Heddle's
//! outbound client, with a timeout on every request.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use heddle_agents::mcp_server::StdioTransport;
use heddle_outbound::{OutboundClient, OutboundError};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, ListToolsRequest, PaginatedRequestParams,
    ServerResult,
};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{RoleClient, ServiceExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{Child, Command};

use crate::http::OutboundMcpClient;

/// Pages of `tools/list` followed before giving up on a server that never stops paging.
const MAX_PAGES: usize = 100;
/// Tools accepted from one listing.
const MAX_TOOLS: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The child process could not be started (the message names the program, never its
    /// environment).
    #[error("the upstream server could not be started: {0}")]
    Spawn(String),
    #[error("the upstream server did not complete the MCP handshake: {0}")]
    Handshake(String),
    #[error("the upstream server did not answer within {0} seconds")]
    Timeout(u64),
    #[error("the upstream server failed the request: {0}")]
    Protocol(String),
    #[error("the upstream server's tool listing is unusable: {0}")]
    Listing(String),
    /// Heddle's outbound rules refused the connection (a private address not opted in, a
    /// host off the allowlist). Names the host or origin, never the URL's path.
    #[error("the upstream server may not be reached: {0}")]
    Blocked(OutboundError),
}

/// A live MCP client session to one upstream. Dropping it ends the session and kills the
/// child process (if any).
pub struct Upstream {
    service: RunningService<RoleClient, ()>,
    timeout: Duration,
    // Held for `kill_on_drop`; dropped after the service.
    _child: Option<Child>,
    /// The bearer credential of an HTTP upstream, kept only to strike it from error texts
    /// (a server could echo what it was sent).
    redact: Option<SecretString>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Starts `stdio.command` with exactly `env` as its environment (literal values and
    /// opened secrets, resolved by the caller) and speaks MCP on its stdin/stdout. Its
    /// stderr is discarded: it is neither protocol nor something Heddle may log (it could
    /// echo a secret).
    pub async fn spawn_stdio(
        stdio: &StdioTransport,
        env: &BTreeMap<String, SecretString>,
        timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let mut command = Command::new(&stdio.command);
        command
            .args(&stdio.args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v.expose_secret())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| UpstreamError::Spawn(format!("`{}`: {e}", stdio.command)))?;
        let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
            return Err(UpstreamError::Spawn(
                "the child's stdin/stdout were not piped".to_owned(),
            ));
        };
        let mut upstream = Self::over_stream((stdout, stdin), timeout).await?;
        upstream._child = Some(child);
        Ok(upstream)
    }

    /// The child process's id, for a stdio upstream that is still running.
    pub fn child_id(&self) -> Option<u32> {
        self._child.as_ref().and_then(Child::id)
    }

    /// A client over any byte stream pair (tests: an in-process server over a duplex).
    pub async fn over_stream<R, W>(stream: (R, W), timeout: Duration) -> Result<Self, UpstreamError>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let service = tokio::time::timeout(timeout, ().serve(stream))
            .await
            .map_err(|_| UpstreamError::Timeout(timeout.as_secs()))?
            .map_err(|e| UpstreamError::Handshake(e.to_string()))?;
        Ok(Upstream {
            service,
            timeout,
            _child: None,
            redact: None,
        })
    }

    /// Speaks MCP over streamable HTTP to `url`, every exchange made by `client` (whose
    /// policy says where it may connect and how long an exchange may take), with `bearer`
    /// sent as `Authorization: Bearer …`. Dropping the connection ends the session.
    pub async fn connect_http(
        url: &str,
        client: OutboundClient,
        bearer: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let redact = bearer.clone();
        let transport = StreamableHttpClientTransport::with_client(
            OutboundMcpClient::new(client, bearer),
            StreamableHttpClientTransportConfig::with_uri(url),
        );
        let service = tokio::time::timeout(timeout, ().serve(transport))
            .await
            .map_err(|_| UpstreamError::Timeout(timeout.as_secs()))?
            .map_err(|error| handshake_error(&error, redact.as_ref()))?;
        Ok(Upstream {
            service,
            timeout,
            _child: None,
            redact,
        })
    }

    /// Every tool the server lists now, in wire form, following `nextCursor`. Always asks
    /// the server: rmcp's response cache is bypassed, since pinning must judge the live
    /// definitions and never a stale copy.
    pub async fn list_tools(&self) -> Result<Vec<Value>, UpstreamError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = cursor
                .take()
                .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
            let request = ClientRequest::ListToolsRequest(ListToolsRequest {
                method: Default::default(),
                params,
                extensions: Default::default(),
            });
            let answer = self
                .within(self.service.peer().send_request(request))
                .await?;
            let ServerResult::ListToolsResult(page) = answer else {
                return Err(UpstreamError::Listing(
                    "the answer to tools/list is not a tool list".to_owned(),
                ));
            };
            for tool in page.tools {
                let wire = serde_json::to_value(&tool)
                    .map_err(|e| UpstreamError::Listing(e.to_string()))?;
                tools.push(wire);
            }
            if tools.len() > MAX_TOOLS {
                return Err(UpstreamError::Listing(format!(
                    "more than {MAX_TOOLS} tools"
                )));
            }
            match page.next_cursor {
                Some(next) if !next.is_empty() => cursor = Some(next),
                _ => return Ok(tools),
            }
        }
        Err(UpstreamError::Listing(format!(
            "still paging after {MAX_PAGES} pages"
        )))
    }

    /// One `tools/call`.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult, UpstreamError> {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        self.within(self.service.peer().call_tool(params)).await
    }

    async fn within<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, rmcp::ServiceError>>,
    ) -> Result<T, UpstreamError> {
        tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout.as_secs()))?
            .map_err(|e| UpstreamError::Protocol(scrub(&e.to_string(), self.redact.as_ref())))
    }
}

/// A failed HTTP handshake, told by the HTTP client's own error where there is one (rmcp's
/// wrapping names Rust types and adds nothing a person can act on).
fn handshake_error(error: &ClientInitializeError, secret: Option<&SecretString>) -> UpstreamError {
    let http = match error {
        ClientInitializeError::TransportError { error, .. } => error
            .error
            .downcast_ref::<StreamableHttpError<OutboundError>>(),
        _ => None,
    };
    match http {
        Some(StreamableHttpError::Client(outbound)) if outbound.is_blocked_by_policy() => {
            UpstreamError::Blocked(outbound.clone())
        }
        Some(StreamableHttpError::Client(outbound)) => {
            UpstreamError::Handshake(scrub(&outbound.to_string(), secret))
        }
        Some(other) => UpstreamError::Handshake(scrub(&other.to_string(), secret)),
        None => UpstreamError::Handshake(scrub(&error.to_string(), secret)),
    }
}

/// `text` with the credential struck out.
fn scrub(text: &str, secret: Option<&SecretString>) -> String {
    match secret.map(ExposeSecret::expose_secret) {
        Some(secret) if !secret.is_empty() => text.replace(secret, "[redacted]"),
        _ => text.to_owned(),
    }
}
