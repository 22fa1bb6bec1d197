//! A model binding made into a provider for one turn: the adapter its `provider` names, its
//! credential opened from the vault for as long as the provider lives, its price override.

use std::sync::Arc;

use heddle_agents::config::{ModelBindingSpec, Provider};
use heddle_identity::Identity;
use heddle_identity::SecretValue;
use heddle_providers::{
    AnthropicConfig, AnthropicProvider, Embedder, HttpSettings, ModelPrice, ModelProvider,
    OpenAiConfig, OpenAiEmbedder, OpenAiEmbeddingConfig, OpenAiModeration, OpenAiModerationConfig,
    OpenAiProvider, PriceTable, Script, ScriptedProvider,
};
use heddle_store::SecretFilter;
use heddle_types::{Environment, MAX_PAGE_LIMIT, PageRequest, TenantId};

use crate::{RuntimeError, RuntimeResult};

/// What the server decides about providers, beyond what a binding says.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    /// Lets bindings reach a base URL on a loopback or private address (Ollama on localhost,
    /// vLLM inside the cluster). Off by default: a binding is written by a builder, and a
    /// private address is where an SSRF would aim.
    pub allow_private_network: bool,
    /// Replaces the built-in timeout and retry policy of every HTTP provider, when set.
    pub http: Option<HttpSettings>,
}

/// Builds the provider for a binding. `played` is how many model calls the session made so
/// far: a scripted provider continues its script from there, so a session replays the same
/// way whichever process serves its next turn.
pub(crate) async fn provider_for(
    identity: &Identity,
    settings: &ProviderSettings,
    tenant_id: TenantId,
    environment: Environment,
    binding: &ModelBindingSpec,
    played: usize,
) -> RuntimeResult<Arc<dyn ModelProvider>> {
    let prices = match binding.price {
        Some(price) => PriceTable::default().with_price(
            binding.model.clone(),
            ModelPrice::new(
                price.input_usd_per_million_tokens,
                price.output_usd_per_million_tokens,
            ),
        ),
        None => PriceTable::default(),
    };
    let http = |default_base: &str| {
        let base = binding.base_url.clone().unwrap_or(default_base.to_owned());
        let mut http = settings
            .http
            .clone()
            .unwrap_or_else(|| HttpSettings::new(""));
        http.base_url = base;
        http.allow_private_network = settings.allow_private_network;
        http
    };
    let unusable = |error: heddle_providers::ProviderError| {
        RuntimeError::Unavailable(format!("the model binding cannot be used: {error}"))
    };
    match binding.provider {
        Provider::Scripted => {
            let turns = binding
                .script
                .as_ref()
                .map(|script| script.turns.iter().skip(played).cloned().collect())
                .unwrap_or_default();
            Ok(Arc::new(
                ScriptedProvider::new(Script::new(turns)).with_prices(prices),
            ))
        }
        Provider::Openai | Provider::OpenaiCompatible => {
            let api_key = match &binding.credential {
                Some(name) => Some(credential(identity, tenant_id, environment, name).await?),
                None => None,
            };
            let mut config = match (binding.provider, api_key) {
                (Provider::Openai, Some(key)) => OpenAiConfig::openai(key),
                (_, key) => OpenAiConfig::compatible(String::new(), key),
            };
            config.http = http(if binding.provider == Provider::Openai {
                "https://api.openai.com"
            } else {
                ""
            });
            config.prices = prices;
            Ok(Arc::new(OpenAiProvider::new(config).map_err(unusable)?))
        }
        Provider::Anthropic => {
            let name = binding.credential.as_deref().ok_or_else(|| {
                RuntimeError::Unavailable("the anthropic binding names no credential".to_owned())
            })?;
            let mut config =
                AnthropicConfig::new(credential(identity, tenant_id, environment, name).await?);
            config.http = http("https://api.anthropic.com");
            config.prices = prices;
            Ok(Arc::new(AnthropicProvider::new(config).map_err(unusable)?))
        }
    }
}

/// The API key in the vault secret named `name` of the environment.
async fn credential(
    identity: &Identity,
    tenant_id: TenantId,
    environment: Environment,
    name: &str,
) -> RuntimeResult<heddle_crypto::SecretString> {
    let missing = || {
        RuntimeError::Unavailable(format!(
            "the model binding's credential `{name}` is not a secret of `{environment}`; create \
             it with POST /v1/secrets (environment `{environment}`)"
        ))
    };
    // Names are unique per environment; a tenant has few secrets, so a scan of pages is cheap.
    let mut page = PageRequest::first(MAX_PAGE_LIMIT);
    let secret = loop {
        let listed = identity
            .store()
            .list_secrets(
                tenant_id,
                SecretFilter {
                    environment: Some(environment),
                    kind: None,
                },
                page,
            )
            .await?;
        if let Some(found) = listed.items.into_iter().find(|s| s.name == name) {
            break found;
        }
        match listed.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => return Err(missing()),
        }
    };
    let value = identity.reveal_secret(tenant_id, secret.id).await?;
    match value {
        SecretValue::ApiKey { .. } | SecretValue::Custom { .. } => Ok(value.primary().clone()),
        _ => Err(RuntimeError::Unavailable(format!(
            "the model binding's credential `{name}` is a `{}` secret; it must be an api_key",
            value.kind()
        ))),
    }
}

/// The HTTP settings of a binding's OpenAI-compatible endpoint, with the server's network
/// rules; other providers have no moderation or embeddings endpoint.
pub(crate) async fn openai_compatible_endpoint(
    identity: &Identity,
    settings: &ProviderSettings,
    tenant_id: TenantId,
    environment: Environment,
    binding: &ModelBindingSpec,
    purpose: &str,
) -> RuntimeResult<(HttpSettings, Option<heddle_crypto::SecretString>)> {
    let default_base = match binding.provider {
        Provider::Openai => "https://api.openai.com",
        Provider::OpenaiCompatible => "",
        Provider::Anthropic | Provider::Scripted => {
            return Err(RuntimeError::Unavailable(format!(
                "a {purpose} binding must be `openai` or `openai_compatible`"
            )));
        }
    };
    let mut http = settings
        .http
        .clone()
        .unwrap_or_else(|| HttpSettings::new(""));
    http.base_url = binding.base_url.clone().unwrap_or(default_base.to_owned());
    http.allow_private_network = settings.allow_private_network;
    let api_key = match &binding.credential {
        Some(name) => Some(credential(identity, tenant_id, environment, name).await?),
        None => None,
    };
    Ok((http, api_key))
}

/// An OpenAI-compatible moderation endpoint from a binding.
pub(crate) async fn moderation_for(
    identity: &Identity,
    settings: &ProviderSettings,
    tenant_id: TenantId,
    environment: Environment,
    binding: &ModelBindingSpec,
) -> RuntimeResult<OpenAiModeration> {
    let (http, api_key) = openai_compatible_endpoint(
        identity,
        settings,
        tenant_id,
        environment,
        binding,
        "moderation",
    )
    .await?;
    OpenAiModeration::new(OpenAiModerationConfig {
        name: "moderation".to_owned(),
        http,
        api_key,
        model: binding.model.clone(),
    })
    .map_err(|err| {
        RuntimeError::Unavailable(format!("the moderation binding cannot be used: {err}"))
    })
}

/// An OpenAI-compatible embeddings endpoint from a binding.
pub(crate) async fn embedder_for(
    identity: &Identity,
    settings: &ProviderSettings,
    tenant_id: TenantId,
    environment: Environment,
    binding: &ModelBindingSpec,
) -> RuntimeResult<Arc<dyn Embedder>> {
    let (http, api_key) = openai_compatible_endpoint(
        identity,
        settings,
        tenant_id,
        environment,
        binding,
        "embeddings",
    )
    .await?;
    let embedder = OpenAiEmbedder::new(OpenAiEmbeddingConfig {
        name: "embeddings".to_owned(),
        http,
        api_key,
        model: binding.model.clone(),
        dimension: None,
    })
    .map_err(|err| {
        RuntimeError::Unavailable(format!("the embeddings binding cannot be used: {err}"))
    })?;
    Ok(Arc::new(embedder))
}
