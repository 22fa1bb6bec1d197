//! The MCP gateway's admin API: an upstream server's live listing against its approved
//! pins, approving a tool's definition at the fingerprint the admin reviewed, revoking an
//! approval. Thin: one runtime function each (Cedar `manage_mcp_servers`, admins by default).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_runtime::UpstreamToolsView;
use heddle_types::Environment;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::{ApiJson, ApiPath, Authenticated};
use crate::problem::{ApiError, Problem};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The tool's fingerprint as the listing showed it (64 hex characters); the approval
    /// holds only if the server lists exactly this definition now.
    fingerprint: String,
}

/// The upstream server's tools as it lists them now, against the approved pins: `exposed`
/// (with `fingerprint`), `withheld` (`tool`, `fingerprint`, `reason`: `new`, `changed` with
/// `fields`, or `duplicate`), `not_allowed`, `removed`, `malformed`.
#[utoipa::path(get, path = "/v1/mcp-servers/{environment}/{server}/tools", tag = "mcp",
    security(("bearer" = [])),
    params(("environment" = String, Path, description = "dev, staging or prod"),
           ("server" = String, Path, description = "The `McpServer` name")),
    responses((status = 200, body = Object, description = "The reconciled listing"),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn list_tools(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath((environment, server)): ApiPath<(Environment, String)>,
) -> Result<Json<UpstreamToolsView>, ApiError> {
    let view = state
        .runtime
        .mcp_server_tools(
            &caller.caller(),
            caller.principal.tenant_id,
            environment,
            &server,
        )
        .await?;
    Ok(Json(view))
}

/// Approve a tool's current definition: refused (409) unless the server lists the tool
/// now, allowed, with exactly `fingerprint`.
#[utoipa::path(post, path = "/v1/mcp-servers/{environment}/{server}/tools/{tool}/approval", tag = "mcp",
    security(("bearer" = [])),
    params(("environment" = String, Path, description = "dev, staging or prod"),
           ("server" = String, Path, description = "The `McpServer` name"),
           ("tool" = String, Path, description = "The upstream tool name")),
    request_body = ApprovalRequest,
    responses((status = 200, body = Object, description = "The pin: `tool`, `fingerprint`, `definition`"),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn approve_tool(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath((environment, server, tool)): ApiPath<(Environment, String, String)>,
    ApiJson(request): ApiJson<ApprovalRequest>,
) -> Result<Json<Value>, ApiError> {
    let fingerprint = request.fingerprint.trim();
    if fingerprint.len() != 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "Invalid field",
            "`fingerprint` is the 64 hex characters the listing showed.",
        )
        .into());
    }
    let pin = state
        .runtime
        .approve_mcp_tool(
            &caller.caller(),
            caller.principal.tenant_id,
            environment,
            &server,
            &tool,
            fingerprint,
        )
        .await?;
    Ok(Json(pin))
}

/// Revoke a tool's approval: it is withheld again until re-approved.
#[utoipa::path(delete, path = "/v1/mcp-servers/{environment}/{server}/tools/{tool}/approval", tag = "mcp",
    security(("bearer" = [])),
    params(("environment" = String, Path, description = "dev, staging or prod"),
           ("server" = String, Path, description = "The `McpServer` name"),
           ("tool" = String, Path, description = "The upstream tool name")),
    responses((status = 204, description = "Revoked"),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub async fn revoke_tool(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath((environment, server, tool)): ApiPath<(Environment, String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .runtime
        .revoke_mcp_tool(
            &caller.caller(),
            caller.principal.tenant_id,
            environment,
            &server,
            &tool,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
