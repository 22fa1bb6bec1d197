//! Tenants: your own, and — for admins of the operator tenant — all of them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_crypto::ExposeSecret;
use heddle_identity::CreateTenant;
use heddle_types::{Tenant, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ListPage, ListParams};
use crate::AppState;
use crate::extract::{ApiJson, ApiQuery, Authenticated};
use crate::problem::{ApiError, Problem};

/// The caller's tenant.
#[utoipa::path(get, path = "/v1/tenant", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = Tenant), (status = 401, body = Problem)))]
pub async fn current_tenant(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Tenant>, ApiError> {
    let tenant = state
        .identity
        .get_tenant(&caller.caller(), caller.principal.tenant_id)
        .await?;
    Ok(Json(tenant))
}

/// All tenants (operator tenant admins only).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = ListPage<Tenant>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListPage<Tenant>>, ApiError> {
    let page = state
        .identity
        .list_tenants(&caller.caller(), params.page()?)
        .await?;
    Ok(Json(page.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// 2–63 lowercase letters, digits or `-`; used at login.
    slug: String,
    name: String,
    admin_email: String,
    admin_display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTenantResponse {
    tenant: Tenant,
    admin: User,
    /// The first admin's password. Shown only in this response.
    admin_password: String,
}

/// Create a tenant with its first admin (operator tenant admins only).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])), request_body = CreateTenantRequest,
    responses((status = 201, body = CreatedTenantResponse), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreateTenantRequest>,
) -> Result<(StatusCode, Json<CreatedTenantResponse>), ApiError> {
    let created = state
        .identity
        .create_tenant(
            &caller.caller(),
            CreateTenant {
                slug: request.slug,
                name: request.name,
                admin_email: request.admin_email,
                admin_display_name: request.admin_display_name,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenantResponse {
            tenant: created.tenant,
            admin: created.admin,
            admin_password: created.admin_password.expose_secret().to_owned(),
        }),
    ))
}
