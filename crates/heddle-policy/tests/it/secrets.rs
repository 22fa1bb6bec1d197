//! Secrets: environment-scoped access, tenant isolation, and custom policies over secrets.

use heddle_types::{Action, Environment, PrincipalKind, Resource, Role, TenantId};

use crate::{authorizer, principal, secret_in, tenant_policy, user_in};

/// Written from the brief, not from the policy file: who may do what to a secret in each
/// environment. Columns: dev, staging, prod.
fn expected(role: Role, action: Action) -> [bool; 3] {
    match (role, action) {
        (Role::Admin, _) => [true; 3],
        (Role::Builder, _) => [true, true, false],
        (Role::Operator | Role::ComplianceOfficer, Action::ViewSecrets) => [true; 3],
        _ => [false; 3],
    }
}

#[test]
fn every_role_action_and_environment_matches_the_brief() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let mut checked = 0;
    for role in Role::ALL {
        for kind in [PrincipalKind::User, PrincipalKind::ApiKey] {
            let caller = principal(role, kind, tenant, false);
            for action in [Action::ManageSecrets, Action::ViewSecrets] {
                for (environment, want) in Environment::ALL.into_iter().zip(expected(role, action))
                {
                    let secret = secret_in(tenant, environment);
                    let decision = authorizer.authorize(&caller, action, &secret, None);
                    assert_eq!(
                        decision.allowed, want,
                        "{role} {kind:?} {action} in {environment}: {decision:?}"
                    );
                    assert!(decision.errors.is_empty(), "{decision:?}");
                    if want {
                        assert_eq!(decision.determining_policies.len(), 1, "{decision:?}");
                    } else {
                        assert!(decision.determining_policies.is_empty(), "{decision:?}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 5 * 2 * 2 * 3);
}

#[test]
fn the_deciding_policy_names_the_rule() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let cases = [
        (
            Role::Admin,
            Action::ManageSecrets,
            Environment::Prod,
            "secrets.manage",
        ),
        (
            Role::Builder,
            Action::ManageSecrets,
            Environment::Staging,
            "secrets.manage.builder_non_prod",
        ),
        (
            Role::Builder,
            Action::ViewSecrets,
            Environment::Dev,
            "secrets.view.builder_non_prod",
        ),
        (
            Role::Operator,
            Action::ViewSecrets,
            Environment::Prod,
            "secrets.view",
        ),
    ];
    for (role, action, environment, policy) in cases {
        let decision = authorizer.authorize(
            &user_in(role, tenant),
            action,
            &secret_in(tenant, environment),
            None,
        );
        assert!(decision.allowed, "{decision:?}");
        assert_eq!(decision.determining_policies, [policy]);
    }
    // On the tenant (the gate for creating and listing) builders pass too.
    let decision = authorizer.authorize(
        &user_in(Role::Builder, tenant),
        Action::ManageSecrets,
        &Resource::Tenant(tenant),
        None,
    );
    assert_eq!(decision.determining_policies, ["secrets.manage.builder"]);
}

#[test]
fn another_tenants_secret_is_isolated_even_from_a_custom_permit() {
    let authorizer = authorizer();
    let own = TenantId::new();
    let permit_everything = authorizer
        .compile_tenant_policies(&[tenant_policy(own, "permit(principal, action, resource);")])
        .unwrap();
    for environment in Environment::ALL {
        let foreign = secret_in(TenantId::new(), environment);
        for action in [Action::ManageSecrets, Action::ViewSecrets] {
            for policies in [None, Some(&permit_everything)] {
                let decision =
                    authorizer.authorize(&user_in(Role::Admin, own), action, &foreign, policies);
                assert!(!decision.allowed, "{decision:?}");
                assert_eq!(decision.determining_policies, ["isolation.secret"]);
            }
        }
    }
}

#[test]
fn custom_policies_can_widen_or_narrow_access_by_environment() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let set = authorizer
        .compile_tenant_policies(&[
            // Operators may manage dev secrets.
            tenant_policy(
                tenant,
                r#"permit(principal in Heddle::Role::"Operator",
                          action == Heddle::Action::"manage_secrets",
                          resource is Heddle::Secret)
                   when { resource.environment == "dev" };"#,
            ),
            // Builders keep out of staging too.
            tenant_policy(
                tenant,
                r#"forbid(principal in Heddle::Role::"Builder",
                          action,
                          resource is Heddle::Secret)
                   when { resource.environment == "staging" };"#,
            ),
        ])
        .unwrap();
    let allowed = |role, environment| {
        authorizer
            .authorize(
                &user_in(role, tenant),
                Action::ManageSecrets,
                &secret_in(tenant, environment),
                Some(&set),
            )
            .allowed
    };
    assert!(allowed(Role::Operator, Environment::Dev));
    assert!(!allowed(Role::Operator, Environment::Staging));
    assert!(!allowed(Role::Operator, Environment::Prod));
    assert!(allowed(Role::Builder, Environment::Dev));
    assert!(!allowed(Role::Builder, Environment::Staging));
    assert!(!allowed(Role::Builder, Environment::Prod));
    assert!(allowed(Role::Admin, Environment::Staging));
}

#[test]
fn custom_policies_over_secrets_are_validated_against_the_schema() {
    let authorizer = authorizer();
    assert_eq!(
        authorizer.validate_custom_policy(
            r#"permit(principal, action == Heddle::Action::"view_secrets", resource is Heddle::Secret)
               when { resource.environment == "dev" && resource.tenant == principal.tenant };"#,
        ),
        Ok(())
    );
    let error = authorizer
        .validate_custom_policy(
            r#"permit(principal, action == Heddle::Action::"view_secrets", resource is Heddle::Secret)
               when { resource.value == "x" };"#,
        )
        .unwrap_err();
    assert!(
        error
            .diagnostics
            .iter()
            .any(|d| d.message.contains("value")),
        "{error}"
    );
}
