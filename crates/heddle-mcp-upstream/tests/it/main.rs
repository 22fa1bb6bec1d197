//! Integration tests of heddle-mcp-upstream against real MCP servers: an rmcp server in
//! process over a duplex stream and over streamable HTTP on a loopback port, and the
//! official Python SDK's MCPServer over stdio and over streamable HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod gateway;
mod http;
mod http_server;
mod python;
mod support;
