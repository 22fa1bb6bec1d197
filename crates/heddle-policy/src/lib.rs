//! Heddle's authorization: the Cedar schema, the base policies implementing the role matrix
//! of seed 002 and Heddle's own administrative actions, tenant isolation, and tenants' custom
//! policies. [`Authorizer::authorize`] takes a principal, an action and a resource and returns
//! a [`Decision`].
//!
//! Invariants:
//! - pure: no I/O, no clock, no async; callers load tenant policies and pass them in;
//! - fail closed: any evaluation error, unknown pairing of action and resource, or mismatch
//!   between principal and tenant policy set denies, and the decision says why;
//! - tenant isolation and the operator-only guard are `forbid` policies, so no permit (base
//!   or custom) can override them;
//! - role membership comes from the entity hierarchy (`principal in Heddle::Role::"Admin"`).

mod authorizer;
mod custom_policy;
mod entities;
mod error;
mod policy_index;

pub use authorizer::{Authorizer, Decision, TenantPolicySet};
pub use error::{PolicyDiagnostic, PolicyError, PolicyValidationError};

const SCHEMA_TEXT: &str = include_str!("heddle.cedarschema");
const BASE_POLICIES_TEXT: &str = include_str!("base.cedar");

/// The Cedar schema (human-readable syntax), namespace `Heddle`.
pub fn schema_text() -> &'static str {
    SCHEMA_TEXT
}

/// The base policies every decision evaluates, with their `@id` annotations.
pub fn base_policies_text() -> &'static str {
    BASE_POLICIES_TEXT
}
