//! Heddle's shared vocabulary: identifiers, roles, the actions the permission matrix speaks
//! of, the acting principal and the domain records every other crate passes around.
//!
//! Invariants: nothing here does I/O or knows about HTTP, SQL or tokio; every type that
//! crosses a wire (de)serializes in one stable shape; time comes from a [`Clock`] so tests
//! control it.

mod action;
mod audit;
mod clock;
mod ids;
mod principal;
mod records;
mod role;
mod secrets;

pub use action::Action;
pub use audit::{
    ActorKind, AuditActor, AuditEvent, AuditOutcome, AuditTarget, IdentityMode, RequestContext,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{
    AccessTokenId, ApiKeyId, ExecutionId, IdParseError, PolicyId, SecretId, SessionId, TenantId,
    UserId,
};
pub use principal::{CapabilityResource, Principal, PrincipalKind, Resource};
pub use records::{
    AccessToken, ApiKey, MAX_PAGE_LIMIT, Page, PageRequest, RoutePin, Tenant, TenantPolicy, User,
};
pub use role::{Role, RoleParseError};
pub use secrets::{Environment, EnvironmentParseError, Secret, SecretKind, SecretKindParseError};
