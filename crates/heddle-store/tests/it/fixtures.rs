//! Builders for store inputs and assertions on store errors.

use heddle_store::{
    NewAccessToken, NewApiKey, NewAuditEvent, NewTenant, NewTenantPolicy, NewUser, Store,
    StoreError,
};
use heddle_types::{AccessTokenId, ApiKeyId, PolicyId, Role, Tenant, TenantId, User, UserId};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A fixed instant with a full microsecond part, so round trips are checked to the microsecond.
pub const BASE: OffsetDateTime = datetime!(2026-03-04 05:06:07.123456 UTC);

/// `BASE` plus `seconds` (and a few microseconds, so each instant is distinct to the µs).
pub fn at(seconds: i64) -> OffsetDateTime {
    BASE + Duration::seconds(seconds) + Duration::microseconds(seconds.rem_euclid(997))
}

pub fn new_tenant(slug: &str) -> NewTenant {
    NewTenant {
        id: TenantId::new(),
        slug: slug.to_owned(),
        name: format!("Tenant {slug}"),
        operator: false,
        created_at: at(0),
    }
}

/// The audit event a state change in `tenant_id` hands the store. The canonical bytes are
/// unique (they carry a fresh UUID), so each stored event can be traced back to its call.
pub fn event(tenant_id: TenantId, action: &str) -> NewAuditEvent {
    let marker = uuid::Uuid::now_v7();
    NewAuditEvent {
        tenant_id,
        canonical: format!(r#"{{"action":"{action}","marker":"{marker}"}}"#).into_bytes(),
        occurred_at: at(0),
        action: action.to_owned(),
        actor_kind: "user".to_owned(),
        actor_id: Some("actor-1".to_owned()),
        outcome: "success".to_owned(),
    }
}

pub async fn tenant(store: &dyn Store, slug: &str) -> Tenant {
    let input = new_tenant(slug);
    let audit = event(input.id, "tenant.create");
    store.create_tenant(input, audit).await.unwrap()
}

pub fn new_user(tenant_id: TenantId, email: &str, role: Role) -> NewUser {
    NewUser {
        id: UserId::new(),
        tenant_id,
        email: email.to_owned(),
        display_name: format!("User {email}"),
        role,
        password_hash: Some(format!("$argon2id$v=19$m=8,t=1,p=1${email}")),
        created_at: at(1),
    }
}

pub async fn user(store: &dyn Store, tenant_id: TenantId, email: &str, role: Role) -> User {
    store
        .create_user(
            new_user(tenant_id, email, role),
            event(tenant_id, "user.create"),
        )
        .await
        .unwrap()
}

pub fn new_api_key(tenant_id: TenantId, lookup: &str) -> NewApiKey {
    NewApiKey {
        id: ApiKeyId::new(),
        tenant_id,
        name: format!("key {lookup}"),
        prefix: format!("hdl_{lookup}"),
        lookup: lookup.to_owned(),
        secret_hash: lookup.bytes().rev().chain([0, 255, 7]).collect(),
        role: Role::Builder,
        created_by: None,
        created_at: at(2),
        expires_at: Some(at(86_400)),
        route: None,
    }
}

pub fn new_access_token(tenant_id: TenantId, user_id: UserId, lookup: &str) -> NewAccessToken {
    NewAccessToken {
        id: AccessTokenId::new(),
        tenant_id,
        user_id,
        lookup: lookup.to_owned(),
        secret_hash: lookup.bytes().chain([0, 1, 2, 255]).collect(),
        created_at: at(3),
        expires_at: at(3_600),
    }
}

pub fn new_policy(tenant_id: TenantId, name: &str) -> NewTenantPolicy {
    NewTenantPolicy {
        id: PolicyId::new(),
        tenant_id,
        name: name.to_owned(),
        description: format!("policy {name}"),
        cedar: format!(
            "forbid (principal, action, resource) when {{ context.name == \"{name}\" }};"
        ),
        created_by: None,
        created_at: at(4),
    }
}

#[track_caller]
pub fn assert_not_found(err: StoreError, expected_entity: &str, expected_id: impl ToString) {
    match err {
        StoreError::NotFound { entity, id } => {
            assert_eq!(entity, expected_entity);
            assert_eq!(id, expected_id.to_string());
        }
        other => panic!("expected {expected_entity} not found, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_conflict(
    err: StoreError,
    expected_entity: &str,
    expected_field: &str,
    expected_value: &str,
) {
    match err {
        StoreError::Conflict {
            entity,
            field,
            value,
        } => {
            assert_eq!(
                (entity, field, value.as_str()),
                (expected_entity, expected_field, expected_value)
            );
        }
        other => panic!("expected {expected_entity} {expected_field} conflict, got {other:?}"),
    }
}
