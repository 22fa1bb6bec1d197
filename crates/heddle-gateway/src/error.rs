//! What can go wrong for a gateway caller, in the classes OpenAI clients know. The server
//! writes each as OpenAI's error shape `{"error": {"message", "type", "param", "code"}}` with
//! the status [`GatewayError::status`] names. Messages never hold a provider key or a raw
//! value of the request.

use std::time::Duration;

use heddle_providers::ProviderError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// 400: the request is malformed.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    /// 413: the body is larger than the route allows.
    #[error("the request body is larger than the route's limit of {limit} bytes")]
    TooLarge { limit: u32 },
    /// 403: authenticated, but not allowed to use this route.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route in the environment (OpenAI's `model_not_found`).
    #[error("{0}")]
    RouteNotFound(String),
    /// 429 `insufficient_quota`: a budget would be passed.
    #[error("{0}")]
    BudgetExceeded(String),
    /// 400 `content_policy_violation`: a guardrail blocked the request or the answer.
    #[error("{message}")]
    Blocked {
        message: String,
        guardrails: Vec<String>,
    },
    /// 429: the upstream rate limited Heddle; its `retry-after` is passed on.
    #[error("the upstream model provider is rate limiting requests: {message}")]
    UpstreamRateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// 504: the upstream did not answer within the route's timeout.
    #[error("the upstream model provider did not answer within {after:?}")]
    UpstreamTimeout { after: Duration },
    /// 400: the upstream refused the request as malformed; its message (scrubbed).
    #[error("the upstream model provider refused the request: {message}")]
    UpstreamRejected { message: String },
    /// 502: the upstream failed, refused Heddle's credentials, or sent something malformed.
    #[error("{0}")]
    UpstreamFailed(String),
    /// 503: Heddle itself cannot serve the request right now (store, vault, configuration).
    #[error("{0}")]
    Unavailable(String),
}

impl GatewayError {
    pub fn invalid(message: impl Into<String>, param: Option<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param,
        }
    }

    /// The HTTP status the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::InvalidRequest { .. }
            | GatewayError::Blocked { .. }
            | GatewayError::UpstreamRejected { .. } => 400,
            GatewayError::TooLarge { .. } => 413,
            GatewayError::Forbidden(_) => 403,
            GatewayError::RouteNotFound(_) => 404,
            GatewayError::BudgetExceeded(_) | GatewayError::UpstreamRateLimited { .. } => 429,
            GatewayError::UpstreamFailed(_) => 502,
            GatewayError::Unavailable(_) => 503,
            GatewayError::UpstreamTimeout { .. } => 504,
        }
    }

    /// OpenAI's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::InvalidRequest { .. }
            | GatewayError::TooLarge { .. }
            | GatewayError::Blocked { .. }
            | GatewayError::RouteNotFound(_)
            | GatewayError::UpstreamRejected { .. } => "invalid_request_error",
            GatewayError::Forbidden(_) => "permission_error",
            GatewayError::BudgetExceeded(_) => "insufficient_quota",
            GatewayError::UpstreamRateLimited { .. } => "rate_limit_error",
            GatewayError::UpstreamFailed(_)
            | GatewayError::UpstreamTimeout { .. }
            | GatewayError::Unavailable(_) => "server_error",
        }
    }

    /// OpenAI's `code`.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            GatewayError::InvalidRequest { .. } | GatewayError::UpstreamRejected { .. } => None,
            GatewayError::TooLarge { .. } => Some("request_too_large"),
            GatewayError::Forbidden(_) => Some("permission_denied"),
            GatewayError::RouteNotFound(_) => Some("model_not_found"),
            GatewayError::BudgetExceeded(_) => Some("insufficient_quota"),
            GatewayError::Blocked { .. } => Some("content_policy_violation"),
            GatewayError::UpstreamRateLimited { .. } => Some("rate_limit_exceeded"),
            GatewayError::UpstreamTimeout { .. } => Some("upstream_timeout"),
            GatewayError::UpstreamFailed(_) => Some("upstream_error"),
            GatewayError::Unavailable(_) => Some("service_unavailable"),
        }
    }

    /// OpenAI's `param`.
    pub fn param(&self) -> Option<&str> {
        match self {
            GatewayError::InvalidRequest { param, .. } => param.as_deref(),
            GatewayError::RouteNotFound(_) => Some("model"),
            _ => None,
        }
    }

    /// Seconds for `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::UpstreamRateLimited { retry_after, .. } => {
                Some(retry_after.map_or(1, |after| after.as_secs().max(1)))
            }
            _ => None,
        }
    }

    /// The error as OpenAI's JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.to_string(),
                "type": self.kind(),
                "param": self.param(),
                "code": self.code(),
            }
        })
    }

    /// How an upstream failure reaches the caller: honestly, without the provider's key
    /// (the provider errors are scrubbed of it already).
    pub fn from_upstream(error: ProviderError, timeout: Duration) -> Self {
        match error {
            ProviderError::RateLimited {
                message,
                retry_after,
                ..
            } => GatewayError::UpstreamRateLimited {
                message,
                retry_after,
            },
            ProviderError::Timeout { .. } => GatewayError::UpstreamTimeout { after: timeout },
            ProviderError::BadRequest { message, .. } => GatewayError::UpstreamRejected { message },
            ProviderError::Upstream {
                status, message, ..
            } => GatewayError::UpstreamFailed(format!(
                "the upstream model provider failed (HTTP {status}): {message}"
            )),
            ProviderError::Auth { status, .. } => GatewayError::UpstreamFailed(format!(
                "the upstream model provider refused Heddle's credentials (HTTP {status}); an \
                 administrator must check the route's model binding and its vault secret"
            )),
            ProviderError::Transport { reason, .. } => GatewayError::UpstreamFailed(format!(
                "the upstream model provider could not be reached: {reason}"
            )),
            ProviderError::MalformedResponse { reason, .. } => GatewayError::UpstreamFailed(
                format!("the upstream model provider sent a malformed answer: {reason}"),
            ),
            other => GatewayError::Unavailable(other.to_string()),
        }
    }
}

impl From<heddle_runtime::RuntimeError> for GatewayError {
    fn from(error: heddle_runtime::RuntimeError) -> Self {
        use heddle_identity::IdentityError;
        use heddle_runtime::RuntimeError;
        match error {
            RuntimeError::Identity(IdentityError::Forbidden { action }) => GatewayError::Forbidden(
                format!("your role does not allow `{action}` on this route; ask a tenant admin"),
            ),
            RuntimeError::Refused(message) | RuntimeError::NotFound { id: message, .. } => {
                GatewayError::RouteNotFound(message)
            }
            other => {
                tracing::warn!(error = %other, "gateway: runtime unavailable");
                GatewayError::Unavailable(
                    "Heddle could not serve the request right now; retry, and quote the \
                     X-Request-Id if it persists"
                        .to_owned(),
                )
            }
        }
    }
}

impl From<heddle_store::StoreError> for GatewayError {
    fn from(error: heddle_store::StoreError) -> Self {
        tracing::error!(error = %error, "gateway: storage error");
        GatewayError::Unavailable(
            "the database did not complete the request; retry, and quote the X-Request-Id if \
             it persists"
                .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_map_to_honest_statuses() {
        let cases = [
            (
                ProviderError::RateLimited {
                    provider: "p".into(),
                    retry_after: Some(Duration::from_secs(7)),
                    message: "slow down".into(),
                    attempts: 1,
                },
                429,
                "rate_limit_exceeded",
            ),
            (
                ProviderError::Timeout {
                    provider: "p".into(),
                    after: Duration::from_secs(1),
                },
                504,
                "upstream_timeout",
            ),
            (
                ProviderError::Upstream {
                    provider: "p".into(),
                    status: 503,
                    message: "down".into(),
                    attempts: 1,
                },
                502,
                "upstream_error",
            ),
            (
                ProviderError::Auth {
                    provider: "p".into(),
                    status: 401,
                    kind: "invalid_api_key".into(),
                },
                502,
                "upstream_error",
            ),
        ];
        for (error, status, code) in cases {
            let mapped = GatewayError::from_upstream(error, Duration::from_secs(30));
            assert_eq!(mapped.status(), status, "{mapped:?}");
            assert_eq!(mapped.code(), Some(code));
        }
        let limited = GatewayError::from_upstream(
            ProviderError::RateLimited {
                provider: "p".into(),
                retry_after: Some(Duration::from_secs(7)),
                message: "x".into(),
                attempts: 1,
            },
            Duration::from_secs(1),
        );
        assert_eq!(limited.retry_after(), Some(7));
        let rejected = GatewayError::from_upstream(
            ProviderError::BadRequest {
                provider: "p".into(),
                status: 400,
                message: "bad".into(),
            },
            Duration::from_secs(1),
        );
        assert_eq!(rejected.status(), 400);
        assert_eq!(rejected.body()["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn the_body_is_openai_shaped() {
        let error = GatewayError::BudgetExceeded("over".into());
        assert_eq!(
            error.body(),
            serde_json::json!({"error": {"message": "over", "type": "insufficient_quota",
                                         "param": null, "code": "insufficient_quota"}})
        );
        assert_eq!(
            GatewayError::RouteNotFound("no".into()).body()["error"]["param"],
            "model"
        );
    }
}
