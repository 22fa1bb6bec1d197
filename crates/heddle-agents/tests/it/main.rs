//! Integration tests of heddle-agents: loading, errors, tool schemas, lint, SARIF, examples.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod examples;
mod lint;
mod load;
mod mcp_server;
mod routes;
mod support;
mod tools;
mod validate;
