//! Human in the loop: calls a turn held for a person. The person in the conversation
//! confirms or declines with the single-use token the turn returned; approvers list, read,
//! approve and reject what waits for them. Each handler parses, calls one `heddle-runtime`
//! function and maps the result; the runtime binds every decision to the hash of the exact
//! arguments, refuses self-approval, and runs an approved action once (a lease and an
//! idempotency key), however many processes serve the API.
//!
//! Confirmation tokens are read with [`SecretJson`], whose errors never quote the input, and
//! are never logged. `POST …/confirm` resumes the turn inline and answers with its outcome,
//! so like `POST /v1/sessions/{id}/messages` it is bounded by the agent's
//! `turn_timeout_seconds`, not `http.request_timeout_secs` (see `limit_request_time`).

use axum::Json;
use axum::extract::State;
use heddle_runtime::{ActionOutcome, ActionView};
use heddle_store::{PendingFilter, PendingStatus};
use heddle_types::SessionId;
use http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::secrets::SecretJson;
use super::{ListPage, ListParams};
use crate::AppState;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use crate::problem::{ApiError, FieldError, Problem};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationRequest {
    /// The `pending_action.confirmation_token` of the turn that asked; it works once.
    token: String,
}

/// Confirm a call the turn held for you, with the token the turn returned. Only the
/// principal who opened the session may (404 for anyone else). A call that needs no approval
/// as well runs now, once, and the turn resumes: `turn` is its outcome. A call that needs an
/// approver next is `awaiting_approval`. A wrong or used token, or an expired request, is a
/// 409.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/actions/{action_id}/confirm", tag = "approvals",
    security(("bearer" = [])),
    params(("session_id" = String, Path, description = "Session id"),
           ("action_id" = String, Path, description = "The held call's `pending_action.id`")),
    request_body = ConfirmationRequest,
    responses((status = 200, body = Object, description = "`action` (the pending action now) and, when the turn resumed, `turn` (its outcome)"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 503, body = Problem)))]
pub async fn confirm_action(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath((session_id, action_id)): ApiPath<(SessionId, Uuid)>,
    SecretJson(request): SecretJson<ConfirmationRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let outcome = state
        .runtime
        .confirm_action(
            &caller.caller(),
            caller.principal.tenant_id,
            session_id,
            action_id,
            &request.token,
            true,
        )
        .await?;
    Ok(Json(outcome))
}

/// Decline a call the turn held for you, with the token the turn returned: it is `rejected`
/// and never runs. Same rules as confirming.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/actions/{action_id}/decline", tag = "approvals",
    security(("bearer" = [])),
    params(("session_id" = String, Path, description = "Session id"),
           ("action_id" = String, Path, description = "The held call's `pending_action.id`")),
    request_body = ConfirmationRequest,
    responses((status = 200, body = Object, description = "`action`, now `rejected`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn decline_action(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath((session_id, action_id)): ApiPath<(SessionId, Uuid)>,
    SecretJson(request): SecretJson<ConfirmationRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let outcome = state
        .runtime
        .confirm_action(
            &caller.caller(),
            caller.principal.tenant_id,
            session_id,
            action_id,
            &request.token,
            false,
        )
        .await?;
    Ok(Json(outcome))
}

/// `?status=&session_id=&capability=` beside the usual `?after=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalListParams {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// Only actions in this status: `awaiting_confirmation`, `awaiting_approval`, `approved`,
    /// `running`, `completed`, `failed`, `rejected`, `expired` or `discarded`.
    status: Option<String>,
    /// Only actions of this session.
    session_id: Option<String>,
    /// Only actions of this capability.
    capability: Option<String>,
}

impl ApprovalListParams {
    fn filter(&self) -> Result<PendingFilter, ApiError> {
        let status = match self.status.as_deref() {
            None => None,
            Some(text) => Some(PendingStatus::parse(text).ok_or_else(|| {
                invalid_value(
                    "status",
                    format!(
                        "must be one of awaiting_confirmation, awaiting_approval, approved, \
                         running, completed, failed, rejected, expired, discarded; got `{text}`"
                    ),
                )
            })?),
        };
        let session_id = match self.session_id.as_deref() {
            None => None,
            Some(text) => Some(
                Uuid::parse_str(text)
                    .map(SessionId::from_uuid)
                    .map_err(|_| invalid_value("session_id", "must be a session id (a UUID)"))?,
            ),
        };
        Ok(PendingFilter {
            status,
            session_id,
            capability: self.capability.clone(),
            requested_by: None,
        })
    }
}

/// A query parameter whose value is well-formed but not one the API knows.
fn invalid_value(name: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-query",
        "Invalid query parameters",
        format!("`{name}` {message}."),
    )
    .with_errors(vec![FieldError {
        pointer: format!("/{name}"),
        detail: message,
    }])
    .into()
}

/// Pending actions of your tenant, newest first (`view_executions`): what waits for
/// approval (`?status=awaiting_approval`), and what was decided, by whom and with what
/// result. Arguments are shown as held; confirmation tokens never.
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals", security(("bearer" = [])), params(ApprovalListParams),
    responses((status = 200, body = Object, description = "`items` (pending actions) and `next_cursor`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_approvals(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(params): ApiQuery<ApprovalListParams>,
) -> Result<Json<ListPage<ActionView>>, ApiError> {
    let filter = params.filter()?;
    let page = ListParams {
        after: params.after,
        limit: params.limit,
    }
    .page()?;
    let actions = state
        .runtime
        .list_actions(&caller.caller(), caller.principal.tenant_id, filter, page)
        .await?;
    Ok(Json(actions.into()))
}

/// One pending action (`view_executions`): its arguments and their hash, who asked, who
/// decided and when (`waited_ms`), and the result once it ran.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pending action id")),
    responses((status = 200, body = Object, description = "The pending action"), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_approval(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ActionView>, ApiError> {
    let action = state
        .runtime
        .get_action(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(action))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why, for the record; up to 2,000 characters. Send `{}` for none.
    #[serde(default)]
    comment: Option<String>,
}

/// Approve an action waiting for approval. Admins and holders of its `approver_role` may;
/// never the principal who asked (409). It runs once before this answers (`status`
/// `completed` or `failed`, with its `result`), and its turn continues in the background.
/// An action decided already, or expired, is a 409.
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pending action id")), request_body = DecisionRequest,
    responses((status = 200, body = Object, description = "`action`, as it is after the decision"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 503, body = Problem)))]
pub async fn approve_action(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let outcome = state
        .runtime
        .decide_action(
            &caller.caller(),
            caller.principal.tenant_id,
            id,
            true,
            request.comment,
        )
        .await?;
    Ok(Json(outcome))
}

/// Reject an action waiting for approval: it never runs. Same rules as approving.
#[utoipa::path(post, path = "/v1/approvals/{id}/reject", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pending action id")), request_body = DecisionRequest,
    responses((status = 200, body = Object, description = "`action`, now `rejected`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reject_action(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let outcome = state
        .runtime
        .decide_action(
            &caller.caller(),
            caller.principal.tenant_id,
            id,
            false,
            request.comment,
        )
        .await?;
    Ok(Json(outcome))
}
