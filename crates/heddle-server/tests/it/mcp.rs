//! MCP over streamable HTTP at `/mcp/{environment}/{agent}`, spoken as raw JSON-RPC: bearer
//! authentication like the API, `Origin` checks, sessions bound to the principal who opened
//! them, tools listed and called as that principal (held calls included), and the stateless
//! protocol revision where each request stands alone.

use heddle_types::Role;
use reqwest::Response;
use serde_json::{Value, json};

use crate::world::{ANA, BEN, UNUSED, World, id};

const PATH: &str = "/mcp/dev/rep_assistant";
const ACCEPT: &str = "application/json, text/event-stream";

async fn post(
    world: &World,
    path: &str,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> Response {
    let mut request = world
        .server
        .client
        .post(format!("{}{path}", world.server.base))
        .header("accept", ACCEPT)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    request.send().await.unwrap()
}

/// The JSON-RPC message of a response, whether it came as JSON or as server-sent events.
async fn message(response: Response) -> Value {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    if let Ok(value) = serde_json::from_str::<Value>(&body) {
        return value;
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC message in {body}"))
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// `initialize` and `notifications/initialized`; the session id.
async fn open(world: &World, path: &str, token: &str) -> Result<String, Value> {
    let response = post(
        world,
        path,
        Some(token),
        None,
        &request(
            1,
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "heddle-test", "version": "1"}
            }),
        ),
    )
    .await;
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let reply = message(response).await;
    if reply.get("error").is_some() {
        return Err(reply);
    }
    assert_eq!(reply["result"]["serverInfo"]["name"], "heddle", "{reply}");
    assert!(
        reply["result"]["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("awaiting_approval"))
    );
    let session = session.expect("a session id");
    let initialized = post(
        world,
        path,
        Some(token),
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(initialized.status().as_u16(), 202);
    Ok(session)
}

async fn call(
    world: &World,
    token: &str,
    session: &str,
    id: u64,
    name: &str,
    arguments: Value,
) -> Value {
    message(
        post(
            world,
            PATH,
            Some(token),
            Some(session),
            &request(
                id,
                "tools/call",
                json!({"name": name, "arguments": arguments}),
            ),
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn the_endpoint_needs_a_bearer_credential_and_refuses_other_origins() {
    let world = World::start_with(|config| {
        config.mcp.allowed_origins = vec!["https://app.example.com".to_owned()];
    })
    .await;
    world.apply(UNUSED, "", UNUSED).await;
    let ana = world.token(ANA).await;
    let list = request(
        1,
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}
        }),
    );
    let anonymous = post(&world, PATH, None, None, &list).await;
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(
        anonymous
            .headers()
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer"))
    );
    let bad = post(&world, PATH, Some("hdl_not_a_key"), None, &list).await;
    assert_eq!(bad.status().as_u16(), 401);

    let with_origin = |origin: &'static str| {
        world
            .server
            .client
            .post(format!("{}{PATH}", world.server.base))
            .header("accept", ACCEPT)
            .header("origin", origin)
            .bearer_auth(&ana)
            .json(&list)
    };
    // A page of another site (DNS rebinding included) is refused before anything runs.
    let foreign = with_origin("https://evil.example").send().await.unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    let listed = with_origin("https://app.example.com").send().await.unwrap();
    assert_eq!(listed.status().as_u16(), 200);
    // MCP clients outside a browser send no Origin.
    assert!(open(&world, PATH, &ana).await.is_ok());

    // An unknown environment is not a route.
    let nowhere = post(&world, "/mcp/moon/rep_assistant", Some(&ana), None, &list).await;
    assert_eq!(nowhere.status().as_u16(), 404);
}

#[tokio::test]
async fn a_session_lists_and_calls_tools_as_its_principal_and_refuses_anyone_else() {
    let world = World::start().await;
    world.apply(UNUSED, "", UNUSED).await;
    let ana = world.token(ANA).await;
    let session = open(&world, PATH, &ana).await.unwrap();

    let listed = message(
        post(
            &world,
            PATH,
            Some(&ana),
            Some(&session),
            &request(2, "tools/list", json!({})),
        )
        .await,
    )
    .await;
    let tools = listed["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "list_my_accounts",
            "get_account",
            "rename_account",
            "heddle-action-status",
            "heddle-confirm"
        ]
    );
    let properties = tools[0]["inputSchema"]["properties"].as_object().unwrap();
    assert!(properties.contains_key("industry"));
    assert!(!properties.contains_key("owner"), "bound inputs are hidden");
    assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);

    let shown = call(
        &world,
        &ana,
        &session,
        3,
        "get_account",
        json!({"account_id": id("001", 1)}),
    )
    .await;
    let result = &shown["result"];
    assert_eq!(result["isError"], false, "{shown}");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Alpine")
    );
    assert_eq!(
        result["structuredContent"]["record"]["fields"]["Name"],
        "Alpine"
    );
    let execution = result["_meta"]["heddle/execution_id"].as_str().unwrap();
    let recorded = world
        .get(&ana, &format!("/v1/executions/{execution}"))
        .await;
    let recorded: Value = recorded.json().await.unwrap();
    assert_eq!(recorded["status"], "completed", "{recorded}");
    assert_eq!(recorded["steps"][1]["detail"]["origin"], "mcp");

    // Outside the schema: a tool error the caller can read and correct.
    let wrong = call(
        &world,
        &ana,
        &session,
        4,
        "list_my_accounts",
        json!({"industry": "Retail", "owner": "005"}),
    )
    .await;
    assert_eq!(wrong["result"]["isError"], true, "{wrong}");
    assert!(
        wrong["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("refused (schema)")
    );
    // Not a tool at all: a protocol error.
    let unknown = call(&world, &ana, &session, 5, "drop_tables", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    // A held call is a result saying who must act, then runs once confirmed.
    let held = call(
        &world,
        &ana,
        &session,
        6,
        "rename_account",
        json!({"account_id": id("001", 1), "name": "Alpine Holdings"}),
    )
    .await;
    let pending = &held["result"]["structuredContent"];
    assert_eq!(held["result"]["isError"], false, "{held}");
    assert_eq!(pending["status"], "awaiting_confirmation", "{held}");
    let action = pending["action_id"].as_str().unwrap().to_owned();
    let token = pending["confirmation_token"].as_str().unwrap().to_owned();
    let status = call(
        &world,
        &ana,
        &session,
        7,
        "heddle-action-status",
        json!({"action_id": action}),
    )
    .await;
    assert_eq!(
        status["result"]["structuredContent"]["status"], "awaiting_confirmation",
        "{status}"
    );
    let confirmed = call(
        &world,
        &ana,
        &session,
        8,
        "heddle-confirm",
        json!({"action_id": action, "confirmation_token": token}),
    )
    .await;
    let confirmed = &confirmed["result"]["structuredContent"];
    assert_eq!(confirmed["status"], "completed", "{confirmed}");
    assert_eq!(
        confirmed["result"]["content"]["updated"]["fields"]["Name"],
        "Alpine Holdings"
    );

    // Ana's session id with Ben's credential is refused: the id alone proves nothing.
    let ben = world.token(BEN).await;
    for (id, method, params) in [
        (9, "tools/list", json!({})),
        (
            10,
            "tools/call",
            json!({"name": "get_account", "arguments": {"account_id": id("001", 2)}}),
        ),
    ] {
        let foreign = message(
            post(
                &world,
                PATH,
                Some(&ben),
                Some(&session),
                &request(id, method, params),
            )
            .await,
        )
        .await;
        assert!(
            foreign["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("another principal")),
            "{foreign}"
        );
    }
    // Nor does the session answer for another agent.
    let elsewhere = message(
        post(
            &world,
            "/mcp/dev/support",
            Some(&ana),
            Some(&session),
            &request(11, "tools/list", json!({})),
        )
        .await,
    )
    .await;
    assert!(elsewhere.get("error").is_some(), "{elsewhere}");
}

#[tokio::test]
async fn an_api_key_is_refused_by_an_employee_agent_at_initialize() {
    let world = World::start().await;
    world.apply(UNUSED, "", UNUSED).await;
    let key = world.server.key(Role::Operator).to_owned();
    let refused = open(&world, PATH, &key).await.unwrap_err();
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("employee agent")),
        "{refused}"
    );
}

#[tokio::test]
async fn a_stateless_request_stands_alone_as_its_own_principal() {
    let world = World::start().await;
    world.apply(UNUSED, "", UNUSED).await;
    let ana = world.token(ANA).await;
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "heddle-test", "version": "1"}
    });
    // Per request: the revision, and the method (and tool) in headers for routers.
    let stateless = |id: u64, method: &str, mut params: Value| {
        params["_meta"] = meta.clone();
        let mut post = world
            .server
            .client
            .post(format!("{}{PATH}", world.server.base))
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .bearer_auth(&ana);
        if let Some(name) = params["name"].as_str() {
            post = post.header("mcp-name", name);
        }
        post.json(&request(id, method, params))
    };
    // A malformed request is answered in JSON-RPC, not rewritten into a problem document.
    let mismatched = stateless(9, "tools/list", json!({}))
        .header("mcp-method", "tools/call")
        .send()
        .await
        .unwrap();
    assert_eq!(mismatched.status().as_u16(), 400);
    let error: Value = mismatched.json().await.unwrap();
    assert_eq!(error["jsonrpc"], "2.0", "{error}");
    assert!(error["error"]["message"].is_string(), "{error}");

    let listed = message(stateless(1, "tools/list", json!({})).send().await.unwrap()).await;
    assert_eq!(
        listed["result"]["tools"].as_array().unwrap().len(),
        5,
        "{listed}"
    );
    let shown = message(
        stateless(
            2,
            "tools/call",
            json!({"name": "get_account", "arguments": {"account_id": id("001", 1)}}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        shown["result"]["structuredContent"]["record"]["fields"]["Name"], "Alpine",
        "{shown}"
    );
    let session = shown["result"]["_meta"]["heddle/session_id"]
        .as_str()
        .unwrap();
    let view: Value = world
        .get(&ana, &format!("/v1/sessions/{session}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["channel"], "mcp", "{view}");
    assert_eq!(view["principal_kind"], "user");
}
