//! The runtime in-process on a temp SQLite database with a manual clock: turns, stale-turn
//! protection, budgets, contract refusals, identity modes and content privacy. The HTTP
//! surface and a real `heddle serve` are tested in heddle-server and heddle-cli.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking; helpers share that contract"
)]

mod direct;
mod harness;
mod hitl;
mod providers;
mod service;
mod trust;
mod turns;
mod upstream;
