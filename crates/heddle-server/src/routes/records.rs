//! Business records as the caller: describe objects, query, get, create, update, delete.
//! The tenant's record org decides every answer (sharing, object CRUD, field-level security);
//! these handlers only parse, resolve the caller to their org user and call the record source.
//!
//! Bodies are read with [`SecretJson`], whose errors never quote the input: record values and
//! filter values may be personal data.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use heddle_records::RecordId;
use heddle_records::config::OrgConfig;
use heddle_records::query::{Filter, OrderBy, RecordQuery};
use heddle_recordsource::{
    AppliedOrg, QueryResult, RecordSource, RecordView, WriteMode, WriteOutcome,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use utoipa::{IntoParams, ToSchema};

use super::secrets::SecretJson;
use crate::AppState;
use crate::extract::{ApiPath, ApiQuery, Authenticated};
use crate::problem::{ApiError, Problem};

/// The objects you may read, each with only the fields you may read.
#[utoipa::path(get, path = "/v1/objects", tag = "records", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_objects(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<ObjectList>, ApiError> {
    let actor = state.records.user_actor(&caller.caller()).await?;
    let objects = state.records.describe_objects(&actor).await?;
    Ok(Json(ObjectList {
        items: objects
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap_or(JsonValue::Null))
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectList {
    /// Object definitions: API name, label, key prefix, sharing default, readable fields.
    items: Vec<JsonValue>,
}

/// One object as you may see it; 404 when it does not exist or you may not read it.
#[utoipa::path(get, path = "/v1/objects/{object}", tag = "records", security(("bearer" = [])),
    params(("object" = String, Path, description = "Object API name, e.g. `Account`")),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn describe_object(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(object): ApiPath<String>,
) -> Result<Json<JsonValue>, ApiError> {
    let actor = state.records.user_actor(&caller.caller()).await?;
    let def = state.records.describe_object(&actor, &object).await?;
    Ok(Json(serde_json::to_value(def).unwrap_or(JsonValue::Null)))
}

/// A structured query: `object` comes from the path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Field API names to return; empty or absent returns every field you may read.
    #[serde(default)]
    fields: Vec<String>,
    /// `{"and": [..]}`, `{"or": [..]}`, `{"not": {..}}` or
    /// `{"field": "Amount", "op": "gt", "value": 1000}`; ops: eq, ne, lt, le, gt, ge, in,
    /// starts_with, contains, is_null.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    filter: Option<Filter>,
    /// Up to 3 of `{"field": "Name", "direction": "asc" | "desc"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    order_by: Vec<OrderBy>,
    /// 1–200, default 50.
    #[serde(default)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
}

/// Records of one object that you may see, filtered and sorted, fields you may not read
/// removed. Filtering or sorting on a field you may not read is refused.
#[utoipa::path(post, path = "/v1/records/{object}/query", tag = "records", security(("bearer" = [])),
    params(("object" = String, Path, description = "Object API name")), request_body = QueryRequest,
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn query_records(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(object): ApiPath<String>,
    SecretJson(request): SecretJson<QueryRequest>,
) -> Result<Json<QueryResult>, ApiError> {
    let actor = state.records.user_actor(&caller.caller()).await?;
    let query = RecordQuery {
        object,
        fields: request.fields,
        filter: request.filter,
        order_by: request.order_by,
        limit: request.limit,
        cursor: request.cursor,
    };
    Ok(Json(state.records.query(&actor, &query).await?))
}

/// `?limit=&cursor=` for a plain list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecordListParams {
    /// 1–200, default 50.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Records of one object that you may see, in id order (POST …/query filters and sorts).
#[utoipa::path(get, path = "/v1/records/{object}", tag = "records", security(("bearer" = [])),
    params(("object" = String, Path, description = "Object API name"), RecordListParams),
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_records(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(object): ApiPath<String>,
    ApiQuery(params): ApiQuery<RecordListParams>,
) -> Result<Json<QueryResult>, ApiError> {
    let actor = state.records.user_actor(&caller.caller()).await?;
    let query = RecordQuery {
        object,
        fields: Vec::new(),
        filter: None,
        order_by: Vec::new(),
        limit: params.limit,
        cursor: params.cursor,
    };
    Ok(Json(state.records.query(&actor, &query).await?))
}

/// A write's body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    /// Field API name → value; `null` clears a field on update.
    #[schema(value_type = Object)]
    fields: BTreeMap<String, JsonValue>,
    /// `strict` (default) refuses a write that touches a field you may not edit, naming it;
    /// `partial` drops such fields and lists them in `dropped_fields`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    mode: WriteMode,
}

/// Create a record owned by you.
#[utoipa::path(post, path = "/v1/records/{object}", tag = "records", security(("bearer" = [])),
    params(("object" = String, Path, description = "Object API name")), request_body = WriteRequest,
    responses((status = 201, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_record(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(object): ApiPath<String>,
    SecretJson(request): SecretJson<WriteRequest>,
) -> Result<(StatusCode, Json<WriteOutcome>), ApiError> {
    let actor = state.records.user_actor(&caller.caller()).await?;
    let outcome = state
        .records
        .create(&actor, &object, request.fields, request.mode)
        .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// The record's path: the object's API name and the record id (15 or 18 characters).
#[derive(Debug, Deserialize)]
pub struct RecordPath {
    object: String,
    id: String,
}

impl RecordPath {
    /// The id, when it is a well-formed id of this object; a malformed id is a 400, an id of
    /// another object a 404 (as if absent).
    fn id(&self) -> Result<RecordId, ApiError> {
        let id = RecordId::parse(&self.id).map_err(|err| {
            ApiError::from(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-record-id",
                "Invalid record id",
                format!("{err}."),
            ))
        })?;
        Ok(id)
    }
}

fn not_this_object(path: &RecordPath, id: &RecordId) -> ApiError {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        format!("No {} record `{id}` exists that you may see.", path.object),
    )
    .into()
}

/// One record; 404 when it does not exist or you may not see it.
#[utoipa::path(get, path = "/v1/records/{object}/{id}", tag = "records", security(("bearer" = [])),
    params(("object" = String, Path, description = "Object API name"), ("id" = String, Path, description = "Record id, 15 or 18 characters")),
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_record(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(path): ApiPath<RecordPath>,
) -> Result<Json<RecordView>, ApiError> {
    let id = path.id()?;
    let actor = state.records.user_actor(&caller.caller()).await?;
    let record = state.records.get(&actor, &id).await?;
    if record.object != path.object {
        return Err(not_this_object(&path, &id));
    }
    Ok(Json(record))
}

/// Change fields of a record you may edit.
#[utoipa::path(patch, path = "/v1/records/{object}/{id}", tag = "records", security(("bearer" = [])),
    params(("object" = String, Path, description = "Object API name"), ("id" = String, Path, description = "Record id")),
    request_body = WriteRequest,
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_record(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(path): ApiPath<RecordPath>,
    SecretJson(request): SecretJson<WriteRequest>,
) -> Result<Json<WriteOutcome>, ApiError> {
    let id = path.id()?;
    let actor = state.records.user_actor(&caller.caller()).await?;
    if !object_has_prefix(&state, &actor, &path.object, &id).await? {
        return Err(not_this_object(&path, &id));
    }
    let outcome = state
        .records
        .update(&actor, &id, request.fields, request.mode)
        .await?;
    Ok(Json(outcome))
}

/// Delete a record you own or manage (or with modify-all).
#[utoipa::path(delete, path = "/v1/records/{object}/{id}", tag = "records", security(("bearer" = [])),
    params(("object" = String, Path, description = "Object API name"), ("id" = String, Path, description = "Record id")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_record(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(path): ApiPath<RecordPath>,
) -> Result<StatusCode, ApiError> {
    let id = path.id()?;
    let actor = state.records.user_actor(&caller.caller()).await?;
    if !object_has_prefix(&state, &actor, &path.object, &id).await? {
        return Err(not_this_object(&path, &id));
    }
    state.records.delete(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `id` has the key prefix of `object` (as the caller may see it described).
async fn object_has_prefix(
    state: &AppState,
    actor: &heddle_recordsource::RecordActor,
    object: &str,
    id: &RecordId,
) -> Result<bool, ApiError> {
    match state.records.describe_object(actor, object).await {
        Ok(def) => Ok(def.key_prefix == id.key_prefix()),
        Err(heddle_recordsource::RecordError::NotFound { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The tenant's record org as last applied, with its version.
#[utoipa::path(get, path = "/v1/record-org", tag = "records", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_record_org(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<RecordOrgDocument>, ApiError> {
    let (version, config) = state
        .records
        .get_org(&caller.caller(), caller.principal.tenant_id)
        .await?;
    Ok(Json(RecordOrgDocument {
        expected_version: Some(version),
        config,
    }))
}

/// A record org to apply (or as read).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordOrgDocument {
    /// The version you read (absent or null for a tenant without one): a change made by
    /// someone else since is refused with 409 instead of being overwritten.
    #[serde(default)]
    expected_version: Option<i64>,
    /// The org: users, roles, groups, profiles, permission sets, sharing rules, manual
    /// shares, service users, custom objects and sharing-default overrides.
    #[schema(value_type = Object)]
    config: OrgConfig,
}

/// Validate and apply the tenant's record org; every problem is listed with its path.
#[utoipa::path(put, path = "/v1/record-org", tag = "records", security(("bearer" = [])), request_body = RecordOrgDocument,
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn apply_record_org(
    State(state): State<AppState>,
    caller: Authenticated,
    SecretJson(document): SecretJson<RecordOrgDocument>,
) -> Result<Json<AppliedOrg>, ApiError> {
    let applied = state
        .records
        .apply_org(
            &caller.caller(),
            caller.principal.tenant_id,
            document.config,
            document.expected_version,
        )
        .await?;
    Ok(Json(applied))
}
