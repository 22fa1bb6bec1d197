//! What the HTTP adapters share: the endpoint, the outbound client scoped to the provider's
//! one host, and the send loop with its retry rules and error classes.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{
    HeaderMap, HeaderValue, HostPattern, IpNet, Method, OutboundClient, OutboundError,
    OutboundPolicy, OutboundRequest, OutboundResponse, OutboundStream, Url, header,
};
use serde::{Deserialize, Serialize};

use crate::{ProviderError, RetryPolicy, Sleeper, TokioSleeper};

/// Where a provider lives and how a call to it is bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// `https://api.openai.com`, `http://localhost:11434`, … The adapter appends its path
    /// (`/v1/chat/completions`); a base that already ends in `/v1` is accepted too.
    pub base_url: String,
    /// Deadline of one attempt, body included.
    #[serde(default = "default_timeout", with = "secs")]
    pub timeout: Duration,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Lets the base URL's host be on a loopback or private address (Ollama on localhost,
    /// vLLM in the cluster, tests' fakes). Only the addresses that host resolves to when the
    /// provider is built are opened; the default stays closed.
    #[serde(default)]
    pub allow_private_network: bool,
    /// Response bodies above this fail; model answers are small.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_max_response_bytes() -> usize {
    8 * 1024 * 1024
}

impl HttpSettings {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: default_timeout(),
            retry: RetryPolicy::default(),
            allow_private_network: false,
            max_response_bytes: default_max_response_bytes(),
        }
    }
}

/// The provider's error body, reduced to what is safe and useful.
#[derive(Debug, Default)]
pub(crate) struct ErrorDetail {
    /// The provider's error type or code (`invalid_api_key`, `rate_limit_error`).
    pub kind: String,
    pub message: String,
}

#[derive(Debug)]
pub(crate) struct Transport {
    provider: String,
    client: OutboundClient,
    endpoint: Url,
    timeout: Duration,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
}

impl Transport {
    /// An outbound client that may reach only the base URL's host.
    pub(crate) fn new(
        provider: &str,
        settings: &HttpSettings,
        path: &str,
    ) -> Result<Self, ProviderError> {
        let config_error = |reason: String| ProviderError::Config {
            provider: provider.to_owned(),
            reason,
        };
        let endpoint = endpoint_url(&settings.base_url, path).map_err(config_error)?;
        let host = endpoint
            .host_str()
            .ok_or_else(|| config_error("the base url has no host".into()))?
            .to_owned();
        let pattern: HostPattern = host
            .parse()
            .map_err(|err: OutboundError| config_error(err.to_string()))?;
        let mut policy = OutboundPolicy {
            allowed_hosts: Some(vec![pattern]),
            max_response_bytes: settings.max_response_bytes,
            total_timeout: settings.timeout,
            connect_timeout: settings.timeout.min(Duration::from_secs(10)),
            ..OutboundPolicy::default()
        };
        if settings.allow_private_network {
            let port = endpoint.port_or_known_default().unwrap_or(443);
            policy.allow_private_addresses = host_addresses(&host, port)
                .map_err(config_error)?
                .into_iter()
                .map(IpNet::from)
                .collect();
        }
        let client = OutboundClient::new(policy).map_err(|err| config_error(err.to_string()))?;
        Ok(Self {
            provider: provider.to_owned(),
            client,
            endpoint,
            timeout: settings.timeout,
            retry: settings.retry.clone(),
            sleeper: Arc::new(TokioSleeper),
        })
    }

    pub(crate) fn set_sleeper(&mut self, sleeper: Arc<dyn Sleeper>) {
        self.sleeper = sleeper;
    }

    pub(crate) fn provider(&self) -> &str {
        &self.provider
    }

    /// POSTs `body` with `headers`, retrying 429 and 5xx as the policy allows, and returns
    /// the 2xx response. `secret` is scrubbed from every message taken from the provider.
    pub(crate) async fn post_json(
        &self,
        headers: &HeaderMap,
        body: &serde_json::Value,
        secret: Option<&str>,
        parse_error: fn(&[u8]) -> Option<ErrorDetail>,
    ) -> Result<OutboundResponse, ProviderError> {
        let bytes = serde_json::to_vec(body).map_err(|err| ProviderError::Config {
            provider: self.provider.clone(),
            reason: format!("could not serialize the request: {err}"),
        })?;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut request = OutboundRequest::from_url(Method::POST, self.endpoint.clone())
                .timeout(self.timeout);
            for (name, value) in headers {
                request = request.header(name.clone(), value.clone());
            }
            let request = request.body("application/json", bytes.clone());
            let response = self
                .client
                .send(request)
                .await
                .map_err(|err| self.transport_error(err))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let error = self.failure(&response, secret, parse_error, attempt);
            if !matches!(
                error,
                ProviderError::RateLimited { .. } | ProviderError::Upstream { .. }
            ) {
                return Err(error);
            }
            let retry_after = response.retry_after();
            // Only 429 and 5xx get here.
            if attempt >= self.retry.max_attempts {
                return Err(error);
            }
            let wait = match retry_after {
                Some(after) if after > self.retry.max_retry_after => return Err(error),
                Some(after) => after,
                None => self.retry.backoff(attempt),
            };
            self.sleeper.sleep(wait).await;
        }
    }

    /// The error a non-2xx answer stands for: 429 rate limited, 5xx upstream, 401/403
    /// auth (without the provider's message), any other status a bad request.
    fn failure(
        &self,
        response: &OutboundResponse,
        secret: Option<&str>,
        parse_error: fn(&[u8]) -> Option<ErrorDetail>,
        attempts: u32,
    ) -> ProviderError {
        let detail = parse_error(response.body()).unwrap_or_else(|| ErrorDetail {
            kind: String::new(),
            message: response.text_lossy(),
        });
        let message = scrub(&detail.message, secret);
        let code = response.status().as_u16();
        let provider = self.provider.clone();
        match code {
            429 => ProviderError::RateLimited {
                provider,
                retry_after: response.retry_after(),
                message,
                attempts,
            },
            500..=599 => ProviderError::Upstream {
                provider,
                status: code,
                message,
                attempts,
            },
            401 | 403 => ProviderError::Auth {
                provider,
                status: code,
                kind: scrub(&detail.kind, secret),
            },
            _ => ProviderError::BadRequest {
                provider,
                status: code,
                message,
            },
        }
    }

    fn transport_error(&self, error: OutboundError) -> ProviderError {
        match error {
            OutboundError::Timeout { .. } => ProviderError::Timeout {
                provider: self.provider.clone(),
                after: self.timeout,
            },
            other => ProviderError::Transport {
                provider: self.provider.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// POSTs `body` once (no retries: once bytes flow to the caller, a retry would repeat
    /// them) and returns the 2xx response as a stream of body chunks; a non-2xx answer is
    /// read whole and becomes its error as in [`Transport::post_json`].
    pub(crate) async fn post_stream(
        &self,
        headers: &HeaderMap,
        body: &serde_json::Value,
        secret: Option<&str>,
        parse_error: fn(&[u8]) -> Option<ErrorDetail>,
    ) -> Result<OutboundStream, ProviderError> {
        let bytes = serde_json::to_vec(body).map_err(|err| ProviderError::Config {
            provider: self.provider.clone(),
            reason: format!("could not serialize the request: {err}"),
        })?;
        let mut request =
            OutboundRequest::from_url(Method::POST, self.endpoint.clone()).timeout(self.timeout);
        for (name, value) in headers {
            request = request.header(name.clone(), value.clone());
        }
        let request = request.body("application/json", bytes);
        let stream = self
            .client
            .send_streaming(request)
            .await
            .map_err(|err| self.transport_error(err))?;
        if stream.status().is_success() {
            return Ok(stream);
        }
        let response = stream
            .into_response()
            .await
            .map_err(|err| self.transport_error(err))?;
        Err(self.failure(&response, secret, parse_error, 1))
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn malformed(&self, reason: impl Into<String>) -> ProviderError {
        ProviderError::MalformedResponse {
            provider: self.provider.clone(),
            reason: reason.into(),
        }
    }
}

/// `Authorization: Bearer <key>` when there is a key, marked sensitive so that no log or
/// `Debug` of the request shows it.
pub(crate) fn bearer_headers(
    transport: &Transport,
    api_key: Option<&SecretString>,
) -> Result<HeaderMap, ProviderError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = api_key {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", key.expose_secret())).map_err(|_| {
                ProviderError::Config {
                    provider: transport.provider().to_owned(),
                    reason: "the api key is not a valid header value".into(),
                }
            })?;
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// `{base}{path}`; a base ending in `/v1` does not get a second one.
fn endpoint_url(base: &str, path: &str) -> Result<Url, String> {
    let base = base.trim_end_matches('/');
    let joined = match (base.strip_suffix("/v1"), path.strip_prefix("/v1")) {
        (Some(_), Some(rest)) => format!("{base}{rest}"),
        _ => format!("{base}{path}"),
    };
    // The parse error never echoes the URL: it may carry a token in its query.
    let url = Url::parse(&joined).map_err(|err| format!("the base url is not a url: {err}"))?;
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("the base url may not carry a query or credentials".into());
    }
    Ok(url)
}

/// The addresses `host` stands for now: the literal itself, or what it resolves to.
fn host_addresses(host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs: Vec<IpAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|err| format!("could not resolve `{bare}`: {err}"))?
        .map(|addr| addr.ip())
        .collect();
    if addrs.is_empty() {
        return Err(format!("`{bare}` resolves to no address"));
    }
    Ok(addrs)
}

/// A provider's message, with the key removed and its length bounded.
pub(crate) fn scrub(message: &str, secret: Option<&str>) -> String {
    const MAX_CHARS: usize = 500;
    let mut text = match secret {
        Some(secret) if !secret.is_empty() => message.replace(secret, "[redacted]"),
        _ => message.to_owned(),
    };
    if let Some((cut, _)) = text.char_indices().nth(MAX_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Durations as whole seconds in config files.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_with_or_without_v1_in_the_base() {
        let join = |base| {
            endpoint_url(base, "/v1/chat/completions")
                .unwrap()
                .to_string()
        };
        assert_eq!(
            join("https://api.openai.com"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            join("http://localhost:11434/v1/"),
            "http://localhost:11434/v1/chat/completions"
        );
        assert_eq!(
            join("http://h:8000/proxy"),
            "http://h:8000/proxy/v1/chat/completions"
        );
        assert!(endpoint_url("http://u:p@h/", "/v1/x").is_err());
        assert!(endpoint_url("not a url", "/v1/x").is_err());
    }

    #[test]
    fn scrub_removes_the_key_and_bounds_length() {
        assert_eq!(
            scrub("bad key sk-123 given", Some("sk-123")),
            "bad key [redacted] given"
        );
        assert_eq!(scrub(&"x".repeat(600), None).chars().count(), 501);
    }
}
