//! What the fake model providers share: the scripted replies a test queues, and the queue
//! itself. Each fake renders a reply in its own provider's wire format.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;

/// One answer a fake model provider gives, rendered in the provider's documented format.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeModelReply {
    /// 200 with a completion: text and/or tool calls, and the usage to report.
    Completion {
        text: Option<String>,
        tool_calls: Vec<FakeToolCall>,
        input_tokens: u64,
        output_tokens: u64,
        /// The provider's own stop reason; derived from the content when `None`.
        stop_reason: Option<String>,
    },
    /// 429 in the provider's format, with `retry-after: <secs>` when given.
    RateLimited { retry_after_secs: Option<u64> },
    /// A 5xx in the provider's format (500, 503, or Anthropic's 529 "overloaded").
    ServerError { status: u16 },
    /// 401 in the provider's format, whatever key was sent.
    Unauthorized,
    /// 400 in the provider's format with this message.
    BadRequest { message: String },
    /// 200 with this raw body: a malformed or truncated response.
    Malformed { body: String },
    /// When the request asks for a stream: the inner reply's events, cut after this many
    /// (no `[DONE]`), as a dropped connection leaves them. Otherwise the inner reply.
    CutStream {
        after_events: usize,
        reply: Box<FakeModelReply>,
    },
    /// The inner reply, after this delay (for timeouts).
    Delayed {
        delay: Duration,
        reply: Box<FakeModelReply>,
    },
}

/// A tool call in a fake completion.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

impl FakeModelReply {
    /// A text completion reporting 10 input and 5 output tokens.
    pub fn text(text: impl Into<String>) -> Self {
        FakeModelReply::Completion {
            text: Some(text.into()),
            tool_calls: Vec::new(),
            input_tokens: 10,
            output_tokens: 5,
            stop_reason: None,
        }
    }

    /// A completion proposing one tool call, reporting 10 input and 5 output tokens.
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        FakeModelReply::Completion {
            text: None,
            tool_calls: vec![FakeToolCall {
                id: id.into(),
                name: name.into(),
                arguments,
            }],
            input_tokens: 10,
            output_tokens: 5,
            stop_reason: None,
        }
    }

    /// Sets the usage of a completion (other replies are returned unchanged).
    pub fn with_usage(mut self, input: u64, output: u64) -> Self {
        if let FakeModelReply::Completion {
            input_tokens,
            output_tokens,
            ..
        } = &mut self
        {
            *input_tokens = input;
            *output_tokens = output;
        }
        self
    }

    /// Sets the text of a completion (other replies are returned unchanged).
    pub fn with_text(mut self, new_text: impl Into<String>) -> Self {
        if let FakeModelReply::Completion { text, .. } = &mut self {
            *text = Some(new_text.into());
        }
        self
    }

    /// A streamed answer that stops after `after_events` events.
    pub fn cut_stream(self, after_events: usize) -> Self {
        FakeModelReply::CutStream {
            after_events,
            reply: Box::new(self),
        }
    }

    pub fn delayed(self, delay: Duration) -> Self {
        FakeModelReply::Delayed {
            delay,
            reply: Box::new(self),
        }
    }
}

/// Replies waiting to be given, in order.
#[derive(Debug, Default)]
pub(crate) struct ReplyQueue {
    replies: Mutex<VecDeque<FakeModelReply>>,
}

impl ReplyQueue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<FakeModelReply>> {
        self.replies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, reply: FakeModelReply) {
        self.lock().push_back(reply);
    }

    pub(crate) fn pop(&self) -> Option<FakeModelReply> {
        self.lock().pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The delegating API both fake providers share.
macro_rules! fake_model_api {
    ($fake:ty) => {
        impl $fake {
            /// Base URL, `http://127.0.0.1:<port>`.
            pub fn url(&self) -> String {
                self.server.url()
            }

            pub fn addr(&self) -> std::net::SocketAddr {
                self.server.addr()
            }

            /// Queues the next reply. With the queue empty the fake answers 500 saying so.
            pub fn push_reply(&self, reply: $crate::FakeModelReply) {
                self.state.replies.push(reply);
            }

            /// Replies queued and not yet given.
            pub fn pending_replies(&self) -> usize {
                self.state.replies.len()
            }

            /// Every request received, in order.
            pub fn requests(&self) -> Vec<$crate::RecordedRequest> {
                self.state.recorder.requests()
            }

            /// The JSON bodies of every request received, in order (`null` for a non-JSON body).
            pub fn request_bodies(&self) -> Vec<serde_json::Value> {
                self.requests()
                    .iter()
                    .map(|request| {
                        serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null)
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use fake_model_api;
