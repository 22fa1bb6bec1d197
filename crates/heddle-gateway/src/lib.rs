//! Heddle's OpenAI-compatible endpoint (seed 004's proxy pattern for applications that
//! already speak the OpenAI API): every request goes through a **route** — the model binding
//! it is forwarded to (provider, upstream model, vault credential the client never sees),
//! the route's trust layers, budgets and limits — and is recorded as an execution.
//!
//! - [`wire`]: where text sits in Chat Completions requests and answers (every message
//!   shape), pure.
//! - [`mask`]: one request's placeholder map (fresh per request), restoring text and JSON.
//! - [`relay`]: a streamed answer restored chunk by chunk, still valid SSE, with the answer
//!   checks `buffer` or `incremental`.
//! - [`budget`]: what to reserve before the upstream call.
//! - [`GatewayError`]: failures in the classes OpenAI clients know.
//!
//! Invariants: nothing reaches the upstream before the inbound layers ran and every message
//! text of every shape was masked (fail closed: a text that cannot be masked stops the
//! request); the provider key comes from the vault per route and never appears in an error;
//! budgets are reserved before the call, atomically across processes; prompt text appears in
//! records only as the content-privacy setting allows (a digest by default).

pub mod budget;
mod error;
pub mod mask;
mod record;
mod recorder;
pub mod relay;
mod screen;
mod service;
pub mod wire;

pub use error::GatewayError;
pub use recorder::RecordTiming;
pub use service::{ChatAnswer, Gateway, GatewaySettings, Outcome};
