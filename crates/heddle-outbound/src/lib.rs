//! Heddle's one outbound HTTP client. Every call Heddle makes to another service (SIEM sinks,
//! model providers, the approval webhook, upstream MCP servers over HTTP) goes through
//! [`OutboundClient`].
//!
//! Invariants:
//! - only `http` and `https`; no credentials in URLs; an optional host allowlist;
//! - SSRF protection: the client resolves names itself and connects only to addresses the
//!   [`OutboundPolicy`] allows. Loopback, private, link-local (cloud metadata), CGNAT,
//!   unique-local, multicast, broadcast, unspecified, documentation and reserved addresses,
//!   and IPv6 forms that embed them, are refused unless a network is explicitly opted in.
//!   The vetted address is the one connected to, so DNS rebinding cannot slip past;
//! - no proxies from the environment (a proxy would resolve the target for us);
//! - redirects are not followed unless the policy allows some, and then each target is
//!   vetted like the first URL;
//! - response bodies are capped while streaming, and every request has a total deadline;
//! - errors name the origin (`scheme://host:port`), never the path, query or credentials.

mod address;
mod client;
mod error;
mod policy;

pub use address::{AddressClass, classify};
pub use client::{OutboundClient, OutboundRequest, OutboundResponse, OutboundStream};
pub use error::{OutboundError, is_transient_status};
pub use policy::{HostPattern, OutboundPolicy};

/// Re-exported so callers build requests without naming the HTTP crates themselves.
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
pub use ipnet::IpNet;
pub use reqwest::Url;
