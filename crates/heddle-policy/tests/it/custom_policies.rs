//! Tenants' custom policies: validation diagnostics, compilation, and how they combine with
//! the base policies.

use heddle_policy::{PolicyError, PolicyValidationError};
use heddle_types::{Action, PrincipalKind, Resource, Role, TenantId, UserId};

use crate::{authorizer, principal, tenant_policy, user_in};

fn validation_error(text: &str) -> PolicyValidationError {
    match authorizer().validate_custom_policy(text) {
        Err(error) => error,
        // No diagnostics: every caller's assertions on them then fail.
        Ok(()) => PolicyValidationError {
            diagnostics: Vec::new(),
        },
    }
}

#[test]
fn valid_custom_policies_pass() {
    let authorizer = authorizer();
    for text in [
        "permit(principal, action, resource);",
        r#"@id("billing-for-builders")
           permit(principal in Heddle::Role::"Builder",
                  action == Heddle::Action::"manage_billing",
                  resource is Heddle::Tenant);"#,
        r#"forbid(principal, action == Heddle::Action::"manage_api_keys", resource)
           when { principal.kind == "api_key" };"#,
        r#"permit(principal, action == Heddle::Action::"view_users", resource is Heddle::User)
           when { resource.tenant.operator };"#,
    ] {
        assert_eq!(authorizer.validate_custom_policy(text), Ok(()), "{text}");
    }
}

#[test]
fn an_unknown_attribute_is_reported_with_its_position() {
    let error = validation_error(
        "permit(principal, action, resource)\nwhen { principal.department == \"sales\" };",
    );
    assert_eq!(error.diagnostics.len(), 1, "{error}");
    let diagnostic = &error.diagnostics[0];
    assert!(diagnostic.message.contains("department"), "{diagnostic:?}");
    assert!(!diagnostic.message.contains("`custom`"), "{diagnostic:?}");
    assert_eq!(diagnostic.line, Some(2), "{diagnostic:?}");
    assert_eq!(diagnostic.column, Some(8), "{diagnostic:?}");
}

#[test]
fn an_unknown_action_is_reported() {
    let error = validation_error(
        r#"permit(principal, action == Heddle::Action::"launch_rockets", resource);"#,
    );
    assert!(
        error
            .diagnostics
            .iter()
            .any(|d| d.message.contains("launch_rockets") && d.line == Some(1)),
        "{error}"
    );
}

#[test]
fn a_syntax_error_is_reported_with_line_and_column() {
    let error =
        validation_error("permit(principal, action, resource)\n  when { principal.kind == };");
    let first = &error.diagnostics[0];
    // `}` is the 28th character of line 2.
    assert_eq!((first.line, first.column), (Some(2), Some(28)), "{error}");
    assert!(first.message.contains("unexpected token `}`"), "{error}");
    assert!(
        error.to_string().starts_with("custom policy has"),
        "{error}"
    );
    assert!(error.to_string().contains("2:28: "), "{error}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let error = validation_error(
        "permit(principal, action, resource)\n\
         when { principal.department == \"sales\" && resource.colour == \"red\" };",
    );
    // `department` once; `colour` once per resource type it could be read on (tenant,
    // user, API key, secret, capability, route).
    assert_eq!(error.diagnostics.len(), 7, "{error}");
    assert!(
        error.diagnostics[0].message.contains("department"),
        "{error}"
    );
    assert_eq!(error.diagnostics[0].line, Some(2));
    assert_eq!(error.diagnostics[0].column, Some(8));
    for later in &error.diagnostics[1..] {
        assert!(later.message.contains("colour"), "{error}");
        assert_eq!((later.line, later.column), (Some(2), Some(43)), "{error}");
    }
}

#[test]
fn a_type_error_is_reported() {
    let error =
        validation_error(r#"permit(principal, action, resource) when { principal.kind == 3 };"#);
    assert!(!error.diagnostics.is_empty());
}

#[test]
fn structural_rules_are_enforced() {
    let two = "permit(principal, action, resource);\nforbid(principal, action, resource);";
    assert!(
        validation_error(two)
            .to_string()
            .contains("found 2 policies")
    );

    assert!(
        validation_error("  // only a comment\n")
            .to_string()
            .contains("no policy found")
    );

    let template = "permit(principal == ?principal, action, resource);";
    assert!(validation_error(template).to_string().contains("templates"));

    let clash = r#"@id("isolation.user") permit(principal, action, resource);"#;
    let error = validation_error(clash);
    assert!(
        error.to_string().contains("`@id(\"isolation.user\")`"),
        "{error}"
    );
}

#[test]
fn a_custom_forbid_takes_a_permission_away() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let policy = tenant_policy(
        tenant,
        r#"forbid(principal, action == Heddle::Action::"manage_billing", resource)
           when { principal.kind == "api_key" };"#,
    );
    let set = authorizer
        .compile_tenant_policies(std::slice::from_ref(&policy))
        .unwrap();
    assert_eq!(set.tenant_id(), Some(tenant));
    let custom_id = format!("tenant_policy.{}", policy.id);
    assert_eq!(set.custom_policy_ids(), std::slice::from_ref(&custom_id));

    let key = principal(Role::Admin, PrincipalKind::ApiKey, tenant, false);
    let own_tenant = Resource::Tenant(tenant);
    assert!(
        authorizer
            .authorize(&key, Action::ManageBilling, &own_tenant, None)
            .allowed
    );
    let decision = authorizer.authorize(&key, Action::ManageBilling, &own_tenant, Some(&set));
    assert!(!decision.allowed);
    assert_eq!(decision.determining_policies, [custom_id]);

    let admin = user_in(Role::Admin, tenant);
    assert!(
        authorizer
            .authorize(&admin, Action::ManageBilling, &own_tenant, Some(&set))
            .allowed
    );
}

#[test]
fn a_custom_permit_adds_a_permission_inside_the_tenant_only() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let policy = tenant_policy(tenant, "permit(principal, action, resource);");
    let set = authorizer
        .compile_tenant_policies(std::slice::from_ref(&policy))
        .unwrap();
    let viewer = user_in(Role::Viewer, tenant);

    let decision = authorizer.authorize(
        &viewer,
        Action::ManageBilling,
        &Resource::Tenant(tenant),
        Some(&set),
    );
    assert!(decision.allowed);
    assert_eq!(
        decision.determining_policies,
        [format!("tenant_policy.{}", policy.id)]
    );

    let other = TenantId::new();
    for resource in [
        Resource::Tenant(other),
        Resource::User {
            id: UserId::new(),
            tenant_id: other,
        },
    ] {
        let decision = authorizer.authorize(&viewer, Action::ManageUsers, &resource, Some(&set));
        assert!(!decision.allowed, "{decision:?}");
    }
}

#[test]
fn a_policy_set_of_another_tenant_fails_closed() {
    let authorizer = authorizer();
    let set = authorizer
        .compile_tenant_policies(&[tenant_policy(
            TenantId::new(),
            "permit(principal, action, resource);",
        )])
        .unwrap();
    let tenant = TenantId::new();
    let admin = user_in(Role::Admin, tenant);
    let decision = authorizer.authorize(
        &admin,
        Action::ViewTenant,
        &Resource::Tenant(tenant),
        Some(&set),
    );
    assert!(!decision.allowed);
    assert!(decision.errors[0].contains("cannot decide"), "{decision:?}");
}

#[test]
fn an_empty_compilation_behaves_like_the_base_policies() {
    let authorizer = authorizer();
    let set = authorizer.compile_tenant_policies(&[]).unwrap();
    assert_eq!(set.tenant_id(), None);
    let tenant = TenantId::new();
    let viewer = user_in(Role::Viewer, tenant);
    let own = Resource::Tenant(tenant);
    for action in [Action::ViewTenant, Action::ManageBilling] {
        assert_eq!(
            authorizer.authorize(&viewer, action, &own, Some(&set)),
            authorizer.authorize(&viewer, action, &own, None),
        );
    }
}

#[test]
fn an_evaluation_error_denies_even_when_a_permit_matched() {
    // Cedar skips a policy whose condition errors; for a forbid that would mean allowing.
    // Heddle denies instead and reports the error.
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let set = authorizer
        .compile_tenant_policies(&[tenant_policy(
            tenant,
            r#"forbid(principal, action == Heddle::Action::"view_tenant", resource)
               when { 9223372036854775807 + 1 > 0 };"#,
        )])
        .unwrap();
    let admin = user_in(Role::Admin, tenant);
    let decision = authorizer.authorize(
        &admin,
        Action::ViewTenant,
        &Resource::Tenant(tenant),
        Some(&set),
    );
    assert!(!decision.allowed, "{decision:?}");
    assert_eq!(decision.errors.len(), 1, "{decision:?}");
    assert!(decision.errors[0].contains("overflow"), "{decision:?}");
}

#[test]
fn compilation_refuses_mixed_tenants_and_invalid_stored_policies() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let mixed = [
        tenant_policy(tenant, "permit(principal, action, resource);"),
        tenant_policy(TenantId::new(), "permit(principal, action, resource);"),
    ];
    assert!(matches!(
        authorizer.compile_tenant_policies(&mixed),
        Err(PolicyError::MixedTenants { .. })
    ));

    let broken = tenant_policy(tenant, "permit(principal, action, resource) when { nope };");
    let error = authorizer
        .compile_tenant_policies(std::slice::from_ref(&broken))
        .unwrap_err();
    assert!(
        matches!(error, PolicyError::InvalidTenantPolicy { policy_id, .. } if policy_id == broken.id)
    );
}

#[test]
fn schema_and_base_policies_are_published() {
    assert!(heddle_policy::schema_text().contains("namespace Heddle"));
    let base = heddle_policy::base_policies_text();
    let authorizer = authorizer();
    for id in authorizer.base_policy_ids() {
        assert!(base.contains(&format!("@id(\"{id}\")")), "{id}");
    }
}

#[test]
fn a_custom_forbid_can_single_out_capabilities_by_their_attributes() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let policy = tenant_policy(
        tenant,
        r#"@id("no-prod-writes-by-api-keys")
           forbid(principal, action == Heddle::Action::"call_capability", resource)
           when { principal.kind == "api_key" && resource.effect == "write"
                  && resource.environment == "prod" };"#,
    );
    let set = authorizer
        .compile_tenant_policies(std::slice::from_ref(&policy))
        .unwrap();
    let key = principal(Role::Operator, PrincipalKind::ApiKey, tenant, false);
    let call = |effect: &str, environment| {
        let resource = crate::capability_in(tenant, effect, environment);
        authorizer
            .authorize(&key, Action::CallCapability, &resource, Some(&set))
            .allowed
    };
    assert!(!call("write", heddle_types::Environment::Prod));
    assert!(call("read", heddle_types::Environment::Prod));
    assert!(call("write", heddle_types::Environment::Dev));
    // A viewer may not run agents, so not their capabilities either.
    let viewer = user_in(Role::Viewer, tenant);
    let read = crate::capability_in(tenant, "read", heddle_types::Environment::Dev);
    assert!(
        !authorizer
            .authorize(&viewer, Action::CallCapability, &read, Some(&set))
            .allowed
    );
}

#[test]
fn a_tenant_raises_the_review_floor_for_the_calls_it_names() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let policy = tenant_policy(
        tenant,
        r#"@id("prod-writes-need-approval")
           forbid(principal, action == Heddle::Action::"run_without_approval", resource)
           when { resource.effect == "write" && resource.environment == "prod" };"#,
    );
    let set = authorizer
        .compile_tenant_policies(std::slice::from_ref(&policy))
        .unwrap();
    let operator = user_in(Role::Operator, tenant);
    let allowed = |action, effect: &str, environment| {
        let resource = crate::capability_in(tenant, effect, environment);
        authorizer
            .authorize(&operator, action, &resource, Some(&set))
            .allowed
    };
    use heddle_types::Environment::{Dev, Prod};
    assert!(!allowed(Action::RunWithoutApproval, "write", Prod));
    assert!(allowed(Action::RunWithoutApproval, "write", Dev));
    assert!(allowed(Action::RunWithoutApproval, "read", Prod));
    assert!(allowed(Action::RunWithoutConfirmation, "write", Prod));
}

#[test]
fn side_effects_receive_unmasked_arguments_only_where_a_tenant_permits() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let operator = user_in(Role::Operator, tenant);
    let allowed = |set: Option<&heddle_policy::TenantPolicySet>, effect: &str| {
        let resource = crate::capability_in(tenant, effect, heddle_types::Environment::Prod);
        authorizer
            .authorize(&operator, Action::UnmaskArguments, &resource, set)
            .allowed
    };
    assert!(allowed(None, "read"));
    assert!(allowed(None, "write"));
    assert!(!allowed(None, "side_effect"));
    let policy = tenant_policy(
        tenant,
        r#"@id("crm-mail-may-carry-addresses")
           permit(principal, action == Heddle::Action::"unmask_arguments", resource)
           when { resource.name == "update_opportunity_stage" };"#,
    );
    let set = authorizer
        .compile_tenant_policies(std::slice::from_ref(&policy))
        .unwrap();
    assert!(allowed(Some(&set), "side_effect"));
}

#[test]
fn a_custom_forbid_can_close_one_route_in_one_environment() {
    let authorizer = authorizer();
    let tenant = TenantId::new();
    let policy = tenant_policy(
        tenant,
        r#"@id("no-prod-gpt-for-keys")
           forbid(principal, action == Heddle::Action::"use_route", resource)
           when { principal.kind == "api_key" && resource.name == "support_gpt"
                  && resource.environment == "prod" };"#,
    );
    let set = authorizer
        .compile_tenant_policies(std::slice::from_ref(&policy))
        .unwrap();
    let key = principal(Role::Operator, PrincipalKind::ApiKey, tenant, false);
    let allowed = |name: &str, environment| {
        authorizer
            .authorize(
                &key,
                Action::UseRoute,
                &crate::route_in(tenant, name, environment),
                Some(&set),
            )
            .allowed
    };
    assert!(!allowed("support_gpt", heddle_types::Environment::Prod));
    assert!(allowed("support_gpt", heddle_types::Environment::Dev));
    assert!(allowed("other_route", heddle_types::Environment::Prod));
    // Viewers may not use routes at all.
    let viewer = user_in(Role::Viewer, tenant);
    assert!(
        !authorizer
            .authorize(
                &viewer,
                Action::UseRoute,
                &crate::route_in(tenant, "support_gpt", heddle_types::Environment::Dev),
                Some(&set),
            )
            .allowed
    );
}
