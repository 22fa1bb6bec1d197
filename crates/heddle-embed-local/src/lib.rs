//! Heddle's local sentence embedder: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run
//! on the CPU with candle, for trust checks that must not send text to a third party.
//!
//! Invariants:
//! - nothing is ever downloaded: [`LocalMiniLm::load`] reads `config.json`, `tokenizer.json`
//!   and `model.safetensors` from a directory the operator provides, and names every missing
//!   file in its error;
//! - a vector is what sentence-transformers computes for this model: the input is truncated
//!   to [`MAX_TOKENS`] tokens (special tokens included), the last hidden states are averaged
//!   over the attention mask, and the mean is scaled to unit length;
//! - inference is CPU work and runs on tokio's blocking pool behind the async
//!   [`Embedder`] trait, never on a runtime worker;
//! - no `unsafe`: the weights are read into memory rather than memory-mapped.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use heddle_providers::ProviderError;
use heddle_providers::embeddings::Embedder;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The model's configuration, as Hugging Face's BERT writes it.
pub const CONFIG_FILE: &str = "config.json";
/// The tokenizer, in the `tokenizers` library's JSON format.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The weights, in safetensors format.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2: longer inputs are cut here
/// (the model has 512 positions but was trained on 256 or fewer).
pub const MAX_TOKENS: usize = 256;

/// Texts run through the model this many at a time, bounding memory per call.
const BATCH_SIZE: usize = 32;

/// What can go wrong loading or running the model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocalEmbedError {
    #[error(
        "the model directory `{}` lacks {}; it needs all-MiniLM-L6-v2's {CONFIG_FILE}, {TOKENIZER_FILE} and {WEIGHTS_FILE} (Heddle never downloads weights)",
        .dir.display(),
        quoted(.missing)
    )]
    MissingFiles {
        dir: PathBuf,
        missing: Vec<&'static str>,
    },
    #[error("could not read `{}`: {reason}", .path.display())]
    Read { path: PathBuf, reason: String },
    #[error("`{}` is not a BERT config: {reason}", .path.display())]
    Config { path: PathBuf, reason: String },
    #[error("`{}` is not a usable tokenizer: {reason}", .path.display())]
    Tokenizer { path: PathBuf, reason: String },
    #[error("`{}` does not hold the weights its config describes: {reason}", .path.display())]
    Weights { path: PathBuf, reason: String },
    #[error("could not tokenize the input: {reason}")]
    Tokenize { reason: String },
    #[error("inference failed: {reason}")]
    Inference { reason: String },
    /// The blocking task was cancelled or panicked.
    #[error("the embedding worker stopped: {reason}")]
    Worker { reason: String },
}

fn quoted(files: &[&str]) -> String {
    files
        .iter()
        .map(|file| format!("`{file}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// all-MiniLM-L6-v2, loaded and ready. Cheap to clone: the model is shared.
#[derive(Clone)]
pub struct LocalMiniLm {
    inner: Arc<Loaded>,
}

struct Loaded {
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
    max_tokens: usize,
}

impl fmt::Debug for LocalMiniLm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalMiniLm")
            .field("dimension", &self.inner.dimension)
            .field("max_tokens", &self.inner.max_tokens)
            .finish_non_exhaustive()
    }
}

impl LocalMiniLm {
    /// The name the embedder reports.
    pub const NAME: &'static str = "local-minilm";

    /// Loads the model from `dir`, which must hold [`CONFIG_FILE`], [`TOKENIZER_FILE`] and
    /// [`WEIGHTS_FILE`]. Reads about 90 MB; call it once at startup, off the async runtime.
    pub fn load(dir: &Path) -> Result<Self, LocalEmbedError> {
        let missing: Vec<&'static str> = [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE]
            .into_iter()
            .filter(|file| !dir.join(file).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(LocalEmbedError::MissingFiles {
                dir: dir.to_owned(),
                missing,
            });
        }
        let device = Device::Cpu;

        let config_path = dir.join(CONFIG_FILE);
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|err| LocalEmbedError::Read {
                path: config_path.clone(),
                reason: err.to_string(),
            })?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|err| LocalEmbedError::Config {
                path: config_path.clone(),
                reason: err.to_string(),
            })?;
        let max_tokens = MAX_TOKENS.min(config.max_position_embeddings);

        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let tokenizer = load_tokenizer(&tokenizer_path, max_tokens).map_err(|reason| {
            LocalEmbedError::Tokenizer {
                path: tokenizer_path.clone(),
                reason,
            }
        })?;

        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights_path).map_err(|err| LocalEmbedError::Read {
            path: weights_path.clone(),
            reason: err.to_string(),
        })?;
        let weights_error = |reason: String| LocalEmbedError::Weights {
            path: weights_path.clone(),
            reason,
        };
        let tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load_buffer(&bytes, &device)
                .map_err(|err| weights_error(err.to_string()))?;
        drop(bytes);
        let builder = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let bert =
            BertModel::load(builder, &config).map_err(|err| weights_error(err.to_string()))?;

        Ok(Self {
            inner: Arc::new(Loaded {
                bert,
                tokenizer,
                device,
                dimension: config.hidden_size,
                max_tokens,
            }),
        })
    }

    /// The length of every vector (384 for all-MiniLM-L6-v2).
    pub fn dimension(&self) -> usize {
        self.inner.dimension
    }

    /// Tokens kept per input, special tokens included; the rest is ignored.
    pub fn max_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    /// Unit-length vectors for `texts`, in order. Blocks on CPU work: from async code use the
    /// [`Embedder`] implementation, which runs this on the blocking pool.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LocalEmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH_SIZE) {
            vectors.extend(self.inner.embed_batch(batch)?);
        }
        Ok(vectors)
    }
}

/// The file's tokenizer, truncating at `max_tokens` and padding each batch to its longest
/// input (the file may carry other settings: this model's pads everything to 128).
fn load_tokenizer(path: &Path, max_tokens: usize) -> Result<Tokenizer, String> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|err| err.to_string())?;
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    tokenizer.with_padding(Some(padding));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..TruncationParams::default()
        }))
        .map_err(|err| err.to_string())?;
    Ok(tokenizer)
}

impl Loaded {
    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LocalEmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings =
            self.tokenizer
                .encode_batch(inputs, true)
                .map_err(|err| LocalEmbedError::Tokenize {
                    reason: err.to_string(),
                })?;
        // Batch padding gives every encoding the same length.
        let rows = encodings.len();
        let columns = encodings.first().map_or(0, |encoding| encoding.len());
        let mut ids = Vec::with_capacity(rows * columns);
        let mut mask = Vec::with_capacity(rows * columns);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        self.run(ids, mask, rows, columns)
            .map_err(|err| LocalEmbedError::Inference {
                reason: err.to_string(),
            })
    }

    fn run(
        &self,
        ids: Vec<u32>,
        mask: Vec<u32>,
        rows: usize,
        columns: usize,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let ids = Tensor::from_vec(ids, (rows, columns), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, columns), &self.device)?;
        let token_types = ids.zeros_like()?;
        // (rows, columns, hidden)
        let hidden = self.bert.forward(&ids, &token_types, Some(&mask))?;
        // Mean over the real tokens only: padding must not pull the mean.
        let weights = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
        let counts = weights.sum(1)?.clamp(1e-9_f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        // The same floor as torch's `normalize`, so an all-zero mean stays zero.
        let norms = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12_f32, f32::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

#[async_trait::async_trait]
impl Embedder for LocalMiniLm {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn dimension(&self) -> Option<usize> {
        Some(self.inner.dimension)
    }

    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, ProviderError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.clone();
        let texts = inputs.to_vec();
        let result = tokio::task::spawn_blocking(move || model.embed(&texts))
            .await
            .unwrap_or_else(|err| {
                Err(LocalEmbedError::Worker {
                    reason: err.to_string(),
                })
            });
        result.map_err(|err| ProviderError::Local {
            provider: Self::NAME.to_owned(),
            reason: err.to_string(),
        })
    }
}
