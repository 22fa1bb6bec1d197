//! Agent configurations over HTTP: lint a set of files, apply it as the next version of an
//! environment, read versions. The same service functions as `heddle lint` and `heddle apply`.

use axum::Json;
use axum::extract::State;
use heddle_agents::{Finding, lint, load_dir, to_sarif};
use heddle_identity::AppliedConfig;
use heddle_types::Environment;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::{ApiJson, ApiPath, Authenticated};
use crate::problem::{ApiError, FieldError, Problem};

/// Most files and bytes one request may carry.
const MAX_FILES: usize = 500;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// A name for error messages, e.g. `capabilities/update_stage.yaml`.
    path: String,
    /// The YAML text.
    content: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFiles {
    files: Vec<ConfigFile>,
}

fn load(files: &ConfigFiles) -> Result<heddle_agents::ConfigSet, ApiError> {
    if files.files.is_empty() || files.files.len() > MAX_FILES {
        return Err(Problem::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "Invalid field",
            format!("`files` must hold 1 to {MAX_FILES} files."),
        )
        .into());
    }
    let pairs: Vec<(&str, &str)> = files
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.content.as_str()))
        .collect();
    load_dir(&pairs).map_err(|errors| {
        Problem::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-config",
            "Invalid configuration",
            format!(
                "The files have {} problem(s); nothing was applied. See `errors`.",
                errors.len()
            ),
        )
        .with_errors(
            errors
                .iter()
                .map(|e| FieldError {
                    pointer: match e.line {
                        Some(line) => format!("{}:{line}", e.file),
                        None => e.file.clone(),
                    },
                    detail: e.to_string(),
                })
                .collect(),
        )
        .into()
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LintReport {
    /// `file`, `line`, `rule`, `severity`, `field`, `message` per finding.
    #[schema(value_type = Vec<Object>)]
    findings: Vec<Finding>,
    /// The same findings as a SARIF 2.1.0 log.
    #[schema(value_type = Object)]
    sarif: Value,
}

/// Lint a set of agent, capability and model-binding files; nothing is stored.
#[utoipa::path(post, path = "/v1/configs/lint", tag = "configs", security(("bearer" = [])), request_body = ConfigFiles,
    responses((status = 200, body = LintReport), (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn lint_config(
    _caller: Authenticated,
    ApiJson(files): ApiJson<ConfigFiles>,
) -> Result<Json<LintReport>, ApiError> {
    let set = load(&files)?;
    let findings = lint(&set);
    let sarif = to_sarif(&findings);
    Ok(Json(LintReport { findings, sarif }))
}

/// Apply a set as the next version of an environment; lint errors refuse it (409), the same
/// content again is reported `unchanged`.
#[utoipa::path(post, path = "/v1/configs/{environment}", tag = "configs", security(("bearer" = [])),
    params(("environment" = String, Path, description = "dev, staging or prod")), request_body = ConfigFiles,
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn apply_config(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(environment): ApiPath<Environment>,
    ApiJson(files): ApiJson<ConfigFiles>,
) -> Result<Json<AppliedConfig>, ApiError> {
    let set = load(&files)?;
    let applied = state
        .identity
        .apply_config(
            &caller.caller(),
            caller.principal.tenant_id,
            environment,
            &set,
        )
        .await?;
    Ok(Json(applied))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigVersion {
    version: i64,
    content_hash: String,
    applied_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// The canonical configuration (absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    documents: Option<Value>,
}

/// The latest configuration of an environment.
#[utoipa::path(get, path = "/v1/configs/{environment}", tag = "configs", security(("bearer" = [])),
    params(("environment" = String, Path, description = "dev, staging or prod")),
    responses((status = 200, body = ConfigVersion), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn latest_config(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(environment): ApiPath<Environment>,
) -> Result<Json<ConfigVersion>, ApiError> {
    let snapshot = state
        .identity
        .get_config(
            &caller.caller(),
            caller.principal.tenant_id,
            environment,
            None,
        )
        .await?;
    Ok(Json(ConfigVersion {
        version: snapshot.version,
        content_hash: snapshot.content_hash,
        applied_by: snapshot.applied_by,
        created_at: snapshot.created_at,
        documents: Some(snapshot.documents),
    }))
}

/// Every configuration version of an environment, newest first.
#[utoipa::path(get, path = "/v1/configs/{environment}/versions", tag = "configs", security(("bearer" = [])),
    params(("environment" = String, Path, description = "dev, staging or prod")),
    responses((status = 200, body = Vec<ConfigVersion>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn config_versions(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(environment): ApiPath<Environment>,
) -> Result<Json<Vec<ConfigVersion>>, ApiError> {
    let versions = state
        .identity
        .list_configs(&caller.caller(), caller.principal.tenant_id, environment)
        .await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| ConfigVersion {
                version: v.version,
                content_hash: v.content_hash,
                applied_by: v.applied_by,
                created_at: v.created_at,
                documents: None,
            })
            .collect(),
    ))
}
