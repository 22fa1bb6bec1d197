//! Sentence embeddings: the [`Embedder`] trait the trust layers compare texts with, and
//! [`OpenAiEmbedder`] for OpenAI's Embeddings API (`POST {base}/v1/embeddings`) and the
//! servers that copy it (Ollama, vLLM, llama.cpp, TEI).
//!
//! Wire format, as documented: the request is `{"model", "input": [text, …],
//! "encoding_format": "float"}`; the answer is `{"object": "list", "data": [{"object":
//! "embedding", "index", "embedding": [f32, …]}], "model", "usage": {"prompt_tokens",
//! "total_tokens"}}`. `data` is put back in `index` order rather than trusted to arrive in it.
//! Errors are the Chat Completions ones. OpenAI takes at most 2048 inputs per request and no
//! empty string; callers batch, and an empty input list makes no request at all.

use std::fmt::Debug;
use std::sync::Arc;

use heddle_crypto::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::http::{Transport, bearer_headers};
use crate::openai::parse_error;
use crate::{HttpSettings, ProviderError, Sleeper};

/// Turns texts into vectors, one per input and in input order, all of one length.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync + Debug {
    /// Names the embedder in errors and logs (`openai`, `local-minilm`).
    fn name(&self) -> &str;

    /// The length of every vector, when known before the first call.
    fn dimension(&self) -> Option<usize>;

    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, ProviderError>;
}

/// Configuration of an [`OpenAiEmbedder`].
#[derive(Debug, Clone)]
pub struct OpenAiEmbeddingConfig {
    /// Names the embedder in errors (`openai`, `ollama`).
    pub name: String,
    pub http: HttpSettings,
    /// Sent as a bearer token; `None` for local servers that take no key.
    pub api_key: Option<SecretString>,
    /// `text-embedding-3-small`, `nomic-embed-text`, …
    pub model: String,
    /// The model's vector length when known (1536 for `text-embedding-3-small`); answers of
    /// another length are then refused as malformed.
    pub dimension: Option<usize>,
}

impl OpenAiEmbeddingConfig {
    /// OpenAI itself, at `https://api.openai.com`, with `text-embedding-3-small`.
    pub fn openai(api_key: SecretString) -> Self {
        Self {
            name: "openai".into(),
            http: HttpSettings::new("https://api.openai.com"),
            api_key: Some(api_key),
            model: "text-embedding-3-small".into(),
            dimension: Some(1536),
        }
    }

    /// An OpenAI-compatible server at `base_url`. A base on a loopback or private address
    /// also needs `http.allow_private_network`.
    pub fn compatible(
        base_url: impl Into<String>,
        api_key: Option<SecretString>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            name: "openai-compatible".into(),
            http: HttpSettings::new(base_url),
            api_key,
            model: model.into(),
            dimension: None,
        }
    }
}

/// The OpenAI Embeddings adapter.
#[derive(Debug)]
pub struct OpenAiEmbedder {
    transport: Transport,
    api_key: Option<SecretString>,
    model: String,
    dimension: Option<usize>,
}

impl OpenAiEmbedder {
    pub fn new(config: OpenAiEmbeddingConfig) -> Result<Self, ProviderError> {
        let transport = Transport::new(&config.name, &config.http, "/v1/embeddings")?;
        Ok(Self {
            transport,
            api_key: config.api_key,
            model: config.model,
            dimension: config.dimension,
        })
    }

    /// Replaces the sleeper used between retries (tests pass a [`crate::RecordingSleeper`]).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.transport.set_sleeper(sleeper);
        self
    }
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    fn name(&self) -> &str {
        self.transport.provider()
    }

    fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, ProviderError> {
        // OpenAI answers 400 to an empty list; nothing to ask for anyway.
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({
            "model": self.model,
            "input": inputs,
            "encoding_format": "float",
        });
        let headers = bearer_headers(&self.transport, self.api_key.as_ref())?;
        let secret = self.api_key.as_ref().map(|key| key.expose_secret());
        let response = self
            .transport
            .post_json(&headers, &body, secret, parse_error)
            .await?;
        let list: EmbeddingList = response.json().map_err(|err| {
            self.transport
                .malformed(format!("not an embedding list: {err}"))
        })?;
        in_input_order(list, inputs.len(), self.dimension)
            .map_err(|reason| self.transport.malformed(reason))
    }
}

#[derive(Deserialize)]
struct EmbeddingList {
    data: Vec<EmbeddingWire>,
}

#[derive(Deserialize)]
struct EmbeddingWire {
    index: usize,
    embedding: Vec<f32>,
}

/// One vector per input, placed by `index`; a missing, repeated or out-of-range index, or
/// vectors of unequal (or unexpected) length, make the whole answer malformed: a vector
/// compared against the wrong text would silently weaken a check.
fn in_input_order(
    list: EmbeddingList,
    inputs: usize,
    dimension: Option<usize>,
) -> Result<Vec<Vec<f32>>, String> {
    if list.data.len() != inputs {
        return Err(format!(
            "{} embedding(s) for {inputs} input(s)",
            list.data.len()
        ));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; inputs];
    let mut length = dimension;
    for item in list.data {
        let expected = *length.get_or_insert(item.embedding.len());
        if item.embedding.len() != expected || expected == 0 {
            return Err(format!(
                "embedding {} has {} values, expected {expected}",
                item.index,
                item.embedding.len()
            ));
        }
        match slots.get_mut(item.index) {
            Some(slot @ None) => *slot = Some(item.embedding),
            Some(Some(_)) => return Err(format!("index {} appears twice", item.index)),
            None => return Err(format!("index {} is out of range", item.index)),
        }
    }
    // With as many items as inputs and no index repeated, every slot is filled.
    slots
        .into_iter()
        .map(|slot| slot.ok_or_else(|| "an index is missing".to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(usize, &[f32])]) -> EmbeddingList {
        EmbeddingList {
            data: items
                .iter()
                .map(|(index, values)| EmbeddingWire {
                    index: *index,
                    embedding: values.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn vectors_are_placed_by_index() {
        let ordered = in_input_order(list(&[(1, &[2.0, 2.0]), (0, &[1.0, 1.0])]), 2, None);
        assert_eq!(ordered.unwrap(), vec![vec![1.0, 1.0], vec![2.0, 2.0]]);
    }

    #[test]
    fn bad_indices_counts_and_lengths_are_malformed() {
        assert!(in_input_order(list(&[(0, &[1.0]), (0, &[1.0])]), 2, None).is_err());
        assert!(in_input_order(list(&[(0, &[1.0]), (2, &[1.0])]), 2, None).is_err());
        assert!(in_input_order(list(&[(0, &[1.0])]), 2, None).is_err());
        assert!(in_input_order(list(&[(0, &[1.0]), (1, &[1.0, 2.0])]), 2, None).is_err());
        assert!(in_input_order(list(&[(0, &[1.0, 2.0])]), 1, Some(3)).is_err());
        assert!(in_input_order(list(&[(0, &[])]), 1, None).is_err());
    }
}
