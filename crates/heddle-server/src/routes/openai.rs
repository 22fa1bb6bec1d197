//! The OpenAI-compatible endpoint: `POST /v1/chat/completions` (with and without `stream`),
//! `GET /v1/models`, `POST /v1/embeddings`. Each handler reads the body and the
//! `Heddle-Environment` header and calls the gateway (`heddle-gateway`), which routes,
//! screens, masks, budgets, forwards and records.
//!
//! Errors on these paths are OpenAI's shape `{"error": {"message", "type", "param", "code"}}`
//! (OpenAI clients parse that, not RFC 9457); `render_problems` writes the problems of the
//! layers before the handler (authentication, rate limits, body size) in that shape too. Every
//! recorded request answers with `Heddle-Execution-Id`, the execution to look up at
//! `GET /v1/executions/{id}`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use heddle_gateway::{ChatAnswer, GatewayError, Outcome};
use heddle_types::{Environment, ExecutionId};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::AppState;
use crate::extract::Authenticated;
use crate::problem::Problem;

pub const EXECUTION_HEADER: &str = "heddle-execution-id";
const ENVIRONMENT_HEADER: &str = "heddle-environment";

/// Paths answered in OpenAI's error shape.
pub fn is_openai_path(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/v1/chat/completions" | "/v1/models" | "/v1/embeddings"
    )
}

/// Marks a response whose body is already OpenAI's error shape.
#[derive(Debug, Clone, Copy)]
pub struct OpenAiShaped;

/// A gateway error as OpenAI clients read it.
pub fn error_response(error: &GatewayError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(error.body())).into_response();
    if let Some(secs) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response.extensions_mut().insert(OpenAiShaped);
    response
}

/// A problem raised before the gateway (authentication, rate limits, body size) in OpenAI's
/// shape, keeping its status, `Retry-After` and `WWW-Authenticate`.
pub fn problem_response(problem: &Problem) -> Response {
    let (kind, code) = match problem.status.as_u16() {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("permission_error", Some("permission_denied")),
        404 => ("invalid_request_error", Some("not_found")),
        408 | 504 => ("server_error", Some("timeout")),
        413 => ("invalid_request_error", Some("request_too_large")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        status if status >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    let body = serde_json::json!({
        "error": {
            "message": problem.detail,
            "type": kind,
            "param": null,
            "code": code,
        }
    });
    let mut response = (problem.status, axum::Json(body)).into_response();
    if let Some(secs) = problem.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    if problem.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"heddle\""),
        );
    }
    response.extensions_mut().insert(OpenAiShaped);
    response
}

/// `Heddle-Environment`, when sent; a value that is no environment is the caller's error.
fn environment(headers: &HeaderMap) -> Result<Option<Environment>, Box<Response>> {
    let Some(value) = headers.get(ENVIRONMENT_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Box::new(error_response(&GatewayError::invalid(
                "the Heddle-Environment header must be `dev`, `staging` or `prod`",
                None,
            )))
        })
}

fn with_execution(mut response: Response, execution_id: Option<ExecutionId>) -> Response {
    if let Some(id) = execution_id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static(EXECUTION_HEADER), value);
    }
    response
}

fn answer<T>(outcome: Outcome<T>, body: impl FnOnce(T) -> Response) -> Response {
    let response = match outcome.result {
        Ok(value) => body(value),
        Err(error) => error_response(&error),
    };
    with_execution(response, outcome.execution_id)
}

/// Create a chat completion through a route (OpenAI Chat Completions). The route is the
/// key's pinned one, or the one `model` names in the `Heddle-Environment` environment. With
/// `stream: true` the answer is server-sent events ending in `data: [DONE]`, or in an
/// `error` event when a guardrail or the upstream stops it.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "gateway", security(("bearer" = [])),
    request_body(content = Object, description = "An OpenAI Chat Completions request"),
    responses((status = 200, body = Object, description = "A chat completion, or `text/event-stream` chunks"),
              (status = 400, body = Object, description = "OpenAI error shape"),
              (status = 401, body = Object), (status = 403, body = Object), (status = 404, body = Object),
              (status = 429, body = Object), (status = 502, body = Object), (status = 504, body = Object)))]
pub async fn chat_completions(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let environment = match environment(&headers) {
        Ok(environment) => environment,
        Err(response) => return *response,
    };
    let outcome = state
        .gateway
        .chat_completions(&caller.caller(), environment, &body)
        .await;
    answer(outcome, |answer| match answer {
        ChatAnswer::Complete(value) => axum::Json(value).into_response(),
        ChatAnswer::Stream(receiver) => {
            let stream = futures::stream::unfold(receiver, |mut receiver| async move {
                receiver
                    .recv()
                    .await
                    .map(|text| (Ok::<_, std::io::Error>(Bytes::from(text)), receiver))
            });
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                    (HeaderName::from_static("x-accel-buffering"), "no"),
                ],
                Body::from_stream(stream),
            )
                .into_response()
        }
    })
}

/// The routes you may use, as OpenAI models (`id` is the route's name).
#[utoipa::path(get, path = "/v1/models", tag = "gateway", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "`{\"object\": \"list\", \"data\": [models]}`"),
              (status = 401, body = Object)))]
pub async fn list_models(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
) -> Response {
    let environment = match environment(&headers) {
        Ok(environment) => environment,
        Err(response) => return *response,
    };
    match state
        .gateway
        .list_models(&caller.caller(), environment)
        .await
    {
        Ok(list) => axum::Json(list).into_response(),
        Err(error) => error_response(&error),
    }
}

/// Create embeddings through a route: the input masked, the vectors as the upstream made them.
#[utoipa::path(post, path = "/v1/embeddings", tag = "gateway", security(("bearer" = [])),
    request_body(content = Object, description = "An OpenAI Embeddings request"),
    responses((status = 200, body = Object), (status = 400, body = Object), (status = 401, body = Object),
              (status = 404, body = Object), (status = 429, body = Object)))]
pub async fn embeddings(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let environment = match environment(&headers) {
        Ok(environment) => environment,
        Err(response) => return *response,
    };
    let outcome = state
        .gateway
        .embeddings(&caller.caller(), environment, &body)
        .await;
    answer(outcome, |value| axum::Json(value).into_response())
}
