//! Integration tests of heddle-policy's public API.

mod custom_policies;
mod matrix;
mod secrets;

use std::sync::LazyLock;

use heddle_policy::Authorizer;
use heddle_types::{
    ApiKeyId, Environment, PolicyId, Principal, PrincipalKind, Resource, Role, SecretId, TenantId,
    TenantPolicy, UserId,
};

/// Built once: construction parses and validates, which is slow in debug builds.
#[expect(
    clippy::expect_used,
    reason = "a test fixture: failing loudly is the point"
)]
static AUTHORIZER: LazyLock<Authorizer> =
    LazyLock::new(|| Authorizer::new().expect("the built-in schema and policies are valid"));

fn authorizer() -> &'static Authorizer {
    &AUTHORIZER
}

fn principal(role: Role, kind: PrincipalKind, tenant_id: TenantId, operator: bool) -> Principal {
    let id = match kind {
        PrincipalKind::User => *UserId::new().as_uuid(),
        PrincipalKind::ApiKey => *ApiKeyId::new().as_uuid(),
    };
    Principal {
        kind,
        id,
        tenant_id,
        operator_tenant: operator,
        role,
        display_name: format!("{role} {kind:?}"),
        route: None,
    }
}

fn user_in(role: Role, tenant_id: TenantId) -> Principal {
    principal(role, PrincipalKind::User, tenant_id, false)
}

/// Every kind of resource inside `tenant_id`, none of them the principal's own identity. The
/// secret is outside `prod`, where the role table holds as written (`secrets.rs` has `prod`).
fn resources_in(tenant_id: TenantId) -> [Resource; 6] {
    [
        Resource::Tenant(tenant_id),
        Resource::User {
            id: UserId::new(),
            tenant_id,
        },
        Resource::ApiKey {
            id: ApiKeyId::new(),
            tenant_id,
        },
        secret_in(tenant_id, Environment::Dev),
        capability_in(tenant_id, "write", Environment::Dev),
        route_in(tenant_id, "support_gpt", Environment::Dev),
    ]
}

fn capability_in(tenant_id: TenantId, effect: &str, environment: Environment) -> Resource {
    Resource::Capability(Box::new(heddle_types::CapabilityResource {
        tenant_id,
        environment,
        agent: "sales_assistant".to_owned(),
        name: "update_opportunity_stage".to_owned(),
        effect: effect.to_owned(),
        data: "private".to_owned(),
        audience: "employee".to_owned(),
    }))
}

fn route_in(tenant_id: TenantId, name: &str, environment: Environment) -> Resource {
    Resource::Route {
        tenant_id,
        environment,
        name: name.to_owned(),
    }
}

fn secret_in(tenant_id: TenantId, environment: Environment) -> Resource {
    Resource::Secret {
        id: SecretId::new(),
        tenant_id,
        environment,
    }
}

fn tenant_policy(tenant_id: TenantId, cedar: &str) -> TenantPolicy {
    TenantPolicy {
        id: PolicyId::new(),
        tenant_id,
        name: "test policy".to_owned(),
        description: String::new(),
        cedar: cedar.to_owned(),
        created_by: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}
