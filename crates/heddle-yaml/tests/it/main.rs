//! The demo org in `examples/demo-org`: its `org.yaml` parses and builds, and its records
//! import cleanly, refer to each other consistently and are visible as its README says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod demo_org;
