//! One authorization decision, against baselines in the same run:
//! - `plain_match`: a hard-coded role × action `match`, the cheapest possible check;
//! - `cedar_base`: Admin, manage_users, own tenant, base policies (the target: ≤ 10 µs);
//! - `cedar_denied`: a Viewer asking the same (no permit matches);
//! - `cedar_with_tenant_policies`: the same request with three custom policies compiled in.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use heddle_policy::Authorizer;
use heddle_types::{
    Action, Principal, PrincipalKind, Resource, Role, TenantId, TenantPolicy, UserId,
};

fn plain_match(role: Role, action: Action) -> bool {
    matches!(
        (role, action),
        (Role::Admin, _)
            | (
                Role::Builder,
                Action::CreateAgent | Action::EditAgent | Action::DeleteAgent
            )
            | (Role::Builder | Role::Operator, Action::ExecuteAgent)
            | (_, Action::ViewExecutions | Action::ViewTenant)
    )
}

fn principal(role: Role, tenant_id: TenantId) -> Principal {
    Principal {
        kind: PrincipalKind::User,
        id: *UserId::new().as_uuid(),
        tenant_id,
        operator_tenant: false,
        role,
        display_name: "bench".to_owned(),
        route: None,
    }
}

fn tenant_policy(tenant_id: TenantId, cedar: &str) -> TenantPolicy {
    TenantPolicy {
        id: heddle_types::PolicyId::new(),
        tenant_id,
        name: "bench".to_owned(),
        description: String::new(),
        cedar: cedar.to_owned(),
        created_by: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

fn authorize(c: &mut Criterion) {
    let Ok(authorizer) = Authorizer::new() else {
        eprintln!("the authorizer failed to build");
        return;
    };
    let tenant = TenantId::new();
    let admin = principal(Role::Admin, tenant);
    let viewer = principal(Role::Viewer, tenant);
    let resource = Resource::Tenant(tenant);
    let Ok(tenant_policies) = authorizer.compile_tenant_policies(&[
        tenant_policy(
            tenant,
            r#"forbid(principal, action == Heddle::Action::"manage_billing", resource)
               when { principal.kind == "api_key" };"#,
        ),
        tenant_policy(
            tenant,
            r#"permit(principal in Heddle::Role::"Builder",
                      action == Heddle::Action::"view_audit_log", resource);"#,
        ),
        tenant_policy(
            tenant,
            r#"forbid(principal, action == Heddle::Action::"delete_agent", resource)
               unless { principal in Heddle::Role::"Admin" };"#,
        ),
    ]) else {
        eprintln!("the tenant policies failed to compile");
        return;
    };

    let mut group = c.benchmark_group("authorize");
    group.bench_function("plain_match", |b| {
        b.iter(|| plain_match(black_box(Role::Admin), black_box(Action::ManageUsers)))
    });
    group.bench_function("cedar_base", |b| {
        b.iter(|| {
            authorizer.authorize(
                black_box(&admin),
                black_box(Action::ManageUsers),
                black_box(&resource),
                None,
            )
        })
    });
    group.bench_function("cedar_denied", |b| {
        b.iter(|| {
            authorizer.authorize(
                black_box(&viewer),
                black_box(Action::ManageUsers),
                black_box(&resource),
                None,
            )
        })
    });
    group.bench_function("cedar_with_tenant_policies", |b| {
        b.iter(|| {
            authorizer.authorize(
                black_box(&admin),
                black_box(Action::ManageUsers),
                black_box(&resource),
                Some(&tenant_policies),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, authorize);
criterion_main!(benches);
