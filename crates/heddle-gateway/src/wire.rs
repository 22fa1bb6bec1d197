//! The OpenAI Chat Completions request and response as JSON: where text sits in them (every
//! message shape), what a request asks for, and the answer's texts and usage. Pure; unknown
//! fields are never touched, so whatever a client sends besides text reaches the upstream as
//! it was.
//!
//! Text sits in a request's messages as `content` strings, `content` arrays of parts (only
//! `type: "text"` parts hold text; images, audio and files are left alone), `tool` role
//! messages, the assistant's `tool_calls[].function.arguments` and legacy
//! `function_call.arguments` (JSON texts), and `name` fields.

use serde_json::{Map, Value};

/// A request that cannot be forwarded: what is wrong, and which parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    pub message: String,
    pub param: Option<String>,
}

impl InvalidRequest {
    pub(crate) fn new(message: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: Some(param.into()),
        }
    }
}

/// Who wrote a message, as the trust layers tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// `system` and `developer`: the application's own instructions.
    Application,
    /// `user`: the person (or whatever the application passes on as them).
    User,
    /// `assistant`: an earlier answer of a model.
    Model,
    /// `tool` and `function`: a result the application fetched (indirect input).
    Tool,
}

/// Where in a message a text sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// `content` as a string.
    Content,
    /// `content[j].text` of a text part.
    Part(usize),
    /// `tool_calls[j].function.arguments`: a JSON text.
    ToolArguments(usize),
    /// `function_call.arguments` (legacy): a JSON text.
    FunctionArguments,
    /// `name`.
    Name,
}

/// One text of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub message: usize,
    pub author: Author,
    pub kind: SlotKind,
}

impl Slot {
    /// Whether the text is JSON the model wrote or will read as JSON.
    pub fn is_json(&self) -> bool {
        matches!(
            self.kind,
            SlotKind::ToolArguments(_) | SlotKind::FunctionArguments
        )
    }
}

/// What a chat request asks for, beyond its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequestInfo {
    pub stream: bool,
    /// `stream_options.include_usage`: the client wants the usage chunk.
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    /// The `model` the client named (a route name, for unpinned keys).
    pub model: Option<String>,
    /// How many choices (`n`), at least 1.
    pub choices: u64,
}

const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Checks the parts of a request the gateway relies on and reads what it asks for. Other
/// fields are the upstream's to judge.
pub fn read_chat_request(body: &Value) -> Result<ChatRequestInfo, InvalidRequest> {
    let Some(object) = body.as_object() else {
        return Err(InvalidRequest {
            message: "the request body must be a JSON object".into(),
            param: None,
        });
    };
    let messages = match object.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => {
            return Err(InvalidRequest::new(
                "`messages` must hold at least one message",
                "messages",
            ));
        }
        Some(_) => {
            return Err(InvalidRequest::new(
                "`messages` must be an array",
                "messages",
            ));
        }
        None => {
            return Err(InvalidRequest::new(
                "Missing required parameter: 'messages'.",
                "messages",
            ));
        }
    };
    for (index, message) in messages.iter().enumerate() {
        let param = format!("messages[{index}]");
        let Some(message) = message.as_object() else {
            return Err(InvalidRequest::new("a message must be an object", param));
        };
        match message.get("role").and_then(Value::as_str) {
            Some(role) if ROLES.contains(&role) => {}
            _ => {
                return Err(InvalidRequest::new(
                    format!("`role` must be one of {}", ROLES.join(", ")),
                    format!("{param}.role"),
                ));
            }
        }
        match message.get("content") {
            None | Some(Value::Null | Value::String(_) | Value::Array(_)) => {}
            Some(_) => {
                return Err(InvalidRequest::new(
                    "`content` must be a string or an array of content parts",
                    format!("{param}.content"),
                ));
            }
        }
        if let Some(Value::Array(parts)) = message.get("content") {
            for (j, part) in parts.iter().enumerate() {
                let text_part = part.get("type").and_then(Value::as_str) == Some("text");
                if text_part && !part.get("text").is_some_and(Value::is_string) {
                    return Err(InvalidRequest::new(
                        "a text part needs `text` as a string",
                        format!("{param}.content[{j}].text"),
                    ));
                }
            }
        }
        if let Some(calls) = message.get("tool_calls") {
            let Some(calls) = calls.as_array() else {
                return Err(InvalidRequest::new(
                    "`tool_calls` must be an array",
                    format!("{param}.tool_calls"),
                ));
            };
            for (j, call) in calls.iter().enumerate() {
                match call.pointer("/function/arguments") {
                    None | Some(Value::String(_)) => {}
                    Some(_) => {
                        return Err(InvalidRequest::new(
                            "`function.arguments` must be a JSON string",
                            format!("{param}.tool_calls[{j}].function.arguments"),
                        ));
                    }
                }
            }
        }
    }
    let count = |name: &str| -> Result<Option<u64>, InvalidRequest> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| {
                InvalidRequest::new(format!("`{name}` must be a non-negative integer"), name)
            }),
        }
    };
    let max_tokens = match count("max_completion_tokens")? {
        Some(n) => Some(n),
        None => count("max_tokens")?,
    };
    let choices = count("n")?.unwrap_or(1);
    if choices == 0 || choices > 128 {
        return Err(InvalidRequest::new("`n` must be 1 to 128", "n"));
    }
    let stream = match object.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(InvalidRequest::new("`stream` must be a boolean", "stream")),
    };
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model = match object.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(model)) => Some(model.clone()),
        Some(_) => return Err(InvalidRequest::new("`model` must be a string", "model")),
    };
    Ok(ChatRequestInfo {
        stream,
        include_usage,
        max_tokens,
        model,
        choices,
    })
}

fn author_of(message: &Map<String, Value>) -> Author {
    match message.get("role").and_then(Value::as_str) {
        Some("user") => Author::User,
        Some("assistant") => Author::Model,
        Some("tool" | "function") => Author::Tool,
        _ => Author::Application,
    }
}

/// Every text of `messages`, in order.
pub fn text_slots(messages: &[Value]) -> Vec<Slot> {
    let mut slots = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let Some(object) = message.as_object() else {
            continue;
        };
        let author = author_of(object);
        let slot = |kind| Slot {
            message: index,
            author,
            kind,
        };
        if object.get("name").is_some_and(Value::is_string) {
            slots.push(slot(SlotKind::Name));
        }
        match object.get("content") {
            Some(Value::String(_)) => slots.push(slot(SlotKind::Content)),
            Some(Value::Array(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    if part.get("type").and_then(Value::as_str) == Some("text")
                        && part.get("text").is_some_and(Value::is_string)
                    {
                        slots.push(slot(SlotKind::Part(j)));
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Array(calls)) = object.get("tool_calls") {
            for (j, call) in calls.iter().enumerate() {
                if call
                    .pointer("/function/arguments")
                    .is_some_and(Value::is_string)
                {
                    slots.push(slot(SlotKind::ToolArguments(j)));
                }
            }
        }
        if object
            .get("function_call")
            .and_then(|call| call.get("arguments"))
            .is_some_and(Value::is_string)
        {
            slots.push(slot(SlotKind::FunctionArguments));
        }
    }
    slots
}

fn slot_value<'a>(messages: &'a mut [Value], slot: &Slot) -> Option<&'a mut Value> {
    let message = messages.get_mut(slot.message)?;
    match slot.kind {
        SlotKind::Content => message.get_mut("content"),
        SlotKind::Part(j) => message.get_mut("content")?.get_mut(j)?.get_mut("text"),
        SlotKind::ToolArguments(j) => message
            .get_mut("tool_calls")?
            .get_mut(j)?
            .get_mut("function")?
            .get_mut("arguments"),
        SlotKind::FunctionArguments => message.get_mut("function_call")?.get_mut("arguments"),
        SlotKind::Name => message.get_mut("name"),
    }
}

/// The text at `slot`.
pub fn slot_text<'a>(messages: &'a [Value], slot: &Slot) -> Option<&'a str> {
    let message = messages.get(slot.message)?;
    let value = match slot.kind {
        SlotKind::Content => message.get("content"),
        SlotKind::Part(j) => message.get("content")?.get(j)?.get("text"),
        SlotKind::ToolArguments(j) => message
            .get("tool_calls")?
            .get(j)?
            .pointer("/function/arguments"),
        SlotKind::FunctionArguments => message.get("function_call")?.get("arguments"),
        SlotKind::Name => message.get("name"),
    };
    value?.as_str()
}

/// Replaces the text at `slot`.
pub fn set_slot_text(messages: &mut [Value], slot: &Slot, text: String) {
    if let Some(value) = slot_value(messages, slot) {
        *value = Value::String(text);
    }
}

/// The texts of a non-streamed answer that the answer checks read: each choice's content
/// (with its refusal), and each tool call's arguments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerTexts {
    pub contents: Vec<String>,
    pub arguments: Vec<String>,
}

/// The texts of `choices[].message`.
pub fn answer_texts(body: &Value) -> AnswerTexts {
    let mut texts = AnswerTexts::default();
    for choice in body
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(message) = choice.get("message") else {
            continue;
        };
        let mut content = String::new();
        for field in ["content", "refusal"] {
            if let Some(text) = message.get(field).and_then(Value::as_str) {
                content.push_str(text);
            }
        }
        if !content.is_empty() {
            texts.contents.push(content);
        }
        for call in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(arguments) = call.pointer("/function/arguments").and_then(Value::as_str) {
                texts.arguments.push(arguments.to_owned());
            }
        }
        if let Some(arguments) = message
            .pointer("/function_call/arguments")
            .and_then(Value::as_str)
        {
            texts.arguments.push(arguments.to_owned());
        }
    }
    texts
}

/// Rewrites the texts of a non-streamed answer: `text` for content and refusals, `json` for
/// tool-call arguments (JSON texts, where a restored value must stay a valid JSON string).
pub fn rewrite_answer(
    body: &mut Value,
    text: &dyn Fn(&str) -> String,
    json: &dyn Fn(&str) -> String,
) {
    let Some(choices) = body.get_mut("choices").and_then(Value::as_array_mut) else {
        return;
    };
    for choice in choices {
        let Some(message) = choice.get_mut("message") else {
            continue;
        };
        for field in ["content", "refusal"] {
            if let Some(Value::String(value)) = message.get_mut(field) {
                *value = text(value);
            }
        }
        if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
            for call in calls {
                if let Some(Value::String(arguments)) = call.pointer_mut("/function/arguments") {
                    *arguments = json(arguments);
                }
            }
        }
        if let Some(Value::String(arguments)) = message.pointer_mut("/function_call/arguments") {
            *arguments = json(arguments);
        }
    }
}

/// Token usage an OpenAI-shaped answer reports: `(prompt, completion)`.
pub fn usage_of(body: &Value) -> Option<(u64, u64)> {
    let usage = body.get("usage")?;
    let prompt = usage.get("prompt_tokens")?.as_u64()?;
    let completion = usage
        .get("completion_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some((prompt, completion))
}

/// The texts of an embeddings request's `input`: one string or an array of strings; token
/// arrays are refused, since they cannot be screened.
pub fn embedding_inputs(body: &Value) -> Result<Vec<String>, InvalidRequest> {
    match body.get("input") {
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    InvalidRequest::new(
                        "`input` must be a string or an array of strings (token arrays cannot be \
                         screened and are not accepted)",
                        "input",
                    )
                })
            })
            .collect(),
        Some(_) => Err(InvalidRequest::new(
            "`input` must be a string or a non-empty array of strings",
            "input",
        )),
        None => Err(InvalidRequest::new(
            "Missing required parameter: 'input'.",
            "input",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn every_shape() -> Value {
        json!({
            "model": "support",
            "temperature": 0.3,
            "messages": [
                {"role": "system", "content": "You help Ana."},
                {"role": "user", "name": "ana_lopez", "content": [
                    {"type": "text", "text": "Mail ana@example.com"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "or call +1 415 555 0100"}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "lookup", "arguments": "{\"email\":\"ana@example.com\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"phone\":\"+1 415 555 0100\"}"},
                {"role": "assistant", "content": "Done", "function_call": {"name": "f", "arguments": "{}"}}
            ]
        })
    }

    #[test]
    fn every_text_of_every_message_shape_is_found_in_order() {
        let body = every_shape();
        let messages = body["messages"].as_array().unwrap();
        let slots = text_slots(messages);
        let found: Vec<(usize, Author, SlotKind, &str)> = slots
            .iter()
            .map(|s| (s.message, s.author, s.kind, slot_text(messages, s).unwrap()))
            .collect();
        assert_eq!(
            found,
            [
                (0, Author::Application, SlotKind::Content, "You help Ana."),
                (1, Author::User, SlotKind::Name, "ana_lopez"),
                (1, Author::User, SlotKind::Part(0), "Mail ana@example.com"),
                (
                    1,
                    Author::User,
                    SlotKind::Part(2),
                    "or call +1 415 555 0100"
                ),
                (
                    2,
                    Author::Model,
                    SlotKind::ToolArguments(0),
                    "{\"email\":\"ana@example.com\"}"
                ),
                (
                    3,
                    Author::Tool,
                    SlotKind::Content,
                    "{\"phone\":\"+1 415 555 0100\"}"
                ),
                (4, Author::Model, SlotKind::Content, "Done"),
                (4, Author::Model, SlotKind::FunctionArguments, "{}"),
            ]
        );
    }

    #[test]
    fn rewriting_slots_leaves_everything_else_alone() {
        let mut body = every_shape();
        let before = body.clone();
        let messages = body["messages"].as_array_mut().unwrap();
        for slot in text_slots(messages) {
            let text = slot_text(messages, &slot).unwrap().to_uppercase();
            set_slot_text(messages, &slot, text);
        }
        assert_eq!(
            body["messages"][1]["content"][2]["text"],
            "OR CALL +1 415 555 0100"
        );
        assert_eq!(
            body["messages"][1]["content"][1],
            before["messages"][1]["content"][1]
        );
        assert_eq!(body["messages"][2]["tool_calls"][0]["id"], "call_1");
        assert_eq!(body["temperature"], 0.3);
        assert_eq!(body["messages"][3]["tool_call_id"], "call_1");
    }

    #[test]
    fn requests_are_read_and_refused_with_the_parameter_named() {
        let info = read_chat_request(&json!({
            "model": "r", "stream": true, "stream_options": {"include_usage": true},
            "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]
        }))
        .unwrap();
        assert_eq!(
            info,
            ChatRequestInfo {
                stream: true,
                include_usage: true,
                max_tokens: Some(50),
                model: Some("r".into()),
                choices: 1,
            }
        );
        let newer = read_chat_request(&json!({
            "max_completion_tokens": 7, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]
        }))
        .unwrap();
        assert_eq!(newer.max_tokens, Some(7));
        for (body, param) in [
            (json!({"messages": []}), "messages"),
            (json!({}), "messages"),
            (
                json!({"messages": [{"role": "robot", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}),
                "messages[0].content[0].text",
            ),
            (
                json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}]}),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (
                json!({"messages": [{"role": "user"}], "max_tokens": -1}),
                "max_tokens",
            ),
            (
                json!({"messages": [{"role": "user"}], "stream": "yes"}),
                "stream",
            ),
            (json!({"messages": [{"role": "user"}], "n": 0}), "n"),
        ] {
            assert_eq!(
                read_chat_request(&body).unwrap_err().param.as_deref(),
                Some(param),
                "{body}"
            );
        }
    }

    #[test]
    fn answers_are_read_and_rewritten_field_by_field() {
        let mut answer = json!({
            "choices": [{"index": 0, "message": {
                "role": "assistant", "content": "Hi <PERSON_1>", "refusal": null,
                "tool_calls": [{"id": "c", "type": "function",
                                "function": {"name": "f", "arguments": "{\"to\":\"<EMAIL_1>\"}"}}]
            }, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        });
        assert_eq!(
            answer_texts(&answer),
            AnswerTexts {
                contents: vec!["Hi <PERSON_1>".into()],
                arguments: vec!["{\"to\":\"<EMAIL_1>\"}".into()],
            }
        );
        assert_eq!(usage_of(&answer), Some((12, 3)));
        rewrite_answer(&mut answer, &|t| format!("T[{t}]"), &|t| format!("J[{t}]"));
        assert_eq!(
            answer["choices"][0]["message"]["content"],
            "T[Hi <PERSON_1>]"
        );
        assert_eq!(answer["choices"][0]["message"]["refusal"], Value::Null);
        assert_eq!(
            answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "J[{\"to\":\"<EMAIL_1>\"}]"
        );
    }

    #[test]
    fn embedding_inputs_are_strings_only() {
        assert_eq!(embedding_inputs(&json!({"input": "a"})).unwrap(), ["a"]);
        assert_eq!(
            embedding_inputs(&json!({"input": ["a", "b"]})).unwrap(),
            ["a", "b"]
        );
        assert!(embedding_inputs(&json!({"input": [[1, 2]]})).is_err());
        assert!(embedding_inputs(&json!({"input": []})).is_err());
        assert!(embedding_inputs(&json!({})).is_err());
    }
}
