//! Fake upstreams for Heddle's tests: servers on `127.0.0.1` that speak the real wire
//! formats of the services Heddle talks to, so tests check formats against the documented
//! protocol rather than against Heddle's own encoder. Used only as a dev-dependency.
//!
//! SIEM receivers: [`FakeWebhookReceiver`] (verifies `X-Heddle-Signature`),
//! [`FakeSplunkHec`], [`FakeDatadogIntake`] and [`FakeElasticsearch`] (`_bulk` with `create`
//! semantics). Each records every request and every event, keeps events de-duplicated by
//! `(tenant, seq)` as an at-least-once consumer would, can be switched to failure modes
//! ([`ReceiverMode`]) or stopped and restarted on the same port, and exposes
//! `received_seqs()` for exactly-once-by-seq assertions.
//!
//! Model providers: [`FakeOpenAi`] (Chat Completions, also standing in for OpenAI-compatible
//! servers) and [`FakeAnthropic`] (Messages) answer queued [`FakeModelReply`]s, tool calls
//! and errors included, in each provider's documented format, and record every request.
//!
//! Mail: [`FakeSmtp`] speaks RFC 5321 SMTP without TLS (EHLO, AUTH PLAIN/LOGIN, MAIL,
//! RCPT, DATA with dot-stuffing), records each accepted message as a [`ReceivedMail`], and
//! can reject the next `RCPT` with a chosen reply or stay silent to test client timeouts.
//!
//! Invariants: fakes listen on loopback only and never reach out; a fake is stricter than the
//! real service where that catches a Heddle bug (it refuses events without Heddle's
//! `tenant_id`/`seq`), never more lenient.

mod datadog;
mod elasticsearch;
mod fake_anthropic;
mod fake_model;
mod fake_openai;
mod fake_openai_stream;
mod fake_openai_vectors;
mod recorder;
mod server;
mod smtp;
mod splunk;
mod webhook;

pub use datadog::{DATADOG_MAX_ENTRIES, DATADOG_MAX_PAYLOAD_BYTES, FakeDatadogIntake};
pub use elasticsearch::FakeElasticsearch;
pub use fake_anthropic::{FAKE_ANTHROPIC_VERSION, FakeAnthropic};
pub use fake_model::{FakeModelReply, FakeToolCall};
pub use fake_openai::FakeOpenAi;
pub use fake_openai_stream::StreamShape;
pub use fake_openai_vectors::{
    DEFAULT_MODERATION_KEYWORDS, FAKE_EMBEDDING_DIMENSION, MODERATION_CATEGORIES, fake_embedding,
};
pub use recorder::{ReceivedEvent, ReceiverMode, RecordedRequest};
pub use server::LoopbackServer;
pub use smtp::{FakeSmtp, ReceivedMail};
pub use splunk::FakeSplunkHec;
pub use webhook::FakeWebhookReceiver;
