//! The API describing itself: OpenAPI, metrics, security.txt, and the unknown-route answer.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::AppState;
use crate::problem::{ApiError, Problem};

/// The OpenAPI 3.1 description of this API, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    // The document never changes while the process runs; build it once.
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        let (_, openapi) = super::api_router().split_for_parts();
        serde_json::to_value(openapi).unwrap_or_default()
    });
    let mut response = Json(document).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn prometheus_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = &state.metrics else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "metrics-disabled",
            "Metrics disabled",
            "This process was started without a metrics recorder.",
        )
        .into());
    };
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// RFC 9116 security contact information, from the `[security_txt]` config section.
#[utoipa::path(get, path = "/.well-known/security.txt", tag = "health",
    responses((status = 200, description = "security.txt", content_type = "text/plain"),
              (status = 404, body = Problem)))]
pub async fn security_txt(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(txt) = &state.config.security_txt else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "No security.txt is configured for this deployment.",
        )
        .into());
    };
    let mut body = String::new();
    for contact in &txt.contact {
        body.push_str(&format!("Contact: {contact}\n"));
    }
    body.push_str(&format!("Expires: {}\n", txt.expires));
    if let Some(policy) = &txt.policy {
        body.push_str(&format!("Policy: {policy}\n"));
    }
    if let Some(languages) = &txt.preferred_languages {
        body.push_str(&format!("Preferred-Languages: {languages}\n"));
    }
    if let Some(acknowledgments) = &txt.acknowledgments {
        body.push_str(&format!("Acknowledgments: {acknowledgments}\n"));
    }
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// Any path that matches no route.
pub async fn unknown_route() -> ApiError {
    metrics::counter!("heddle_http_requests_total", "route" => "unmatched", "status" => "404")
        .increment(1);
    Problem::from_status(StatusCode::NOT_FOUND).into()
}
