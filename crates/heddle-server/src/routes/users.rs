//! Users of the caller's tenant.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_crypto::SecretString;
use heddle_identity::{CreateUser, UpdateUser};
use heddle_types::{Principal, Role, User, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ListPage, ListParams};
use crate::AppState;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use crate::problem::{ApiError, Problem};

/// The authenticated caller: a user, or an application's API key.
#[utoipa::path(get, path = "/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Principal), (status = 401, body = Problem)))]
pub async fn me(caller: Authenticated) -> Json<Principal> {
    Json(caller.principal)
}

/// Users of your tenant, oldest first.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = ListPage<User>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListPage<User>>, ApiError> {
    let page = state
        .identity
        .list_users(&caller.caller(), caller.principal.tenant_id, params.page()?)
        .await?;
    Ok(Json(page.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    email: String,
    display_name: String,
    role: Role,
    /// At least 12 characters. Omit for an account that cannot log in with a password.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Add a user to your tenant.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUserRequest,
    responses((status = 201, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = state
        .identity
        .create_user(
            &caller.caller(),
            CreateUser {
                tenant_id: caller.principal.tenant_id,
                email: request.email,
                display_name: request.display_name,
                role: request.role,
                password: request.password,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user of your tenant.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<User>, ApiError> {
    let user = state
        .identity
        .get_user(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    /// Disabling revokes the user's access tokens at once.
    #[serde(default)]
    disabled: Option<bool>,
    /// Setting a password revokes the user's access tokens.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
}

impl std::fmt::Debug for UpdateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateUserRequest")
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// Change a user's name, role, password or disabled state.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")), request_body = UpdateUserRequest,
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> Result<Json<User>, ApiError> {
    let user = state
        .identity
        .update_user(
            &caller.caller(),
            caller.principal.tenant_id,
            id,
            UpdateUser {
                display_name: request.display_name,
                role: request.role,
                disabled: request.disabled,
                password: request.password,
            },
        )
        .await?;
    Ok(Json(user))
}
