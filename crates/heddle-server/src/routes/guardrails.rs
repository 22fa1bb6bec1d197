//! Guardrail violations: every time a trust layer blocked, redacted, flagged or warned about
//! something, with the guardrail, severity, action and a redacted excerpt. Each is also a
//! `guardrail` step of its execution (`GET /v1/executions/{id}`) and an
//! `execution.guardrail` audit event.

use axum::Json;
use axum::extract::State;
use heddle_runtime::{ViolationFilter, ViolationPage};
use heddle_types::{Environment, SessionId};
use http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::AppState;
use crate::extract::{ApiQuery, Authenticated};
use crate::problem::{ApiError, FieldError, Problem};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ViolationListParams {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size, 1–500 (default 50).
    limit: Option<u32>,
    /// Only this environment: `dev`, `staging` or `prod`.
    environment: Option<String>,
    /// Only this agent.
    agent: Option<String>,
    /// Only this session.
    session_id: Option<String>,
    /// Only violations at or after this RFC 3339 time.
    since: Option<String>,
}

impl ViolationListParams {
    fn filter(self) -> Result<ViolationFilter, ApiError> {
        let environment = self
            .environment
            .as_deref()
            .map(|text| {
                text.parse::<Environment>()
                    .map_err(|_| invalid_value("environment", "must be dev, staging or prod"))
            })
            .transpose()?;
        let session_id = self
            .session_id
            .as_deref()
            .map(|text| {
                Uuid::parse_str(text)
                    .map(SessionId::from_uuid)
                    .map_err(|_| invalid_value("session_id", "must be a session id (a UUID)"))
            })
            .transpose()?;
        let since = self
            .since
            .as_deref()
            .map(|text| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        invalid_value(
                            "since",
                            "must be an RFC 3339 time, e.g. 2026-11-25T00:00:00Z",
                        )
                    })
            })
            .transpose()?;
        Ok(ViolationFilter {
            environment,
            agent: self.agent,
            session_id,
            since,
            after: self.after,
            limit: self.limit,
        })
    }
}

fn invalid_value(name: &str, message: &str) -> ApiError {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-query",
        "Invalid query parameters",
        format!("`{name}` {message}."),
    )
    .with_errors(vec![FieldError {
        pointer: format!("/{name}"),
        detail: message.to_owned(),
    }])
    .into()
}

/// Guardrail violations of your tenant, newest first (`view_executions`). Excerpts have
/// personal data replaced by its kind; the full text stays behind the content setting.
#[utoipa::path(get, path = "/v1/guardrail-violations", tag = "sessions", security(("bearer" = [])),
    params(ViolationListParams),
    responses((status = 200, body = Object, description = "`items` (violations) and `next_cursor`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_violations(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(params): ApiQuery<ViolationListParams>,
) -> Result<Json<ViolationPage>, ApiError> {
    state.gateway.flush_records().await;
    let filter = params.filter()?;
    let page = state
        .runtime
        .list_violations(&caller.caller(), caller.principal.tenant_id, filter)
        .await?;
    Ok(Json(page))
}
