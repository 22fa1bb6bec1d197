//! RFC 9457 problem documents: the one shape of every error response.
//!
//! Handlers return [`ApiError`]; it becomes a [`Problem`] stored in the response's
//! extensions, and the `render_problems` middleware writes the body with the request id.
//! Responses that are errors but carry no problem (unknown route, wrong method, a layer's
//! rejection) get one made from their status there too, so no error leaves without one.

use axum::Json;
use axum::response::{IntoResponse, Response};
use heddle_identity::IdentityError;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A problem document. `kind` is the stable slug behind `type`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:heddle:problem:<kind>`; stable, for programs to match on.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    #[schema(value_type = u16)]
    #[serde(serialize_with = "serialize_status")]
    pub status: StatusCode,
    /// What happened and what to do about it, for a person.
    pub detail: String,
    /// The `X-Request-Id` of this request, to quote when asking for help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field-level validation problems, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Location of the problem (a field name, or `line:column` in submitted text).
    pub pointer: String,
    pub detail: String,
}

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:heddle:problem:{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            request_id: None,
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// The generic problem for a bare error status from a layer or the router.
    pub fn from_status(status: StatusCode) -> Self {
        let (kind, detail) = match status {
            StatusCode::NOT_FOUND => (
                "not-found",
                "No resource exists at this path. See /openapi.json for the API's routes.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method-not-allowed",
                "This path does not accept this HTTP method. See /openapi.json.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload-too-large",
                "The request body is larger than the server accepts (http.max_body_bytes).",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "request-timeout",
                "The request took longer than the server allows; try again.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported-media-type",
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            StatusCode::TOO_MANY_REQUESTS => (
                "rate-limited",
                "Too many requests; wait for the time in `Retry-After` and try again.",
            ),
            status if status.is_server_error() => (
                "internal",
                "The server failed to handle the request. Quote the request id when reporting it.",
            ),
            _ => ("http-error", "The request could not be processed."),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        Self::new(status, kind, title, detail)
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// The finished response with body, content type and, for 401/429, their headers.
    pub fn into_body_response(self) -> Response {
        let status = self.status;
        let retry_after = self.retry_after_secs;
        let mut response = (status, Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"heddle\""),
            );
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

impl IntoResponse for Problem {
    /// Defers rendering to the middleware, which knows the request id.
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The error type of every handler. Boxed so `Result<_, ApiError>` stays small on the
/// success path.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (*self.0).into_response()
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self(Box::new(problem))
    }
}

pub fn unauthenticated() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Authentication required",
        "Send a valid credential as `Authorization: Bearer <token>`: an API key (`hdl_…`) or \
         an access token from POST /v1/auth/login. The one given is missing, malformed, \
         unknown, expired or revoked.",
    )
}

impl From<IdentityError> for ApiError {
    fn from(err: IdentityError) -> Self {
        let problem = match err {
            IdentityError::Unauthenticated(reason) => {
                tracing::info!(reason = %reason, "authentication failed");
                unauthenticated()
            }
            IdentityError::Forbidden { action } => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed",
                format!(
                    "Your role does not allow `{action}` here. Ask a tenant admin for a role \
                     that does; GET /v1/roles lists what each role may do."
                ),
            ),
            IdentityError::NotFound { entity, id } => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("No {entity} `{id}` exists in your tenant."),
            ),
            IdentityError::Conflict {
                entity,
                field,
                value,
            } => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Already exists",
                format!("A {entity} with {field} `{value}` already exists; choose another."),
            ),
            IdentityError::Invalid { field, message } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "Invalid field",
                format!("`{field}` {message}."),
            )
            .with_errors(vec![FieldError {
                pointer: format!("/{field}"),
                detail: message,
            }]),
            IdentityError::Refused(message) => {
                Problem::new(StatusCode::CONFLICT, "refused", "Refused", message)
            }
            IdentityError::PolicyRejected(rejection) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-policy",
                "Invalid policy",
                "The Cedar policy does not parse or does not validate against Heddle's schema \
                 (GET /v1/policies/schema); see `errors`.",
            )
            .with_errors(
                rejection
                    .diagnostics
                    .iter()
                    .map(|diagnostic| FieldError {
                        pointer: match (diagnostic.line, diagnostic.column) {
                            (Some(line), Some(column)) => format!("/cedar:{line}:{column}"),
                            (Some(line), None) => format!("/cedar:{line}"),
                            _ => "/cedar".to_owned(),
                        },
                        detail: diagnostic.message.clone(),
                    })
                    .collect(),
            ),
            IdentityError::Policy(error) => {
                tracing::error!(error = %error, "policy engine error");
                Problem::from_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
            IdentityError::Crypto(error) => {
                tracing::error!(error = %error, "cryptography error");
                Problem::from_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
            IdentityError::AuditUnavailable(error) => {
                tracing::error!(error = %error, "audit log unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit-unavailable",
                    "Audit log unavailable",
                    "The audit log could not be read. Retry, and quote the request id if it persists.",
                )
            }
            IdentityError::Store(error) => {
                tracing::error!(error = %error, "storage error");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "Storage unavailable",
                    "The database did not complete the request. Retry, and quote the request id \
                     if it persists.",
                )
            }
        };
        problem.into()
    }
}

impl From<heddle_recordsource::RecordError> for ApiError {
    fn from(err: heddle_recordsource::RecordError) -> Self {
        use heddle_recordsource::RecordError;
        let problem = match err {
            RecordError::Identity(identity) => return identity.into(),
            RecordError::NoRecordOrg => Problem::new(
                StatusCode::CONFLICT,
                "no-record-org",
                "No record org",
                "This tenant has no record org yet. An admin applies one with PUT /v1/record-org \
                 or `heddle records apply`.",
            ),
            RecordError::InvalidOrg(errors) => {
                tracing::error!(
                    problems = errors.len(),
                    "the stored record org does not build"
                );
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "invalid-record-org",
                    "Record org unusable",
                    "The tenant's stored record org no longer validates; an admin re-applies a \
                     corrected one (GET /v1/record-org shows it).",
                )
            }
            RecordError::InvalidConfig(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-record-org",
                "Invalid record org",
                format!(
                    "The record org has {} problem(s); nothing was applied. See `errors`.",
                    errors.len()
                ),
            )
            .with_errors(
                errors
                    .into_iter()
                    .map(|e| FieldError {
                        pointer: e.path,
                        detail: e.message,
                    })
                    .collect(),
            ),
            RecordError::NoRecordIdentity(message) => Problem::new(
                StatusCode::FORBIDDEN,
                "no-record-identity",
                "No record identity",
                message,
            ),
            RecordError::NotFound { what } => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("No {what} exists that you may see."),
            ),
            RecordError::Denied(message) => Problem::new(
                StatusCode::FORBIDDEN,
                "record-access-denied",
                "Not allowed by the record org",
                message,
            ),
            RecordError::InvalidQuery(error) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-record-query",
                "Invalid record query",
                format!("{error}."),
            ),
            RecordError::InvalidValue(error) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-record-value",
                "Invalid field value",
                format!("{error}."),
            ),
            RecordError::Invalid(message) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "Invalid request",
                message,
            ),
            RecordError::Conflict(message) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", message)
            }
            RecordError::Store(error) => {
                tracing::error!(error = %error, "storage error");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "Storage unavailable",
                    "The database did not complete the request. Retry, and quote the request id \
                     if it persists.",
                )
            }
        };
        problem.into()
    }
}

impl From<heddle_runtime::RuntimeError> for ApiError {
    fn from(err: heddle_runtime::RuntimeError) -> Self {
        use heddle_runtime::RuntimeError;
        let problem = match err {
            RuntimeError::Identity(identity) => return identity.into(),
            RuntimeError::NotFound { entity, id } => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("No {entity} `{id}` exists that you may see."),
            ),
            RuntimeError::Invalid { field, message } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "Invalid field",
                format!("`{field}`: {message}."),
            )
            .with_errors(vec![FieldError {
                pointer: format!("/{field}"),
                detail: message,
            }]),
            RuntimeError::TurnRunning(message) => Problem::new(
                StatusCode::CONFLICT,
                "turn-running",
                "Turn running",
                message,
            ),
            RuntimeError::Refused(message) => {
                Problem::new(StatusCode::CONFLICT, "refused", "Refused", message)
            }
            RuntimeError::NotAllowed(message) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", message)
            }
            RuntimeError::TooManyAttempts(message) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "Too many attempts",
                message,
            ),
            RuntimeError::Unavailable(message) => {
                tracing::warn!(reason = %message, "runtime unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "runtime-unavailable",
                    "Runtime unavailable",
                    message,
                )
            }
        };
        problem.into()
    }
}
