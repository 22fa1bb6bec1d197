//! The conversation a model sees: every message is stored sealed under the session's own
//! vault key (scope `session:<id>`), so a session can be read back by the runtime, and
//! destroyed on its own by shredding that key, while steps and audit events carry at most a
//! digest.

use std::collections::BTreeSet;

use heddle_providers::Message;
use heddle_store::{SharedStore, Step, TurnStatus};
use heddle_types::{SessionId, TenantId};
use heddle_vault::{ScopeKeys, Sealed, Vault};
use serde_json::{Value as JsonValue, json};

use crate::{RuntimeError, RuntimeResult};

/// The vault purpose of sealed conversation entries.
pub(crate) const TRANSCRIPT_PURPOSE: &str = "session-transcript";

/// The payload key holding a step's sealed message; never returned by the API.
pub(crate) const TRANSCRIPT_KEY: &str = "transcript";

pub(crate) fn session_scope(session_id: SessionId) -> String {
    format!("session:{session_id}")
}

/// The session's own data keys, unwrapped once for the length of a turn.
pub(crate) fn session_keys(vault: &Vault, tenant_id: TenantId, session_id: SessionId) -> ScopeKeys {
    vault.scope_keys(tenant_id, &session_scope(session_id))
}

/// Seals one message for a step's payload. The entry id is the context, so a ciphertext
/// copied into another step or session does not open.
pub(crate) async fn seal_message(
    keys: &ScopeKeys,
    session_id: SessionId,
    message: &Message,
) -> RuntimeResult<JsonValue> {
    let entry = uuid::Uuid::now_v7().to_string();
    let plaintext = serde_json::to_vec(message)
        .map_err(|err| RuntimeError::Unavailable(format!("cannot encode a message: {err}")))?;
    let sealed = keys
        .seal(
            TRANSCRIPT_PURPOSE,
            &format!("{session_id}/{entry}"),
            &plaintext,
        )
        .await?;
    Ok(json!({
        "entry": entry,
        "key_version": sealed.data_key_version,
        "ciphertext": heddle_crypto::base64_encode(&sealed.ciphertext),
    }))
}

pub(crate) async fn open_message(
    keys: &ScopeKeys,
    session_id: SessionId,
    entry: &JsonValue,
) -> RuntimeResult<Message> {
    let corrupt = || RuntimeError::Unavailable("a stored conversation entry is malformed".into());
    let id = entry["entry"].as_str().ok_or_else(corrupt)?;
    let version = entry["key_version"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(corrupt)?;
    let ciphertext = entry["ciphertext"]
        .as_str()
        .and_then(|text| heddle_crypto::base64_decode(text).ok())
        .ok_or_else(corrupt)?;
    let plaintext = keys
        .open(
            TRANSCRIPT_PURPOSE,
            &format!("{session_id}/{id}"),
            &Sealed {
                data_key_version: version,
                ciphertext,
            },
        )
        .await?;
    serde_json::from_slice(heddle_crypto::ExposeSecret::expose_secret(&plaintext))
        .map_err(|_| corrupt())
}

/// What a turn needs from the session's record, read once: the earlier conversation and
/// where a scripted model continues.
pub(crate) struct History {
    pub(crate) messages: Vec<Message>,
    /// Model calls the session has started, over all its turns. Requests count, not
    /// responses: a call still in flight in an abandoned turn has used its place in a script.
    pub(crate) model_calls: usize,
    /// The newest sealed mask map among the same steps.
    pub(crate) mask_state: Option<JsonValue>,
}

/// The applied messages of completed turns before `current_turn` — and of the current turn
/// itself when it resumes after a person's decision — in order. A turn that failed, halted or
/// was abandoned leaves nothing behind for the model.
pub(crate) async fn read_history(
    store: &SharedStore,
    keys: &ScopeKeys,
    tenant_id: TenantId,
    session_id: SessionId,
    current_turn: i64,
    include_current: bool,
) -> RuntimeResult<History> {
    let mut completed: BTreeSet<i64> = store
        .list_turns(tenant_id, session_id)
        .await?
        .into_iter()
        .filter(|t| t.turn < current_turn && t.status == TurnStatus::Completed)
        .map(|t| t.turn)
        .collect();
    if include_current {
        completed.insert(current_turn);
    }
    let steps = store.list_steps(tenant_id, session_id, None).await?;
    let model_calls = model_calls(&steps);
    let mut messages = Vec::new();
    let mut mask_state = None;
    for step in steps
        .iter()
        .filter(|s| s.applied && completed.contains(&s.turn))
    {
        if let Some(entry) = step.payload.get(TRANSCRIPT_KEY) {
            messages.push(open_message(keys, session_id, entry).await?);
        }
        if let Some(state) = step.payload.get(crate::trust::MASK_STATE_KEY) {
            mask_state = Some(state.clone());
        }
    }
    Ok(History {
        messages: answer_every_tool_call(messages),
        model_calls,
        mask_state,
    })
}

fn model_calls(steps: &[Step]) -> usize {
    steps.iter().filter(|s| s.kind == "model_request").count()
}

/// Providers refuse a history where a proposed tool call has no result: answers the missing
/// ones as not run, and drops results that answer nothing.
pub(crate) fn answer_every_tool_call(messages: Vec<Message>) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    let mut open: Vec<String> = Vec::new();
    let close = |out: &mut Vec<Message>, open: &mut Vec<String>| {
        for id in open.drain(..) {
            out.push(Message::ToolResult {
                tool_call_id: id,
                content: "not run: the turn ended first".to_owned(),
                is_error: true,
            });
        }
    };
    for message in messages {
        match message {
            Message::ToolResult {
                ref tool_call_id, ..
            } => {
                if let Some(position) = open.iter().position(|id| id == tool_call_id) {
                    open.remove(position);
                    out.push(message);
                }
            }
            Message::Assistant { ref tool_calls, .. } => {
                close(&mut out, &mut open);
                open = tool_calls.iter().map(|c| c.id.clone()).collect();
                out.push(message);
            }
            Message::User { .. } => {
                close(&mut out, &mut open);
                out.push(message);
            }
        }
    }
    close(&mut out, &mut open);
    out
}

#[cfg(test)]
mod tests {
    use heddle_providers::ToolCall;
    use serde_json::json;

    use super::*;

    fn assistant(ids: &[&str]) -> Message {
        Message::Assistant {
            content: None,
            tool_calls: ids
                .iter()
                .map(|id| ToolCall {
                    id: (*id).to_owned(),
                    name: "t".to_owned(),
                    arguments: json!({}),
                })
                .collect(),
        }
    }

    #[test]
    fn unanswered_tool_calls_are_answered_and_stray_results_dropped() {
        let repaired = answer_every_tool_call(vec![
            Message::user("hi"),
            assistant(&["a", "b"]),
            Message::tool_result("a", "ok"),
            Message::tool_result("zzz", "answers nothing"),
            Message::user("again"),
        ]);
        let ids: Vec<String> = repaired
            .iter()
            .filter_map(|m| match m {
                Message::ToolResult {
                    tool_call_id,
                    is_error,
                    ..
                } => Some(format!("{tool_call_id}:{is_error}")),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["a:false", "b:true"]);
        assert!(matches!(repaired.last(), Some(Message::User { .. })));
        assert_eq!(repaired.len(), 5);
    }

    #[test]
    fn a_complete_history_is_unchanged() {
        let history = vec![
            Message::user("hi"),
            assistant(&["a"]),
            Message::tool_result("a", "ok"),
            Message::Assistant {
                content: Some("done".to_owned()),
                tool_calls: Vec::new(),
            },
        ];
        assert_eq!(answer_every_tool_call(history.clone()), history);
    }
}
