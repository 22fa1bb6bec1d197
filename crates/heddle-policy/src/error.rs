//! Errors of building the authorizer and of checking tenant custom policies.

use std::fmt;

use heddle_types::{PolicyId, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The built-in schema does not parse. A bug in this crate, caught by its tests.
    #[error("built-in cedar schema is invalid: {reason}")]
    InvalidSchema { reason: String },
    /// The built-in policies do not parse or validate. A bug in this crate, caught by its
    /// tests.
    #[error("built-in cedar policies are invalid: {reason}")]
    InvalidBasePolicies { reason: String },
    /// A stored tenant policy no longer passes validation (for example after a schema change).
    #[error("tenant policy `{policy_id}` is invalid: {source}")]
    InvalidTenantPolicy {
        policy_id: PolicyId,
        #[source]
        source: PolicyValidationError,
    },
    /// Slicing a policy set by action and resource failed. Cannot happen for a set whose
    /// ids are unique; reported rather than panicking.
    #[error("policy set could not be indexed: {reason}")]
    Indexing { reason: String },
    /// Policies of two tenants were passed to one compilation.
    #[error(
        "tenant policy `{policy_id}` belongs to tenant `{policy_tenant}`, not `{expected_tenant}`"
    )]
    MixedTenants {
        policy_id: PolicyId,
        policy_tenant: TenantId,
        expected_tenant: TenantId,
    },
}

/// One problem in a custom policy, with its position when Cedar reports one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    pub message: String,
    /// 1-based line in the policy text.
    pub line: Option<usize>,
    /// 1-based column, counted in characters.
    pub column: Option<usize>,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{line}:{column}: {}", self.message),
            (Some(line), None) => write!(f, "{line}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// A custom policy was refused; `diagnostics` lists every problem found, in source order
/// when positions are known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyValidationError {
    pub diagnostics: Vec<PolicyDiagnostic>,
}

impl fmt::Display for PolicyValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.diagnostics.len();
        write!(
            f,
            "custom policy has {count} problem{}",
            if count == 1 { "" } else { "s" }
        )?;
        for (index, diagnostic) in self.diagnostics.iter().enumerate() {
            f.write_str(if index == 0 { ": " } else { "; " })?;
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}
