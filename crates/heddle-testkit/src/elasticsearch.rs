//! Elasticsearch's bulk API: `POST /_bulk` (or `/<index>/_bulk`) with
//! `Content-Type: application/x-ndjson`, pairs of action and document lines, and a final
//! newline. `create` fails per item with 409 `version_conflict_engine_exception` when the
//! `_id` exists (that is how Heddle's `_id = <tenant>-<seq>` de-duplicates); `index` writes or
//! overwrites. The answer is HTTP 200 with `{"took", "errors", "items": [...]}` and one item
//! per action, in order. Authentication is checked against one expected `Authorization`
//! value (`ApiKey <base64>` or `Basic <base64>`).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use crate::recorder::{Recorder, receiver_api, tenant_and_seq};
use crate::{LoopbackServer, ReceivedEvent, ReceiverMode};

#[derive(Debug)]
pub struct FakeElasticsearch {
    server: LoopbackServer,
    state: Arc<EsState>,
}

#[derive(Debug)]
struct EsState {
    recorder: Recorder,
    authorization: String,
    index: Mutex<EsIndex>,
}

#[derive(Debug, Default)]
struct EsIndex {
    documents: BTreeMap<(String, String), Value>,
    next_seq_no: u64,
    reject_odd_items_once: bool,
}

receiver_api!(FakeElasticsearch);

impl FakeElasticsearch {
    /// A cluster that accepts `Authorization: ApiKey <encoded>`.
    pub async fn start_with_api_key(encoded: &str) -> io::Result<Self> {
        Self::start(format!("ApiKey {encoded}")).await
    }

    /// A cluster that accepts HTTP basic authentication as `username` / `password`.
    pub async fn start_with_basic(username: &str, password: &str) -> io::Result<Self> {
        let credentials = heddle_crypto::base64_encode(format!("{username}:{password}"));
        Self::start(format!("Basic {credentials}")).await
    }

    async fn start(authorization: String) -> io::Result<Self> {
        let state = Arc::new(EsState {
            recorder: Recorder::default(),
            authorization,
            index: Mutex::new(EsIndex::default()),
        });
        let router = Router::new()
            .route("/_bulk", post(bulk_default).put(bulk_default))
            .route("/{index}/_bulk", post(bulk_in_index).put(bulk_in_index))
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        Ok(Self {
            server: LoopbackServer::start(router).await?,
            state,
        })
    }

    /// The next bulk request answers every second item (positions 1, 3, …) with a per-item
    /// 429 `es_rejected_execution_exception` and does not store it, as a cluster under
    /// indexing pressure does.
    pub fn reject_odd_items_once(&self) {
        self.lock_index().reject_odd_items_once = true;
    }

    /// Every stored document as `(index, _id, source)`.
    pub fn documents(&self) -> Vec<(String, String, Value)> {
        self.lock_index()
            .documents
            .iter()
            .map(|((index, id), doc)| (index.clone(), id.clone(), doc.clone()))
            .collect()
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, EsIndex> {
        self.state
            .index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn bulk_default(
    State(state): State<Arc<EsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bulk(&state, None, &method, &uri, &headers, &body)
}

async fn bulk_in_index(
    State(state): State<Arc<EsState>>,
    Path(index): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bulk(&state, Some(index), &method, &uri, &headers, &body)
}

fn bulk(
    state: &EsState,
    default_index: Option<String>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    state.recorder.record_request(method, uri, headers, body);
    match state.recorder.mode() {
        ReceiverMode::Unavailable => {
            return es_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "cluster_block_exception",
                "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];",
            );
        }
        ReceiverMode::TooManyRequests => {
            return es_error(
                StatusCode::TOO_MANY_REQUESTS,
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation",
            );
        }
        ReceiverMode::Up | ReceiverMode::LoseAck => {}
    }
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == state.authorization);
    if !authorized {
        let mut response = es_error(
            StatusCode::UNAUTHORIZED,
            "security_exception",
            &format!(
                "unable to authenticate user for REST request [{}]",
                uri.path()
            ),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("ApiKey, Basic realm=\"security\", charset=\"UTF-8\""),
        );
        return response;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if !(content_type.starts_with("application/x-ndjson")
        || content_type.starts_with("application/json"))
    {
        return (
            StatusCode::NOT_ACCEPTABLE,
            axum::Json(json!({
                "error": format!("Content-Type header [{content_type}] is not supported"),
                "status": 406
            })),
        )
            .into_response();
    }
    if body.last() != Some(&b'\n') {
        return es_error(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]",
        );
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return es_error(
            StatusCode::BAD_REQUEST,
            "parse_exception",
            "request body is not utf-8",
        );
    };
    let lines: Vec<&str> = text
        .split('\n')
        .filter(|line| !line.trim().is_empty())
        .collect();
    if lines.is_empty() || !lines.len().is_multiple_of(2) {
        return es_error(
            StatusCode::BAD_REQUEST,
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;",
        );
    }

    let mut index_state = state.index.lock().unwrap_or_else(PoisonError::into_inner);
    let reject_odd = std::mem::take(&mut index_state.reject_odd_items_once);
    let mut items = Vec::new();
    let mut created = Vec::new();
    let mut any_error = false;
    for (position, pair) in lines.chunks(2).enumerate() {
        let (Some(action_line), Some(source_line)) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let Some((op, index, id)) = parse_action(action_line, default_index.as_deref()) else {
            return es_error(
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                "Malformed action/metadata line",
            );
        };
        let Ok(source) = serde_json::from_str::<Value>(source_line) else {
            return es_error(
                StatusCode::BAD_REQUEST,
                "parse_exception",
                "failed to parse document",
            );
        };
        let key = (index.clone(), id.clone());
        let item = if reject_odd && !position.is_multiple_of(2) {
            any_error = true;
            item_error(
                &op,
                &index,
                &id,
                429,
                "es_rejected_execution_exception",
                "rejected execution of primary operation",
            )
        } else if op == "create" && index_state.documents.contains_key(&key) {
            any_error = true;
            item_error(
                &op,
                &index,
                &id,
                409,
                "version_conflict_engine_exception",
                &format!("[{id}]: version conflict, document already exists (current version [1])"),
            )
        } else {
            let existed = index_state.documents.insert(key, source.clone()).is_some();
            let seq_no = index_state.next_seq_no;
            index_state.next_seq_no += 1;
            if let Some((tenant_id, seq)) = tenant_and_seq(&source) {
                created.push(ReceivedEvent {
                    tenant_id,
                    seq,
                    payload: source,
                });
            }
            let (status, result) = if existed {
                (200, "updated")
            } else {
                (201, "created")
            };
            item_ok(&op, &index, &id, status, result, seq_no)
        };
        items.push(item);
    }
    drop(index_state);
    state.recorder.record_events(created);
    if state.recorder.mode() == ReceiverMode::LoseAck {
        return es_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "node_closed_exception",
            "node closed while answering",
        );
    }
    (
        StatusCode::OK,
        axum::Json(json!({ "took": 1, "errors": any_error, "items": items })),
    )
        .into_response()
}

/// `{"create": {"_index": …, "_id": …}}` → `("create", index, id)`.
fn parse_action(line: &str, default_index: Option<&str>) -> Option<(String, String, String)> {
    let value: Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let (op, meta) = object.iter().next()?;
    if op != "create" && op != "index" {
        return None;
    }
    let index = meta
        .get("_index")
        .and_then(Value::as_str)
        .or(default_index)?
        .to_owned();
    let id = meta.get("_id").and_then(Value::as_str)?.to_owned();
    Some((op.clone(), index, id))
}

fn item_ok(op: &str, index: &str, id: &str, status: u16, result: &str, seq_no: u64) -> Value {
    let mut item = Map::new();
    item.insert(
        op.to_owned(),
        json!({
            "_index": index, "_id": id, "_version": 1, "result": result,
            "_shards": { "total": 2, "successful": 1, "failed": 0 },
            "_seq_no": seq_no, "_primary_term": 1, "status": status
        }),
    );
    Value::Object(item)
}

fn item_error(op: &str, index: &str, id: &str, status: u16, kind: &str, reason: &str) -> Value {
    let mut item = Map::new();
    item.insert(
        op.to_owned(),
        json!({
            "_index": index, "_id": id, "status": status,
            "error": { "type": kind, "reason": reason, "index": index, "shard": "0",
                       "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA" }
        }),
    );
    Value::Object(item)
}

fn es_error(status: StatusCode, kind: &str, reason: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": {
                "root_cause": [{ "type": kind, "reason": reason }],
                "type": kind,
                "reason": reason
            },
            "status": status.as_u16()
        })),
    )
        .into_response()
}
