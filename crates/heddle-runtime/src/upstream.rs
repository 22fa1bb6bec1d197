//! The MCP gateway's service functions (issue 8, part 3): upstream MCP servers declared as
//! `kind: McpServer` in the environment's current configuration version, their live
//! listing reconciled against the approved pins, approval and revocation (admins, Cedar
//! `manage_mcp_servers`), and re-exposed calls (Cedar `call_mcp_tool`) through the pipeline
//! of `heddle_mcp_upstream::UpstreamServer::call`. Every call and every approval leaves an
//! audit event naming the server and tool, never argument or result values; a call's event
//! carries the kinds and counts of personal data found in its arguments and result. An
//! upstream is a child process (stdio, its `env` secrets opened from the vault) or a
//! streamable HTTP endpoint reached through the outbound client under the server's
//! `UpstreamReach` (its `bearer_secret` opened from the vault at connect time).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use heddle_identity::Caller;
use heddle_identity::SecretValue;
use heddle_mcp_pins::{Pin, Reconciled};
use heddle_mcp_upstream::{CallOutcome, Upstream, UpstreamError, UpstreamServer};
use heddle_outbound::OutboundError;
use heddle_store::{McpToolPin, SecretFilter};
use heddle_types::{Action, AuditOutcome, Environment, MAX_PAGE_LIMIT, PageRequest, TenantId};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::events::{self, Subject, details};
use crate::{Runtime, RuntimeError, RuntimeResult};

/// Live connections, one per (tenant, environment, server, configuration hash): a new
/// configuration version reconnects; a failed request drops the connection.
/// (tenant, environment, server, configuration content hash).
type PoolKey = (TenantId, Environment, String, String);

#[derive(Debug, Default)]
pub(crate) struct UpstreamPool {
    connections: Mutex<HashMap<PoolKey, Arc<Connected>>>,
}

#[derive(Debug)]
struct Connected {
    server: UpstreamServer,
    upstream: Upstream,
}

/// An upstream's live listing against its pins, for admins.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamToolsView {
    pub server: String,
    pub environment: String,
    /// Exposed tools in wire form (`name`, `description`, `inputSchema`, …) with their
    /// fingerprint.
    pub exposed: Vec<Value>,
    /// Withheld tools: `tool`, `fingerprint`, `reason` (`new`, `changed` with `fields`,
    /// `duplicate`).
    pub withheld: Vec<Value>,
    pub not_allowed: Vec<String>,
    pub removed: Vec<String>,
    pub malformed: Vec<String>,
}

/// A re-exposed call's outcome for the caller.
#[derive(Debug, Clone)]
pub enum UpstreamCall {
    /// The upstream's `CallToolResult` in wire form (it may itself be an error result).
    Result(Value),
    /// Refused before the upstream saw it, or its result withheld; the reason names the
    /// stage and guardrails, never values.
    Refused { stage: &'static str, reason: String },
}

fn subject(
    tenant_id: TenantId,
    environment: Environment,
    server: &str,
    tool: &str,
) -> Subject<'static> {
    Subject {
        tenant_id,
        environment: Some(environment),
        kind: "mcp_tool",
        id: format!("{server}/{tool}"),
    }
}

fn pin_of(stored: &McpToolPin) -> Pin {
    Pin {
        tool: stored.tool.clone(),
        fingerprint: stored.fingerprint.clone(),
        definition: stored.definition.clone(),
    }
}

impl Runtime {
    /// The server's live listing reconciled against its pins (`manage_mcp_servers`).
    pub async fn mcp_server_tools(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
    ) -> RuntimeResult<UpstreamToolsView> {
        self.authorize(caller, tenant_id, Action::ManageMcpServers)
            .await?;
        let connected = self.upstream(tenant_id, environment, server).await?;
        let listed = self
            .list_live(tenant_id, environment, server, &connected)
            .await?;
        let pins = self.pins(tenant_id, environment, server).await?;
        let reconciled = connected.server.reconcile(&listed, &pins);
        Ok(view(server, environment, &reconciled))
    }

    /// Approves `tool` at `fingerprint` — only if the server lists it now, allowed, with
    /// exactly that fingerprint (`manage_mcp_servers`); the pin and its audit event are
    /// written together.
    pub async fn approve_mcp_tool(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
        tool: &str,
        fingerprint: &str,
    ) -> RuntimeResult<Value> {
        self.authorize(caller, tenant_id, Action::ManageMcpServers)
            .await?;
        let connected = self.upstream(tenant_id, environment, server).await?;
        let listed = self
            .list_live(tenant_id, environment, server, &connected)
            .await?;
        let pin = match connected.server.approve(&listed, tool, fingerprint) {
            Ok(pin) => pin,
            Err(error) => {
                let refused = RuntimeError::Refused(error.to_string());
                events::record_refusal(
                    self.identity(),
                    caller,
                    &subject(tenant_id, environment, server, tool),
                    "mcp.tool.approve",
                    &refused,
                )
                .await;
                return Err(refused);
            }
        };
        let actor = caller.audit_actor();
        let approved_by = format!(
            "{}:{}",
            serde_json::to_value(actor.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            actor.id.unwrap_or_default()
        );
        let audit = events::change(
            self.identity(),
            caller,
            &subject(tenant_id, environment, server, tool),
            "mcp.tool.approved",
            details([
                ("server", json!(server)),
                ("tool", json!(tool)),
                ("fingerprint", json!(pin.fingerprint)),
            ]),
        );
        self.store()
            .put_mcp_pin(
                McpToolPin {
                    tenant_id,
                    environment,
                    server: server.to_owned(),
                    tool: pin.tool.clone(),
                    fingerprint: pin.fingerprint.clone(),
                    definition: pin.definition.clone(),
                    approved_by,
                    approved_at: self.identity().now(),
                },
                audit,
            )
            .await?;
        Ok(json!({"tool": pin.tool, "fingerprint": pin.fingerprint, "definition": pin.definition}))
    }

    /// Revokes `tool`'s approval (`manage_mcp_servers`); `NotFound` when there was none.
    pub async fn revoke_mcp_tool(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
        tool: &str,
    ) -> RuntimeResult<()> {
        self.authorize(caller, tenant_id, Action::ManageMcpServers)
            .await?;
        let audit = events::change(
            self.identity(),
            caller,
            &subject(tenant_id, environment, server, tool),
            "mcp.tool.revoked",
            details([("server", json!(server)), ("tool", json!(tool))]),
        );
        if self
            .store()
            .delete_mcp_pin(tenant_id, environment, server, tool, audit)
            .await?
        {
            Ok(())
        } else {
            Err(RuntimeError::NotFound {
                entity: "tool approval",
                id: format!("{environment}/{server}/{tool}"),
            })
        }
    }

    /// The exposed tools, in wire form, for a caller of the gateway (`call_mcp_tool`).
    pub async fn list_upstream_tools(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
    ) -> RuntimeResult<Vec<Value>> {
        self.authorize(caller, tenant_id, Action::CallMcpTool)
            .await?;
        let connected = self.upstream(tenant_id, environment, server).await?;
        let listed = self
            .list_live(tenant_id, environment, server, &connected)
            .await?;
        let pins = self.pins(tenant_id, environment, server).await?;
        let reconciled = connected.server.reconcile(&listed, &pins);
        Ok(reconciled.exposed.iter().map(|d| d.to_json()).collect())
    }

    /// One re-exposed call (`call_mcp_tool`): the pipeline of
    /// [`UpstreamServer::call`] with a fresh listing, then an audit event with the outcome,
    /// server and tool (never argument or result values).
    pub async fn call_upstream_tool(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
        tool: &str,
        arguments: Value,
    ) -> RuntimeResult<UpstreamCall> {
        let here = subject(tenant_id, environment, server, tool);
        if let Err(error) = self.authorize(caller, tenant_id, Action::CallMcpTool).await {
            events::record_refusal(self.identity(), caller, &here, "mcp.tool.call", &error).await;
            return Err(error);
        }
        let pins = self.pins(tenant_id, environment, server).await?;
        let connected = self.upstream(tenant_id, environment, server).await?;
        let outcome = connected
            .server
            .call(
                self.trust_engine(),
                &connected.upstream,
                &pins,
                tool,
                arguments,
            )
            .await;
        let (call, audit_outcome, extra) = match outcome {
            Ok(CallOutcome::Forwarded {
                result,
                screening,
                pii,
            }) => {
                let is_error = result.is_error.unwrap_or(false);
                let wire = serde_json::to_value(&result).map_err(|_| {
                    RuntimeError::Unavailable("the upstream result could not be read".to_owned())
                })?;
                (
                    UpstreamCall::Result(wire),
                    AuditOutcome::Success,
                    json!({
                        "upstream_error": is_error,
                        "violations": screening.violations.len(),
                        "pii": pii,
                    }),
                )
            }
            Ok(CallOutcome::Refused {
                refusal,
                screening,
                pii,
            }) => {
                let stage = match refusal {
                    heddle_mcp_upstream::Refusal::NotExposed(_) => "exposure",
                    heddle_mcp_upstream::Refusal::Constraints(_) => "constraints",
                    heddle_mcp_upstream::Refusal::ArgumentsBlocked(_) => "arguments",
                    heddle_mcp_upstream::Refusal::ResultWithheld(_) => "result",
                };
                let violations: Vec<Value> = screening
                    .iter()
                    .flat_map(|s| s.violations.iter())
                    .map(|v| json!({"guardrail": v.guardrail.as_str(), "detail": v.detail, "action": v.action}))
                    .collect();
                (
                    UpstreamCall::Refused {
                        stage,
                        reason: refusal.to_string(),
                    },
                    AuditOutcome::Denied,
                    json!({"stage": stage, "violations": violations, "pii": pii}),
                )
            }
            Err(error) => {
                self.drop_connection(tenant_id, environment, server).await;
                let failed = RuntimeError::Unavailable(format!(
                    "the upstream MCP server `{server}` failed: {error}"
                ));
                events::record_refusal(self.identity(), caller, &here, "mcp.tool.call", &failed)
                    .await;
                return Err(failed);
            }
        };
        let mut fields = details([("server", json!(server)), ("tool", json!(tool))]);
        if let Value::Object(extra) = extra {
            fields.extend(extra);
        }
        events::record(
            self.identity(),
            &events::event(
                self.identity(),
                caller,
                &here,
                "mcp.tool.call",
                audit_outcome,
                fields,
            ),
        )
        .await;
        Ok(call)
    }

    async fn pins(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
    ) -> RuntimeResult<Vec<Pin>> {
        Ok(self
            .store()
            .list_mcp_pins(tenant_id, environment, server)
            .await?
            .iter()
            .map(pin_of)
            .collect())
    }

    async fn list_live(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
        connected: &Connected,
    ) -> RuntimeResult<Vec<Value>> {
        match connected.upstream.list_tools().await {
            Ok(listed) => Ok(listed),
            Err(error) => {
                self.drop_connection(tenant_id, environment, server).await;
                Err(RuntimeError::Unavailable(format!(
                    "the upstream MCP server `{server}` failed: {error}"
                )))
            }
        }
    }

    async fn drop_connection(&self, tenant_id: TenantId, environment: Environment, server: &str) {
        self.inner
            .upstreams
            .connections
            .lock()
            .await
            .retain(|(t, e, s, _), _| !(*t == tenant_id && *e == environment && s == server));
    }

    /// The connection to `server` of the environment's current configuration version,
    /// opened on first use.
    async fn upstream(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
    ) -> RuntimeResult<Arc<Connected>> {
        let (_, set) = self
            .inner
            .configs
            .load(self.store(), tenant_id, environment, None)
            .await?;
        let config = set
            .mcp_server(server)
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound {
                entity: "MCP server",
                id: format!("{environment}/{server}"),
            })?;
        let key = (
            tenant_id,
            environment,
            server.to_owned(),
            set.content_hash().to_owned(),
        );
        if let Some(found) = self.inner.upstreams.connections.lock().await.get(&key) {
            return Ok(Arc::clone(found));
        }
        // Connected without the pool's lock, so a slow upstream does not hold up the others;
        // a connection another request made meanwhile wins and this one is dropped (its
        // child killed).
        let compiled = UpstreamServer::new(config).map_err(RuntimeError::Unavailable)?;
        let upstream = match &compiled.config.spec.transport {
            heddle_agents::mcp_server::McpTransport::Stdio(stdio) => {
                let mut env = BTreeMap::new();
                for (name, value) in &stdio.env {
                    let value = match value {
                        heddle_agents::mcp_server::EnvValue::Value(v) => {
                            heddle_crypto::SecretString::from(v.clone())
                        }
                        heddle_agents::mcp_server::EnvValue::Secret(secret) => {
                            self.secret_by_name(tenant_id, environment, secret).await?
                        }
                    };
                    env.insert(name.clone(), value);
                }
                Upstream::spawn_stdio(stdio, &env, compiled.timeout())
                    .await
                    .map_err(|e| RuntimeError::Unavailable(e.to_string()))?
            }
            heddle_agents::mcp_server::McpTransport::Http(http) => {
                self.connect_http(tenant_id, environment, http, compiled.timeout())
                    .await?
            }
        };
        let mut connections = self.inner.upstreams.connections.lock().await;
        if let Some(found) = connections.get(&key) {
            return Ok(Arc::clone(found));
        }
        // The server's connections of older configuration versions go.
        connections.retain(|(t, e, s, hash), _| {
            !(*t == tenant_id && *e == environment && s == server && *hash != key.3)
        });
        let connected = Arc::new(Connected {
            server: compiled,
            upstream,
        });
        connections.insert(key, Arc::clone(&connected));
        Ok(connected)
    }

    /// A streamable HTTP connection through the outbound client the server's reach settings
    /// allow for this URL, with the bearer secret opened from the vault for it.
    async fn connect_http(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        http: &heddle_agents::mcp_server::HttpTransport,
        timeout: std::time::Duration,
    ) -> RuntimeResult<Upstream> {
        let bearer = match &http.bearer_secret {
            Some(name) => Some(self.secret_by_name(tenant_id, environment, name).await?),
            None => None,
        };
        let reach = &self.settings().mcp_upstreams;
        let client = reach
            .client_for(&http.url, timeout)
            .await
            .map_err(RuntimeError::Unavailable)?;
        Upstream::connect_http(&http.url, client, bearer, timeout)
            .await
            .map_err(|error| {
                let hint = match &error {
                    UpstreamError::Blocked(OutboundError::BlockedAddress { .. })
                        if !reach.allow_private_network =>
                    {
                        "; an upstream on a loopback or private address needs \
                         `mcp.upstream_allow_private_network` in the server's configuration"
                    }
                    _ => "",
                };
                RuntimeError::Unavailable(format!("{error}{hint}"))
            })
    }

    /// The value of the environment's vault secret `name` (api_key or custom).
    async fn secret_by_name(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        name: &str,
    ) -> RuntimeResult<heddle_crypto::SecretString> {
        let mut page = PageRequest::first(MAX_PAGE_LIMIT);
        let secret = loop {
            let listed = self
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
                None => {
                    return Err(RuntimeError::Unavailable(format!(
                        "the MCP server's secret `{name}` is not a secret of `{environment}`"
                    )));
                }
            }
        };
        match self.identity().reveal_secret(tenant_id, secret.id).await? {
            value @ (SecretValue::ApiKey { .. } | SecretValue::Custom { .. }) => {
                Ok(value.primary().clone())
            }
            other => Err(RuntimeError::Unavailable(format!(
                "the MCP server's secret `{name}` is a `{}` secret; use api_key or custom",
                other.kind()
            ))),
        }
    }
}

fn view(server: &str, environment: Environment, reconciled: &Reconciled) -> UpstreamToolsView {
    UpstreamToolsView {
        server: server.to_owned(),
        environment: environment.as_str().to_owned(),
        exposed: reconciled
            .exposed
            .iter()
            .map(|d| {
                let mut wire = d.to_json();
                if let Value::Object(map) = &mut wire {
                    map.insert("fingerprint".to_owned(), json!(d.fingerprint()));
                }
                wire
            })
            .collect(),
        withheld: reconciled
            .withheld
            .iter()
            .map(|w| serde_json::to_value(w).unwrap_or(Value::Null))
            .collect(),
        not_allowed: reconciled.not_allowed.clone(),
        removed: reconciled.removed.clone(),
        malformed: reconciled
            .malformed
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}
