//! API keys of the caller's tenant.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_crypto::ExposeSecret;
use heddle_identity::CreateApiKey;
use heddle_types::{ApiKey, ApiKeyId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ListPage, ListParams};
use crate::AppState;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use crate::problem::{ApiError, Problem};

/// API keys of your tenant (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = ListPage<ApiKey>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListPage<ApiKey>>, ApiError> {
    let page = state
        .identity
        .list_api_keys(&caller.caller(), caller.principal.tenant_id, params.page()?)
        .await?;
    Ok(Json(page.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    name: String,
    /// The role the key acts with.
    role: Role,
    /// Optional expiry (RFC 3339); the key stops working at that instant.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<time::OffsetDateTime>,
    /// Pins the key to this gateway route: it can use only that route through the
    /// OpenAI-compatible endpoint (`/v1/chat/completions`, `/v1/embeddings`).
    #[serde(default)]
    route: Option<String>,
    /// The environment of `route`: `dev`, `staging` or `prod` (default `prod`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    environment: Option<heddle_types::Environment>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    key: ApiKey,
    /// The secret key. Shown only in this response; store it now.
    token: String,
}

/// Create an API key. The response is the only time the secret is shown.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let issued = state
        .identity
        .create_api_key(
            &caller.caller(),
            CreateApiKey {
                tenant_id: caller.principal.tenant_id,
                name: request.name,
                role: request.role,
                expires_at: request.expires_at,
                route: pin(request.route, request.environment)?,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: issued.key,
            token: issued.token.expose_secret().to_owned(),
        }),
    ))
}

/// The route pin of a key request: `environment` only with `route`.
fn pin(
    route: Option<String>,
    environment: Option<heddle_types::Environment>,
) -> Result<Option<heddle_types::RoutePin>, ApiError> {
    match (route, environment) {
        (Some(route), environment) => Ok(Some(heddle_types::RoutePin {
            environment: environment.unwrap_or(heddle_types::Environment::Prod),
            route,
        })),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "Invalid field",
            "`environment` pins a key together with `route`; name the route too.",
        )
        .into()),
    }
}

/// One API key.
#[utoipa::path(get, path = "/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "API key id")),
    responses((status = 200, body = ApiKey), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_api_key(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKey>, ApiError> {
    let key = state
        .identity
        .get_api_key(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(key))
}

/// Revoke an API key; it stops working at once. Revoking twice is harmless.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "API key id")),
    responses((status = 200, body = ApiKey), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKey>, ApiError> {
    let key = state
        .identity
        .revoke_api_key(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(key))
}
