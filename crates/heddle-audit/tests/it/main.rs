//! Integration tests for `heddle-audit`: Merkle proofs against independent implementations,
//! and the export verifier against every tampering case the issue lists.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod export;
mod merkle;
mod support;
