//! A streamed answer on its way back: upstream `chat.completion.chunk` events in, the events
//! the client gets out. Pure; the caller feeds events and runs the checks it is asked for.
//!
//! - **Restoring.** Each choice's `delta.content` (and `delta.refusal`) goes through its own
//!   [`StreamUnmasker`], each tool call's `delta.tool_calls[].function.arguments` through one
//!   per (choice, tool call) with JSON-escaped values, so a placeholder cut between two
//!   chunks is restored whole and the client sees exactly what the whole answer unmasked
//!   would say. What an unmasker still holds is flushed into the chunk that carries the
//!   choice's `finish_reason` (or a last chunk of its own when there is none).
//! - **Valid SSE.** Every event out is one `data:` line with one whole JSON chunk; the stream
//!   ends with `data: [DONE]` only when the upstream's did, and a failure ends it with an
//!   OpenAI-shaped `data: {"error": {...}}` event instead.
//! - **Usage.** The upstream is always asked for the usage chunk (budgets need it); the
//!   client gets it, and the `usage` fields, only if it asked (`stream_options`).
//! - **Answer checks** ([`OutputCheckMode`]): `incremental` forwards each event at once and
//!   asks for a check of a choice's text whenever [`RelaySettings::check_every_chars`]
//!   more characters arrived, when a choice finishes (its tool calls' arguments too) and at
//!   the end — at most that many characters reach the client before a check covers them, and
//!   a block cuts the stream there. `buffer` holds everything until the end, checks the whole
//!   answer, then sends it or only the error: nothing unchecked leaves, and the client waits.
//!   Checks read the masked text, as the model wrote it.

use std::collections::BTreeMap;
use std::sync::Arc;

use heddle_agents::OutputCheckMode;
use heddle_providers::sse::SseEvent;
use heddle_trust::mask::{MaskMap, StreamUnmasker, UnmaskPolicy};
use serde_json::{Map, Value, json};

use crate::mask::Restorers;

/// How the relay behaves for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaySettings {
    pub mode: OutputCheckMode,
    pub check_every_chars: usize,
    /// The client asked for usage (`stream_options.include_usage`).
    pub forward_usage: bool,
    /// Restore placeholders for the client (the route's `unmask_answer`).
    pub unmask: bool,
}

/// What a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStage {
    /// A choice's text: content and output rules.
    Answer,
    /// A tool call's arguments: `tool_args` rules.
    ToolArguments,
}

/// One text to check before the stream goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckItem {
    pub stage: CheckStage,
    /// The masked text (the whole choice's text so far, or the whole arguments).
    pub text: String,
    target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Content { choice: u64, upto: usize },
    Tool { choice: u64, index: u64 },
}

/// Why an upstream event could not be relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayError {
    /// The event is not a JSON object.
    Malformed(String),
    /// The upstream sent an error event; its message.
    Upstream(String),
}

/// What an accepted event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Chunk,
    /// `data: [DONE]`.
    Done,
}

type Unmasker = StreamUnmasker<Arc<MaskMap>>;

#[derive(Debug)]
struct ToolState {
    unmasker: Option<Unmasker>,
    masked: String,
    checked: bool,
}

#[derive(Debug)]
struct ChoiceState {
    content: Option<Unmasker>,
    refusal: Option<Unmasker>,
    /// Content and refusal as the model wrote them (masked).
    masked: String,
    chars: usize,
    checked_chars: usize,
    checked_len: usize,
    tools: BTreeMap<u64, ToolState>,
    finished: bool,
}

/// The relay of one streamed answer.
#[derive(Debug)]
pub struct StreamRelay {
    settings: RelaySettings,
    restore: Restorers,
    policy: UnmaskPolicy,
    choices: BTreeMap<u64, ChoiceState>,
    held: Vec<SseEvent>,
    usage: Option<(u64, u64)>,
    ended: bool,
    /// `id`, `created`, `model` of the last chunk, for a chunk of our own.
    last_header: Map<String, Value>,
}

impl StreamRelay {
    pub fn new(settings: RelaySettings, restore: Restorers) -> Self {
        Self {
            settings,
            restore,
            policy: UnmaskPolicy::all_but_secrets(),
            choices: BTreeMap::new(),
            held: Vec::new(),
            usage: None,
            ended: false,
            last_header: Map::new(),
        }
    }

    /// `(prompt, completion)` tokens from the usage chunk, once it came.
    pub fn usage(&self) -> Option<(u64, u64)> {
        self.usage
    }

    /// Every choice's text as the model wrote it (masked), for the record.
    pub fn masked_texts(&self) -> Vec<&str> {
        self.choices
            .values()
            .map(|choice| choice.masked.as_str())
            .collect()
    }

    /// How many characters the answer had (content, refusals, tool-call arguments).
    pub fn answer_chars(&self) -> usize {
        self.choices
            .values()
            .map(|choice| {
                choice.chars
                    + choice
                        .tools
                        .values()
                        .map(|tool| tool.masked.chars().count())
                        .sum::<usize>()
            })
            .sum()
    }

    fn unmasker(&self, json: bool) -> Option<Unmasker> {
        if !self.settings.unmask {
            return None;
        }
        let map = if json {
            // Without a JSON copy the arguments keep their placeholders (fails safe).
            self.restore.json.clone()?
        } else {
            Arc::clone(&self.restore.text)
        };
        Some(StreamUnmasker::new(map, self.policy))
    }

    fn choice(&mut self, index: u64) -> &mut ChoiceState {
        let content = self.unmasker(false);
        let refusal = self.unmasker(false);
        self.choices.entry(index).or_insert_with(|| ChoiceState {
            content,
            refusal,
            masked: String::new(),
            chars: 0,
            checked_chars: 0,
            checked_len: 0,
            tools: BTreeMap::new(),
            finished: false,
        })
    }

    /// Takes one upstream event; the rewritten event waits in [`StreamRelay::release`].
    pub fn accept(&mut self, event: &SseEvent) -> Result<Accepted, RelayError> {
        if event.is_done() {
            return Ok(Accepted::Done);
        }
        let mut chunk: Value = serde_json::from_str(&event.data)
            .map_err(|err| RelayError::Malformed(format!("a streamed chunk is not JSON: {err}")))?;
        let Some(object) = chunk.as_object_mut() else {
            return Err(RelayError::Malformed(
                "a streamed chunk is not a JSON object".into(),
            ));
        };
        if let Some(error) = object.get("error").filter(|error| !error.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the upstream reported an error mid-stream");
            return Err(RelayError::Upstream(message.to_owned()));
        }
        for key in ["id", "object", "created", "model", "system_fingerprint"] {
            if let Some(value) = object.get(key) {
                self.last_header.insert(key.to_owned(), value.clone());
            }
        }
        if let Some(usage) = object.get("usage").filter(|usage| usage.is_object()) {
            let prompt = usage.get("prompt_tokens").and_then(Value::as_u64);
            let completion = usage.get("completion_tokens").and_then(Value::as_u64);
            if let Some(prompt) = prompt {
                self.usage = Some((prompt, completion.unwrap_or(0)));
            }
        }
        let usage_only = object
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty);
        if !self.settings.forward_usage {
            if usage_only {
                return Ok(Accepted::Chunk);
            }
            object.remove("usage");
        }
        if let Some(Value::Array(choices)) = object.get_mut("choices") {
            let mut rewritten = std::mem::take(choices);
            for choice in &mut rewritten {
                self.rewrite_choice(choice);
            }
            *choices = rewritten;
        }
        self.held.push(SseEvent::data(chunk.to_string()));
        Ok(Accepted::Chunk)
    }

    fn rewrite_choice(&mut self, choice: &mut Value) {
        let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
        let finish = choice
            .get("finish_reason")
            .is_some_and(|reason| !reason.is_null());
        let json_unmasker = self.unmasker(true);
        let state = self.choice(index);
        if let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) {
            for (field, use_refusal) in [("content", false), ("refusal", true)] {
                if let Some(Value::String(text)) = delta.get_mut(field) {
                    state.masked.push_str(text);
                    state.chars += text.chars().count();
                    let unmasker = if use_refusal {
                        &mut state.refusal
                    } else {
                        &mut state.content
                    };
                    if let Some(unmasker) = unmasker {
                        *text = unmasker.push(text);
                    }
                }
            }
            if let Some(Value::Array(calls)) = delta.get_mut("tool_calls") {
                for call in calls {
                    let call_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let tool = state.tools.entry(call_index).or_insert_with(|| ToolState {
                        unmasker: json_unmasker.clone(),
                        masked: String::new(),
                        checked: false,
                    });
                    if let Some(Value::String(arguments)) = call.pointer_mut("/function/arguments")
                    {
                        tool.masked.push_str(arguments);
                        if let Some(unmasker) = &mut tool.unmasker {
                            *arguments = unmasker.push(arguments);
                        }
                    }
                }
            }
        }
        if finish && !state.finished {
            state.finished = true;
            let tails = flush(state);
            if let Some(object) = choice.as_object_mut() {
                let delta = object
                    .entry("delta")
                    .or_insert_with(|| Value::Object(Map::new()));
                add_tails(delta, tails);
            }
        }
    }

    /// The upstream stream ended (with `[DONE]` or not). Unfinished choices get their held
    /// text in a last chunk; everything left is checked next.
    pub fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let mut choices = Vec::new();
        for (index, state) in &mut self.choices {
            if state.finished {
                continue;
            }
            state.finished = true;
            let tails = flush(state);
            if tails.is_empty() {
                continue;
            }
            let mut delta = Value::Object(Map::new());
            add_tails(&mut delta, tails);
            choices.push(json!({"index": index, "delta": delta, "finish_reason": null}));
        }
        if !choices.is_empty() {
            let mut chunk = self.last_header.clone();
            chunk.insert("choices".into(), Value::Array(choices));
            self.held
                .push(SseEvent::data(Value::Object(chunk).to_string()));
        }
    }

    /// The texts to check before more of the answer may go out; empty when none is due.
    pub fn checks_due(&self) -> Vec<CheckItem> {
        let buffering = self.settings.mode == OutputCheckMode::Buffer;
        if buffering && !self.ended {
            return Vec::new();
        }
        let every = self.settings.check_every_chars.max(1);
        let mut items = Vec::new();
        for (index, state) in &self.choices {
            let fresh = state.masked.len() > state.checked_len;
            let due = self.ended || state.finished || state.chars - state.checked_chars >= every;
            if fresh && due {
                items.push(CheckItem {
                    stage: CheckStage::Answer,
                    text: state.masked.clone(),
                    target: Target::Content {
                        choice: *index,
                        upto: state.masked.len(),
                    },
                });
            }
            if state.finished {
                for (tool_index, tool) in &state.tools {
                    if !tool.checked {
                        items.push(CheckItem {
                            stage: CheckStage::ToolArguments,
                            text: tool.masked.clone(),
                            target: Target::Tool {
                                choice: *index,
                                index: *tool_index,
                            },
                        });
                    }
                }
            }
        }
        items
    }

    /// Marks `items` (from [`StreamRelay::checks_due`]) as passed.
    pub fn checked(&mut self, items: &[CheckItem]) {
        for item in items {
            match item.target {
                Target::Content { choice, upto } => {
                    if let Some(state) = self.choices.get_mut(&choice) {
                        state.checked_len = upto;
                        state.checked_chars =
                            state.masked[..upto.min(state.masked.len())].chars().count();
                    }
                }
                Target::Tool { choice, index } => {
                    if let Some(tool) = self
                        .choices
                        .get_mut(&choice)
                        .and_then(|state| state.tools.get_mut(&index))
                    {
                        tool.checked = true;
                    }
                }
            }
        }
    }

    /// The events that may go to the client now: all of them when checking incrementally
    /// (run [`StreamRelay::checks_due`] first), none before the end when buffering.
    pub fn release(&mut self) -> Vec<SseEvent> {
        let buffering = self.settings.mode == OutputCheckMode::Buffer;
        if buffering && (!self.ended || !self.checks_due().is_empty()) {
            return Vec::new();
        }
        std::mem::take(&mut self.held)
    }
}

/// What a finished choice's unmaskers still held.
#[derive(Debug, Default)]
struct Tails {
    content: String,
    refusal: String,
    tools: Vec<(u64, String)>,
}

impl Tails {
    fn is_empty(&self) -> bool {
        self.content.is_empty() && self.refusal.is_empty() && self.tools.is_empty()
    }
}

fn flush(state: &mut ChoiceState) -> Tails {
    let mut tails = Tails::default();
    if let Some(unmasker) = &mut state.content {
        tails.content = unmasker.finish();
    }
    if let Some(unmasker) = &mut state.refusal {
        tails.refusal = unmasker.finish();
    }
    for (index, tool) in &mut state.tools {
        if let Some(unmasker) = &mut tool.unmasker {
            let tail = unmasker.finish();
            if !tail.is_empty() {
                tails.tools.push((*index, tail));
            }
        }
    }
    tails
}

/// Appends held text to a delta: to its content and refusal, and to the arguments of the
/// tool call with the same index (a fragment of its own if the delta has none).
fn add_tails(delta: &mut Value, tails: Tails) {
    let Some(delta) = delta.as_object_mut() else {
        return;
    };
    for (field, tail) in [("content", tails.content), ("refusal", tails.refusal)] {
        if tail.is_empty() {
            continue;
        }
        match delta.get_mut(field) {
            Some(Value::String(text)) => text.push_str(&tail),
            _ => {
                delta.insert(field.to_owned(), Value::String(tail));
            }
        }
    }
    if tails.tools.is_empty() {
        return;
    }
    let calls = delta
        .entry("tool_calls")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !calls.is_array() {
        *calls = Value::Array(Vec::new());
    }
    let Some(calls) = calls.as_array_mut() else {
        return;
    };
    for (index, tail) in tails.tools {
        let existing = calls
            .iter_mut()
            .find(|call| call.get("index").and_then(Value::as_u64) == Some(index));
        match existing.and_then(|call| call.pointer_mut("/function/arguments")) {
            Some(Value::String(arguments)) => arguments.push_str(&tail),
            _ => calls.push(json!({"index": index, "function": {"arguments": tail}})),
        }
    }
}

/// The event that ends a stream on a failure: OpenAI's error shape in a `data:` line. The
/// OpenAI SDKs raise it as an `APIError` with this message.
pub fn error_event(message: &str, kind: &str, code: Option<&str>) -> SseEvent {
    SseEvent::data(
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use heddle_providers::sse::SseParser;
    use heddle_trust::EntityKind;
    use heddle_trust::mask::{MaskKey, unmask_text};
    use proptest::prelude::*;

    use super::*;
    use crate::mask::json_escaped;

    fn restorers() -> Restorers {
        let key = MaskKey::from_bytes([3; 32]);
        let mut map = MaskMap::new();
        map.placeholder_for(&key, EntityKind::Email, "ana.lopez@example.com")
            .unwrap();
        map.placeholder_for(&key, EntityKind::Person, "Ana \"Nana\" López")
            .unwrap();
        map.placeholder_for(&key, EntityKind::ApiKey, "sk-live-SECRET")
            .unwrap();
        let json = json_escaped(&map, &key).map(Arc::new);
        Restorers {
            text: Arc::new(map),
            json,
        }
    }

    fn settings(mode: OutputCheckMode, forward_usage: bool) -> RelaySettings {
        RelaySettings {
            mode,
            check_every_chars: 16,
            forward_usage,
            unmask: true,
        }
    }

    const CONTENT: &str =
        "Hi <PERSON_1>, I wrote to <EMAIL_1>; your key <API_KEY_1> stays hidden. Bye <PERSON_1>!";
    const ARGUMENTS: &str = r#"{"to":"<EMAIL_1>","name":"<PERSON_1>"}"#;

    /// An upstream stream in OpenAI's format: the content and one tool call's arguments in
    /// pieces of `piece` characters, then usage and `[DONE]`.
    fn upstream_wire(piece: usize) -> String {
        let mut events = vec![
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}],
            "usage": null}),
        ];
        let chars: Vec<char> = CONTENT.chars().collect();
        for part in chars.chunks(piece) {
            let text: String = part.iter().collect();
            events.push(json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}], "usage": null}));
        }
        events.push(json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "send", "arguments": ""}}]}, "finish_reason": null}], "usage": null}));
        let args: Vec<char> = ARGUMENTS.chars().collect();
        for part in args.chunks(piece) {
            let text: String = part.iter().collect();
            events.push(json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": text}}]},
                "finish_reason": null}], "usage": null}));
        }
        events.push(
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": null}),
        );
        events.push(json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}}));
        let mut wire: String = events
            .iter()
            .map(|event| format!("data: {event}\r\n\r\n"))
            .collect();
        wire.push_str("data: [DONE]\n\n");
        wire
    }

    /// Feeds `wire` cut at `cuts` through the parser and the relay, passing every check;
    /// returns the events the client gets and how many checks ran.
    fn relay_all(wire: &[u8], cuts: &[usize], settings: RelaySettings) -> (Vec<SseEvent>, usize) {
        let mut parser = SseParser::new(1 << 20);
        let mut relay = StreamRelay::new(settings, restorers());
        let mut out = Vec::new();
        let mut checks = 0;
        let mut start = 0;
        let mut done = false;
        for end in cuts.iter().copied().chain([wire.len()]) {
            for event in parser.push(&wire[start..end]).unwrap() {
                if relay.accept(&event).unwrap() == Accepted::Done {
                    done = true;
                }
                let due = relay.checks_due();
                checks += due.len();
                relay.checked(&due);
                out.extend(relay.release());
            }
            start = end;
        }
        assert!(done);
        relay.end();
        let due = relay.checks_due();
        checks += due.len();
        relay.checked(&due);
        out.extend(relay.release());
        assert_eq!(relay.usage(), Some((21, 9)));
        (out, checks)
    }

    /// What a client makes of the events: the content and the tool call's arguments.
    fn client_view(events: &[SseEvent]) -> (String, String, Vec<Value>) {
        let mut content = String::new();
        let mut arguments = String::new();
        let mut chunks = Vec::new();
        for event in events {
            let chunk: Value = serde_json::from_str(&event.data).unwrap();
            for choice in chunk["choices"].as_array().unwrap() {
                if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str) {
                    content.push_str(text);
                }
                for call in choice
                    .pointer("/delta/tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(text) = call.pointer("/function/arguments").and_then(Value::as_str)
                    {
                        arguments.push_str(text);
                    }
                }
            }
            chunks.push(chunk);
        }
        (content, arguments, chunks)
    }

    fn expected() -> (String, Value) {
        let restore = restorers();
        let content = unmask_text(CONTENT, &restore.text, &UnmaskPolicy::all_but_secrets());
        let arguments = unmask_text(
            ARGUMENTS,
            restore.json.as_ref().unwrap(),
            &UnmaskPolicy::all_but_secrets(),
        );
        (content, serde_json::from_str(&arguments).unwrap())
    }

    #[test]
    fn the_client_gets_the_values_back_and_never_a_secret() {
        let wire = upstream_wire(3);
        let (events, _) = relay_all(
            wire.as_bytes(),
            &[],
            settings(OutputCheckMode::Incremental, false),
        );
        let (content, arguments, chunks) = client_view(&events);
        assert_eq!(
            content,
            "Hi Ana \"Nana\" López, I wrote to ana.lopez@example.com; your key <API_KEY_1> stays hidden. Bye Ana \"Nana\" López!"
        );
        let arguments: Value = serde_json::from_str(&arguments).unwrap();
        assert_eq!(
            arguments,
            json!({"to": "ana.lopez@example.com", "name": "Ana \"Nana\" López"})
        );
        // The client did not ask for usage: no usage chunk, no usage fields.
        assert!(chunks.iter().all(|chunk| chunk.get("usage").is_none()));
        assert!(
            chunks
                .iter()
                .all(|chunk| !chunk["choices"].as_array().unwrap().is_empty())
        );
        assert!(
            !events.iter().any(SseEvent::is_done),
            "[DONE] is the caller's to send"
        );
        // Every event is one data line with one JSON chunk.
        for event in &events {
            assert!(!event.to_wire()[..event.to_wire().len() - 2].contains("\n\n"));
        }
    }

    #[test]
    fn usage_reaches_a_client_that_asked_for_it() {
        let wire = upstream_wire(5);
        let (events, _) = relay_all(
            wire.as_bytes(),
            &[],
            settings(OutputCheckMode::Incremental, true),
        );
        let (_, _, chunks) = client_view(&events);
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["total_tokens"], 30);
    }

    #[test]
    fn incremental_checks_every_so_many_characters_and_buffer_once_at_the_end() {
        let wire = upstream_wire(2);
        let (_, incremental) = relay_all(
            wire.as_bytes(),
            &[],
            settings(OutputCheckMode::Incremental, false),
        );
        // 85 characters every 16, plus the arguments once.
        assert!(incremental >= 6, "{incremental}");
        let mut relay = StreamRelay::new(settings(OutputCheckMode::Buffer, false), restorers());
        let mut parser = SseParser::new(1 << 20);
        for event in parser.push(wire.as_bytes()).unwrap() {
            relay.accept(&event).unwrap();
            assert!(relay.checks_due().is_empty());
            assert!(relay.release().is_empty(), "nothing leaves before the end");
        }
        relay.end();
        let due = relay.checks_due();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].stage, CheckStage::Answer);
        assert_eq!(due[0].text, CONTENT);
        assert_eq!(due[1].stage, CheckStage::ToolArguments);
        assert_eq!(due[1].text, ARGUMENTS);
        assert!(relay.release().is_empty(), "not before the check passed");
        relay.checked(&due);
        assert!(!relay.release().is_empty());
    }

    #[test]
    fn an_upstream_error_event_and_garbage_are_refused() {
        let mut relay =
            StreamRelay::new(settings(OutputCheckMode::Incremental, false), restorers());
        assert_eq!(
            relay.accept(&SseEvent::data(r#"{"error":{"message":"overloaded"}}"#)),
            Err(RelayError::Upstream("overloaded".into()))
        );
        assert!(matches!(
            relay.accept(&SseEvent::data("not json")),
            Err(RelayError::Malformed(_))
        ));
    }

    #[test]
    fn a_stream_without_finish_gets_its_held_text_in_a_last_chunk() {
        let mut relay =
            StreamRelay::new(settings(OutputCheckMode::Incremental, false), restorers());
        for piece in ["Mail <EM", "AIL_1"] {
            let chunk = json!({"id": "x", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            relay.accept(&SseEvent::data(chunk.to_string())).unwrap();
        }
        relay.end();
        let (content, _, _) = client_view(&relay.release());
        assert_eq!(
            content, "Mail <EMAIL_1",
            "a cut-off placeholder stays as written"
        );
    }

    #[test]
    fn error_events_have_openai_shape() {
        let event = error_event(
            "blocked",
            "invalid_request_error",
            Some("content_policy_violation"),
        );
        assert_eq!(
            serde_json::from_str::<Value>(&event.data).unwrap(),
            json!({"error": {"message": "blocked", "type": "invalid_request_error", "param": null,
                             "code": "content_policy_violation"}})
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// However the upstream's bytes are cut (two cuts anywhere), in whatever pieces the
        /// model wrote, and in either check mode, the client reads exactly the restored answer.
        #[test]
        fn any_split_of_the_upstream_bytes_restores_the_same_answer(
            piece in 1usize..9,
            first in 0.0f64..1.0,
            second in 0.0f64..1.0,
            buffer in proptest::bool::ANY,
        ) {
            let wire = upstream_wire(piece);
            let bytes = wire.as_bytes();
            let mut cuts = [
                (first * bytes.len() as f64) as usize,
                (second * bytes.len() as f64) as usize,
            ];
            cuts.sort_unstable();
            let mode = if buffer { OutputCheckMode::Buffer } else { OutputCheckMode::Incremental };
            let (events, _) = relay_all(bytes, &cuts, settings(mode, false));
            let (content, arguments, _) = client_view(&events);
            let (want_content, want_arguments) = expected();
            prop_assert_eq!(content, want_content);
            let arguments: Value = serde_json::from_str(&arguments).unwrap();
            prop_assert_eq!(arguments, want_arguments);
        }
    }

    #[test]
    fn every_single_split_of_the_upstream_bytes_restores_the_same_answer() {
        let wire = upstream_wire(8);
        let bytes = wire.as_bytes();
        let (want_content, want_arguments) = expected();
        for cut in 0..=bytes.len() {
            let (events, _) =
                relay_all(bytes, &[cut], settings(OutputCheckMode::Incremental, false));
            let (content, arguments, _) = client_view(&events);
            assert_eq!(content, want_content, "cut at {cut}");
            assert_eq!(
                serde_json::from_str::<Value>(&arguments).unwrap(),
                want_arguments
            );
        }
    }

    #[test]
    fn every_byte_boundary_at_once_restores_the_same_answer() {
        let wire = upstream_wire(4);
        let bytes = wire.as_bytes();
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        let (events, _) = relay_all(bytes, &cuts, settings(OutputCheckMode::Incremental, false));
        let (content, arguments, _) = client_view(&events);
        let (want_content, want_arguments) = expected();
        assert_eq!(content, want_content);
        assert_eq!(
            serde_json::from_str::<Value>(&arguments).unwrap(),
            want_arguments
        );
    }
}
