//! The authorizer: schema and base policies parsed and validated once, then one Cedar
//! evaluation per decision.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use cedar_policy::{PolicyId as CedarPolicyId, PolicySet, Schema, ValidationMode, Validator};
use heddle_types::{Action, Principal, Resource, TenantId};

use crate::entities::{EntityCatalog, action_applies_to, resource_type_name};
use crate::policy_index::{PolicyIndex, SliceKeys};
use crate::{BASE_POLICIES_TEXT, PolicyError, SCHEMA_TEXT};

/// The outcome of one authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Ids of the policies that decided: the satisfied permits when allowed, the satisfied
    /// forbids when denied by one (empty when denied because nothing permitted). Sorted.
    pub determining_policies: Vec<String>,
    /// Everything that went wrong while deciding. Non-empty always means denied.
    pub errors: Vec<String>,
}

impl Decision {
    fn deny_with_error(error: String) -> Self {
        Self {
            allowed: false,
            determining_policies: Vec::new(),
            errors: vec![error],
        }
    }
}

/// The base policies plus one tenant's custom policies, ready to evaluate. Built by
/// [`Authorizer::compile_tenant_policies`]; cheap to share, build it again when the tenant's
/// policies change.
#[derive(Clone)]
pub struct TenantPolicySet {
    /// `None` when compiled from no policies: then it equals the base set and fits any tenant.
    pub(crate) tenant_id: Option<TenantId>,
    pub(crate) policies: PolicyIndex,
    pub(crate) custom_policy_ids: Vec<String>,
}

impl fmt::Debug for TenantPolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantPolicySet")
            .field("tenant_id", &self.tenant_id)
            .field("custom_policy_ids", &self.custom_policy_ids)
            .finish_non_exhaustive()
    }
}

impl TenantPolicySet {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// The Cedar ids of the custom policies (`tenant_policy.<policy id>`).
    pub fn custom_policy_ids(&self) -> &[String] {
        &self.custom_policy_ids
    }
}

/// Decides whether a principal may perform an action on a resource. Build it once at start-up
/// and share it: construction parses and validates; [`Authorizer::authorize`] only evaluates.
pub struct Authorizer {
    pub(crate) validator: Validator,
    pub(crate) base_policies: PolicyIndex,
    pub(crate) base_policy_ids: BTreeSet<String>,
    pub(crate) slice_keys: SliceKeys,
    catalog: EntityCatalog,
    cedar: cedar_policy::Authorizer,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("base_policy_ids", &self.base_policy_ids)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Parses the schema and the base policies and validates the policies against the schema
    /// in strict mode; any error or warning there is a bug in this crate and fails here.
    pub fn new() -> Result<Self, PolicyError> {
        let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA_TEXT).map_err(|error| {
            PolicyError::InvalidSchema {
                reason: error.to_string(),
            }
        })?;
        let base_policies = parse_base_policies()?;
        let validator = Validator::new(schema);
        let validation = validator.validate(&base_policies, ValidationMode::Strict);
        if !validation.validation_passed_without_warnings() {
            let problems: Vec<String> = validation
                .validation_errors()
                .map(ToString::to_string)
                .chain(validation.validation_warnings().map(ToString::to_string))
                .collect();
            return Err(PolicyError::InvalidBasePolicies {
                reason: problems.join("; "),
            });
        }
        let base_policy_ids = base_policies
            .policies()
            .map(|policy| policy.id().to_string())
            .collect();
        let catalog = EntityCatalog::new()?;
        let invalid = |reason| PolicyError::InvalidBasePolicies { reason };
        let slice_keys = SliceKeys::new(&catalog, validator.schema()).map_err(invalid)?;
        let base_policies = PolicyIndex::new(base_policies, &slice_keys).map_err(invalid)?;
        Ok(Self {
            validator,
            base_policies,
            base_policy_ids,
            slice_keys,
            catalog,
            cedar: cedar_policy::Authorizer::new(),
        })
    }

    /// The ids of the base policies.
    pub fn base_policy_ids(&self) -> impl Iterator<Item = &str> {
        self.base_policy_ids.iter().map(String::as_str)
    }

    /// Decides one request. With `tenant_policies`, the tenant's custom policies are
    /// evaluated beside the base ones; they must belong to the principal's tenant.
    ///
    /// Fails closed: an action that does not apply to the resource's kind, a tenant policy
    /// set of another tenant, or any error while evaluating a policy denies.
    pub fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        tenant_policies: Option<&TenantPolicySet>,
    ) -> Decision {
        if !action_applies_to(action, resource) {
            return Decision::deny_with_error(format!(
                "action `{action}` does not apply to a `{}` resource",
                resource_type_name(resource)
            ));
        }
        let policies = match tenant_policies {
            None => &self.base_policies,
            Some(set) => match set.tenant_id {
                Some(tenant_id) if tenant_id != principal.tenant_id => {
                    return Decision::deny_with_error(format!(
                        "tenant policies of tenant `{tenant_id}` cannot decide for a principal \
                         of tenant `{}`",
                        principal.tenant_id
                    ));
                }
                _ => &set.policies,
            },
        };
        self.evaluate(
            principal,
            action,
            resource,
            policies.slice(action, resource),
        )
    }

    fn evaluate(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        policies: &PolicySet,
    ) -> Decision {
        let parts = match self.catalog.request_parts(principal, action, resource) {
            Ok(parts) => parts,
            Err(error) => return Decision::deny_with_error(error),
        };
        let response = self
            .cedar
            .is_authorized(&parts.request, policies, &parts.entities);
        let diagnostics = response.diagnostics();
        let errors: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
        let mut determining_policies: Vec<String> = diagnostics
            .reason()
            .map(|id| AsRef::<str>::as_ref(id).to_owned())
            .collect();
        determining_policies.sort_unstable();
        Decision {
            allowed: response.decision() == cedar_policy::Decision::Allow && errors.is_empty(),
            determining_policies,
            errors,
        }
    }
}

/// Parses `base.cedar` and gives each policy its `@id` annotation as policy id.
fn parse_base_policies() -> Result<PolicySet, PolicyError> {
    let invalid = |reason: String| PolicyError::InvalidBasePolicies { reason };
    let parsed =
        PolicySet::from_str(BASE_POLICIES_TEXT).map_err(|error| invalid(error.to_string()))?;
    let mut policies = PolicySet::new();
    for policy in parsed.policies() {
        let id = policy
            .annotation("id")
            .ok_or_else(|| invalid(format!("policy `{}` has no `@id` annotation", policy.id())))?;
        policies
            .add(policy.new_id(CedarPolicyId::new(id)))
            .map_err(|error| invalid(format!("policy `{id}`: {error}")))?;
    }
    if parsed.num_of_templates() > 0 {
        return Err(invalid(
            "base policies must not contain templates".to_owned(),
        ));
    }
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use heddle_types::{ApiKeyId, Environment, SecretId, UserId};

    use super::*;

    /// The Rust-side applicability check must say exactly what the schema's `appliesTo` says.
    #[test]
    fn applicability_table_matches_the_schema() {
        let authorizer = Authorizer::new().unwrap();
        let schema = authorizer.validator.schema();
        let tenant_id = TenantId::new();
        let resources = [
            Resource::Tenant(tenant_id),
            Resource::User {
                id: UserId::new(),
                tenant_id,
            },
            Resource::ApiKey {
                id: ApiKeyId::new(),
                tenant_id,
            },
            Resource::Secret {
                id: SecretId::new(),
                tenant_id,
                environment: Environment::Dev,
            },
            Resource::Route {
                tenant_id,
                environment: Environment::Dev,
                name: "support_gpt".to_owned(),
            },
        ];
        for action in Action::ALL {
            let uid = authorizer.catalog.action_uid(action).unwrap();
            let in_schema: BTreeSet<String> = schema
                .resources_for_action(uid)
                .unwrap()
                .map(|name| name.to_string())
                .collect();
            for resource in &resources {
                let name = format!("Heddle::{}", resource_type_name(resource));
                assert_eq!(
                    action_applies_to(action, resource),
                    in_schema.contains(&name),
                    "{action} on {name}"
                );
            }
        }
    }

    /// Slicing is only an optimization: every decision equals the one over the full set.
    #[test]
    fn sliced_decisions_equal_full_set_decisions() {
        use heddle_types::{PrincipalKind, Role, TenantPolicy};

        let authorizer = Authorizer::new().unwrap();
        let own = TenantId::new();
        let custom = |cedar: &str| TenantPolicy {
            id: heddle_types::PolicyId::new(),
            tenant_id: own,
            name: String::new(),
            description: String::new(),
            cedar: cedar.to_owned(),
            created_by: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let tenant_set = authorizer
            .compile_tenant_policies(&[
                custom("permit(principal, action, resource is Heddle::User);"),
                custom(r#"forbid(principal, action in [Heddle::Action::"view_users"], resource);"#),
                custom(
                    r#"permit(principal in Heddle::Role::"Operator",
                              action == Heddle::Action::"manage_secrets",
                              resource is Heddle::Secret)
                       when { resource.environment == "dev" };"#,
                ),
                custom(
                    r#"permit(principal, action == Heddle::Action::"manage_billing", resource);"#,
                ),
            ])
            .unwrap();
        let mut compared = 0;
        for index in [&authorizer.base_policies, &tenant_set.policies] {
            for role in Role::ALL {
                for kind in [PrincipalKind::User, PrincipalKind::ApiKey] {
                    for operator in [false, true] {
                        let principal = Principal {
                            kind,
                            id: *UserId::new().as_uuid(),
                            tenant_id: own,
                            operator_tenant: operator,
                            role,
                            display_name: String::new(),
                            route: None,
                        };
                        for tenant_id in [own, TenantId::new()] {
                            let resources = [
                                Resource::Tenant(tenant_id),
                                Resource::User {
                                    id: UserId::from_uuid(principal.id),
                                    tenant_id,
                                },
                                Resource::ApiKey {
                                    id: ApiKeyId::from_uuid(principal.id),
                                    tenant_id,
                                },
                                Resource::User {
                                    id: UserId::new(),
                                    tenant_id,
                                },
                                Resource::Secret {
                                    id: SecretId::new(),
                                    tenant_id,
                                    environment: Environment::Dev,
                                },
                                Resource::Secret {
                                    id: SecretId::new(),
                                    tenant_id,
                                    environment: Environment::Prod,
                                },
                                Resource::Route {
                                    tenant_id,
                                    environment: Environment::Prod,
                                    name: "support_gpt".to_owned(),
                                },
                            ];
                            for resource in &resources {
                                for action in Action::ALL {
                                    let sliced = authorizer.evaluate(
                                        &principal,
                                        action,
                                        resource,
                                        index.slice(action, resource),
                                    );
                                    let full = authorizer.evaluate(
                                        &principal,
                                        action,
                                        resource,
                                        index.all(),
                                    );
                                    assert_eq!(sliced, full, "{role} {action} {resource:?}");
                                    compared += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(compared, 2 * 5 * 2 * 2 * 2 * 7 * Action::ALL.len());
    }

    #[test]
    fn slices_are_small() {
        let authorizer = Authorizer::new().unwrap();
        let tenant_id = TenantId::new();
        let slice = authorizer
            .base_policies
            .slice(Action::ManageUsers, &Resource::Tenant(tenant_id));
        let ids: BTreeSet<String> = slice.policies().map(|p| p.id().to_string()).collect();
        assert_eq!(
            ids,
            BTreeSet::from([
                "isolation.tenant".to_owned(),
                "rbac.manage_team_and_users".to_owned()
            ])
        );
    }

    #[test]
    fn authorizer_and_policy_sets_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Authorizer>();
        assert_send_sync::<TenantPolicySet>();
    }

    #[test]
    fn every_base_policy_has_a_readable_id() {
        let authorizer = Authorizer::new().unwrap();
        assert_eq!(authorizer.base_policy_ids.len(), 40);
        assert!(
            authorizer
                .base_policy_ids()
                .all(|id| !id.starts_with("policy"))
        );
    }
}
