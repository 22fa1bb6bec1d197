//! `heddle mcp`: MCP over stdin/stdout for one agent, as the principal of the API key in
//! `HEDDLE_API_KEY`, against the configured database in-process (as `heddle serve` runs it):
//! no server needs to be running, and each call walks the same governed path. Nothing but
//! protocol messages goes to stdout; logs and notices go to stderr.

use anyhow::Context;
use clap::Args;
use heddle_identity::{Actor, Caller};
use heddle_mcp::McpRequest;
use heddle_runtime::DirectTarget;
use heddle_server::config::Config;
use heddle_types::{Environment, RequestContext};

/// The variable holding the credential `heddle mcp` acts with.
pub const API_KEY_VAR: &str = "HEDDLE_API_KEY";

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The agent whose capabilities are offered as tools.
    #[arg(long)]
    agent: String,
    /// dev, staging or prod.
    #[arg(long, default_value = "dev", value_parser = crate::parse_environment)]
    env: Environment,
}

pub async fn run(config: Config, args: McpArgs) -> anyhow::Result<()> {
    heddle_server::telemetry::init_logging(&config.log);
    let key = std::env::var(API_KEY_VAR)
        .ok()
        .filter(|key| !key.trim().is_empty())
        .with_context(|| {
            format!("set {API_KEY_VAR} to the API key (hdl_…) the MCP client acts as")
        })?;
    let identity = crate::admin::open_identity(&config).await?;
    let request = RequestContext {
        client_ip: None,
        user_agent: Some("heddle mcp (stdio)".to_owned()),
        request_id: None,
    };
    let principal = identity
        .authenticate_bearer(key.trim(), &request)
        .await
        .with_context(|| format!("{API_KEY_VAR} was not accepted"))?;
    let audit_log = identity.audit_log().clone();
    let state = heddle_server::build_state(identity, config, None).await?;
    tracing::info!(agent = %args.agent, environment = %args.env, "serving MCP on stdio");
    let served = heddle_mcp::stdio::serve_stdio(
        state.runtime,
        McpRequest {
            tenant_id: principal.tenant_id,
            caller: Caller::new(Actor::Principal(principal), request),
            target: DirectTarget {
                environment: args.env,
                agent: args.agent,
            },
        },
    )
    .await;
    // Events still queued for the audit log are committed before the process ends.
    audit_log
        .flush()
        .await
        .context("the audit log did not flush")?;
    served.context("MCP over stdio failed")
}
