//! Tenants' custom Cedar policies: validation against the schema and compilation beside the
//! base policies.
//!
//! Rules for a custom policy text (documented for the API and CLI):
//! - it holds exactly one static policy: a stored tenant policy is one reviewable unit with
//!   its own name and id, and decisions name it as `tenant_policy.<policy id>`;
//! - templates (`?principal`, `?resource` slots) are refused;
//! - an `@id` annotation must not reuse a base policy id, so audit trails stay unambiguous;
//! - it must pass strict validation against the schema.
//!
//! Custom policies may add permits and forbids; the base isolation and operator guards are
//! forbids, so a custom permit can never reach another tenant's resources.

use std::str::FromStr;

use cedar_policy::{Policy, PolicyId as CedarPolicyId, PolicySet, ValidationMode};
use heddle_types::TenantPolicy;
use miette::Diagnostic;

use crate::authorizer::{Authorizer, TenantPolicySet};
use crate::policy_index::PolicyIndex;
use crate::{PolicyDiagnostic, PolicyError, PolicyValidationError};

/// The id a custom policy is validated under; it appears in no message we return.
const VALIDATION_POLICY_ID: &str = "custom";

impl Authorizer {
    /// Checks a custom policy text against the rules above and the schema (strict mode).
    /// Returns every problem found, each with its line and column when Cedar knows them.
    pub fn validate_custom_policy(&self, cedar_text: &str) -> Result<(), PolicyValidationError> {
        self.parse_custom_policy(cedar_text).map(|_| ())
    }

    /// Builds the evaluatable set of the base policies plus `policies`, which must all belong
    /// to one tenant. Each custom policy is re-validated (the schema may have changed since
    /// it was stored) and renamed `tenant_policy.<policy id>` so it never collides with a
    /// base id.
    pub fn compile_tenant_policies(
        &self,
        policies: &[TenantPolicy],
    ) -> Result<TenantPolicySet, PolicyError> {
        let tenant_id = policies.first().map(|policy| policy.tenant_id);
        let mut set = self.base_policies.all().clone();
        let mut custom_policy_ids = Vec::with_capacity(policies.len());
        for tenant_policy in policies {
            if let Some(expected_tenant) = tenant_id
                && tenant_policy.tenant_id != expected_tenant
            {
                return Err(PolicyError::MixedTenants {
                    policy_id: tenant_policy.id,
                    policy_tenant: tenant_policy.tenant_id,
                    expected_tenant,
                });
            }
            let invalid = |source| PolicyError::InvalidTenantPolicy {
                policy_id: tenant_policy.id,
                source,
            };
            let policy = self
                .parse_custom_policy(&tenant_policy.cedar)
                .map_err(invalid)?;
            let id = format!("tenant_policy.{}", tenant_policy.id);
            set.add(policy.new_id(CedarPolicyId::new(&id)))
                .map_err(|error| {
                    invalid(PolicyValidationError {
                        diagnostics: vec![diagnostic(format!("cannot add `{id}`: {error}"))],
                    })
                })?;
            custom_policy_ids.push(id);
        }
        let policies = PolicyIndex::new(set, &self.slice_keys)
            .map_err(|reason| PolicyError::Indexing { reason })?;
        Ok(TenantPolicySet {
            tenant_id,
            policies,
            custom_policy_ids,
        })
    }

    fn parse_custom_policy(&self, text: &str) -> Result<Policy, PolicyValidationError> {
        let parsed = PolicySet::from_str(text).map_err(|errors| PolicyValidationError {
            diagnostics: sorted(
                errors
                    .iter()
                    .map(|error| diagnostic_with_position(error, text))
                    .collect(),
            ),
        })?;

        let mut diagnostics = Vec::new();
        let mut only_policy = None;
        match (parsed.num_of_policies(), parsed.num_of_templates()) {
            (_, templates) if templates > 0 => diagnostics.push(diagnostic(
                "templates (policies with `?principal` or `?resource` slots) are not allowed: \
                 write a static policy"
                    .to_owned(),
            )),
            (0, _) => diagnostics.push(diagnostic(
                "no policy found: the text must contain exactly one policy".to_owned(),
            )),
            (1, _) => only_policy = parsed.policies().next(),
            (count, _) => diagnostics.push(diagnostic(format!(
                "found {count} policies: a custom policy holds exactly one; store each separately"
            ))),
        }
        let annotated_ids = parsed
            .policies()
            .filter_map(|policy| policy.annotation("id"))
            .chain(
                parsed
                    .templates()
                    .filter_map(|template| template.annotation("id")),
            );
        for id in annotated_ids {
            if self.base_policy_ids.contains(id) {
                diagnostics.push(diagnostic(format!(
                    "`@id(\"{id}\")` is the id of a base policy: choose another id"
                )));
            }
        }

        // Validate under a fixed id so messages do not mention Cedar's generated `policy0`.
        let mut renamed = PolicySet::new();
        for policy in parsed.policies() {
            // Only fails on duplicate ids, which cannot happen with at most one policy; with
            // several, the count diagnostic above already explains the refusal.
            let _ = renamed.add(policy.new_id(CedarPolicyId::new(VALIDATION_POLICY_ID)));
        }
        let to_validate = if parsed.num_of_policies() == 1 && parsed.num_of_templates() == 0 {
            &renamed
        } else {
            &parsed
        };
        let validation = self.validator.validate(to_validate, ValidationMode::Strict);
        diagnostics.extend(
            validation
                .validation_errors()
                .map(|error| diagnostic_with_position(error, text)),
        );

        match only_policy {
            Some(policy) if diagnostics.is_empty() => Ok(policy.clone()),
            _ => Err(PolicyValidationError {
                diagnostics: sorted(diagnostics),
            }),
        }
    }
}

fn diagnostic(message: String) -> PolicyDiagnostic {
    PolicyDiagnostic {
        message,
        line: None,
        column: None,
    }
}

/// A Cedar diagnostic as message (plus Cedar's help, when it has one) and the position of
/// its first labelled span.
fn diagnostic_with_position(error: &(impl Diagnostic + ToString), text: &str) -> PolicyDiagnostic {
    let policy_prefix = format!("for policy `{VALIDATION_POLICY_ID}`, ");
    let raw = error.to_string();
    let mut message = raw.strip_prefix(&policy_prefix).unwrap_or(&raw).to_owned();
    if let Some(help) = error.help() {
        message.push_str(" (");
        message.push_str(&help.to_string());
        message.push(')');
    }
    let offset = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset());
    let (line, column) = match offset.and_then(|offset| line_and_column(text, offset)) {
        Some((line, column)) => (Some(line), Some(column)),
        None => (None, None),
    };
    PolicyDiagnostic {
        message,
        line,
        column,
    }
}

/// 1-based line and character column of a byte offset into `text`.
fn line_and_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before.get(line_start..)?.chars().count() + 1;
    Some((line, column))
}

/// Positioned diagnostics first, in source order; unpositioned ones after, as found.
fn sorted(mut diagnostics: Vec<PolicyDiagnostic>) -> Vec<PolicyDiagnostic> {
    diagnostics.sort_by_key(|diagnostic| {
        (
            diagnostic.line.is_none(),
            diagnostic.line.unwrap_or(0),
            diagnostic.column.unwrap_or(0),
        )
    });
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_and_column(text, 0), Some((1, 1)));
        assert_eq!(line_and_column(text, 3), Some((2, 1)));
        assert_eq!(line_and_column(text, 7), Some((2, 4)));
        assert_eq!(line_and_column(text, 8), Some((3, 1)));
        // Inside a multi-byte character there is no position.
        assert_eq!(line_and_column(text, 6), None);
    }
}
