//! Request extractors whose rejections are problem documents, and the authenticated caller.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use heddle_identity::{Actor, Caller};
use heddle_types::{Principal, RequestContext};
use http::StatusCode;
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::middleware::{ClientIp, check_rate_limit};
use crate::problem::{ApiError, FieldError, Problem, unauthenticated};

/// JSON body. Malformed JSON, wrong types, unknown fields, a missing content type and an
/// oversized body each get their own problem.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(rejection).into()),
        }
    }
}

fn json_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            let detail = serde_detail(&err.body_text());
            let pointer = field_pointer(&detail);
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "Invalid request body",
                format!("The JSON does not match the expected shape: {detail}. See /openapi.json."),
            )
            .with_errors(vec![FieldError { pointer, detail }])
        }
        JsonRejection::JsonSyntaxError(err) => Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            format!(
                "The body is not valid JSON: {}.",
                serde_detail(&err.body_text())
            ),
        ),
        JsonRejection::MissingJsonContentType(_) => {
            Problem::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        }
        JsonRejection::BytesRejection(err) => {
            let status = err.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::from_status(status)
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable-body",
                    "Unreadable body",
                    "The request body could not be read completely.",
                )
            }
        }
        other => Problem::new(
            other.status(),
            "invalid-body",
            "Invalid request body",
            "The request body could not be processed as JSON.",
        ),
    }
}

/// axum prefixes serde's message with its own context ("Failed to deserialize …: "); keep
/// the part a person can act on, which starts with the field path when there is one.
fn serde_detail(body_text: &str) -> String {
    body_text
        .split_once(": ")
        .map_or(body_text, |(_, tail)| tail)
        .trim_end_matches('.')
        .to_owned()
}

/// `/email` for a message like `email: invalid type …`; `/` when no field is named.
fn field_pointer(detail: &str) -> String {
    match detail.split_once(": ") {
        Some((path, _)) if !path.is_empty() && !path.contains(' ') => {
            format!("/{}", path.replace('.', "/"))
        }
        _ => "/".to_owned(),
    }
}

/// Path parameters; a malformed id is a 404 problem naming the value, not a 400 in plain text.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_problem(rejection).into()),
        }
    }
}

fn path_problem(rejection: PathRejection) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        format!(
            "The path parameter is not valid here ({}); ids are UUIDs.",
            rejection.body_text()
        ),
    )
}

/// Query parameters, e.g. pagination.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_problem(rejection).into()),
        }
    }
}

fn query_problem(rejection: QueryRejection) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        "Invalid query parameters",
        format!("{}.", serde_detail(&rejection.body_text())),
    )
}

/// The authenticated caller. Extracting it authenticates the bearer credential and applies
/// the per-principal rate limit; a handler that takes it cannot run unauthenticated.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    /// Where the request came from, for audit events.
    pub request: RequestContext,
}

impl Authenticated {
    /// The caller as the identity service sees it.
    pub fn caller(&self) -> Caller {
        Caller::new(
            Actor::Principal(self.principal.clone()),
            self.request.clone(),
        )
    }
}

/// Client address, user agent and request id of a request, for audit events.
pub fn request_context(parts: &Parts) -> RequestContext {
    let header = |name: &str, max: usize| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.chars().take(max).collect::<String>())
    };
    RequestContext {
        client_ip: parts
            .extensions
            .get::<ClientIp>()
            .map(|ClientIp(ip)| ip.to_string()),
        user_agent: header("user-agent", 512),
        request_id: header("x-request-id", 128),
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(existing) = parts.extensions.get::<Authenticated>() {
            return Ok(existing.clone());
        }
        let credential = bearer_credential(&parts.headers).ok_or_else(unauthenticated)?;
        let request = request_context(parts);
        let principal = state
            .identity
            .authenticate_bearer(credential, &request)
            .await?;
        let bucket = format!("{}:{}", principal.tenant_id, principal.id);
        check_rate_limit(state, "principal", &bucket, state.quotas.per_principal).await?;
        tracing::Span::current().record("principal", tracing::field::display(&principal.id));
        let authenticated = Authenticated { principal, request };
        parts.extensions.insert(authenticated.clone());
        Ok(authenticated)
    }
}

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110).
pub fn bearer_credential(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The client address as the rate limiter and logs see it.
impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(std::net::IpAddr::from([0, 0, 0, 0]))))
    }
}

/// The request's audit context, for handlers that run before anyone is authenticated.
#[derive(Debug, Clone)]
pub struct RequestInfo(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for RequestInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_context(parts)))
    }
}
