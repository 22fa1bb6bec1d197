//! Where upstream MCP servers over HTTP may be: the operator's rules (`[mcp]` in
//! `heddle.toml`), made into the outbound client one upstream is reached with.

use std::net::IpAddr;
use std::time::Duration;

use heddle_outbound::{HostPattern, IpNet, OutboundClient, OutboundError, OutboundPolicy, Url};

/// Where HTTP upstreams may be, as the server operator decides (`[mcp]` in `heddle.toml`);
/// an `McpServer` document, written by a builder, cannot widen it.
#[derive(Debug, Clone, Default)]
pub struct UpstreamReach {
    /// Lets an upstream URL reach a loopback or private address (an MCP server on the same
    /// host or inside the cluster) — only the addresses its own host name resolves to when
    /// connecting. Off by default: that is where an SSRF would aim.
    pub allow_private_network: bool,
    /// When not empty, the hosts an upstream URL may name at all (`mcp.example.com`,
    /// `*.internal.example.com`).
    pub allowed_hosts: Vec<HostPattern>,
}

impl UpstreamReach {
    /// The outbound client for one upstream at `url`: its host only, the operator's
    /// allowlist, private addresses only when opted in, and a deadline of `timeout` per
    /// exchange. Errors name the host, never the URL's path or query.
    pub async fn client_for(&self, url: &str, timeout: Duration) -> Result<OutboundClient, String> {
        let parsed = Url::parse(url).map_err(|e| format!("the upstream url is invalid: {e}"))?;
        let host = parsed
            .host_str()
            .ok_or("the upstream url has no host")?
            .to_owned();
        let pattern: HostPattern = host.parse().map_err(|e: OutboundError| e.to_string())?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if !self.allowed_hosts.is_empty()
            && !self
                .allowed_hosts
                .iter()
                .any(|allowed| allowed.admits(&host))
        {
            return Err(format!(
                "host `{bare}` is not in the server's `mcp.upstream_allowed_hosts`"
            ));
        }
        let mut policy = OutboundPolicy {
            allowed_hosts: Some(vec![pattern]),
            total_timeout: timeout,
            connect_timeout: timeout.min(Duration::from_secs(10)),
            ..OutboundPolicy::default()
        };
        if self.allow_private_network {
            let port = parsed.port_or_known_default().unwrap_or(443);
            policy.allow_private_addresses = addresses_of(bare, port)
                .await?
                .into_iter()
                .map(IpNet::from)
                .collect();
        }
        OutboundClient::new(policy).map_err(|e| e.to_string())
    }
}

/// The addresses `host` stands for now: itself when it is an IP literal.
async fn addresses_of(host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("could not resolve `{host}`: {e}"))?
        .map(|addr| addr.ip())
        .collect();
    if addresses.is_empty() {
        return Err(format!("`{host}` resolves to no address"));
    }
    Ok(addresses)
}
