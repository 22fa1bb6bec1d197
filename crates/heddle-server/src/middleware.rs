//! The layers every request passes: client address and per-IP rate limit, security headers,
//! problem rendering, metrics.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use heddle_ratelimit::{Quota, RateDecision};
use http::{HeaderName, HeaderValue, StatusCode, header};

use crate::AppState;
use crate::problem::{ApiError, PROBLEM_CONTENT_TYPE, Problem};

/// The address a request came from, after trusted-proxy resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Resolves the client address and applies the per-IP rate limit to every request.
pub async fn limit_by_client_ip(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    let ip = resolve_client_ip(peer, forwarded, &state.trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));
    check_rate_limit(&state, "ip", &ip.to_string(), state.quotas.per_ip).await?;
    Ok(next.run(request).await)
}

/// Walks `X-Forwarded-For` from the right while the hop is a trusted proxy; the first
/// untrusted hop is the client. Without a trusted peer the header is ignored, since anyone
/// can send it.
pub fn resolve_client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    let Some(peer) = peer else {
        return unspecified;
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// Applies one rate limit, answering 429 with `Retry-After` when it is exhausted.
pub async fn check_rate_limit(
    state: &AppState,
    scope: &str,
    key: &str,
    quota: Quota,
) -> Result<(), ApiError> {
    match state.limiter.check(scope, key, quota).await {
        RateDecision::Allowed { .. } => Ok(()),
        RateDecision::Limited { retry_after } => {
            metrics::counter!("heddle_rate_limited_total", "scope" => scope.to_owned())
                .increment(1);
            let secs = retry_after.as_secs_f64().ceil() as u64;
            let mut problem = Problem::from_status(StatusCode::TOO_MANY_REQUESTS);
            problem.detail = format!(
                "Too many requests for this {scope}; retry after {} second(s).",
                secs.max(1)
            );
            problem.retry_after_secs = Some(secs);
            Err(problem.into())
        }
    }
}

/// Answers 408 when a request takes longer than `http.request_timeout_secs`. A turn
/// (`POST /v1/sessions/{id}/messages`, and `POST /v1/sessions/{id}/actions/{action}/confirm`,
/// which resumes the held turn inline) is bounded by its agent's own `turn_timeout_seconds`
/// in the runtime instead, which may be longer; it gets only a backstop
/// ([`Config::turn_request_timeout`](crate::config::Config::turn_request_timeout)), so a
/// slow turn is answered with its outcome rather than cut off while it keeps running.
pub async fn limit_request_time(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = if is_turn_request(request.method(), request.uri().path()) {
        state.config.turn_request_timeout()
    } else {
        Duration::from_secs(state.config.http.request_timeout_secs)
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// `POST /v1/sessions/{id}/messages`, `POST /v1/sessions/{id}/actions/{action}/confirm`,
/// `POST /mcp/{environment}/{agent}`, and the gateway's calls upstream (bounded by their
/// route's `upstream_timeout_seconds`).
fn is_turn_request(method: &http::Method, path: &str) -> bool {
    if method != http::Method::POST {
        return false;
    }
    if crate::routes::openai::is_openai_path(path) {
        return true;
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "v1", "sessions", id, "messages"] => !id.is_empty(),
        ["", "v1", "sessions", id, "actions", action, "confirm"] => {
            !id.is_empty() && !action.is_empty()
        }
        // An MCP tool call is a turn too (its response streams once the call is done).
        ["", "mcp", environment, agent] => !environment.is_empty() && !agent.is_empty(),
        _ => false,
    }
}

/// Marks a response whose error body belongs to another protocol (JSON-RPC errors of the MCP
/// endpoint): its client reads that body, so it is not rewritten into a problem document.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolBody;

/// Writes every problem body (with the request id) and turns bare error statuses into
/// problems, so no error leaves without an RFC 9457 body (except a [`ProtocolBody`]).
pub async fn render_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let openai = crate::routes::openai::is_openai_path(request.uri().path());
    let mut response = next.run(request).await;
    if response.extensions().get::<ProtocolBody>().is_some() {
        return response;
    }
    if openai {
        return render_openai_errors(response);
    }
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None => {
            let status = response.status();
            let has_problem_body = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|ct| ct.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes());
            if !(status.is_client_error() || status.is_server_error()) || has_problem_body {
                return response;
            }
            Problem::from_status(status)
        }
    };
    let mut problem = problem;
    problem.request_id = request_id;
    let mut rendered = problem.into_body_response();
    // Keep headers other layers set (CORS, Allow on 405, …) except those the body defines.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered
                .headers_mut()
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    rendered
}

/// The OpenAI-compatible paths answer errors in OpenAI's shape: the gateway's own are
/// written already; problems from the layers before it (authentication, rate limits, body
/// size, unknown method) are rewritten, keeping their status and headers.
fn render_openai_errors(mut response: Response) -> Response {
    if response
        .extensions()
        .get::<crate::routes::openai::OpenAiShaped>()
        .is_some()
    {
        return response;
    }
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            Problem::from_status(response.status())
        }
        None => return response,
    };
    let mut rendered = crate::routes::openai::problem_response(&problem);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered
                .headers_mut()
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    rendered
}

/// Precomputed security headers, set on every response.
#[derive(Debug, Clone)]
pub struct SecurityHeaders(Vec<(HeaderName, HeaderValue)>);

impl SecurityHeaders {
    pub fn new(hsts_max_age_secs: u64) -> Self {
        let hsts =
            HeaderValue::from_str(&format!("max-age={hsts_max_age_secs}; includeSubDomains"))
                .unwrap_or_else(|_| {
                    HeaderValue::from_static("max-age=63072000; includeSubDomains")
                });
        Self(vec![
            (header::STRICT_TRANSPORT_SECURITY, hsts),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                ),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static(
                    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
                ),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ])
    }
}

pub async fn set_security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in &state.security_headers.0 {
        // A handler may choose its own caching (e.g. openapi.json); the rest always apply.
        if name == header::CACHE_CONTROL && headers.contains_key(name) {
            continue;
        }
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// Request count and latency by method, matched route and status.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("heddle_http_requests_total", &labels).increment(1);
    metrics::histogram!("heddle_http_request_duration_seconds", &labels).record(elapsed);
    if response.status().is_server_error() {
        metrics::counter!("heddle_http_server_errors_total", &labels[..2]).increment(1);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer = "203.0.113.9".parse().ok();
        let ip = resolve_client_ip(peer, Some("1.2.3.4"), &nets(&["10.0.0.0/8"]));
        assert_eq!(ip.to_string(), "203.0.113.9");
    }

    #[test]
    fn forwarded_for_is_walked_through_trusted_proxies() {
        let peer = "10.0.0.2".parse().ok();
        let ip = resolve_client_ip(
            peer,
            Some("6.6.6.6, 198.51.100.7, 10.0.0.1"),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(
            ip.to_string(),
            "198.51.100.7",
            "spoofed leftmost hop is not believed"
        );
    }

    #[test]
    fn only_posting_a_message_or_a_confirmation_is_a_turn_request() {
        let post = http::Method::POST;
        assert!(is_turn_request(&post, "/v1/sessions/0190-ab/messages"));
        assert!(is_turn_request(&post, "/v1/sessions/0190-ab/messages/"));
        assert!(is_turn_request(
            &post,
            "/v1/sessions/0190-ab/actions/0190-cd/confirm"
        ));
        assert!(is_turn_request(&post, "/mcp/dev/support_desk"));
        assert!(!is_turn_request(&post, "/mcp/dev"));
        assert!(!is_turn_request(
            &http::Method::GET,
            "/v1/sessions/0190-ab/messages"
        ));
        assert!(!is_turn_request(
            &http::Method::GET,
            "/v1/sessions/0190-ab/actions/0190-cd/confirm"
        ));
        for path in [
            "/v1/sessions//messages",
            "/v1/sessions/0190-ab/verification",
            "/v1/sessions/0190-ab/messages/x",
            "/v2/sessions/0190-ab/messages",
            "/v1/sessions/messages",
            // Declining and approving resume no turn inline.
            "/v1/sessions/0190-ab/actions/0190-cd/decline",
            "/v1/sessions/0190-ab/actions//confirm",
            "/v1/sessions//actions/0190-cd/confirm",
            "/v1/sessions/0190-ab/actions/0190-cd/confirm/x",
            "/v1/approvals/0190-cd/approve",
        ] {
            assert!(!is_turn_request(&post, path), "{path}");
        }
    }

    #[test]
    fn garbage_forwarded_for_stops_the_walk() {
        let peer = "10.0.0.2".parse().ok();
        let ip = resolve_client_ip(peer, Some("nonsense"), &nets(&["10.0.0.0/8"]));
        assert_eq!(ip.to_string(), "10.0.0.2");
    }
}
