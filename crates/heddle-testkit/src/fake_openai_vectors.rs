//! The fake OpenAI server's `POST /v1/embeddings` and `POST /v1/moderations`, in the
//! documented formats, with deterministic answers computed from the input:
//!
//! - embeddings are a hashed bag of words ([`fake_embedding`]): each lower-cased word adds
//!   ±1 to one of [`FAKE_EMBEDDING_DIMENSION`] buckets (or `dimensions` when the request sets
//!   it), then the vector is scaled to unit length as OpenAI's are. Texts sharing words are
//!   close, texts sharing none are near orthogonal, and a test can compute the exact vector.
//!   Answer: `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
//!   "model", "usage": {"prompt_tokens", "total_tokens"}}`.
//! - moderations flag a category when the lower-cased input contains one of its keywords
//!   ([`DEFAULT_MODERATION_KEYWORDS`], plus those a test adds): that category scores 0.97 and is
//!   `true`, every other one of the 13 `omni-moderation-latest` categories scores 0.0001.
//!   Answer: `{"id", "model", "results": [{"flagged", "categories", "category_scores",
//!   "category_applied_input_types"}]}`, one result per input.
//!
//! Checks, as OpenAI makes them: the key, `model` (required for embeddings), and `input` as a
//! string or a non-empty array of non-empty strings, at most 2048 for embeddings. Stricter in
//! one way: token-array and image inputs are refused (400),
//! since Heddle sends none of them.
//!
//! A reply queued with `push_embeddings_reply` / `push_moderations_reply` replaces the next
//! computed answer (an error, a raw body, a delay); a queued `Completion` means "answer as
//! usual".

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::FakeModelReply;
use crate::fake_model::ReplyQueue;
use crate::fake_openai::{OpenAiState, check_key, error, render};

/// The vector length of the fake's embeddings when the request sets no `dimensions`.
pub const FAKE_EMBEDDING_DIMENSION: usize = 256;

/// The most inputs one embeddings request may carry, as OpenAI documents.
const MAX_EMBEDDING_INPUTS: usize = 2048;

/// The categories `omni-moderation-latest` scores.
pub const MODERATION_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// `(keyword, category)`: an input containing the keyword is flagged for the category.
pub const DEFAULT_MODERATION_KEYWORDS: [(&str, &str); 4] = [
    ("kill", "violence"),
    ("build a bomb", "illicit/violent"),
    ("i hate you", "harassment"),
    ("hurt myself", "self-harm"),
];

const FLAGGED_SCORE: f64 = 0.97;
const CLEAN_SCORE: f64 = 0.0001;

/// The fake's embedding of `text`: see the module documentation. Unit length; a text with no
/// word at all maps to the first basis vector.
pub fn fake_embedding(text: &str, dimension: usize) -> Vec<f32> {
    let mut vector = vec![0.0_f32; dimension.max(1)];
    let buckets = vector.len() as u64;
    for word in words(text) {
        let hash = fnv1a(word.as_bytes());
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        if let Some(slot) = usize::try_from(hash % buckets)
            .ok()
            .and_then(|at| vector.get_mut(at))
        {
            *slot += sign;
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        if let Some(first) = vector.first_mut() {
            *first = 1.0;
        }
    } else {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
}

/// 64-bit FNV-1a: stable across runs and platforms, unlike the std hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Debug, Default)]
pub(crate) struct VectorState {
    pub(crate) embedding_replies: ReplyQueue,
    pub(crate) moderation_replies: ReplyQueue,
    extra_keywords: Mutex<Vec<(String, String)>>,
}

impl VectorState {
    pub(crate) fn add_keyword(&self, keyword: &str, category: &str) {
        self.extra_keywords
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((keyword.to_lowercase(), category.to_owned()));
    }

    fn keywords(&self) -> Vec<(String, String)> {
        let extra = self
            .extra_keywords
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        DEFAULT_MODERATION_KEYWORDS
            .iter()
            .map(|(keyword, category)| ((*keyword).to_owned(), (*category).to_owned()))
            .chain(extra)
            .collect()
    }
}

/// The next queued reply once its delays have passed, unless it is a `Completion` (or the
/// queue is empty): then the endpoint computes its answer.
async fn take_override(queue: &ReplyQueue) -> Option<FakeModelReply> {
    let mut reply = queue.pop()?;
    while let FakeModelReply::Delayed {
        delay,
        reply: inner,
    } = reply
    {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    match reply {
        FakeModelReply::Completion { .. } => None,
        other => Some(other),
    }
}

fn bad_request(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        None,
    )
}

/// The request's JSON body after the key check, or the refusal to send.
fn parse(state: &OpenAiState, headers: &HeaderMap, body: &Bytes) -> Result<Value, Box<Response>> {
    if let Some(refusal) = check_key(state.api_key.as_deref(), headers) {
        return Err(Box::new(refusal));
    }
    serde_json::from_slice(body).map_err(|_| {
        Box::new(bad_request(
            "We could not parse the JSON body of your request.",
        ))
    })
}

/// `input` as texts: one string or a non-empty array of non-empty strings; else the 400
/// message.
fn texts(request: &Value) -> Result<Vec<String>, &'static str> {
    const INVALID: &str = "'$.input' is invalid. Please check the API reference.";
    match request.get("input") {
        None => Err("Missing required parameter: 'input'."),
        Some(Value::String(text)) if !text.is_empty() => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(text) if !text.is_empty() => Ok(text.clone()),
                _ => Err(INVALID),
            })
            .collect(),
        Some(_) => Err(INVALID),
    }
}

pub(crate) async fn embeddings(
    State(state): State<Arc<OpenAiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .recorder
        .record_request(&method, &uri, &headers, &body);
    let request = match parse(&state, &headers, &body) {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    let Some(model) = request.get("model").and_then(Value::as_str) else {
        return bad_request("you must provide a model parameter");
    };
    let inputs = match texts(&request) {
        Ok(inputs) => inputs,
        Err(message) => return bad_request(message),
    };
    if inputs.len() > MAX_EMBEDDING_INPUTS {
        return bad_request("'$.input' is invalid: at most 2048 inputs per request.");
    }
    // `base64` (what the official SDKs ask for) is the little-endian f32 bytes, base64.
    let base64 = match request.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return bad_request("'encoding_format' must be 'float' or 'base64'."),
    };
    let dimension = match request.get("dimensions") {
        None => FAKE_EMBEDDING_DIMENSION,
        Some(value) => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n @ 1..=4096) => n,
            _ => return bad_request("Invalid value for 'dimensions'."),
        },
    };
    let count = state.recorder.request_count();
    if let Some(reply) = take_override(&state.vectors.embedding_replies).await {
        return render(reply, model, count);
    }
    let tokens: usize = inputs.iter().map(|text| words(text).count().max(1)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({
                "object": "embedding",
                "index": index,
                "embedding": encode(fake_embedding(text, dimension), base64),
            })
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn encode(vector: Vec<f32>, base64: bool) -> Value {
    if !base64 {
        return json!(vector);
    }
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    Value::from(heddle_crypto::base64_encode(bytes))
}

pub(crate) async fn moderations(
    State(state): State<Arc<OpenAiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .recorder
        .record_request(&method, &uri, &headers, &body);
    let request = match parse(&state, &headers, &body) {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    // `model` is optional and defaults to the latest omni model, as documented.
    let model = match request.get("model") {
        None => "omni-moderation-latest",
        Some(Value::String(model)) => model.as_str(),
        Some(_) => return bad_request("Invalid type for 'model': expected a string."),
    };
    let inputs = match texts(&request) {
        Ok(inputs) => inputs,
        Err(message) => return bad_request(message),
    };
    let count = state.recorder.request_count();
    if let Some(reply) = take_override(&state.vectors.moderation_replies).await {
        return render(reply, model, count);
    }
    let keywords = state.vectors.keywords();
    let results: Vec<Value> = inputs
        .iter()
        .map(|text| moderation_result(text, &keywords))
        .collect();
    let body = json!({
        "id": format!("modr-fake{count}"),
        "model": model,
        "results": results,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn moderation_result(text: &str, keywords: &[(String, String)]) -> Value {
    let lower = text.to_lowercase();
    let hit = |category: &str| {
        keywords
            .iter()
            .any(|(keyword, flagged)| flagged == category && lower.contains(keyword.as_str()))
    };
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut input_types = Map::new();
    for category in MODERATION_CATEGORIES {
        let flagged = hit(category);
        categories.insert(category.to_owned(), json!(flagged));
        let score = if flagged { FLAGGED_SCORE } else { CLEAN_SCORE };
        scores.insert(category.to_owned(), json!(score));
        input_types.insert(category.to_owned(), json!(["text"]));
    }
    let flagged = categories.values().any(|value| value == &json!(true));
    json!({
        "flagged": flagged,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": input_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_unit_length_deterministic_and_word_based() {
        let a = fake_embedding("How do I reset my password?", 256);
        let b = fake_embedding("how do i RESET my password", 256);
        let c = fake_embedding("Quarterly revenue grew by 12%", 256);
        assert_eq!(a.len(), 256);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(
            (cosine(&a, &b) - 1.0).abs() < 1e-5,
            "case and punctuation are ignored"
        );
        assert!(cosine(&a, &c) < 0.5);
        assert_eq!(fake_embedding("!!!", 8)[0], 1.0);
    }
}
