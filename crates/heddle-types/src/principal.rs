//! Who is acting, and on what.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ApiKeyId, Environment, Role, SecretId, TenantId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person with a local account (or, later, an SSO identity).
    User,
    /// An application authenticated with an API key.
    ApiKey,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Principal {
    pub kind: PrincipalKind,
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// Whether the principal's tenant is the operator tenant that may manage other tenants.
    pub operator_tenant: bool,
    pub role: Role,
    pub display_name: String,
    /// For an API key pinned to one gateway route: that route, the only one it may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::RoutePin>,
}

impl Principal {
    pub fn for_user(user: &crate::User, operator_tenant: bool) -> Self {
        Self {
            kind: PrincipalKind::User,
            id: *user.id.as_uuid(),
            tenant_id: user.tenant_id,
            operator_tenant,
            role: user.role,
            display_name: user.display_name.clone(),
            route: None,
        }
    }

    pub fn for_api_key(key: &crate::ApiKey, operator_tenant: bool) -> Self {
        Self {
            kind: PrincipalKind::ApiKey,
            id: *key.id.as_uuid(),
            tenant_id: key.tenant_id,
            operator_tenant,
            role: key.role,
            display_name: key.name.clone(),
            route: key.route.clone(),
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        (self.kind == PrincipalKind::User).then(|| UserId::from_uuid(self.id))
    }

    pub fn api_key_id(&self) -> Option<ApiKeyId> {
        (self.kind == PrincipalKind::ApiKey).then(|| ApiKeyId::from_uuid(self.id))
    }
}

/// What an action is attempted on. Every resource belongs to exactly one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Tenant(TenantId),
    User {
        id: UserId,
        tenant_id: TenantId,
    },
    ApiKey {
        id: ApiKeyId,
        tenant_id: TenantId,
    },
    /// A vault secret; its environment decides who may touch it.
    Secret {
        id: SecretId,
        tenant_id: TenantId,
        environment: Environment,
    },
    /// A capability an agent offers in one environment: what a proposed tool call is
    /// authorized against, so tenant policies can allow or forbid single capabilities.
    Capability(Box<CapabilityResource>),
    /// A gateway route in one environment: what a request to the OpenAI-compatible endpoint
    /// is authorized against.
    Route {
        tenant_id: TenantId,
        environment: Environment,
        name: String,
    },
}

/// The attributes of a [`Resource::Capability`], as Cedar policies see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityResource {
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// The agent that proposed the call.
    pub agent: String,
    /// The capability's name (the tool name the model used).
    pub name: String,
    /// `read`, `write` or `side_effect`.
    pub effect: String,
    /// `public` or `private`.
    pub data: String,
    /// `employee` or `service`.
    pub audience: String,
}

impl Resource {
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Resource::Tenant(id) => *id,
            Resource::User { tenant_id, .. }
            | Resource::ApiKey { tenant_id, .. }
            | Resource::Secret { tenant_id, .. } => *tenant_id,
            Resource::Capability(capability) => capability.tenant_id,
            Resource::Route { tenant_id, .. } => *tenant_id,
        }
    }
}
