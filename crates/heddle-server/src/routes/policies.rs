//! A tenant's custom Cedar policies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_identity::CreatePolicy;
use heddle_types::{PolicyId, TenantPolicy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::{ApiJson, ApiPath, Authenticated};
use crate::problem::{ApiError, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    items: Vec<TenantPolicy>,
}

/// Your tenant's custom policies.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = PolicyList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_policies(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<PolicyList>, ApiError> {
    let items = state
        .identity
        .list_policies(&caller.caller(), caller.principal.tenant_id)
        .await?;
    Ok(Json(PolicyList { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicyRequest {
    name: String,
    #[serde(default)]
    description: String,
    /// Cedar policy text, validated against the schema at GET /v1/policies/schema.
    cedar: String,
}

/// Add a custom policy. It is validated against Heddle's Cedar schema first; tenant
/// isolation cannot be overridden by any custom policy.
#[utoipa::path(post, path = "/v1/policies", tag = "policies", security(("bearer" = [])), request_body = CreatePolicyRequest,
    responses((status = 201, body = TenantPolicy), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_policy(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreatePolicyRequest>,
) -> Result<(StatusCode, Json<TenantPolicy>), ApiError> {
    let policy = state
        .identity
        .create_policy(
            &caller.caller(),
            CreatePolicy {
                tenant_id: caller.principal.tenant_id,
                name: request.name,
                description: request.description,
                cedar: request.cedar,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicySchema {
    /// The Cedar schema custom policies are validated against.
    schema: &'static str,
    /// The built-in policies (the role matrix and tenant isolation).
    base_policies: &'static str,
}

/// The Cedar schema and the built-in policies.
#[utoipa::path(get, path = "/v1/policies/schema", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = PolicySchema), (status = 401, body = Problem)))]
pub async fn policy_schema(_caller: Authenticated) -> Json<PolicySchema> {
    Json(PolicySchema {
        schema: heddle_policy::schema_text(),
        base_policies: heddle_policy::base_policies_text(),
    })
}

/// One custom policy.
#[utoipa::path(get, path = "/v1/policies/{id}", tag = "policies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")),
    responses((status = 200, body = TenantPolicy), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_policy(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<PolicyId>,
) -> Result<Json<TenantPolicy>, ApiError> {
    let policy = state
        .identity
        .get_policy(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(policy))
}

/// Remove a custom policy.
#[utoipa::path(delete, path = "/v1/policies/{id}", tag = "policies", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_policy(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<PolicyId>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .delete_policy(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
