//! Heddle's MCP server: an agent's capabilities as MCP tools, each call run by the runtime on
//! the governed path (contract, Cedar, review, execution as the actor, every stage recorded)
//! as the authenticated principal — the same path as a model's proposed call.
//!
//! - [`HeddleMcp`] is the `rmcp` handler and only maps MCP to runtime functions:
//!   `tools/list` → [`heddle_runtime::Runtime::list_tools`] (what the principal may call,
//!   bound inputs hidden), `tools/call` → [`heddle_runtime::Runtime::call_tool`], plus two
//!   tools of Heddle's own for held calls ([`ACTION_STATUS_TOOL`], [`CONFIRM_TOOL`]).
//! - Transports: streamable HTTP ([`http::streamable_http_service`], mounted by the server
//!   behind its bearer authentication) and stdio ([`stdio::serve_stdio`], `heddle mcp`).
//!
//! Invariants: every request acts as the principal it authenticated (HTTP: the request's own
//! bearer credential, never the session id alone — an MCP session bound to one principal and
//! agent refuses any other); an MCP session is one Heddle session of channel `mcp`, opened
//! at `initialize` or at the first call; a held call is not an error but a result whose
//! `status` says who must act; refusals (schema, policy, review declined) are tool results
//! with `isError: true`; unknown tools are JSON-RPC invalid params; internal failures never
//! carry their details to the client.

mod handler;
pub mod http;
mod render;
pub mod stdio;
pub mod upstream;

pub use handler::{HeddleMcp, McpRequest};
pub use upstream::{UpstreamEndpoint, UpstreamMcp, UpstreamMcpRequest, upstream_http_service};

/// The tool that shows a held call of the caller's and, once it ran, its result.
pub const ACTION_STATUS_TOOL: &str = "heddle-action-status";
/// The tool with which the caller confirms (or declines) a held call of theirs.
pub const CONFIRM_TOOL: &str = "heddle-confirm";
