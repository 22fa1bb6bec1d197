//! Assembling the application: state, router and layers, and serving it.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use heddle_identity::Identity;
use heddle_mail::Mailer;
use heddle_ratelimit::{InMemoryRateLimiter, Quota, RateLimiter, RedisRateLimiter};
use http::{HeaderName, HeaderValue, Method, header};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{Config, QuotaConfig};
use crate::middleware::{
    SecurityHeaders, limit_by_client_ip, limit_request_time, record_metrics, render_problems,
    set_security_headers,
};
use crate::routes;

/// Rate-limit quotas by scope.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub per_ip: Quota,
    pub per_principal: Quota,
    pub login: Quota,
}

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub identity: Identity,
    /// Business records as the caller (the embedded record store).
    pub records: heddle_recordsource::EmbeddedRecords,
    /// The governed runtime: sessions, turns, executions, customer verification. Shares
    /// `records` (and its caches) with the record API.
    pub runtime: heddle_runtime::Runtime,
    /// The OpenAI-compatible endpoint, on top of the runtime.
    pub gateway: heddle_gateway::Gateway,
    pub limiter: Arc<dyn RateLimiter>,
    pub quotas: Quotas,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
    /// The MCP endpoint (streamable HTTP); `None` when `[mcp] enabled = false`.
    pub mcp: Option<heddle_mcp::http::McpEndpoint>,
    /// The MCP gateway's endpoint for upstream servers; `None` when MCP is disabled.
    pub mcp_upstream: Option<heddle_mcp::UpstreamEndpoint>,
    pub(crate) trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    pub(crate) security_headers: Arc<SecurityHeaders>,
}

fn quota(config: QuotaConfig) -> Quota {
    // Config validation guarantees both are at least 1; clamp anyway rather than panic.
    Quota {
        per_minute: std::num::NonZeroU32::new(config.per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN),
        burst: std::num::NonZeroU32::new(config.burst).unwrap_or(std::num::NonZeroU32::MIN),
    }
}

/// Builds the shared state: the rate limiter (Redis when configured), the mailer of
/// `config.mail`, the runtime and parsed settings.
pub async fn build_state(
    identity: Identity,
    config: Config,
    metrics: Option<PrometheusHandle>,
) -> Result<AppState, StartupError> {
    let mailer = config
        .mail
        .build()
        .map_err(|err| StartupError::Mail(err.to_string()))?;
    build_state_with_mailer(identity, config, metrics, mailer).await
}

/// [`build_state`] with the mailer given (tests keep a `MemoryMailer` to read codes back);
/// `config.mail` is not used.
pub async fn build_state_with_mailer(
    identity: Identity,
    config: Config,
    metrics: Option<PrometheusHandle>,
    mailer: Arc<dyn Mailer>,
) -> Result<AppState, StartupError> {
    let limiter: Arc<dyn RateLimiter> = match &config.redis_url {
        Some(url) => Arc::new(
            RedisRateLimiter::connect(url)
                .await
                .map_err(|err| StartupError::Redis(err.to_string()))?
                .with_key_prefix(&config.redis_key_prefix),
        ),
        None => Arc::new(InMemoryRateLimiter::new()),
    };
    let trusted_proxies = crate::config::parse_networks(&config.http.trusted_proxies);
    let records = heddle_recordsource::EmbeddedRecords::new(
        identity.clone(),
        heddle_recordsource::RecordSettings::default(),
    );
    let mut runtime_settings = config.runtime_settings();
    runtime_settings.approval_webhook = config.approval_webhook().map_err(StartupError::Runtime)?;
    if let Some(dir) = &config.runtime.minilm_dir {
        let model = heddle_embed_local::LocalMiniLm::load(dir).map_err(|err| {
            StartupError::Runtime(format!("runtime.minilm_dir ({}): {err}", dir.display()))
        })?;
        runtime_settings.local_embedder = Some(Arc::new(model));
    }
    let runtime =
        heddle_runtime::Runtime::new(identity.clone(), records.clone(), mailer, runtime_settings);
    let mcp_settings = heddle_mcp::http::McpHttpSettings {
        allowed_origins: config.mcp.allowed_origins.clone(),
        allowed_hosts: config.mcp.allowed_hosts.clone(),
        max_request_body_bytes: config.http.max_body_bytes,
    };
    let mcp = config
        .mcp
        .enabled
        .then(|| heddle_mcp::http::streamable_http_service(runtime.clone(), &mcp_settings));
    let mcp_upstream = config
        .mcp
        .enabled
        .then(|| heddle_mcp::upstream_http_service(runtime.clone(), &mcp_settings));
    let gateway = heddle_gateway::Gateway::new(
        runtime.clone(),
        identity.clone(),
        heddle_gateway::GatewaySettings {
            default_environment: config.gateway.default_environment,
            record: config.gateway.record,
        },
    );
    Ok(AppState {
        records,
        mcp,
        mcp_upstream,
        runtime,
        gateway,
        identity,
        limiter,
        quotas: Quotas {
            per_ip: quota(config.rate_limits.per_ip),
            per_principal: quota(config.rate_limits.per_principal),
            login: quota(config.rate_limits.login),
        },
        security_headers: Arc::new(SecurityHeaders::new(config.http.hsts_max_age_secs)),
        config: Arc::new(config),
        metrics,
        trusted_proxies: Arc::new(trusted_proxies),
    })
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    // The URL is not echoed: it may carry a password.
    #[error("cannot connect to redis for rate limits: {0}")]
    Redis(String),
    #[error("the mail settings cannot be used: {0}")]
    Mail(String),
    #[error("the runtime settings cannot be used: {0}")]
    Runtime(String),
}

fn cors_layer(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .http
        .cors_allowed_origins
        .iter()
        .filter(|origin| origin.as_str() != "*")
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("heddle-environment"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("heddle-execution-id"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The whole application with every layer, ready to serve.
pub fn build_router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let (api, _openapi) = routes::api_router().split_for_parts();
    let api = api
        .route(
            "/mcp/{environment}/{agent}",
            axum::routing::any(routes::mcp::endpoint),
        )
        .route(
            "/mcp/{environment}/upstream/{server}",
            axum::routing::any(routes::mcp::upstream_endpoint),
        )
        .route_layer(from_fn(record_metrics))
        .fallback(routes::meta::unknown_route);
    // Outermost first: ids exist before anything logs; problems are rendered after every
    // inner layer has had its say; security headers land on every response, errors included.
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            MakeRequestUuid,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(from_fn_with_state(state.clone(), set_security_headers))
        .layer(from_fn(render_problems))
        .layer(CatchPanicLayer::new())
        .layer(cors_layer(&state.config))
        .layer(from_fn_with_state(state.clone(), limit_request_time))
        .layer(from_fn_with_state(state.clone(), limit_by_client_ip))
        .layer(DefaultBodyLimit::max(state.config.http.max_body_bytes));
    api.layer(layers).with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
/// for up to the configured grace period.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    let mut stop_rx = stop_rx;
    let forced = async move {
        let _ = stop_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server.into_future() => result,
        () = forced => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing remaining connections");
            Ok(())
        }
    }
}
