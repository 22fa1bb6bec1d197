//! Integration tests of heddle-mcp-upstream against real MCP servers: an rmcp server in
//! process over a duplex stream, and the official Python SDK's MCPServer over stdio.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod gateway;
mod python;
mod support;
