//! Human in the loop over HTTP: confirming or declining a held call with the turn's token
//! (`/v1/sessions/{id}/actions/{action}/confirm|decline`), and approvers listing, reading,
//! approving and rejecting (`/v1/approvals`), in the world of [`crate::world`].

use std::time::Duration;

use heddle_types::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, expect_problem, json};
use crate::world::{ANA, BEN, UNUSED, World, detail_text, files, id};

/// The rep's script: rename Alpine to `name`, then `then` (more scripted turns).
fn rename_script(name: &str, then: &str) -> String {
    format!(
        "- tool_calls:\n    - name: rename_account\n      arguments: {{ account_id: \"{}\", name: \"{name}\" }}\n{then}",
        id("001", 1)
    )
}

/// The agent files with `rename_account` reviewed as `review` (YAML lines of its spec, e.g.
/// `human_in_the_loop: approval`) instead of by confirmation.
fn reviewed(rep_script: &str, review: &str) -> Value {
    let mut all = files(rep_script, "", UNUSED);
    let rename = all["files"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["path"] == "rename.yaml")
        .unwrap();
    let content = rename["content"].as_str().unwrap();
    assert!(content.contains("  human_in_the_loop: confirmation\n"));
    rename["content"] = Value::from(content.replace("  human_in_the_loop: confirmation\n", review));
    all
}

const BY_ADMIN: &str = "  human_in_the_loop: approval\n  approval: { approver_role: admin }\n";

async fn account_name(w: &World) -> String {
    let ana = w.token(ANA).await;
    let account = json(
        w.get(&ana, &format!("/v1/records/Account/{}", id("001", 1)))
            .await,
        200,
    )
    .await;
    account["fields"]["Name"].as_str().unwrap().to_owned()
}

/// Audit events with `action`, as a compliance officer reads them.
async fn events(server: &TestServer, action: &str) -> Vec<Value> {
    let page = json(
        server
            .as_role(
                Role::ComplianceOfficer,
                Method::GET,
                &format!("/v1/audit/events?action={action}&limit=500"),
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

async fn approval(w: &World, action_id: &str) -> Value {
    json(
        w.server
            .as_role(
                Role::Admin,
                Method::GET,
                &format!("/v1/approvals/{action_id}"),
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

async fn listed(w: &World, query: &str) -> Vec<Value> {
    let page = json(
        w.server
            .as_role(Role::Viewer, Method::GET, &format!("/v1/approvals?{query}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

/// Approves or rejects with `token`; returns the response.
async fn decide(
    w: &World,
    token: &str,
    action_id: &str,
    verb: &str,
    body: Value,
) -> reqwest::Response {
    w.post(token, &format!("/v1/approvals/{action_id}/{verb}"), body)
        .await
}

/// Waits until the execution of `outcome` has `status`.
async fn wait_for_execution(w: &World, outcome: &Value, status: &str) -> Value {
    let mut execution = Value::Null;
    for _ in 0..100 {
        execution = w.execution(outcome).await;
        if execution["status"] == status {
            return execution;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("the execution never became {status}: {execution}");
}

#[tokio::test]
async fn a_confirmation_runs_the_held_call_once_and_resumes_the_turn_inline() {
    let w = World::start().await;
    w.apply(
        &rename_script(
            "Alpine Outdoors",
            "- expect: { last_tool_result_contains: Alpine Outdoors }\n  text: Renamed it.\n",
        ),
        "",
        UNUSED,
    )
    .await;
    let ana = w.token(ANA).await;
    let ben = w.token(BEN).await;
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename my account").await;
    assert_eq!(held["status"], "awaiting_confirmation", "{held}");
    let pending = &held["pending_action"];
    assert_eq!(pending["capability"], "rename_account");
    assert_eq!(pending["arguments"]["name"], "Alpine Outdoors");
    assert_eq!(pending["arguments_hash"].as_str().unwrap().len(), 64);
    let action_id = pending["id"].as_str().unwrap().to_owned();
    let token = pending["confirmation_token"].as_str().unwrap().to_owned();
    assert_eq!(account_name(&w).await, "Alpine");
    let confirm = format!("/v1/sessions/{session}/actions/{action_id}/confirm");

    // Someone else, even with the token: the session is not theirs.
    let problem = expect_problem(w.post(&ben, &confirm, json!({"token": token})).await, 404).await;
    assert_eq!(problem["type"], "urn:heddle:problem:not-found");
    // A wrong token decides nothing.
    let problem = expect_problem(
        w.post(&ana, &confirm, json!({"token": "not-the-token"}))
            .await,
        409,
    )
    .await;
    assert!(detail_text(&problem).contains("token"), "{problem}");
    assert_eq!(
        approval(&w, &action_id).await["status"],
        "awaiting_confirmation"
    );

    let confirmed = json(w.post(&ana, &confirm, json!({"token": token})).await, 200).await;
    let action = &confirmed["action"];
    assert_eq!(action["status"], "completed", "{confirmed}");
    assert_eq!(action["result"]["ok"], true, "{confirmed}");
    assert!(action["decided_by"].as_str().unwrap().starts_with("user:"));
    let turn = &confirmed["turn"];
    assert_eq!(turn["status"], "completed", "{confirmed}");
    assert_eq!(turn["reply"], "Renamed it.");
    assert_eq!(turn["execution_id"], held["execution_id"]);
    assert_eq!(account_name(&w).await, "Alpine Outdoors");

    // The token is spent.
    let problem = expect_problem(w.post(&ana, &confirm, json!({"token": token})).await, 409).await;
    assert_eq!(problem["type"], "urn:heddle:problem:refused");
    assert_eq!(events(&w.server, "record.update").await.len(), 1);
    assert_eq!(events(&w.server, "action.confirm").await.len(), 1);
    assert_eq!(events(&w.server, "action.complete").await.len(), 1);

    // The token is in no record and no audit event.
    let execution = w.execution(&held).await;
    assert_eq!(execution["status"], "completed");
    assert!(!execution.to_string().contains(&token));
    let all = json(
        w.server
            .as_role(Role::Admin, Method::GET, "/v1/audit/events?limit=500")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(!all.to_string().contains(&token));
    let view = approval(&w, &action_id).await;
    assert_eq!(view["mode"], "confirmation");
    assert!(!view.to_string().contains(&token), "{view}");
}

#[tokio::test]
async fn declining_runs_nothing_and_spends_the_token() {
    let w = World::start().await;
    w.apply(&rename_script("Nope", "- text: unused\n"), "", UNUSED)
        .await;
    let ana = w.token(ANA).await;
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename").await;
    let action_id = held["pending_action"]["id"].as_str().unwrap();
    let token = held["pending_action"]["confirmation_token"]
        .as_str()
        .unwrap();
    let base = format!("/v1/sessions/{session}/actions/{action_id}");

    expect_problem(
        w.post(&ana, &format!("{base}/decline"), json!({"token": "wrong"}))
            .await,
        409,
    )
    .await;
    let declined = json(
        w.post(&ana, &format!("{base}/decline"), json!({"token": token}))
            .await,
        200,
    )
    .await;
    assert_eq!(declined["action"]["status"], "rejected", "{declined}");
    assert!(declined.get("turn").is_none(), "{declined}");
    assert_eq!(account_name(&w).await, "Alpine");
    for verb in ["confirm", "decline"] {
        expect_problem(
            w.post(&ana, &format!("{base}/{verb}"), json!({"token": token}))
                .await,
            409,
        )
        .await;
    }
    assert_eq!(events(&w.server, "action.decline").await.len(), 1);
    assert!(events(&w.server, "record.update").await.is_empty());
}

#[tokio::test]
async fn an_approver_approves_never_the_requester_and_the_action_runs_once() {
    let w = World::start().await;
    w.apply_files(&reviewed(
        &rename_script(
            "Alpine Approved",
            "- expect: { last_tool_result_contains: Alpine Approved }\n  text: Done after approval.\n",
        ),
        BY_ADMIN,
    ))
    .await;
    let ana = w.token(ANA).await;
    let ben = w.token(BEN).await;
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename, please").await;
    assert_eq!(held["status"], "awaiting_approval", "{held}");
    assert!(held["pending_action"].get("confirmation_token").is_none());
    let action_id = held["pending_action"]["id"].as_str().unwrap().to_owned();

    // Waiting, for anyone who may view executions.
    let waiting = listed(&w, "status=awaiting_approval").await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["id"], action_id.as_str());
    assert_eq!(waiting[0]["approver_role"], "admin");
    assert_eq!(waiting[0]["arguments"]["name"], "Alpine Approved");
    assert!(waiting[0]["decided_by"].is_null());

    // The requester cannot approve their own request; an operator is not the approver role,
    // and neither is a viewer.
    let problem = expect_problem(
        decide(&w, &ana, &action_id, "approve", json!({})).await,
        403,
    )
    .await;
    assert!(
        detail_text(&problem).contains("cannot approve"),
        "{problem}"
    );
    let problem = expect_problem(
        decide(&w, &ben, &action_id, "approve", json!({})).await,
        403,
    )
    .await;
    assert_eq!(problem["type"], "urn:heddle:problem:forbidden");
    assert!(
        detail_text(&problem).contains("decided by the `admin` role"),
        "{problem}"
    );
    expect_problem(
        w.server
            .as_role(
                Role::Viewer,
                Method::POST,
                &format!("/v1/approvals/{action_id}/approve"),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert_eq!(account_name(&w).await, "Alpine");
    assert_eq!(
        approval(&w, &action_id).await["status"],
        "awaiting_approval"
    );

    // Ninety seconds later an admin approves: the action runs before the answer.
    w.server.clock.advance(time::Duration::seconds(90));
    let decided = json(
        w.server
            .as_role(
                Role::Admin,
                Method::POST,
                &format!("/v1/approvals/{action_id}/approve"),
            )
            .json(&json!({"comment": "fine"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let action = &decided["action"];
    assert_eq!(action["status"], "completed", "{decided}");
    assert_eq!(action["result"]["ok"], true, "{decided}");
    assert!(
        action["result"]["record_ids"][0]
            .as_str()
            .unwrap()
            .starts_with(&id("001", 1))
    );
    assert_eq!(account_name(&w).await, "Alpine Approved");
    // The turn resumes in the background and finishes with the result.
    let execution = wait_for_execution(&w, &held, "completed").await;
    assert!(
        execution["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "tool_result" && s["detail"]["action_id"] == action_id.as_str()),
        "{execution}"
    );

    // Who decided, how long it waited, and the comment.
    let view = approval(&w, &action_id).await;
    assert!(
        view["decided_by"].as_str().unwrap().starts_with("api_key:"),
        "{view}"
    );
    assert_eq!(view["waited_ms"], 90_000, "{view}");
    assert_eq!(view["comment"], "fine");
    assert!(view["completed_at"].is_string(), "{view}");
    assert!(view["requested_by"].as_str().unwrap().starts_with("user:"));

    // A second approval decides nothing and runs nothing.
    let problem = expect_problem(
        w.server
            .as_role(
                Role::Admin,
                Method::POST,
                &format!("/v1/approvals/{action_id}/approve"),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    assert!(
        detail_text(&problem).contains("decided already"),
        "{problem}"
    );
    assert_eq!(events(&w.server, "record.update").await.len(), 1);
    for action in ["action.request", "action.approve", "action.complete"] {
        assert_eq!(events(&w.server, action).await.len(), 1, "{action}");
    }

    // Filters.
    assert!(listed(&w, "status=awaiting_approval").await.is_empty());
    assert_eq!(listed(&w, "status=completed").await.len(), 1);
    assert_eq!(listed(&w, "capability=rename_account").await.len(), 1);
    assert!(listed(&w, "capability=get_account").await.is_empty());
    assert_eq!(listed(&w, &format!("session_id={session}")).await.len(), 1);
    assert!(
        listed(&w, &format!("session_id={}", uuid::Uuid::now_v7()))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_confirmation_then_an_approval_runs_once_both_are_given() {
    let w = World::start().await;
    w.apply_files(&reviewed(
        &rename_script("Twice Checked", "- text: Done.\n"),
        "  human_in_the_loop: confirmation_then_approval\n",
    ))
    .await;
    let ana = w.token(ANA).await;
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename").await;
    assert_eq!(held["status"], "awaiting_confirmation", "{held}");
    let action_id = held["pending_action"]["id"].as_str().unwrap().to_owned();
    let token = held["pending_action"]["confirmation_token"]
        .as_str()
        .unwrap();
    // Nobody approves before the person confirmed.
    expect_problem(
        w.server
            .as_role(
                Role::Admin,
                Method::POST,
                &format!("/v1/approvals/{action_id}/approve"),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    let confirmed = json(
        w.post(
            &ana,
            &format!("/v1/sessions/{session}/actions/{action_id}/confirm"),
            json!({"token": token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        confirmed["action"]["status"], "awaiting_approval",
        "{confirmed}"
    );
    assert!(confirmed.get("turn").is_none(), "{confirmed}");
    assert_eq!(account_name(&w).await, "Alpine");
    let decided = json(
        w.server
            .as_role(
                Role::Admin,
                Method::POST,
                &format!("/v1/approvals/{action_id}/approve"),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(decided["action"]["status"], "completed", "{decided}");
    assert_eq!(account_name(&w).await, "Twice Checked");
    wait_for_execution(&w, &held, "completed").await;
}

#[tokio::test]
async fn a_rejected_or_expired_action_never_runs() {
    let w = World::start().await;
    w.apply_files(&reviewed(
        &rename_script("Never", "- text: unused\n"),
        "  human_in_the_loop: approval\n  approval: { approver_role: admin, expires_after_seconds: 600 }\n",
    ))
    .await;
    let ana = w.token(ANA).await;
    let admin = w.server.key(Role::Admin).to_owned();

    // Rejected, with a comment (too long a comment is refused first).
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename").await;
    let rejected_id = held["pending_action"]["id"].as_str().unwrap().to_owned();
    let problem = expect_problem(
        decide(
            &w,
            &admin,
            &rejected_id,
            "reject",
            json!({"comment": "x".repeat(2001)}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem["errors"][0]["pointer"], "/comment", "{problem}");
    let rejected = json(
        decide(
            &w,
            &admin,
            &rejected_id,
            "reject",
            json!({"comment": "Not this quarter."}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(rejected["action"]["status"], "rejected", "{rejected}");
    assert_eq!(rejected["action"]["comment"], "Not this quarter.");
    assert!(rejected["action"]["result"].is_null());
    expect_problem(
        decide(&w, &admin, &rejected_id, "approve", json!({})).await,
        409,
    )
    .await;

    // Expired: nobody decided within ten minutes; the worker expires it.
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename").await;
    let expired_id = held["pending_action"]["id"].as_str().unwrap().to_owned();
    w.server.clock.advance(time::Duration::minutes(11));
    assert!(w.server.runtime.run_due_actions().await.unwrap() >= 1);
    let view = approval(&w, &expired_id).await;
    assert_eq!(view["status"], "expired", "{view}");
    expect_problem(
        decide(&w, &admin, &expired_id, "approve", json!({})).await,
        409,
    )
    .await;

    // Whatever the worker does later, neither ran.
    w.server.runtime.run_due_actions().await.unwrap();
    assert_eq!(account_name(&w).await, "Alpine");
    assert!(events(&w.server, "record.update").await.is_empty());
    assert!(events(&w.server, "action.complete").await.is_empty());
    assert_eq!(events(&w.server, "action.reject").await.len(), 1);
    assert_eq!(events(&w.server, "action.expire").await.len(), 1);
    assert_eq!(listed(&w, "status=rejected").await.len(), 1);
    assert_eq!(listed(&w, "status=expired").await.len(), 1);
}

#[tokio::test]
async fn a_confirmation_outlasts_the_request_timeout_like_a_message() {
    // The confirmed call's turn resumes inline: the agent's timeout bounds it, not
    // `http.request_timeout_secs`.
    let w = World::start_with(|config| config.http.request_timeout_secs = 1).await;
    w.apply(
        &rename_script("Slowly", "- delay_ms: 1500\n  text: Renamed, slowly.\n"),
        "",
        UNUSED,
    )
    .await;
    let ana = w.token(ANA).await;
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename").await;
    let action_id = held["pending_action"]["id"].as_str().unwrap();
    let token = held["pending_action"]["confirmation_token"]
        .as_str()
        .unwrap();
    let confirmed = json(
        w.post(
            &ana,
            &format!("/v1/sessions/{session}/actions/{action_id}/confirm"),
            json!({"token": token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        confirmed["turn"]["reply"], "Renamed, slowly.",
        "{confirmed}"
    );
}

#[tokio::test]
async fn bad_requests_get_problem_documents_that_do_not_quote_tokens() {
    let w = World::start().await;
    w.apply(&rename_script("Bad", "- text: unused\n"), "", UNUSED)
        .await;
    let ana = w.token(ANA).await;
    let admin = w.server.key(Role::Admin).to_owned();
    let session = w.session(&ana, "rep_assistant").await;
    let held = w.say(&ana, &session, "Rename").await;
    let action_id = held["pending_action"]["id"].as_str().unwrap().to_owned();
    let token = held["pending_action"]["confirmation_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // List queries: unknown values are 422, unknown parameters and bad paging 400.
    for (query, pointer) in [
        ("status=pending", "/status"),
        ("session_id=nope", "/session_id"),
    ] {
        let problem =
            expect_problem(w.get(&admin, &format!("/v1/approvals?{query}")).await, 422).await;
        assert_eq!(
            problem["type"], "urn:heddle:problem:invalid-query",
            "{problem}"
        );
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
    let problem = expect_problem(w.get(&admin, "/v1/approvals?status=pending").await, 422).await;
    assert!(
        detail_text(&problem).contains("awaiting_approval"),
        "{problem}"
    );
    for query in ["limit=0", "after=yesterday", "colour=red"] {
        let problem =
            expect_problem(w.get(&admin, &format!("/v1/approvals?{query}")).await, 400).await;
        assert_eq!(
            problem["type"], "urn:heddle:problem:invalid-query",
            "{query}"
        );
    }

    // Ids that are not UUIDs, and UUIDs of nothing.
    for path in [
        "/v1/approvals/not-an-id".to_owned(),
        format!("/v1/approvals/{}", uuid::Uuid::now_v7()),
    ] {
        expect_problem(w.get(&admin, &path).await, 404).await;
    }
    for path in [
        "/v1/approvals/not-an-id/approve".to_owned(),
        format!("/v1/approvals/{}/approve", uuid::Uuid::now_v7()),
        format!("/v1/approvals/{}/reject", uuid::Uuid::now_v7()),
    ] {
        expect_problem(w.post(&admin, &path, json!({})).await, 404).await;
    }
    for path in [
        format!("/v1/sessions/not-a-session/actions/{action_id}/confirm"),
        format!("/v1/sessions/{session}/actions/not-an-action/confirm"),
        format!(
            "/v1/sessions/{session}/actions/{}/confirm",
            uuid::Uuid::now_v7()
        ),
        format!(
            "/v1/sessions/{}/actions/{action_id}/decline",
            uuid::Uuid::now_v7()
        ),
    ] {
        expect_problem(w.post(&ana, &path, json!({"token": token})).await, 404).await;
    }

    // Bodies: unknown fields and wrong types; a token sent wrong is never quoted back.
    let problem = expect_problem(
        decide(
            &w,
            &admin,
            &action_id,
            "approve",
            json!({"comment": "ok", "urgent": true}),
        )
        .await,
        422,
    )
    .await;
    assert!(detail_text(&problem).contains("urgent"), "{problem}");
    let confirm = format!("/v1/sessions/{session}/actions/{action_id}/confirm");
    for body in [
        json!({"token": token, "confirm": true}),
        json!({"token": [token]}),
        json!({"secret": token}),
    ] {
        let problem = expect_problem(w.post(&ana, &confirm, body).await, 422).await;
        assert_eq!(problem["type"], "urn:heddle:problem:invalid-body");
        assert!(!problem.to_string().contains(&token), "{problem}");
    }
    let malformed = w
        .server
        .request(Method::POST, &confirm)
        .bearer_auth(&ana)
        .header("content-type", "application/json")
        .body(format!("{{\"token\": \"{token}"))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(malformed, 400).await;
    assert!(!problem.to_string().contains(&token), "{problem}");

    // Nothing above decided anything; the token still works.
    expect_problem(
        w.server
            .request(Method::GET, "/v1/approvals")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let confirmed = json(w.post(&ana, &confirm, json!({"token": token})).await, 200).await;
    assert_eq!(confirmed["action"]["status"], "completed", "{confirmed}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_approval_routes() {
    let server = TestServer::start().await;
    let doc = json(
        server
            .request(Method::GET, "/openapi.json")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let paths = &doc["paths"];
    for (path, method) in [
        (
            "/v1/sessions/{session_id}/actions/{action_id}/confirm",
            "post",
        ),
        (
            "/v1/sessions/{session_id}/actions/{action_id}/decline",
            "post",
        ),
        ("/v1/approvals", "get"),
        ("/v1/approvals/{id}", "get"),
        ("/v1/approvals/{id}/approve", "post"),
        ("/v1/approvals/{id}/reject", "post"),
    ] {
        assert_eq!(
            paths[path][method]["tags"][0], "approvals",
            "{method} {path}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ConfirmationRequest"].is_object());
    assert!(schemas["DecisionRequest"].is_object());
    let parameters: Vec<&str> = paths["/v1/approvals"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in ["status", "session_id", "capability", "limit", "after"] {
        assert!(parameters.contains(&name), "{parameters:?}");
    }
}
