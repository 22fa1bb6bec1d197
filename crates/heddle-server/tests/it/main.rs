//! End-to-end tests of the HTTP API on a loopback port, against a real SQLite database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking; helpers share that contract"
)]

mod harness;
mod world;

mod approvals;
mod audit;
mod auth;
mod configs;
mod errors;
mod gateway;
mod keys;
mod mcp;
mod mcp_gateway;
mod meta;
mod policies;
mod python_sdk;
mod rate_limits;
mod records;
mod roles;
mod secrets;
mod sessions;
mod siem;
mod tenants;
mod users;
