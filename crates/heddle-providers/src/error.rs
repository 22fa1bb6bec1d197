//! The crate's error type. No variant ever holds an API key: provider messages are scrubbed
//! of the key and, for authentication failures, not kept at all (OpenAI's 401 message quotes
//! part of the key).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429 after every allowed attempt (or a `retry-after` longer than the policy waits).
    #[error("`{provider}` rate limited the request after {attempts} attempt(s){}: {message}", retry_after_text(.retry_after))]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
        message: String,
        attempts: u32,
    },
    /// 5xx (Anthropic's 529 "overloaded" included) after every allowed attempt.
    #[error("`{provider}` answered HTTP {status} after {attempts} attempt(s): {message}")]
    Upstream {
        provider: String,
        status: u16,
        message: String,
        attempts: u32,
    },
    /// No complete answer within the per-request timeout.
    #[error("`{provider}` did not answer within {after:?}")]
    Timeout { provider: String, after: Duration },
    /// 401 or 403: the key is missing, wrong, or lacks permission. Only the provider's error
    /// type is kept, never its message.
    #[error(
        "`{provider}` refused the credentials (HTTP {status}, `{kind}`); check the api key in the vault"
    )]
    Auth {
        provider: String,
        status: u16,
        kind: String,
    },
    /// 400 and any other 4xx but 401, 403 and 429: the request itself is wrong; not retried.
    #[error("`{provider}` rejected the request (HTTP {status}): {message}")]
    BadRequest {
        provider: String,
        status: u16,
        message: String,
    },
    /// A 2xx body that is not the documented shape.
    #[error("`{provider}` sent a malformed response: {reason}")]
    MalformedResponse { provider: String, reason: String },
    /// The request could not be sent: connection refused, blocked by the outbound policy, …
    #[error("could not reach `{provider}`: {reason}")]
    Transport { provider: String, reason: String },
    /// The provider is configured wrongly (bad base URL, header value).
    #[error("invalid configuration for `{provider}`: {reason}")]
    Config { provider: String, reason: String },
    /// A model running in this process (a local embedder) failed: unreadable input for its
    /// tokenizer, a tensor error, a worker that died. Not retried.
    #[error("local model `{provider}` failed: {reason}")]
    Local { provider: String, reason: String },
    /// The scripted provider was asked for more turns than its script has.
    #[error(
        "the script is exhausted: all {turns} turn(s) were played and another model call was made"
    )]
    ScriptExhausted { turns: usize },
    /// The scripted provider's expectation on the conversation did not hold.
    #[error("scripted turn {turn} expected {expected}, but {found}")]
    ScriptExpectation {
        turn: usize,
        expected: String,
        found: String,
    },
    /// A script file could not be read.
    #[error("invalid script: {reason}")]
    InvalidScript { reason: String },
}

impl ProviderError {
    /// Whether the same request may succeed later (429, 5xx, timeout, transport).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Upstream { .. }
                | ProviderError::Timeout { .. }
                | ProviderError::Transport { .. }
        )
    }
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(after) => format!(" (retry after {after:?})"),
        None => String::new(),
    }
}
