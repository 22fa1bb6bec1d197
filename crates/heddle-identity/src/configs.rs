//! Applying agent configurations: a validated [`ConfigSet`] (agents, capabilities, model
//! bindings) becomes the next immutable snapshot of a tenant's environment, so every execution
//! can name the version it ran. A set the contract lint finds errors in is refused; applying
//! the same content again changes nothing.

use heddle_agents::{ConfigSet, Severity, lint, to_text};
use heddle_types::{Action, Environment, Resource, TenantId};
use serde::Serialize;
use serde_json::Value;

use crate::audit::{Operation, details};
use crate::{Caller, Identity, IdentityError, IdentityResult};

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedConfig {
    pub environment: Environment,
    pub version: i64,
    /// Hex SHA-256 of the canonical configuration.
    pub content_hash: String,
    /// True when the content equals the latest version, which then stays current.
    pub unchanged: bool,
}

impl Identity {
    /// Makes `set` the next configuration version of `environment`. Needs `edit_agent`.
    pub async fn apply_config(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        set: &ConfigSet,
    ) -> IdentityResult<AppliedConfig> {
        let content_hash = set.content_hash().trim_start_matches("sha256:").to_owned();
        let mut operation =
            Operation::new(tenant_id, "config.apply").on("environment", environment);
        operation.environment = Some(environment.as_str());
        let result = async {
            self.authorize(
                &caller.actor,
                Action::EditAgent,
                Resource::Tenant(tenant_id),
            )
            .await?;
            let errors: Vec<_> = lint(set)
                .into_iter()
                .filter(|f| f.severity == Severity::Error)
                .collect();
            if !errors.is_empty() {
                return Err(IdentityError::Refused(format!(
                    "the contract lint found {} error(s); nothing was applied:\n{}",
                    errors.len(),
                    to_text(&errors).trim_end()
                )));
            }
            let latest = self
                .inner
                .store
                .get_config_snapshot(tenant_id, environment, None)
                .await?;
            if let Some(latest) = &latest
                && latest.content_hash == content_hash
            {
                return Ok(AppliedConfig {
                    environment,
                    version: latest.version,
                    content_hash: content_hash.clone(),
                    unchanged: true,
                });
            }
            let documents: Value = serde_json::from_slice(&set.canonical_json())
                .map_err(|err| IdentityError::Refused(format!("cannot store the set: {err}")))?;
            let audit = self.change_event(
                caller,
                &operation,
                details([
                    ("content_hash", Value::from(content_hash.clone())),
                    (
                        "previous_version",
                        latest
                            .as_ref()
                            .map_or(Value::Null, |l| Value::from(l.version)),
                    ),
                    ("agents", Value::from(set.agents.len())),
                    ("capabilities", Value::from(set.capabilities.len())),
                ]),
            );
            let stored = self
                .inner
                .store
                .put_config_snapshot(
                    heddle_store::NewConfigSnapshot {
                        tenant_id,
                        environment,
                        content_hash: content_hash.clone(),
                        documents,
                        applied_by: caller.audit_actor().id,
                        created_at: self.now(),
                    },
                    latest.map(|l| l.version),
                    audit,
                )
                .await?;
            Ok(AppliedConfig {
                environment,
                version: stored.version,
                content_hash,
                unchanged: false,
            })
        }
        .await;
        self.finish(caller, operation, result).await
    }
}

impl Identity {
    /// One configuration version of an environment (the latest when `version` is `None`).
    /// Needs `view_executions` ("view workflows" in the permission matrix).
    pub async fn get_config(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
        version: Option<i64>,
    ) -> IdentityResult<heddle_store::ConfigSnapshot> {
        let operation = Operation::new(tenant_id, "config.read");
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ViewExecutions,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, operation, authorized).await?;
        self.inner
            .store
            .get_config_snapshot(tenant_id, environment, version)
            .await?
            .ok_or_else(|| IdentityError::NotFound {
                entity: "configuration version",
                id: match version {
                    Some(v) => format!("{environment}/{v}"),
                    None => format!("{environment}/latest"),
                },
            })
    }

    /// Every configuration version of an environment, newest first.
    pub async fn list_configs(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        environment: Environment,
    ) -> IdentityResult<Vec<heddle_store::ConfigSnapshotSummary>> {
        let operation = Operation::new(tenant_id, "config.read");
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ViewExecutions,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, operation, authorized).await?;
        Ok(self
            .inner
            .store
            .list_config_snapshots(tenant_id, environment)
            .await?)
    }
}
