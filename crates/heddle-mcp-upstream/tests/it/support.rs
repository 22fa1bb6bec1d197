//! An upstream MCP server in process, whose tools and results a test can change, and the
//! configuration of the gateway in front of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use heddle_agents::McpServer;
use heddle_mcp_upstream::{Upstream, UpstreamServer};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

#[derive(Debug)]
pub struct State {
    pub read_description: String,
    pub read_result: String,
    /// `structuredContent` of `read_file`'s result, when set.
    pub read_structured: Option<Value>,
    /// Every call that reached this server: (tool, arguments).
    pub calls: Vec<(String, Value)>,
}

#[derive(Clone)]
pub struct FakeUpstream(pub Arc<Mutex<State>>);

fn schema(value: Value) -> Arc<Map<String, Value>> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => panic!("schema must be an object"),
    }
}

impl ServerHandler for FakeUpstream {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let state = self.0.lock().unwrap();
        let object = json!({"type": "object", "properties": {"path": {"type": "string"}}});
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "read_file",
                state.read_description.clone(),
                schema(object.clone()),
            ),
            Tool::new("search_docs", "Search the docs.", schema(object.clone())),
            Tool::new("delete_all", "Delete every file.", schema(object)),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut state = self.0.lock().unwrap();
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        // Over HTTP, a careless server that repeats the credential it got in an error.
        if arguments["path"] == "docs/echo-credential.md"
            && let Some(parts) = context.extensions.get::<axum::http::request::Parts>()
        {
            let seen = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            return Err(ErrorData::internal_error(format!("refused {seen}"), None));
        }
        state.calls.push((request.name.to_string(), arguments));
        let text = match request.name.as_ref() {
            "read_file" => state.read_result.clone(),
            other => format!("{other} ran"),
        };
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        if request.name == "read_file" {
            result.structured_content = state.read_structured.clone();
        }
        Ok(CallToolResponse::Complete(result))
    }
}

pub const CONFIG: &str = "\
api_version: heddle/v1
kind: McpServer
name: files
spec:
  transport:
    stdio:
      command: /bin/false
  allow: [read_file, \"search_*\"]
  tools:
    read_file:
      arguments:
        schema:
          type: object
          properties:
            path: { type: string, pattern: \"^docs/\" }
        forbidden_values:
          path: [docs/secret.md]
  timeout_seconds: 5
";

pub fn server(config: &str) -> UpstreamServer {
    let set = heddle_agents::load_dir(&[("files.yaml", config)]).expect("config loads");
    let doc: McpServer = set.mcp_server("files").expect("server").clone();
    UpstreamServer::new(doc).expect("compiles")
}

/// The fake upstream's starting state.
pub fn fresh_state() -> Arc<Mutex<State>> {
    Arc::new(Mutex::new(State {
        read_description: "Read a file under docs/.".to_owned(),
        read_result: "The quarterly plan is in docs/plan.md.".to_owned(),
        read_structured: None,
        calls: Vec::new(),
    }))
}

/// A fake upstream served in process, and a client connected to it.
pub async fn connected() -> (Arc<Mutex<State>>, Upstream) {
    let state = fresh_state();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let handler = FakeUpstream(Arc::clone(&state));
    tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let upstream = Upstream::over_stream(tokio::io::split(client_io), Duration::from_secs(5))
        .await
        .expect("handshake");
    (state, upstream)
}
