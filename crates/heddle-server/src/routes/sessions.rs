//! Sessions with declared agents, their turns and executions, and customer verification on
//! service channels. Each handler parses, calls one `heddle-runtime` function and maps the
//! result; the runtime walks the governed path (contract check, Cedar, user-mode records,
//! budgets) and records every step.
//!
//! Message text, email addresses and codes are read with [`SecretJson`], whose errors never
//! quote the input, and are never logged.
//!
//! `POST /v1/sessions/{id}/messages` answers when the turn ends, which may take up to the
//! agent's `turn_timeout_seconds`: `http.request_timeout_secs` does not apply to it (see
//! `limit_request_time`). A client that goes away does not stop the turn; its outcome stays
//! readable at `GET /v1/executions/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_runtime::{
    CreateSession, ExecutionView, SessionView, TurnOutcome, VerificationConfirmed,
    VerificationStarted,
};
use heddle_types::{Environment, ExecutionId, SessionId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::secrets::SecretJson;
use super::{ListPage, ListParams};
use crate::AppState;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use crate::problem::{ApiError, Problem};

fn default_environment() -> Environment {
    Environment::Dev
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// The name of an agent of the environment's current configuration.
    agent: String,
    /// `dev` (default), `staging` or `prod`; the session keeps that configuration version.
    #[serde(default = "default_environment")]
    #[schema(value_type = Option<String>)]
    environment: Environment,
    /// The record the conversation is about (the page the person is on), 15 or 18
    /// characters; capabilities may bind it as `session_record_id`.
    #[serde(default)]
    record_id: Option<String>,
}

/// Open a session with an agent (`execute_agent`). An employee agent runs as the person
/// asking, who must be a user of the tenant's record org; a service agent serves a customer
/// on a channel (an API key or a person) and verifies them by email before private
/// capabilities run.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])),
    request_body = CreateSessionRequest,
    responses((status = 201, body = Object, description = "The session"), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn create_session(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreateSessionRequest>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let session = state
        .runtime
        .create_session(
            &caller.caller(),
            caller.principal.tenant_id,
            CreateSession {
                agent: request.agent,
                environment: request.environment,
                record_id: request.record_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// `?mine=&agent=` beside the usual `?after=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionListParams {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// Only sessions you opened.
    #[serde(default)]
    mine: bool,
    /// Only sessions with this agent.
    agent: Option<String>,
}

/// Sessions of your tenant, newest first (`view_executions`). A page may hold fewer items
/// than `limit`; follow `next_cursor` until it is absent.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])), params(SessionListParams),
    responses((status = 200, body = Object, description = "`items` (sessions) and `next_cursor`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(params): ApiQuery<SessionListParams>,
) -> Result<Json<ListPage<SessionView>>, ApiError> {
    // Answers go out before their gateway record's close commits; read after it.
    state.gateway.flush_records().await;
    let page = ListParams {
        after: params.after,
        limit: params.limit,
    }
    .page()?;
    let sessions = state
        .runtime
        .list_sessions(
            &caller.caller(),
            caller.principal.tenant_id,
            params.mine,
            params.agent,
            page,
        )
        .await?;
    Ok(Json(sessions.into()))
}

/// One session with its turns (`view_executions`).
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Object, description = "The session with `turns`"), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_session(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Json<SessionView>, ApiError> {
    state.gateway.flush_records().await;
    let session = state
        .runtime
        .get_session(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// What the person says; up to 32,768 characters.
    content: String,
}

/// Send a message and run the turn: the model and the agent's capabilities go back and forth
/// until the model answers or a limit, budget or failure ends it. Only the principal who
/// opened the session may talk in it (404 for anyone else); one turn runs at a time (409).
/// The answer comes when the turn ends (up to the agent's `turn_timeout_seconds`).
#[utoipa::path(post, path = "/v1/sessions/{id}/messages", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = MessageRequest,
    responses((status = 200, body = Object, description = "The turn's outcome: `status` (completed, halted, failed, abandoned), `reply`, `reason`, tokens, cost, `execution_id`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 503, body = Problem)))]
pub async fn post_message(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<SessionId>,
    SecretJson(request): SecretJson<MessageRequest>,
) -> Result<Json<TurnOutcome>, ApiError> {
    let outcome = state
        .runtime
        .post_message(
            &caller.caller(),
            caller.principal.tenant_id,
            id,
            request.content,
        )
        .await?;
    Ok(Json(outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    /// The email address the customer is known by.
    email: String,
}

/// Send a one-time code to the customer's email (service-agent sessions only). The answer is
/// the same whether the address belongs to a customer or not.
#[utoipa::path(post, path = "/v1/sessions/{id}/verification", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = VerificationRequest,
    responses((status = 202, body = Object, description = "`status`, masked `sent_to`, `expires_at`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 503, body = Problem)))]
pub async fn start_verification(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<SessionId>,
    SecretJson(request): SecretJson<VerificationRequest>,
) -> Result<(StatusCode, Json<VerificationStarted>), ApiError> {
    let started = state
        .runtime
        .start_verification(
            &caller.caller(),
            caller.principal.tenant_id,
            id,
            &request.email,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmVerificationRequest {
    /// The six digits from the email.
    code: String,
}

/// Check the code; the right one makes the session's customer verified, and private
/// capabilities then run as that customer. A wrong code is a 422 naming the attempts left;
/// after the last one, 429 until a new code is requested.
#[utoipa::path(post, path = "/v1/sessions/{id}/verification/confirm", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), request_body = ConfirmVerificationRequest,
    responses((status = 200, body = Object, description = "`verified: true`"), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn confirm_verification(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<SessionId>,
    SecretJson(request): SecretJson<ConfirmVerificationRequest>,
) -> Result<Json<VerificationConfirmed>, ApiError> {
    let confirmed = state
        .runtime
        .confirm_verification(
            &caller.caller(),
            caller.principal.tenant_id,
            id,
            &request.code,
        )
        .await?;
    Ok(Json(confirmed))
}

/// One turn's execution record: every step (user message, model requests and responses
/// with tokens and cost, tool calls, policy decisions, results, failures, status changes),
/// message text only as the content setting allows (`view_executions`).
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Execution id (a turn's `execution_id`)")),
    responses((status = 200, body = Object, description = "The execution with its `steps`"), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_execution(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<ExecutionId>,
) -> Result<Json<ExecutionView>, ApiError> {
    state.gateway.flush_records().await;
    let execution = state
        .runtime
        .get_execution(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(execution))
}
