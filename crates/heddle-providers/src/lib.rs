//! Heddle's model providers: one provider-neutral chat API ([`ModelProvider`], [`ChatRequest`],
//! [`ChatResponse`]) and adapters that speak each provider's documented wire format:
//! OpenAI Chat Completions ([`OpenAiProvider`]), any OpenAI-compatible server such as Ollama,
//! vLLM or llama.cpp ([`OpenAiConfig::compatible`]), Anthropic Messages
//! ([`AnthropicProvider`]), and [`ScriptedProvider`], which plays a fixed script of model turns
//! offline (demo, tests, red-team simulations of a fully compromised model).
//!
//! For the gateway endpoint, [`OpenAiPassthrough`] forwards OpenAI-shaped bodies as they are
//! and reads streamed answers as server-sent events ([`sse`]).
//!
//! Beside chat, the I/O the trust layers need: the [`Embedder`] trait with
//! [`OpenAiEmbedder`] (OpenAI Embeddings and compatible servers; `heddle-embed-local` runs a
//! model in process behind the same trait), and [`OpenAiModeration`], which returns the
//! Moderations API's raw answer for `heddle-trust` to read.
//!
//! Invariants:
//! - every HTTP call goes through `heddle-outbound`; a base URL on a private or loopback
//!   address is reachable only when its config says `allow_private_network`, and then only
//!   that host's addresses are opened, never private networks in general;
//! - API keys travel as [`SecretString`](heddle_crypto::SecretString) and appear in no error,
//!   `Debug` output or log; provider error messages are scrubbed of the key before use;
//! - retries are bounded, only on 429 and 5xx, and honour `retry-after`; sleeping goes through
//!   an injectable [`Sleeper`] so tests run without waiting;
//! - nothing the model returns is trusted here: tool-call arguments are passed on as data
//!   for the runtime to validate;
//! - the scripted provider never touches the network.

mod anthropic;
pub mod embeddings;
mod error;
mod http;
mod model;
mod moderation;
mod openai;
mod passthrough;
mod price;
mod retry;
mod scripted;
pub mod sse;

pub use anthropic::{ANTHROPIC_VERSION, AnthropicConfig, AnthropicProvider};
pub use embeddings::{Embedder, OpenAiEmbedder, OpenAiEmbeddingConfig};
pub use error::ProviderError;
pub use http::HttpSettings;
pub use model::{
    ChatRequest, ChatResponse, Message, ModelProvider, StopReason, ToolCall, ToolSpec, Usage,
};
pub use moderation::{OpenAiModeration, OpenAiModerationConfig};
pub use openai::{MaxTokensField, OpenAiConfig, OpenAiProvider};
pub use passthrough::{EventStream, OpenAiPassthrough, PassthroughConfig};
pub use price::{ModelPrice, PriceTable};
pub use retry::{RecordingSleeper, RetryPolicy, Sleeper, TokioSleeper};
pub use scripted::{Script, ScriptedProvider, ScriptedToolCall, ScriptedTurn, TurnExpectation};
