//! The audit vocabulary: what one audit event says. Sequencing, hashing and proofs live in
//! `heddle-audit`; storage in `heddle-store`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::TenantId;

/// Who caused an event, and under which identity the work ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditActor {
    pub kind: ActorKind,
    /// The user, key, customer or service-user id; absent for the local operator and system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A human-readable name at the time of the event (email, key name …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    pub identity_mode: IdentityMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
    /// An external customer with a verified id (service agents).
    Customer,
    /// An explicitly configured service user.
    ServiceUser,
    /// Someone running the `heddle` CLI against the database.
    LocalOperator,
    /// Heddle itself (jobs, retention, start-up).
    System,
}

/// Whose permissions the work ran with (DESIGN: user mode by default; elevation is marked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMode {
    /// As the acting principal.
    User,
    /// Elevated, as a configured service user.
    ServiceUser,
    /// Heddle's own maintenance, outside any principal.
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    /// Refused by policy, authentication or validation.
    Denied,
    /// Attempted and failed.
    Failure,
}

/// What an event acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditTarget {
    /// `user`, `api_key`, `tenant`, `policy`, `secret` …
    pub kind: String,
    pub id: String,
}

/// Where a request came from, when an event was caused by one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One audit event before it is sequenced. Its canonical JSON bytes are what the Merkle
/// leaf hashes, so fields are only ever added (with defaults), never renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub tenant_id: TenantId,
    /// `dev`, `staging` or `prod`; absent for tenant-wide administration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub actor: AuditActor,
    /// Dotted verb, e.g. `user.create`, `api_key.revoke`, `auth.login`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<AuditTarget>,
    pub outcome: AuditOutcome,
    #[serde(default, flatten)]
    pub request: RequestContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    /// Structured details. Never prompt or response text in clear (hash it, or encrypt it).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}
