//! The crate's error type. Messages name the origin (`scheme://host:port`) of a request,
//! never its full URL: paths and query strings can carry tokens (webhook URLs often do), and
//! credentials in a URL are refused outright.

use std::net::IpAddr;
use std::time::Duration;

use http::StatusCode;

use crate::address::AddressClass;

#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboundError {
    /// The URL could not be parsed or is not usable (no host, credentials in it).
    #[error("invalid outbound url: {reason}")]
    InvalidUrl { reason: String },
    /// A host allowlist entry is malformed.
    #[error("invalid host pattern `{pattern}`: {reason}")]
    InvalidHostPattern { pattern: String, reason: String },
    /// A header could not be set. The value is never echoed: it may be a credential.
    #[error("invalid value for header `{name}`")]
    InvalidHeader { name: String },
    /// The request body could not be serialized.
    #[error("could not serialize the request body: {reason}")]
    InvalidBody { reason: String },
    /// Blocked by policy: only http and https are allowed.
    #[error("url scheme `{scheme}` is not allowed; use http or https")]
    SchemeNotAllowed { scheme: String },
    /// Blocked by policy: the host is not on the allowlist.
    #[error("host `{host}` is not on the outbound allowlist")]
    HostNotAllowed { host: String },
    /// Blocked by policy: the host is, or resolves only to, addresses that are not allowed.
    #[error(
        "host `{host}` resolves to `{addr}`, {class}, which outbound requests may not reach \
         unless it is explicitly allowed"
    )]
    BlockedAddress {
        host: String,
        addr: IpAddr,
        class: AddressClass,
    },
    /// The name did not resolve at all.
    #[error("could not resolve host `{host}`: {reason}")]
    Resolve { host: String, reason: String },
    /// The request did not complete in time (connect or total deadline).
    #[error("request to `{origin}` timed out after {after:?}")]
    Timeout { origin: String, after: Duration },
    /// No connection could be established (refused, reset, TLS handshake failed).
    #[error("could not connect to `{origin}`: {reason}")]
    Connect { origin: String, reason: String },
    /// The response body is larger than the policy allows.
    #[error("response from `{origin}` exceeds the {limit}-byte limit")]
    TooLarge { origin: String, limit: usize },
    /// The upstream answered with a status the caller treats as failure.
    #[error("`{origin}` answered HTTP {status}")]
    Status { origin: String, status: StatusCode },
    /// More redirects than the policy allows.
    #[error("too many redirects from `{origin}` (limit {limit})")]
    TooManyRedirects { origin: String, limit: usize },
    /// The exchange failed after connecting (connection closed mid-response, protocol error).
    #[error("request to `{origin}` failed: {reason}")]
    Transport { origin: String, reason: String },
    /// The HTTP client could not be built (TLS roots, for example).
    #[error("could not build the outbound http client: {reason}")]
    Build { reason: String },
}

impl OutboundError {
    /// Refused by the outbound policy before (or instead of) connecting.
    pub fn is_blocked_by_policy(&self) -> bool {
        matches!(
            self,
            OutboundError::SchemeNotAllowed { .. }
                | OutboundError::HostNotAllowed { .. }
                | OutboundError::BlockedAddress { .. }
                | OutboundError::TooManyRedirects { .. }
        )
    }

    /// Whether trying the same request again later may succeed: timeouts, connection and
    /// resolution failures, and HTTP 408, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            OutboundError::Timeout { .. }
            | OutboundError::Connect { .. }
            | OutboundError::Resolve { .. }
            | OutboundError::Transport { .. } => true,
            OutboundError::Status { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }
}

/// HTTP statuses that say "try again later": 408, 429 and every 5xx.
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}
