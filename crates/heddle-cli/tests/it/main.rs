//! Tests of the real `heddle` binary: fresh start, bootstrap, SIGTERM, config check, the
//! admin and keys commands, and two servers sharing one PostgreSQL database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking; helpers share that contract"
)]

mod harness;

mod agents;
mod audit;
mod commands;
mod demo;
mod hitl;
mod mcp;
mod postgres;
mod records;
mod runtime;
mod secrets;
mod serve;
mod trust;
