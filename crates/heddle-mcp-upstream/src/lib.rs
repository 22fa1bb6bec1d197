//! Heddle's MCP gateway to upstream MCP servers (issue 8, part 3).
//!
//! - [`connect`]: an rmcp client to one upstream — a child process over stdin/stdout (its
//!   stderr discarded, the process killed when the connection is dropped), any byte stream,
//!   or streamable HTTP; `tools/list` over every page with rmcp's response cache bypassed,
//!   `tools/call`, a timeout on every request.
//! - [`http`]: rmcp's streamable HTTP transport on Heddle's one outbound client, so an HTTP
//!   upstream is reached under the same SSRF rules as every other outbound call (private
//!   addresses only when the operator opts in, no proxies, no redirects, capped bodies,
//!   deadlines); the bearer credential is sent, never logged nor shown in errors.
//! - [`reach`]: the operator's rules for where HTTP upstreams may be (private network opt-in,
//!   host allowlist), made into the outbound client of one upstream.
//! - [`gateway`]: the pipeline of one call against a configured `McpServer`: the tool must be
//!   exposed (allowed and its live definition equal to its approved pin), its arguments must
//!   satisfy the configured constraints and pass the `tool_args` rules and injection
//!   screening, and its result must pass injection screening, else it is withheld.
//! - [`pii`]: personal data in arguments and results, counted by kind for the audit event and
//!   refused, reported or (results only, when the trust block asks) redacted.

pub mod connect;
pub mod gateway;
pub mod http;
pub mod pii;
pub mod reach;

pub use connect::{Upstream, UpstreamError};
pub use gateway::{ApprovalError, CallOutcome, Refusal, UpstreamServer, strings_of};
pub use http::OutboundMcpClient;
pub use pii::{PiiCounts, PiiReport};
pub use reach::UpstreamReach;
