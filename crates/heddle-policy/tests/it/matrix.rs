//! The role × action matrix, tenant isolation, view_self and the operator-only action.

use heddle_policy::{Decision, TenantPolicySet};
use heddle_types::{
    Action, ApiKeyId, Environment, Principal, PrincipalKind, Resource, Role, TenantId, UserId,
};
use proptest::prelude::*;

use crate::{authorizer, principal, resources_in, secret_in, tenant_policy, user_in};

const Y: bool = true;
const N: bool = false;

/// Written from seed 002's table and the brief's list of Heddle's own actions, not from the
/// policy file. Columns: Admin, Builder, Operator, Viewer, ComplianceOfficer.
/// `ManageTenants` is for a principal of a non-operator tenant; `ViewSelf` is tested apart.
/// The secret rows hold on the tenant and on secrets outside `prod` (`secrets.rs` has `prod`).
const EXPECTED: [(Action, [bool; 5]); 29] = [
    // Seed 002.
    (Action::ManageUsers, [Y, N, N, N, N]), // Manage team & users
    (Action::ManageBilling, [Y, N, N, N, N]), // Manage billing
    (Action::CreateAgent, [Y, Y, N, N, N]), // Create / edit workflows
    (Action::EditAgent, [Y, Y, N, N, N]),   // Create / edit workflows
    (Action::DeleteAgent, [Y, Y, N, N, N]), // Delete workflows
    (Action::ExecuteAgent, [Y, Y, Y, N, N]), // Execute workflows
    (Action::ViewExecutions, [Y, Y, Y, Y, Y]), // View workflows & executions
    (Action::ViewAuditLog, [Y, N, N, N, Y]), // View audit logs
    (Action::ViewComplianceDashboard, [Y, N, N, N, Y]), // Compliance dashboard
    (Action::StartAdversarialScan, [Y, Y, N, N, N]), // Start adversarial scans
    (Action::ViewPlaybooks, [Y, Y, N, N, Y]), // View incident playbooks
    // Heddle administration.
    (Action::ViewUsers, [Y, N, N, N, Y]),
    (Action::ManageApiKeys, [Y, N, N, N, N]),
    (Action::ViewTenant, [Y, Y, Y, Y, Y]),
    (Action::ManagePolicies, [Y, N, N, N, N]),
    (Action::ViewPolicies, [Y, N, N, N, Y]),
    (Action::ManageTenants, [N, N, N, N, N]),
    // Secrets: operators and compliance officers see metadata only; viewers nothing.
    (Action::ManageSecrets, [Y, Y, N, N, N]),
    (Action::ViewSecrets, [Y, Y, Y, N, Y]),
    // Records: every person uses them as themselves (API keys: see `expected_decision`).
    (Action::UseRecords, [Y, Y, Y, Y, Y]),
    (Action::ViewRecordOrg, [Y, Y, N, N, Y]),
    (Action::ManageRecordOrg, [Y, N, N, N, N]),
    // Capabilities: whoever may execute agents may have them call capabilities.
    (Action::CallCapability, [Y, Y, Y, N, N]),
    // No review floor beyond the capability's own mode unless a tenant adds one.
    (Action::RunWithoutConfirmation, [Y, Y, Y, Y, Y]),
    (Action::RunWithoutApproval, [Y, Y, Y, Y, Y]),
    // The matrix's capability is a write: its arguments may be unmasked.
    (Action::UnmaskArguments, [Y, Y, Y, Y, Y]),
    // Gateway routes: whoever may execute agents may use routes.
    (Action::UseRoute, [Y, Y, Y, N, N]),
    // MCP gateway: admins approve upstream tools; callers of capabilities may call them.
    (Action::ManageMcpServers, [Y, N, N, N, N]),
    (Action::CallMcpTool, [Y, Y, Y, N, N]),
];

const ROLE_COLUMNS: [Role; 5] = [
    Role::Admin,
    Role::Builder,
    Role::Operator,
    Role::Viewer,
    Role::ComplianceOfficer,
];

fn expected(role: Role, action: Action) -> Option<bool> {
    let column = ROLE_COLUMNS.iter().position(|r| *r == role)?;
    let (_, row) = EXPECTED.iter().find(|(a, _)| *a == action)?;
    row.get(column).copied()
}

/// The resource kinds an action applies to, also written independently of the schema.
fn applies_to(action: Action, resource: &Resource) -> bool {
    match resource {
        Resource::Tenant(_) => !matches!(
            action,
            Action::ViewSelf
                | Action::CallCapability
                | Action::RunWithoutConfirmation
                | Action::RunWithoutApproval
                | Action::UnmaskArguments
                | Action::UseRoute
        ),
        Resource::User { .. } => matches!(
            action,
            Action::ManageUsers | Action::ViewUsers | Action::ViewSelf
        ),
        Resource::ApiKey { .. } => matches!(action, Action::ManageApiKeys | Action::ViewSelf),
        Resource::Secret { .. } => {
            matches!(action, Action::ManageSecrets | Action::ViewSecrets)
        }
        Resource::Capability(_) => matches!(
            action,
            Action::CallCapability
                | Action::RunWithoutConfirmation
                | Action::RunWithoutApproval
                | Action::UnmaskArguments
        ),
        Resource::Route { .. } => action == Action::UseRoute,
    }
}

#[test]
fn the_expected_table_covers_every_action_and_role() {
    assert_eq!(ROLE_COLUMNS, Role::ALL);
    for action in Action::ALL {
        if action != Action::ViewSelf {
            assert!(expected(Role::Admin, action).is_some(), "{action} missing");
        }
    }
}

#[test]
fn every_role_and_action_in_the_own_tenant_matches_the_seed_table() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let mut checked = 0;
    for role in Role::ALL {
        for kind in [PrincipalKind::User, PrincipalKind::ApiKey] {
            let principal = principal(role, kind, tenant, false);
            for (action, _) in EXPECTED {
                // The record API needs a person (`reference` says the same).
                let want = expected(role, action).unwrap()
                    && !(action == Action::UseRecords && kind == PrincipalKind::ApiKey);
                for resource in resources_in(tenant) {
                    if !applies_to(action, &resource) {
                        continue;
                    }
                    let decision = authorizer.authorize(&principal, action, &resource, None);
                    assert_eq!(
                        decision.allowed, want,
                        "{role} {kind:?} {action} on {resource:?}: {decision:?}"
                    );
                    assert!(decision.errors.is_empty(), "{decision:?}");
                    if want {
                        assert_eq!(decision.determining_policies.len(), 1, "{decision:?}");
                    } else {
                        // Nothing permitted, or (manage_tenants) the operator guard forbade.
                        assert!(
                            decision
                                .determining_policies
                                .iter()
                                .all(|id| id == "guard.manage_tenants_operator_only"),
                            "{decision:?}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    // 5 roles × 2 kinds × (24 actions on the tenant + 2 on users + 1 on API keys + 2 on
    // secrets + 4 on capabilities + 1 on routes).
    assert_eq!(checked, 5 * 2 * 34);
}

#[test]
fn every_role_and_action_is_denied_on_another_tenant() {
    let authorizer = authorizer();
    let own = TenantId::new();
    let other = TenantId::new();
    let permit_everything = authorizer
        .compile_tenant_policies(&[tenant_policy(own, "permit(principal, action, resource);")])
        .unwrap();
    for role in Role::ALL {
        for kind in [PrincipalKind::User, PrincipalKind::ApiKey] {
            for operator in [false, true] {
                let principal = principal(role, kind, own, operator);
                for action in Action::ALL {
                    for resource in resources_in(other) {
                        if !applies_to(action, &resource) {
                            continue;
                        }
                        for policies in [None, Some(&permit_everything)] {
                            let decision =
                                authorizer.authorize(&principal, action, &resource, policies);
                            assert_denied_by_isolation(&decision);
                        }
                    }
                }
            }
        }
    }
}

fn assert_denied_by_isolation(decision: &Decision) {
    assert!(!decision.allowed, "{decision:?}");
    assert!(
        decision
            .determining_policies
            .iter()
            .any(|id| id.starts_with("isolation.")),
        "{decision:?}"
    );
}

#[test]
fn a_user_resource_in_the_own_tenant_but_pointing_elsewhere_is_still_isolated() {
    // The resource's tenant attribute decides, not the caller's claim about it.
    let authorizer = authorizer();
    let own = TenantId::new();
    let admin = user_in(Role::Admin, own);
    let foreign_user = Resource::User {
        id: UserId::new(),
        tenant_id: TenantId::new(),
    };
    let decision = authorizer.authorize(&admin, Action::ManageUsers, &foreign_user, None);
    assert_denied_by_isolation(&decision);
    assert_eq!(decision.determining_policies, ["isolation.user"]);
}

#[test]
fn view_self_is_allowed_only_on_the_callers_own_identity() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    for role in Role::ALL {
        let user = user_in(role, tenant);
        let own_user = Resource::User {
            id: user.user_id().unwrap(),
            tenant_id: tenant,
        };
        let decision = authorizer.authorize(&user, Action::ViewSelf, &own_user, None);
        assert!(decision.allowed, "{role}: {decision:?}");
        assert_eq!(decision.determining_policies, ["admin.view_self.user"]);

        let key = principal(role, PrincipalKind::ApiKey, tenant, false);
        let own_key = Resource::ApiKey {
            id: key.api_key_id().unwrap(),
            tenant_id: tenant,
        };
        let decision = authorizer.authorize(&key, Action::ViewSelf, &own_key, None);
        assert!(decision.allowed, "{role}: {decision:?}");
        assert_eq!(decision.determining_policies, ["admin.view_self.api_key"]);

        // Someone else in the same tenant, and identities of the other kind with the same
        // UUID, are not "self".
        let denied = [
            (
                &user,
                Resource::User {
                    id: UserId::new(),
                    tenant_id: tenant,
                },
            ),
            (
                &key,
                Resource::ApiKey {
                    id: ApiKeyId::new(),
                    tenant_id: tenant,
                },
            ),
            (
                &user,
                Resource::ApiKey {
                    id: ApiKeyId::from_uuid(user.id),
                    tenant_id: tenant,
                },
            ),
            (
                &key,
                Resource::User {
                    id: UserId::from_uuid(key.id),
                    tenant_id: tenant,
                },
            ),
        ];
        for (caller, resource) in denied {
            let decision = authorizer.authorize(caller, Action::ViewSelf, &resource, None);
            assert!(!decision.allowed, "{role} {resource:?}: {decision:?}");
        }
    }
}

#[test]
fn view_self_with_a_copied_identity_in_another_tenant_is_denied() {
    // Same UUID, other tenant: the isolation forbid wins over the view_self permit.
    let authorizer = authorizer();
    let user = user_in(Role::Viewer, TenantId::new());
    let elsewhere = Resource::User {
        id: user.user_id().unwrap(),
        tenant_id: TenantId::new(),
    };
    let decision = authorizer.authorize(&user, Action::ViewSelf, &elsewhere, None);
    assert!(!decision.allowed);
    assert_eq!(decision.determining_policies, ["isolation.user"]);
}

#[test]
fn manage_tenants_is_for_admins_of_the_operator_tenant_only() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    for role in Role::ALL {
        for operator in [false, true] {
            for kind in [PrincipalKind::User, PrincipalKind::ApiKey] {
                let caller = principal(role, kind, tenant, operator);
                let decision = authorizer.authorize(
                    &caller,
                    Action::ManageTenants,
                    &Resource::Tenant(tenant),
                    None,
                );
                let want = operator && role == Role::Admin;
                assert_eq!(
                    decision.allowed, want,
                    "{role} operator={operator}: {decision:?}"
                );
            }
        }
    }
}

#[test]
fn a_custom_permit_cannot_grant_manage_tenants_outside_the_operator_tenant() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let set = authorizer
        .compile_tenant_policies(&[tenant_policy(
            tenant,
            r#"permit(principal, action == Heddle::Action::"manage_tenants", resource);"#,
        )])
        .unwrap();
    let admin = user_in(Role::Admin, tenant);
    let decision = authorizer.authorize(
        &admin,
        Action::ManageTenants,
        &Resource::Tenant(tenant),
        Some(&set),
    );
    assert!(!decision.allowed);
    assert_eq!(
        decision.determining_policies,
        ["guard.manage_tenants_operator_only"]
    );
}

#[test]
fn an_action_applied_to_the_wrong_kind_of_resource_is_denied_with_a_reason() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let admin = user_in(Role::Admin, tenant);
    for action in Action::ALL {
        for resource in resources_in(tenant) {
            if applies_to(action, &resource) {
                continue;
            }
            let decision = authorizer.authorize(&admin, action, &resource, None);
            assert!(!decision.allowed, "{action} {resource:?}");
            assert_eq!(decision.errors.len(), 1, "{decision:?}");
            assert!(
                decision.errors[0].contains("does not apply"),
                "{decision:?}"
            );
        }
    }
}

/// The reference model the property test compares against: the table above plus the rules
/// written out in prose in the brief.
fn reference(
    principal: &Principal,
    action: Action,
    resource: &Resource,
    custom: Option<&TenantPolicySet>,
) -> bool {
    if !applies_to(action, resource) || resource.tenant_id() != principal.tenant_id {
        return false;
    }
    if custom.is_some() && action != Action::ManageTenants {
        // The custom set used below permits everything.
        return true;
    }
    match action {
        Action::ViewSelf => match (principal.kind, resource) {
            (PrincipalKind::User, Resource::User { id, .. }) => *id.as_uuid() == principal.id,
            (PrincipalKind::ApiKey, Resource::ApiKey { id, .. }) => *id.as_uuid() == principal.id,
            _ => false,
        },
        Action::ManageTenants => {
            principal.operator_tenant && (principal.role == Role::Admin || custom.is_some())
        }
        // An API key has no person behind it, so no record identity.
        Action::UseRecords => principal.kind == PrincipalKind::User,
        // Builders keep out of `prod`, whatever the table says.
        Action::ManageSecrets | Action::ViewSecrets
            if principal.role == Role::Builder
                && matches!(
                    resource,
                    Resource::Secret {
                        environment: Environment::Prod,
                        ..
                    }
                ) =>
        {
            false
        }
        _ => expected(principal.role, action).unwrap_or(false),
    }
}

fn any_role() -> impl Strategy<Value = Role> {
    proptest::sample::select(Role::ALL.to_vec())
}

fn any_action() -> impl Strategy<Value = Action> {
    proptest::sample::select(Action::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decisions_agree_with_the_reference_model(
        role in any_role(),
        action in any_action(),
        is_api_key in any::<bool>(),
        operator in any::<bool>(),
        same_tenant in any::<bool>(),
        resource_kind in 0..6u8,
        with_custom_permit in any::<bool>(),
    ) {
        let authorizer = authorizer();
        let own = TenantId::new();
        let kind = if is_api_key { PrincipalKind::ApiKey } else { PrincipalKind::User };
        let caller = principal(role, kind, own, operator);
        let tenant_id = if same_tenant { own } else { TenantId::new() };
        let resource = match resource_kind {
            0 => Resource::Tenant(tenant_id),
            1 => Resource::User { id: UserId::new(), tenant_id },
            2 => Resource::ApiKey { id: ApiKeyId::new(), tenant_id },
            3 => secret_in(tenant_id, Environment::Dev),
            4 => secret_in(tenant_id, Environment::Prod),
            // The caller's own identity.
            _ => match kind {
                PrincipalKind::User => Resource::User { id: UserId::from_uuid(caller.id), tenant_id },
                PrincipalKind::ApiKey => Resource::ApiKey { id: ApiKeyId::from_uuid(caller.id), tenant_id },
            },
        };
        let custom = with_custom_permit.then(|| {
            authorizer
                .compile_tenant_policies(&[tenant_policy(own, "permit(principal, action, resource);")])
                .unwrap()
        });
        let decision = authorizer.authorize(&caller, action, &resource, custom.as_ref());
        prop_assert_eq!(
            decision.allowed,
            reference(&caller, action, &resource, custom.as_ref()),
            "{:?}", decision
        );
    }
}
