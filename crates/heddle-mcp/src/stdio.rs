//! MCP over stdin/stdout for one principal and agent (`heddle mcp`). Only protocol messages
//! are written to stdout; logs go to stderr.

use heddle_runtime::Runtime;
use rmcp::ServiceExt;

use crate::{HeddleMcp, McpRequest};

/// Serves MCP on stdin/stdout as `request`'s principal until the client closes stdin.
pub async fn serve_stdio(runtime: Runtime, request: McpRequest) -> std::io::Result<()> {
    let running = HeddleMcp::for_principal(runtime, request)
        .serve(rmcp::transport::io::stdio())
        .await
        .map_err(|err| std::io::Error::other(format!("MCP over stdio did not start: {err}")))?;
    running
        .waiting()
        .await
        .map_err(|err| std::io::Error::other(format!("MCP over stdio stopped: {err}")))?;
    Ok(())
}
