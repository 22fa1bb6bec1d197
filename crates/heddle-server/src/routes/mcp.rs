//! MCP over streamable HTTP at `/mcp/{environment}/{agent}`: the request is authenticated like
//! any API request (bearer API key or access token; 401 with `WWW-Authenticate: Bearer`
//! otherwise), and the principal and agent travel with it into the rmcp service, which checks
//! `Origin` and `Host`, keeps MCP sessions and runs each call through the runtime.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use heddle_mcp::McpRequest;
use heddle_runtime::DirectTarget;
use heddle_types::Environment;
use tower::ServiceExt;

use crate::AppState;
use crate::extract::{ApiPath, Authenticated};
use crate::middleware::ProtocolBody;
use crate::problem::{ApiError, Problem};

/// Any method: the transport answers POST (messages), GET (the server's event stream) and
/// DELETE (ending a session) itself, and 405 for the rest.
pub async fn endpoint(
    State(state): State<AppState>,
    ApiPath((environment, agent)): ApiPath<(Environment, String)>,
    authenticated: Authenticated,
    mut request: Request,
) -> Result<Response, ApiError> {
    let Some(endpoint) = &state.mcp else {
        return Err(Problem::from_status(http::StatusCode::NOT_FOUND).into());
    };
    request.extensions_mut().insert(McpRequest {
        tenant_id: authenticated.principal.tenant_id,
        caller: authenticated.caller(),
        target: DirectTarget { environment, agent },
    });
    let response = match endpoint.service().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(protocol_response(
        response.map(axum::body::Body::new).into_response(),
    ))
}

/// The MCP gateway for one upstream server declared in the environment's configuration
/// (`kind: McpServer`): its exposed tools, each call through the gateway's pipeline, as the
/// request's own authenticated principal.
pub async fn upstream_endpoint(
    State(state): State<AppState>,
    ApiPath((environment, server)): ApiPath<(Environment, String)>,
    authenticated: Authenticated,
    mut request: Request,
) -> Result<Response, ApiError> {
    let Some(endpoint) = &state.mcp_upstream else {
        return Err(Problem::from_status(http::StatusCode::NOT_FOUND).into());
    };
    request
        .extensions_mut()
        .insert(heddle_mcp::UpstreamMcpRequest {
            tenant_id: authenticated.principal.tenant_id,
            caller: authenticated.caller(),
            environment,
            server,
        });
    let response = match endpoint.service().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(protocol_response(
        response.map(axum::body::Body::new).into_response(),
    ))
}

fn protocol_response(mut response: Response) -> Response {
    // A JSON-RPC error (400 with a JSON body) is the MCP client's to read as it is; plain-text
    // refusals of the transport (403, 404, 406 …) become problem documents like any other.
    let json_rpc = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if json_rpc {
        response.extensions_mut().insert(ProtocolBody);
    }
    response
}
