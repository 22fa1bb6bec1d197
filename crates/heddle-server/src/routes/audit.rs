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
    state.gateway.flush_records().await;
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
            leaf_hash: heddle_crypto::hex_encode(&stored.leaf_hash),
            chain_hash: heddle_crypto::hex_encode(&stored.chain_hash),
            event: stored
                .canonical
                .as_deref()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(Json(AuditPage { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    tree_size: u64,
    /// Base64 RFC 9162 Merkle tree root.
    root_hash: String,
    /// Base64 hash-chain value at `tree_size`.
    chain_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    issued_at: time::OffsetDateTime,
    key_id: String,
    /// Base64 Ed25519 signature over `note`'s body.
    signature: String,
    /// The signed note, for tools that check it independently.
    note: String,
}

impl From<&heddle_audit::SignedCheckpoint> for CheckpointView {
    fn from(signed: &heddle_audit::SignedCheckpoint) -> Self {
        let checkpoint = &signed.checkpoint;
        Self {
            tree_size: checkpoint.tree_size,
            root_hash: heddle_crypto::base64_encode(checkpoint.root_hash),
            chain_hash: heddle_crypto::base64_encode(checkpoint.chain_hash),
            issued_at: checkpoint.issued_at,
            key_id: checkpoint.key_id.clone(),
            signature: heddle_crypto::base64_encode(signed.signature),
            note: signed.to_note(),
        }
    }
}

/// Sign the tenant's current audit tree now (or return the checkpoint that covers it).
#[utoipa::path(post, path = "/v1/audit/checkpoints", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = CheckpointView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub async fn issue_checkpoint(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<CheckpointView>, ApiError> {
    state.gateway.flush_records().await;
    let checkpoint = state
        .identity
        .issue_audit_checkpoint(&caller.caller(), caller.principal.tenant_id)
        .await?
        .ok_or_else(|| {
            ApiError::from(Problem::new(
                http::StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "The audit log is empty; there is nothing to sign yet.",
            ))
        })?;
    Ok(Json(CheckpointView::from(&checkpoint)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointList {
    items: Vec<CheckpointView>,
}

/// Every signed checkpoint of the tenant's audit log, oldest first.
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = CheckpointList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<CheckpointList>, ApiError> {
    let stored = state
        .identity
        .list_audit_checkpoints(&caller.caller(), caller.principal.tenant_id)
        .await?;
    let items = stored
        .iter()
        .filter_map(|c| {
            Some(CheckpointView::from(&heddle_audit::SignedCheckpoint {
                checkpoint: heddle_audit::Checkpoint {
                    tenant_id: c.tenant_id,
                    tree_size: c.tree_size,
                    root_hash: c.root_hash.as_slice().try_into().ok()?,
                    chain_hash: c.chain_hash.as_slice().try_into().ok()?,
                    issued_at: c.issued_at,
                    key_id: c.key_id.clone(),
                },
                signature: c.signature.as_slice().try_into().ok()?,
            }))
        })
        .collect();
    Ok(Json(CheckpointList { items }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyView {
    key_id: String,
    /// Base64 Ed25519 public key; pass it to `heddle audit verify --public-key`.
    public_key: String,
}

/// The public keys the tenant's checkpoints are signed with.
#[utoipa::path(get, path = "/v1/audit/public-keys", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Vec<PublicKeyView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn public_keys(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<PublicKeyView>>, ApiError> {
    let keys = state
        .identity
        .audit_public_keys(&caller.caller(), caller.principal.tenant_id)
        .await?;
    Ok(Json(
        keys.iter()
            .map(|key| PublicKeyView {
                key_id: key.key_id(),
                public_key: key.to_base64(),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The event's sequence number.
    seq: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProofView {
    seq: u64,
    /// Hex leaf hash of the event.
    leaf_hash: String,
    /// Hex audit path, RFC 9162 §2.1.3.
    proof: Vec<String>,
    checkpoint: CheckpointView,
}

/// Proof that an event is in a signed tree (RFC 9162 inclusion proof).
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit", security(("bearer" = [])), params(InclusionQuery),
    responses((status = 200, body = InclusionProofView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProofView>, ApiError> {
    let proof = state
        .identity
        .audit_inclusion_proof(&caller.caller(), caller.principal.tenant_id, query.seq)
        .await?;
    Ok(Json(InclusionProofView {
        seq: proof.seq,
        leaf_hash: heddle_crypto::hex_encode(proof.leaf_hash),
        proof: proof.proof.iter().map(heddle_crypto::hex_encode).collect(),
        checkpoint: CheckpointView::from(&proof.checkpoint),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// Tree size of the older checkpoint.
    from: u64,
    /// Tree size of the newer checkpoint.
    to: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProofView {
    from: CheckpointView,
    to: CheckpointView,
    /// Hex consistency proof, RFC 9162 §2.1.4.
    proof: Vec<String>,
}

/// Proof that a newer checkpoint extends an older one (RFC 9162 consistency proof).
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit", security(("bearer" = [])), params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProofView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn consistency_proof(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProofView>, ApiError> {
    let proof = state
        .identity
        .audit_consistency_proof(
            &caller.caller(),
            caller.principal.tenant_id,
            query.from,
            query.to,
        )
        .await?;
    Ok(Json(ConsistencyProofView {
        from: CheckpointView::from(&proof.from),
        to: CheckpointView::from(&proof.to),
        proof: proof.proof.iter().map(heddle_crypto::hex_encode).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// First sequence number to include.
    since: Option<u64>,
}

/// The tenant's audit log up to a fresh checkpoint, as `heddle-audit-export/1` JSON Lines,
/// for `heddle audit verify`.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, description = "JSON Lines export", content_type = "application/x-ndjson"),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    state.gateway.flush_records().await;
    let (bytes, _summary) = state
        .identity
        .export_audit_log(
            &caller.caller(),
            caller.principal.tenant_id,
            query.since.unwrap_or(0),
        )
        .await?;
    let mut response = axum::response::IntoResponse::into_response(bytes);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
