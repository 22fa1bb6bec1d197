//! The scripted provider: plays a fixed list of model turns in order, offline. It stands in
//! for a model in the demo and in tests, and for a fully compromised model in red-team
//! simulations (a script can propose any tool call with any arguments, which is the point:
//! the runtime must hold regardless). It has no HTTP client and so cannot touch the network.
//!
//! A script is a YAML or JSON list of turns:
//!
//! ```yaml
//! - tool_calls:
//!     - name: records.query
//!       arguments: { account_name: "Acme" }
//! - expect:
//!     last_tool_result_contains: "Acme Corp"
//!   text: "Acme Corp has 3 open opportunities."
//! ```

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    ChatRequest, ChatResponse, Message, ModelProvider, PriceTable, ProviderError, StopReason,
    ToolCall, Usage,
};

/// A list of model turns, played in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Script {
    pub turns: Vec<ScriptedTurn>,
}

impl Script {
    pub fn new(turns: Vec<ScriptedTurn>) -> Self {
        Self { turns }
    }

    /// Reads a YAML list of turns; `source` names the file in errors (with line and field).
    pub fn from_yaml(text: &str, source: &str) -> Result<Self, ProviderError> {
        heddle_yaml::from_str(text, source).map_err(|err| ProviderError::InvalidScript {
            reason: err.to_string(),
        })
    }

    /// Reads a JSON list of turns.
    pub fn from_json(text: &str) -> Result<Self, ProviderError> {
        serde_json::from_str(text).map_err(|err| ProviderError::InvalidScript {
            reason: err.to_string(),
        })
    }
}

/// One model turn: text, tool calls, or both, with optional checks on what came before.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedTurn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ScriptedToolCall>,
    /// Checked against the request before the turn is played.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<TurnExpectation>,
    /// Reported usage; estimated from text length (4 characters a token) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Defaults to `tool_use` when the turn has tool calls, `end_turn` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// Waits this long before answering, like a slow model (timeouts, concurrent messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl ScriptedTurn {
    /// A turn that only answers with text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// A turn that proposes one tool call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self {
            tool_calls: vec![ScriptedToolCall {
                id: None,
                name: name.into(),
                arguments,
            }],
            ..Self::default()
        }
    }

    pub fn expecting(mut self, expectation: TurnExpectation) -> Self {
        self.expect = Some(expectation);
        self
    }
}

/// A tool call in a script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedToolCall {
    /// Defaults to `call_<turn>_<index>` (1-based turn, 0-based index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// What the conversation must show before a turn plays; a mismatch fails the call with
/// [`ProviderError::ScriptExpectation`], so a demo or test that went off course says where.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnExpectation {
    /// The most recent tool result contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool_result_contains: Option<String>,
    /// The most recent tool result does not contain this text (a stripped field, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool_result_excludes: Option<String>,
    /// The most recent tool result is marked as an error (refused or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool_result_is_error: Option<bool>,
    /// The most recent user message contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_user_message_contains: Option<String>,
}

/// Plays a [`Script`]. Shared state is the position in the script and the requests seen.
#[derive(Debug)]
pub struct ScriptedProvider {
    script: Script,
    prices: PriceTable,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: usize,
    requests: Vec<ChatRequest>,
}

impl ScriptedProvider {
    pub fn new(script: Script) -> Self {
        Self {
            script,
            prices: PriceTable::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// Prices for the cost estimate (by the request's model name).
    pub fn with_prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns played so far.
    pub fn played(&self) -> usize {
        self.lock().next
    }

    /// Turns not yet played.
    pub fn remaining(&self) -> usize {
        self.script.turns.len().saturating_sub(self.played())
    }

    /// Every request received, in order (those that failed an expectation included).
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.lock().requests.clone()
    }
}

#[async_trait::async_trait]
impl ModelProvider for ScriptedProvider {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let started = Instant::now();
        // The guard lives in this block only, so it is never held across the delay below.
        let (number, turn) = {
            let mut state = self.lock();
            state.requests.push(request.clone());
            let index = state.next;
            let Some(turn) = self.script.turns.get(index) else {
                return Err(ProviderError::ScriptExhausted {
                    turns: self.script.turns.len(),
                });
            };
            let number = index + 1;
            if let Some(expectation) = &turn.expect {
                check_expectation(number, expectation, &request.messages)?;
            }
            state.next += 1;
            (number, turn)
        };
        if let Some(delay) = turn.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }

        let tool_calls: Vec<ToolCall> = turn
            .tool_calls
            .iter()
            .enumerate()
            .map(|(position, call)| ToolCall {
                id: call
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("call_{number}_{position}")),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            })
            .collect();
        let content = turn.text.clone().unwrap_or_default();
        let usage = turn
            .usage
            .unwrap_or_else(|| estimate_usage(request, &content, &tool_calls));
        let stop_reason = turn
            .stop_reason
            .clone()
            .unwrap_or(if tool_calls.is_empty() {
                StopReason::EndTurn
            } else {
                StopReason::ToolUse
            });
        Ok(ChatResponse {
            model: request.model.clone(),
            content,
            tool_calls,
            stop_reason,
            usage,
            latency: started.elapsed(),
            estimated_cost_usd: self.prices.estimate_usd(&request.model, usage),
        })
    }
}

fn check_expectation(
    turn: usize,
    expectation: &TurnExpectation,
    messages: &[Message],
) -> Result<(), ProviderError> {
    let last_result = messages.iter().rev().find_map(|message| match message {
        Message::ToolResult {
            content, is_error, ..
        } => Some((content.as_str(), *is_error)),
        _ => None,
    });
    let last_user = messages.iter().rev().find_map(|message| match message {
        Message::User { content } => Some(content.as_str()),
        _ => None,
    });
    let fail = |expected: String, found: String| ProviderError::ScriptExpectation {
        turn,
        expected,
        found,
    };
    let describe = |text: Option<&str>, what: &str| match text {
        Some(text) => format!("the last {what} was {:?}", shorten(text)),
        None => format!("there was no {what}"),
    };
    if let Some(needle) = &expectation.last_tool_result_contains
        && !last_result.is_some_and(|(content, _)| content.contains(needle.as_str()))
    {
        return Err(fail(
            format!("the last tool result to contain {needle:?}"),
            describe(last_result.map(|(content, _)| content), "tool result"),
        ));
    }
    if let Some(needle) = &expectation.last_tool_result_excludes
        && last_result.is_some_and(|(content, _)| content.contains(needle.as_str()))
    {
        return Err(fail(
            format!("the last tool result not to contain {needle:?}"),
            describe(last_result.map(|(content, _)| content), "tool result"),
        ));
    }
    if let Some(wanted) = expectation.last_tool_result_is_error
        && last_result.map(|(_, is_error)| is_error) != Some(wanted)
    {
        return Err(fail(
            format!("the last tool result to have is_error = {wanted}"),
            match last_result {
                Some((_, is_error)) => format!("it had is_error = {is_error}"),
                None => "there was no tool result".into(),
            },
        ));
    }
    if let Some(needle) = &expectation.last_user_message_contains
        && !last_user.is_some_and(|content| content.contains(needle.as_str()))
    {
        return Err(fail(
            format!("the last user message to contain {needle:?}"),
            describe(last_user, "user message"),
        ));
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 200;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A deterministic stand-in for token counts: four characters a token, rounded up.
fn estimate_usage(request: &ChatRequest, content: &str, tool_calls: &[ToolCall]) -> Usage {
    let tokens = |chars: usize| chars.div_ceil(4) as u64;
    let mut input = request.system.as_deref().map_or(0, str::len);
    for message in &request.messages {
        input += match message {
            Message::User { content } => content.len(),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                content.as_deref().map_or(0, str::len)
                    + tool_calls
                        .iter()
                        .map(|call| call.name.len() + call.arguments.to_string().len())
                        .sum::<usize>()
            }
            Message::ToolResult { content, .. } => content.len(),
        };
    }
    for tool in &request.tools {
        input += tool.name.len() + tool.description.len() + tool.input_schema.to_string().len();
    }
    let output = content.len()
        + tool_calls
            .iter()
            .map(|call| call.name.len() + call.arguments.to_string().len())
            .sum::<usize>();
    Usage {
        input_tokens: tokens(input),
        output_tokens: tokens(output),
    }
}
