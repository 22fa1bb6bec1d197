//! The tenant's audit log, for auditors.

use axum::Json;
use axum::extract::State;
use heddle_store::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::extract::{ApiQuery, Authenticated};
use crate::problem::{ApiError, Problem};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events after this sequence number (the previous page's `next_cursor`).
    after: Option<u64>,
    /// Page size, 1–500 (default 100).
    limit: Option<u32>,
    /// Exact action, e.g. `user.create`.
    action: Option<String>,
    /// Exact actor id (user or API key id).
    actor_id: Option<String>,
    /// `success`, `denied` or `failure`.
    outcome: Option<String>,
    /// RFC 3339 lower bound (inclusive) on the event time.
    since: Option<String>,
    /// RFC 3339 upper bound (exclusive) on the event time.
    until: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    seq: u64,
    /// Hex SHA-256 Merkle leaf hash of the canonical event bytes (RFC 9162).
    leaf_hash: String,
    /// Hex hash-chain value after this event.
    chain_hash: String,
    /// The event as recorded.
    #[schema(value_type = Object)]
    event: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<AuditEventView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<u64>,
}

fn invalid(detail: String) -> ApiError {
    Problem::new(
        http::StatusCode::BAD_REQUEST,
        "invalid-query",
        "Invalid query parameters",
        detail,
    )
    .into()
}

fn parse_time(
    field: &str,
    value: Option<&String>,
) -> Result<Option<time::OffsetDateTime>, ApiError> {
    value
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    invalid(format!(
                        "`{field}` must be an RFC 3339 timestamp, got `{text}`."
                    ))
                })
        })
        .transpose()
}

/// Audit events of your tenant in sequence order (`view_audit_log`).
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(invalid(format!(
            "`limit` must be between 1 and 500, got `{limit}`."
        )));
    }
    if let Some(outcome) = &query.outcome
        && !["success", "denied", "failure"].contains(&outcome.as_str())
    {
        return Err(invalid(format!(
            "`outcome` must be `success`, `denied` or `failure`, got `{outcome}`."
        )));
    }
    let filter = AuditFilter {
        after_seq: query.after,
        before_seq: None,
        action: query.action,
        actor_id: query.actor_id,
        outcome: query.outcome,
        since: parse_time("since", query.since.as_ref())?,
        until: parse_time("until", query.until.as_ref())?,
        include_purged: false,
        // One extra row tells whether another page exists.
        limit: limit + 1,
    };
    let mut events = state
        .identity
        .list_audit_events(&caller.caller(), caller.principal.tenant_id, &filter)
        .await?;
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_cursor = if more {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    let items = events
        .into_iter()
        .map(|stored| AuditEventView {
            seq: stored.seq,
            leaf_hash: hex(&stored.leaf_hash),
            chain_hash: hex(&stored.chain_hash),
            event: stored
                .canonical
                .as_deref()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(Json(AuditPage { items, next_cursor }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
