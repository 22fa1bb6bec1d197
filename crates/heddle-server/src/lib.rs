//! Heddle's HTTP server: the `/v1` JSON API for tenants, users, roles, API keys, policies,
//! secrets, agent configurations, records and agent sessions (the governed runtime), MCP at
//! `/mcp/{environment}/{agent}` (authenticated here, served by `heddle-mcp`), health
//! and readiness, Prometheus metrics, the OpenAPI document, and the middleware every
//! request passes (request ids, security headers, CORS, body limits, timeouts, rate limits,
//! RFC 9457 problem documents).
//!
//! Invariants: handlers are thin — they parse, call one service function (`heddle-identity`,
//! the record source or `heddle-runtime`) and map the result; this is the only crate that
//! knows HTTP status codes; request bodies and credentials are never logged.

mod app;
pub mod config;
mod extract;
mod middleware;
mod problem;
mod routes;
pub mod telemetry;

pub use app::{
    AppState, Quotas, StartupError, build_router, build_state, build_state_with_mailer, serve_until,
};
pub use problem::{PROBLEM_CONTENT_TYPE, Problem};
