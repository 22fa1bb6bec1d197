//! A raw OpenAI-compatible client for the gateway endpoint: the caller's request body goes out
//! as JSON (after the gateway masked it), and the answer comes back as JSON or as a stream of
//! server-sent events — nothing is normalized, so fields this crate does not know survive.
//!
//! It keeps the adapters' rules: the outbound client may reach only the base URL's host
//! (private addresses only when the settings allow them), the key travels as a sensitive
//! header and is scrubbed from every provider message, errors are the crate's
//! [`ProviderError`] classes. It never retries: the gateway's callers are OpenAI clients that
//! retry on their own, and a retry under them would multiply theirs.

use std::collections::VecDeque;
use std::time::Duration;

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{HeaderMap, OutboundStream};
use serde_json::Value;

use crate::http::{Transport, bearer_headers};
use crate::openai::parse_error;
use crate::sse::{SseEvent, SseParser};
use crate::{HttpSettings, ProviderError, RetryPolicy};

/// The largest single streamed event accepted: a chunk carries a few tokens, so anything
/// near this is not a chat completion stream.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Configuration of an [`OpenAiPassthrough`].
#[derive(Debug, Clone)]
pub struct PassthroughConfig {
    /// Names the upstream in errors (`openai`, `vllm`).
    pub name: String,
    /// Where it lives; its retry policy is ignored (no retries).
    pub http: HttpSettings,
    /// Sent as a bearer token; `None` for servers that take no key.
    pub api_key: Option<SecretString>,
}

/// The raw client; build one per upstream and keep it (it holds a connection pool).
#[derive(Debug)]
pub struct OpenAiPassthrough {
    chat: Transport,
    embeddings: Transport,
    api_key: Option<SecretString>,
    headers: HeaderMap,
}

impl OpenAiPassthrough {
    pub fn new(config: PassthroughConfig) -> Result<Self, ProviderError> {
        let mut http = config.http;
        http.retry = RetryPolicy::none();
        let chat = Transport::new(&config.name, &http, "/v1/chat/completions")?;
        let embeddings = Transport::new(&config.name, &http, "/v1/embeddings")?;
        let headers = bearer_headers(&chat, config.api_key.as_ref())?;
        Ok(Self {
            chat,
            embeddings,
            api_key: config.api_key,
            headers,
        })
    }

    fn secret(&self) -> Option<&str> {
        self.api_key.as_ref().map(|key| key.expose_secret())
    }

    /// `POST /v1/chat/completions` without streaming: the answer's JSON body.
    pub async fn chat_completion(&self, body: &Value) -> Result<Value, ProviderError> {
        let response = self
            .chat
            .post_json(&self.headers, body, self.secret(), parse_error)
            .await?;
        response.json().map_err(|err| {
            self.chat
                .malformed(format!("the answer is not JSON: {err}"))
        })
    }

    /// `POST /v1/chat/completions` with `stream: true` (the caller sets it): the events as
    /// they arrive. An error status before the stream starts is the error.
    pub async fn chat_completion_stream(&self, body: &Value) -> Result<EventStream, ProviderError> {
        let stream = self
            .chat
            .post_stream(&self.headers, body, self.secret(), parse_error)
            .await?;
        Ok(EventStream {
            stream,
            parser: SseParser::new(MAX_EVENT_BYTES),
            ready: VecDeque::new(),
            ended: false,
            provider: self.chat.provider().to_owned(),
            timeout: self.chat.timeout(),
        })
    }

    /// `POST /v1/embeddings`: the answer's JSON body.
    pub async fn embeddings(&self, body: &Value) -> Result<Value, ProviderError> {
        let response = self
            .embeddings
            .post_json(&self.headers, body, self.secret(), parse_error)
            .await?;
        response.json().map_err(|err| {
            self.embeddings
                .malformed(format!("the answer is not JSON: {err}"))
        })
    }
}

/// The server-sent events of one streamed answer.
#[derive(Debug)]
pub struct EventStream {
    stream: OutboundStream,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
    ended: bool,
    provider: String,
    timeout: Duration,
}

impl EventStream {
    /// The next event; `None` when the upstream closed the stream. `data: [DONE]` is
    /// returned like any event: the caller decides what it means.
    pub async fn next_event(&mut self) -> Result<Option<SseEvent>, ProviderError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            match self.stream.next_chunk().await {
                Ok(Some(chunk)) => {
                    let events = self.parser.push(&chunk).map_err(|err| {
                        ProviderError::MalformedResponse {
                            provider: self.provider.clone(),
                            reason: err.to_string(),
                        }
                    })?;
                    self.ready.extend(events);
                }
                Ok(None) => self.ended = true,
                Err(heddle_outbound::OutboundError::Timeout { .. }) => {
                    return Err(ProviderError::Timeout {
                        provider: self.provider.clone(),
                        after: self.timeout,
                    });
                }
                Err(err) => {
                    return Err(ProviderError::Transport {
                        provider: self.provider.clone(),
                        reason: err.to_string(),
                    });
                }
            }
        }
    }
}
