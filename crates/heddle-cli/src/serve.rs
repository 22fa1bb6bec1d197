//! `heddle serve`: open the database, bootstrap on first start, serve until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use heddle_crypto::ExposeSecret;
use heddle_identity::{BootstrapOutcome, Identity};
use heddle_server::config::{CliOverrides, Config};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Redis for rate limits shared by every process (env HEDDLE_REDIS_URL).
    #[arg(long)]
    redis_url: Option<String>,
    /// Add demo users and API keys (one per role) on first start and print their secrets.
    #[arg(long)]
    demo: bool,
    /// Write the bound address to this file once listening (for scripts and tests that
    /// use `--listen 127.0.0.1:0`).
    #[arg(long, hide = true)]
    ready_file: Option<PathBuf>,
}

impl ServeArgs {
    pub fn overrides(&self) -> CliOverrides {
        CliOverrides {
            listen: self.listen,
            redis_url: self.redis_url.clone(),
            ..CliOverrides::default()
        }
    }
}

/// How often the gateway looks for executions interrupted by a stopped process.
const GATEWAY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

pub async fn run(config: Config, args: ServeArgs) -> anyhow::Result<()> {
    heddle_server::telemetry::init_logging(&config.log);
    let identity = crate::admin::open_identity(&config).await?;
    tracing::info!(database = identity.store().engine(), "database ready");

    prepare(&identity, &config, args.demo).await?;

    identity.audit_log().spawn_checkpointer(
        identity.vault().clone(),
        Duration::from_secs(config.audit.checkpoint_interval_secs),
    );
    identity
        .audit_log()
        .spawn_siem_delivery(identity.vault().clone(), config.siem_settings())?;
    identity.audit_log().spawn_retention(
        Duration::from_secs(u64::from(config.audit.retention_days) * 86_400),
        Duration::from_secs(config.audit.retention_interval_secs),
    );
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let listen = config.listen;
    let action_worker_interval = config.action_worker_interval();
    let state =
        heddle_server::build_state(identity, config, heddle_server::telemetry::metrics_handle())
            .await?;
    // Approved actions a previous process left unfinished run now (once: a lease and an
    // idempotency key), then the worker looks again every interval.
    state.runtime.spawn_action_worker(action_worker_interval);
    // Gateway requests a previous process left without their outcome are closed as
    // interrupted once no request can still be running.
    state.gateway.spawn_sweeper(GATEWAY_SWEEP_INTERVAL);
    let gateway = state.gateway.clone();
    let router = heddle_server::build_router(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local_addr = listener.local_addr()?;
    tracing::info!(address = %local_addr, "listening");
    if let Some(path) = &args.ready_file {
        std::fs::write(path, local_addr.to_string())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    println!("Heddle is listening on http://{local_addr}");
    heddle_server::serve_until(listener, router, grace, shutdown_signal()).await?;
    // The last answers' records are queued, not yet committed.
    gateway.flush_records().await;
    tracing::info!("stopped");
    Ok(())
}

/// Bootstraps an empty database (printing the first admin's password once) and, with `demo`,
/// adds the demo accounts and the demo org, printing each secret it creates once. Shared by
/// `serve --demo` and `heddle demo`, so both leave the same data behind.
pub async fn prepare(identity: &Identity, config: &Config, demo: bool) -> anyhow::Result<()> {
    let outcome = identity
        .bootstrap(Some(&config.bootstrap.admin_email), None)
        .await?;
    if let BootstrapOutcome::Created {
        tenant_slug,
        admin_email,
        admin_password,
    } = outcome
    {
        // Printed to the terminal once, never logged: it is the only copy.
        println!("Heddle initialised a new database.");
        println!("  tenant:   {tenant_slug}");
        println!("  admin:    {admin_email}");
        println!("  password: {}", admin_password.expose_secret());
        println!("Log in with POST /v1/auth/login; change the password after first use.");
    }
    if !demo {
        return Ok(());
    }
    let accounts = identity.seed_demo_accounts().await?;
    if !accounts.is_empty() {
        println!("Demo accounts (shown once):");
        for account in accounts {
            println!(
                "  {:<18} {:<36} password {}  api key {}",
                account.role.as_str(),
                account.email,
                account.password.expose_secret(),
                account.api_key.expose_secret()
            );
        }
    }
    let people = crate::records::seed_demo_org(identity).await?;
    if !people.is_empty() {
        println!(
            "Demo org loaded (examples/demo-org: Northwind Outfitters, ~2,000 records). \
             Its people (shown once):"
        );
        for person in people {
            println!(
                "  {:<36} {:<9} password {}",
                person.email,
                person.role.as_str(),
                person.password.expose_secret()
            );
        }
    }
    Ok(())
}

/// SIGTERM (orchestrators) or Ctrl-C (a terminal).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
