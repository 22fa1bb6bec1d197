//! Building the Cedar request for one decision. Everything constant (type names, role and
//! action uids) is parsed once in [`EntityCatalog::new`]; per call only the uids carrying
//! UUIDs and the three or four request entities are built.

use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
};
use heddle_types::{Action, Principal, PrincipalKind, Resource, Role, TenantId};

use crate::PolicyError;

/// Which Heddle resource kinds each action applies to; mirrors the schema's `appliesTo`
/// (a test checks they agree). Requests outside it are denied before evaluation, so custom
/// policies only ever run in the environments they were validated for.
pub(crate) fn action_applies_to(action: Action, resource: &Resource) -> bool {
    use Action::*;
    match resource {
        Resource::Tenant(_) => !matches!(
            action,
            ViewSelf
                | CallCapability
                | RunWithoutConfirmation
                | RunWithoutApproval
                | UnmaskArguments
                | UseRoute
        ),
        Resource::User { .. } => matches!(action, ManageUsers | ViewUsers | ViewSelf),
        Resource::ApiKey { .. } => matches!(action, ManageApiKeys | ViewSelf),
        Resource::Secret { .. } => matches!(action, ManageSecrets | ViewSecrets),
        Resource::Capability(_) => matches!(
            action,
            CallCapability | RunWithoutConfirmation | RunWithoutApproval | UnmaskArguments
        ),
        Resource::Route { .. } => action == UseRoute,
    }
}

pub(crate) fn resource_type_name(resource: &Resource) -> &'static str {
    match resource {
        Resource::Tenant(_) => "Tenant",
        Resource::User { .. } => "User",
        Resource::ApiKey { .. } => "ApiKey",
        Resource::Secret { .. } => "Secret",
        Resource::Capability(_) => "Capability",
        Resource::Route { .. } => "Route",
    }
}

#[derive(Debug)]
pub(crate) struct EntityCatalog {
    principal_type: EntityTypeName,
    tenant_type: EntityTypeName,
    user_type: EntityTypeName,
    api_key_type: EntityTypeName,
    secret_type: EntityTypeName,
    capability_type: EntityTypeName,
    route_type: EntityTypeName,
    /// Tenant, User, ApiKey, Secret, Capability, Route: the order of
    /// `policy_index::resource_kind_index`.
    resource_types: [EntityTypeName; 6],
    /// Indexed like [`Role::ALL`].
    roles: Vec<EntityUid>,
    /// Indexed like [`Action::ALL`].
    actions: Vec<EntityUid>,
}

/// The uids and entities of one request.
pub(crate) struct RequestParts {
    pub(crate) request: Request,
    pub(crate) entities: Entities,
}

impl EntityCatalog {
    pub(crate) fn new() -> Result<Self, PolicyError> {
        let type_name = |name: &str| {
            EntityTypeName::from_str(name).map_err(|error| PolicyError::InvalidSchema {
                reason: format!("entity type `{name}`: {error}"),
            })
        };
        let role_type = type_name("Heddle::Role")?;
        let action_type = type_name("Heddle::Action")?;
        let tenant_type = type_name("Heddle::Tenant")?;
        let user_type = type_name("Heddle::User")?;
        let api_key_type = type_name("Heddle::ApiKey")?;
        let secret_type = type_name("Heddle::Secret")?;
        let capability_type = type_name("Heddle::Capability")?;
        let route_type = type_name("Heddle::Route")?;
        Ok(Self {
            principal_type: type_name("Heddle::Principal")?,
            resource_types: [
                tenant_type.clone(),
                user_type.clone(),
                api_key_type.clone(),
                secret_type.clone(),
                capability_type.clone(),
                route_type.clone(),
            ],
            tenant_type,
            user_type,
            api_key_type,
            secret_type,
            capability_type,
            route_type,
            roles: Role::ALL
                .iter()
                .map(|role| {
                    EntityUid::from_type_name_and_id(
                        role_type.clone(),
                        EntityId::new(role.cedar_id()),
                    )
                })
                .collect(),
            actions: Action::ALL
                .iter()
                .map(|action| {
                    EntityUid::from_type_name_and_id(
                        action_type.clone(),
                        EntityId::new(action.as_str()),
                    )
                })
                .collect(),
        })
    }

    pub(crate) fn resource_type_names(&self) -> &[EntityTypeName] {
        &self.resource_types
    }

    pub(crate) fn role_uid(&self, role: Role) -> Option<&EntityUid> {
        let index = Role::ALL.iter().position(|candidate| *candidate == role)?;
        self.roles.get(index)
    }

    pub(crate) fn action_uid(&self, action: Action) -> Option<&EntityUid> {
        let index = Action::ALL
            .iter()
            .position(|candidate| *candidate == action)?;
        self.actions.get(index)
    }

    fn tenant_uid(&self, tenant_id: TenantId) -> EntityUid {
        uid(&self.tenant_type, tenant_id)
    }

    fn resource_uid(&self, resource: &Resource) -> EntityUid {
        match resource {
            Resource::Tenant(id) => self.tenant_uid(*id),
            Resource::User { id, .. } => uid(&self.user_type, id),
            Resource::ApiKey { id, .. } => uid(&self.api_key_type, id),
            Resource::Secret { id, .. } => uid(&self.secret_type, id),
            // Unique within the request, which is all an entity id needs to be here.
            Resource::Capability(capability) => uid(
                &self.capability_type,
                format_args!("{}/{}", capability.agent, capability.name),
            ),
            Resource::Route {
                environment, name, ..
            } => uid(&self.route_type, format_args!("{environment}/{name}")),
        }
    }

    /// The request and the entities it can reach: the principal (a child of its role), the
    /// principal's tenant, the principal's own user or API key, and the resource. Another
    /// tenant's entity is never present: its attributes are not known here, and the
    /// isolation policies deny such requests before they would matter.
    pub(crate) fn request_parts(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Result<RequestParts, String> {
        let role_uid = self
            .role_uid(principal.role)
            .ok_or_else(|| format!("role `{}` has no cedar entity", principal.role))?;
        let action_uid = self
            .action_uid(action)
            .ok_or_else(|| format!("action `{action}` has no cedar entity"))?;
        let tenant_uid = self.tenant_uid(principal.tenant_id);
        let principal_uid = uid(&self.principal_type, principal.id);
        let (identity_attr, identity_uid) = match principal.kind {
            PrincipalKind::User => ("user", uid(&self.user_type, principal.id)),
            PrincipalKind::ApiKey => ("api_key", uid(&self.api_key_type, principal.id)),
        };
        let resource_uid = self.resource_uid(resource);

        let mut entities = Vec::with_capacity(4);
        entities.push(entity(
            principal_uid.clone(),
            [
                (
                    "tenant",
                    RestrictedExpression::new_entity_uid(tenant_uid.clone()),
                ),
                (
                    "kind",
                    RestrictedExpression::new_string(kind_name(principal.kind).to_owned()),
                ),
                (
                    "role",
                    RestrictedExpression::new_string(principal.role.as_str().to_owned()),
                ),
                (
                    identity_attr,
                    RestrictedExpression::new_entity_uid(identity_uid.clone()),
                ),
            ],
            Some(role_uid.clone()),
        )?);
        entities.push(entity(
            tenant_uid.clone(),
            [(
                "operator",
                RestrictedExpression::new_bool(principal.operator_tenant),
            )],
            None,
        )?);
        if identity_uid != resource_uid {
            entities.push(entity(
                identity_uid,
                [(
                    "tenant",
                    RestrictedExpression::new_entity_uid(tenant_uid.clone()),
                )],
                None,
            )?);
        }
        match resource {
            Resource::Tenant(_) => {}
            &Resource::User { tenant_id, .. } | &Resource::ApiKey { tenant_id, .. } => {
                entities.push(entity(
                    resource_uid.clone(),
                    [(
                        "tenant",
                        RestrictedExpression::new_entity_uid(self.tenant_uid(tenant_id)),
                    )],
                    None,
                )?);
            }
            &Resource::Secret {
                tenant_id,
                environment,
                ..
            } => {
                entities.push(entity(
                    resource_uid.clone(),
                    [
                        (
                            "tenant",
                            RestrictedExpression::new_entity_uid(self.tenant_uid(tenant_id)),
                        ),
                        (
                            "environment",
                            RestrictedExpression::new_string(environment.as_str().to_owned()),
                        ),
                    ],
                    None,
                )?);
            }
            Resource::Capability(capability) => {
                let text = |value: &str| RestrictedExpression::new_string(value.to_owned());
                entities.push(entity(
                    resource_uid.clone(),
                    [
                        (
                            "tenant",
                            RestrictedExpression::new_entity_uid(
                                self.tenant_uid(capability.tenant_id),
                            ),
                        ),
                        ("environment", text(capability.environment.as_str())),
                        ("agent", text(&capability.agent)),
                        ("name", text(&capability.name)),
                        ("effect", text(&capability.effect)),
                        ("data", text(&capability.data)),
                        ("audience", text(&capability.audience)),
                    ],
                    None,
                )?);
            }
            Resource::Route {
                tenant_id,
                environment,
                name,
            } => {
                entities.push(entity(
                    resource_uid.clone(),
                    [
                        (
                            "tenant",
                            RestrictedExpression::new_entity_uid(self.tenant_uid(*tenant_id)),
                        ),
                        (
                            "environment",
                            RestrictedExpression::new_string(environment.as_str().to_owned()),
                        ),
                        ("name", RestrictedExpression::new_string(name.clone())),
                    ],
                    None,
                )?);
            }
        }

        // `add_entities` on an empty store repairs the hierarchy only for the entities
        // added; `from_entities` runs a general cycle-aware closure that costs a third of
        // the whole decision. The result is the same store.
        let entities = Entities::empty()
            .add_entities(entities, None)
            .map_err(|error| format!("request entities are inconsistent: {error}"))?;
        let request = Request::new(
            principal_uid,
            action_uid.clone(),
            resource_uid,
            Context::empty(),
            None,
        )
        .map_err(|error| format!("request is invalid: {error}"))?;
        Ok(RequestParts { request, entities })
    }
}

fn uid(type_name: &EntityTypeName, id: impl ToString) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id.to_string()))
}

fn entity<const N: usize>(
    uid: EntityUid,
    attrs: [(&str, RestrictedExpression); N],
    parent: Option<EntityUid>,
) -> Result<Entity, String> {
    Entity::new_with_tags(
        uid,
        attrs.map(|(name, value)| (name.to_owned(), value)),
        parent,
        [],
    )
    .map_err(|error| format!("request entity is invalid: {error}"))
}

const fn kind_name(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "user",
        PrincipalKind::ApiKey => "api_key",
    }
}
