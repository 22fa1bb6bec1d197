//! The roles and what each may do in the caller's tenant, as the policies decide it now.

use axum::Json;
use axum::extract::State;
use heddle_types::{Action, Principal, PrincipalKind, Resource, Role};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::Authenticated;
use crate::problem::{ApiError, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct RolePermissions {
    role: Role,
    /// Actions this role may take on its own tenant, including the effect of custom policies.
    allowed: Vec<Action>,
}

/// The permission matrix, evaluated by the same policies that guard every request.
#[utoipa::path(get, path = "/v1/roles", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = Vec<RolePermissions>), (status = 401, body = Problem)))]
pub async fn list_roles(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<RolePermissions>>, ApiError> {
    let tenant_id = caller.principal.tenant_id;
    let mut roles = Vec::with_capacity(Role::ALL.len());
    for role in Role::ALL {
        let probe = Principal {
            kind: PrincipalKind::User,
            id: uuid::Uuid::nil(),
            tenant_id,
            operator_tenant: caller.principal.operator_tenant,
            role,
            display_name: String::new(),
            route: None,
        };
        let mut allowed = Vec::new();
        for action in Action::ALL
            .into_iter()
            .filter(|action| *action != Action::ViewSelf)
        {
            if state
                .identity
                .is_allowed(&probe, action, Resource::Tenant(tenant_id))
                .await?
            {
                allowed.push(action);
            }
        }
        roles.push(RolePermissions { role, allowed });
    }
    Ok(Json(roles))
}
