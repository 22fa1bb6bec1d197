//! OpenAI's Moderations API (`POST {base}/v1/moderations`), as the I/O half of a moderation
//! check: this client sends `{"model", "input": [text, …]}` and hands back the answer as raw
//! JSON, `{"id", "model", "results": [{"flagged", "categories", "category_scores",
//! "category_applied_input_types"}, …]}` with one result per input, in input order. Reading the
//! categories and deciding is `heddle-trust`'s job (pure, testable without a network); here
//! only the answer's shape is checked, so a 200 that carries no verdict is never taken for a
//! clean one.

use std::sync::Arc;

use heddle_crypto::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::http::{Transport, bearer_headers};
use crate::openai::parse_error;
use crate::{HttpSettings, ProviderError, Sleeper};

/// Configuration of an [`OpenAiModeration`] client.
#[derive(Debug, Clone)]
pub struct OpenAiModerationConfig {
    /// Names the client in errors.
    pub name: String,
    pub http: HttpSettings,
    pub api_key: Option<SecretString>,
    /// `omni-moderation-latest` by default.
    pub model: String,
}

impl OpenAiModerationConfig {
    /// OpenAI itself, at `https://api.openai.com`, with `omni-moderation-latest`.
    pub fn openai(api_key: SecretString) -> Self {
        Self {
            name: "openai-moderation".into(),
            http: HttpSettings::new("https://api.openai.com"),
            api_key: Some(api_key),
            model: "omni-moderation-latest".into(),
        }
    }
}

/// The OpenAI Moderations client.
#[derive(Debug)]
pub struct OpenAiModeration {
    transport: Transport,
    api_key: Option<SecretString>,
    model: String,
}

impl OpenAiModeration {
    pub fn new(config: OpenAiModerationConfig) -> Result<Self, ProviderError> {
        let transport = Transport::new(&config.name, &config.http, "/v1/moderations")?;
        Ok(Self {
            transport,
            api_key: config.api_key,
            model: config.model,
        })
    }

    /// Replaces the sleeper used between retries (tests pass a [`crate::RecordingSleeper`]).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.transport.set_sleeper(sleeper);
        self
    }

    pub fn name(&self) -> &str {
        self.transport.provider()
    }

    /// The raw answer for `inputs`, whose `results` is an array with one entry per input.
    /// An empty `inputs` is refused as a configuration error rather than sent: the API
    /// rejects it, and a caller that moderates nothing has a bug.
    pub async fn moderate(&self, inputs: &[String]) -> Result<Value, ProviderError> {
        if inputs.is_empty() {
            return Err(ProviderError::Config {
                provider: self.name().to_owned(),
                reason: "nothing to moderate: the input list is empty".into(),
            });
        }
        let body = json!({"model": self.model, "input": inputs});
        let headers = bearer_headers(&self.transport, self.api_key.as_ref())?;
        let secret = self.api_key.as_ref().map(|key| key.expose_secret());
        let response = self
            .transport
            .post_json(&headers, &body, secret, parse_error)
            .await?;
        let answer: Value = response.json().map_err(|err| {
            self.transport
                .malformed(format!("not a moderation answer: {err}"))
        })?;
        match answer.get("results").and_then(Value::as_array) {
            Some(results) if results.len() == inputs.len() => Ok(answer),
            Some(results) => Err(self.transport.malformed(format!(
                "{} result(s) for {} input(s)",
                results.len(),
                inputs.len()
            ))),
            None => Err(self.transport.malformed("`results` is missing")),
        }
    }
}
