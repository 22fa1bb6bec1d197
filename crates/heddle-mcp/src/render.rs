//! The runtime's answers as MCP results, and its errors as JSON-RPC errors. Pure.

use std::sync::Arc;

use heddle_identity::IdentityError;
use heddle_runtime::{
    DirectActionView, DirectCall, DirectOutcome, DirectTool, PendingRequest, RuntimeError,
};
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, MetaObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::{ACTION_STATUS_TOOL, CONFIRM_TOOL};

/// `_meta` keys of Heddle's (a label and a slash, as the MCP spec asks of custom keys).
pub(crate) const META_EXECUTION_ID: &str = "heddle/execution_id";
pub(crate) const META_SESSION_ID: &str = "heddle/session_id";
pub(crate) const META_STAGE: &str = "heddle/stage";

/// A capability as an MCP tool: its schema without bound inputs, hints from its
/// classification, and a word on review when it declares one.
pub(crate) fn tool(tool: &DirectTool) -> Tool {
    let mut description = tool.description.clone();
    if tool.review != "none" {
        description.push_str(
            " A person may have to confirm or approve this call before it runs; the result \
             then has status `awaiting_confirmation` or `awaiting_approval` instead.",
        );
    }
    let read = tool.effect == "read";
    let annotations = ToolAnnotations::new()
        .read_only(read)
        .destructive(tool.backend == "records.update")
        .idempotent(read)
        .open_world(tool.effect == "side_effect");
    let mut meta = Map::new();
    meta.insert("heddle/effect".to_owned(), Value::from(tool.effect.clone()));
    meta.insert("heddle/review".to_owned(), Value::from(tool.review.clone()));
    Tool::new(tool.name.clone(), description, schema(&tool.input_schema))
        .with_annotations(annotations)
        .with_meta(MetaObject(meta))
}

fn schema(value: &Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map.clone()),
        // Capability schemas are objects (the loader checks); anything else takes nothing.
        _ => Arc::new(object(
            json!({"type": "object", "additionalProperties": false}),
        )),
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// Heddle's own tools for held calls.
pub(crate) fn builtin_tools() -> Vec<Tool> {
    let action_id = json!({
        "type": "string",
        "format": "uuid",
        "description": "The `action_id` the held call's result gave."
    });
    vec![
        Tool::new(
            ACTION_STATUS_TOOL,
            "Show a call of yours that waited for a person (status `awaiting_confirmation` or \
             `awaiting_approval`): where it stands and, once it ran, its result.",
            Arc::new(object(json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["action_id"],
                "properties": {"action_id": action_id}
            }))),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        Tool::new(
            CONFIRM_TOOL,
            "Confirm (or decline, with `confirm: false`) a call of yours that waits for your \
             confirmation, with the `confirmation_token` its result gave. A confirmed call \
             runs now unless it also needs an approver; the result says which.",
            Arc::new(object(json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["action_id", "confirmation_token"],
                "properties": {
                    "action_id": action_id,
                    "confirmation_token": {"type": "string", "maxLength": 256},
                    "confirm": {"type": "boolean", "default": true}
                }
            }))),
        )
        .with_annotations(ToolAnnotations::new().read_only(false).destructive(false)),
    ]
}

/// A direct call's outcome as a tool result. A held call is not an error — the tool did
/// what Heddle does with such a call — so it is a successful result whose structured
/// content says who must act; refusals and failures are `isError: true`.
pub(crate) fn call_result(call: &DirectCall) -> CallToolResult {
    let mut meta = Map::new();
    meta.insert(
        META_EXECUTION_ID.to_owned(),
        Value::from(call.execution_id.to_string()),
    );
    meta.insert(
        META_SESSION_ID.to_owned(),
        Value::from(call.session_id.to_string()),
    );
    let mut result = match &call.outcome {
        DirectOutcome::Completed { content } => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(content.clone())]);
            // Results are JSON objects; structured content repeats them for clients that
            // read it (the text block stays for those that do not).
            if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(content) {
                result.structured_content = Some(Value::Object(map));
            }
            result
        }
        DirectOutcome::Refused { stage, message } => {
            meta.insert(META_STAGE.to_owned(), Value::from(*stage));
            CallToolResult::error(vec![ContentBlock::text(format!(
                "refused ({stage}): {message}"
            ))])
        }
        DirectOutcome::Held { action } => {
            let held = held_json(action, call);
            let mut result = CallToolResult::success(vec![ContentBlock::text(held_text(action))]);
            result.structured_content = Some(held);
            result
        }
        DirectOutcome::Failed { reason } => CallToolResult::error(vec![ContentBlock::text(
            format!("Heddle could not finish the call: {reason}"),
        )]),
    };
    result.meta = Some(MetaObject(meta));
    result
}

/// The held call as the REST API shows it to its requester (its own arguments, the token
/// when it needs their confirmation), with where it is recorded and what to do next.
fn held_json(action: &PendingRequest, call: &DirectCall) -> Value {
    let mut held = serde_json::to_value(action).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut held {
        map.insert("action_id".to_owned(), Value::from(action.id.to_string()));
        map.insert(
            "execution_id".to_owned(),
            Value::from(call.execution_id.to_string()),
        );
        map.insert(
            "how_to_proceed".to_owned(),
            Value::from(how_to_proceed(action)),
        );
    }
    held
}

fn how_to_proceed(action: &PendingRequest) -> String {
    if action.confirmation_token.is_some() {
        format!(
            "Not run yet. Ask the person you act for; if they agree, call `{CONFIRM_TOOL}` \
             with this action_id and confirmation_token (or `confirm: false` to drop it). \
             Follow it with `{ACTION_STATUS_TOOL}`."
        )
    } else {
        format!(
            "Not run yet: an approver with the role `{}` decides in Heddle. Follow it with \
             `{ACTION_STATUS_TOOL}`; once approved it runs and its result appears there.",
            action.approver_role.as_deref().unwrap_or("admin")
        )
    }
}

fn held_text(action: &PendingRequest) -> String {
    let whom = if action.confirmation_token.is_some() {
        "your confirmation"
    } else {
        "approval"
    };
    format!(
        "`{}` was not run: it waits for {whom} (action {}, status `{}`). {}",
        action.capability,
        action.id,
        action.status,
        how_to_proceed(action)
    )
}

/// A held call as its requester follows it.
pub(crate) fn action_result(view: &DirectActionView) -> CallToolResult {
    let action = &view.action;
    let mut structured = serde_json::to_value(action).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut structured {
        map.insert("action_id".to_owned(), Value::from(action.id.to_string()));
    }
    let text = match &view.result {
        Some(result) => {
            if let Value::Object(map) = &mut structured {
                let content = serde_json::from_str::<Value>(&result.content)
                    .unwrap_or_else(|_| Value::from(result.content.clone()));
                map.insert(
                    "result".to_owned(),
                    json!({"content": content, "is_error": result.is_error}),
                );
            }
            format!(
                "`{}` {} ({}). Result: {}",
                action.capability,
                if result.is_error {
                    "did not complete"
                } else {
                    "ran"
                },
                action.status,
                result.content
            )
        }
        None => format!(
            "`{}` has not run; its status is `{}`.",
            action.capability, action.status
        ),
    };
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(structured);
    let mut meta = Map::new();
    meta.insert(
        META_EXECUTION_ID.to_owned(),
        Value::from(action.execution_id.to_string()),
    );
    result.meta = Some(MetaObject(meta));
    result
}

/// A runtime error as a JSON-RPC error: what the caller can act on gets its message; a
/// failure of Heddle's own is logged and answered without details.
pub(crate) fn protocol_error(error: RuntimeError) -> ErrorData {
    match error {
        RuntimeError::NotFound { .. } | RuntimeError::Invalid { .. } => {
            ErrorData::invalid_params(error.to_string(), None)
        }
        RuntimeError::Refused(_)
        | RuntimeError::NotAllowed(_)
        | RuntimeError::TurnRunning(_)
        | RuntimeError::TooManyAttempts(_) => ErrorData::invalid_request(error.to_string(), None),
        RuntimeError::Identity(identity) => identity_error(identity),
        RuntimeError::Unavailable(_) => internal(&error),
    }
}

fn identity_error(error: IdentityError) -> ErrorData {
    match &error {
        IdentityError::NotFound { .. } | IdentityError::Invalid { .. } => {
            ErrorData::invalid_params(error.to_string(), None)
        }
        IdentityError::Forbidden { .. } | IdentityError::Refused(_) => {
            ErrorData::invalid_request(error.to_string(), None)
        }
        // The reason is for logs, not for the client.
        IdentityError::Unauthenticated(_) => {
            ErrorData::invalid_request("authentication failed".to_owned(), None)
        }
        _ => internal(&error),
    }
}

fn internal(error: &dyn std::fmt::Display) -> ErrorData {
    tracing::error!(error = %error, "an MCP request failed inside Heddle");
    ErrorData::internal_error(
        "Heddle could not handle this request; its operators can find why in its logs",
        None,
    )
}

#[cfg(test)]
mod tests {
    use heddle_runtime::DirectActionResult;
    use heddle_types::{ExecutionId, SessionId};

    use super::*;

    fn call(outcome: DirectOutcome) -> DirectCall {
        DirectCall {
            session_id: SessionId::new(),
            turn: 1,
            execution_id: ExecutionId::new(),
            outcome,
        }
    }

    fn meta_of(result: &CallToolResult) -> &Map<String, Value> {
        &result.meta.as_ref().expect("meta").0
    }

    #[test]
    fn a_completed_call_carries_its_json_as_text_and_structured_content_and_its_execution() {
        let call = call(DirectOutcome::Completed {
            content: r#"{"records":[],"more":false}"#.to_owned(),
        });
        let result = call_result(&call);
        assert_eq!(result.is_error, Some(false));
        assert_eq!(
            result.structured_content,
            Some(json!({"records": [], "more": false}))
        );
        assert_eq!(
            meta_of(&result)[META_EXECUTION_ID],
            Value::from(call.execution_id.to_string())
        );
    }

    #[test]
    fn a_refusal_is_a_tool_error_naming_its_stage() {
        let result = call_result(&call(DirectOutcome::Refused {
            stage: "policy",
            message: "the tenant's policies do not allow this call".to_owned(),
        }));
        assert_eq!(result.is_error, Some(true));
        assert_eq!(result.structured_content, None);
        assert_eq!(meta_of(&result)[META_STAGE], Value::from("policy"));
        let serialized = serde_json::to_value(&result).expect("serializes");
        assert!(
            serialized["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("refused (policy):")),
            "{serialized}"
        );
    }

    #[test]
    fn an_action_with_its_result_shows_the_result_parsed() {
        let now = time::OffsetDateTime::now_utc();
        let view = DirectActionView {
            action: heddle_runtime::ActionView {
                id: uuid::Uuid::now_v7(),
                session_id: SessionId::new(),
                turn: 1,
                execution_id: ExecutionId::new(),
                agent: "a".to_owned(),
                capability: "rename_account".to_owned(),
                mode: "approval",
                status: "completed",
                arguments: json!({}),
                arguments_hash: "00".to_owned(),
                reason: None,
                requested_by: "api_key:1".to_owned(),
                approver_role: Some("operator".to_owned()),
                on_stale: "run",
                decided_by: Some("user:2".to_owned()),
                comment: None,
                result: None,
                created_at: now,
                expires_at: now,
                decided_at: Some(now),
                completed_at: Some(now),
                waited_ms: Some(5),
            },
            result: Some(DirectActionResult {
                content: r#"{"updated":{"id":"001"}}"#.to_owned(),
                is_error: false,
            }),
        };
        let result = action_result(&view);
        assert_eq!(result.is_error, Some(false));
        let structured = result.structured_content.expect("structured");
        assert_eq!(structured["status"], "completed");
        assert_eq!(structured["result"]["content"]["updated"]["id"], "001");
        assert_eq!(structured["result"]["is_error"], false);
    }

    #[test]
    fn internal_failures_do_not_reach_the_client() {
        let error = protocol_error(RuntimeError::Unavailable(
            "database at postgres://secret@db failed".to_owned(),
        ));
        assert!(!error.message.contains("secret"), "{}", error.message);
        let refused = protocol_error(RuntimeError::Refused("an employee agent".to_owned()));
        assert!(refused.message.contains("employee agent"));
    }
}
