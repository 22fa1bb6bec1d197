//! Record ids, and access evaluation: table tests for the classic cases and property tests
//! over random orgs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod access_cases;
mod access_props;
mod config;
mod fixture;
mod query;
mod record_id;
mod values;
mod visibility;
