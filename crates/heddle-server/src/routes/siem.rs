//! SIEM sinks: forward the tenant's audit log to Splunk, Datadog, Elasticsearch or a webhook.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_identity::CreateSiemSink;
use heddle_store::StoredSiemSink;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::extract::{ApiJson, ApiPath, Authenticated};
use crate::problem::{ApiError, Problem};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSinkRequest {
    name: String,
    /// Tagged by `kind`: `webhook` {url, secret}, `splunk_hec` {url, token, index?},
    /// `datadog_logs` {site, api_key, service?}, `elasticsearch_bulk` {url, index, auth?}.
    /// Sealed in the vault; never shown again.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    /// Deliver the existing log too (default), or only events from now on.
    #[serde(default = "yes")]
    from_beginning: bool,
}

fn yes() -> bool {
    true
}

impl std::fmt::Debug for CreateSinkRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateSinkRequest")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A sink and how delivery is going; its configuration is never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct SinkView {
    #[schema(value_type = String, format = Uuid)]
    id: Uuid,
    name: String,
    kind: String,
    summary: String,
    /// Events delivered so far: the next sequence number to send.
    cursor: u64,
    /// Paused after a permanent failure (bad credentials, blocked address); resume to retry.
    paused: bool,
    attempts: u32,
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_error_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_delivered_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    next_attempt_at: Option<time::OffsetDateTime>,
}

impl From<StoredSiemSink> for SinkView {
    fn from(sink: StoredSiemSink) -> Self {
        Self {
            id: sink.id,
            name: sink.name,
            kind: sink.kind,
            summary: sink.summary,
            cursor: sink.cursor,
            paused: sink.paused,
            attempts: sink.attempts,
            last_error: sink.last_error,
            last_error_at: sink.last_error_at,
            last_delivered_at: sink.last_delivered_at,
            next_attempt_at: sink.next_attempt_at,
        }
    }
}

/// Add a SIEM sink (admins).
#[utoipa::path(post, path = "/v1/audit/sinks", tag = "audit", security(("bearer" = [])), request_body = CreateSinkRequest,
    responses((status = 201, body = SinkView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_sink(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(request): ApiJson<CreateSinkRequest>,
) -> Result<(StatusCode, Json<SinkView>), ApiError> {
    let sink = state
        .identity
        .create_siem_sink(
            &caller.caller(),
            CreateSiemSink {
                tenant_id: caller.principal.tenant_id,
                name: request.name,
                config: request.config,
                from_beginning: request.from_beginning,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(sink.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SinkList {
    items: Vec<SinkView>,
}

/// The tenant's SIEM sinks and their delivery status.
#[utoipa::path(get, path = "/v1/audit/sinks", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = SinkList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_sinks(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<SinkList>, ApiError> {
    let sinks = state
        .identity
        .list_siem_sinks(&caller.caller(), caller.principal.tenant_id)
        .await?;
    Ok(Json(SinkList {
        items: sinks.into_iter().map(SinkView::from).collect(),
    }))
}

/// Remove a SIEM sink (admins).
#[utoipa::path(delete, path = "/v1/audit/sinks/{id}", tag = "audit", security(("bearer" = [])),
    params(("id" = String, Path, description = "Sink id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_sink(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .delete_siem_sink(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retry a paused sink now (admins).
#[utoipa::path(post, path = "/v1/audit/sinks/{id}/resume", tag = "audit", security(("bearer" = [])),
    params(("id" = String, Path, description = "Sink id")),
    responses((status = 200, body = SinkView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn resume_sink(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SinkView>, ApiError> {
    let sink = state
        .identity
        .resume_siem_sink(&caller.caller(), caller.principal.tenant_id, id)
        .await?;
    Ok(Json(sink.into()))
}
