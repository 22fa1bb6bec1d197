//! Password login for people; applications use API keys instead.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use heddle_crypto::{ExposeSecret, SecretString};
use heddle_types::Principal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::{ApiJson, Authenticated, RequestInfo, bearer_credential};
use crate::middleware::{ClientIp, check_rate_limit};
use crate::problem::{ApiError, Problem};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Tenant slug; defaults to the operator tenant `default`.
    #[serde(default)]
    tenant: Option<String>,
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("tenant", &self.tenant)
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <access_token>`. Shown once.
    access_token: String,
    token_type: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: time::OffsetDateTime,
    principal: Principal,
}

/// Exchange an email and password for a short-lived access token.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem),
              (status = 429, body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    context: RequestInfo,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let tenant = request
        .tenant
        .unwrap_or_else(|| heddle_identity::OPERATOR_TENANT_SLUG.to_owned());
    // Both the address and the account are limited: one slows a spray across accounts,
    // the other a distributed guess at one account.
    check_rate_limit(&state, "login-ip", &ip.to_string(), state.quotas.login).await?;
    let account = format!("{tenant}/{}", request.email.trim().to_lowercase());
    check_rate_limit(&state, "login-account", &account, state.quotas.login).await?;
    let issued = state
        .identity
        .login(&tenant, &request.email, &request.password, &context.0)
        .await?;
    Ok(Json(LoginResponse {
        access_token: issued.token.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_at: issued.expires_at,
        principal: issued.principal,
    }))
}

/// Revoke the access token used for this request.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 400, body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    if caller.principal.api_key_id().is_some() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "not-an-access-token",
            "Not an access token",
            "Logout revokes login access tokens. Revoke an API key with DELETE /v1/api-keys/{id}.",
        )
        .into());
    }
    let credential = bearer_credential(&headers).unwrap_or_default();
    state.identity.logout(credential, &caller.caller()).await?;
    Ok(StatusCode::NO_CONTENT)
}
