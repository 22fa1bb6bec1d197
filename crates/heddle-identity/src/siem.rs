//! SIEM sinks of a tenant: configured by admins, watched by auditors.

use heddle_store::{NewSiemSink, StoredSiemSink};
use heddle_types::{Action, Resource, TenantId};
use heddle_vault::TENANT_SCOPE;
use serde_json::Value;
use uuid::Uuid;

use crate::audit::{Operation, details};
use crate::{Caller, Identity, IdentityError, IdentityResult, validate};

#[derive(Debug)]
pub struct CreateSiemSink {
    pub tenant_id: TenantId,
    pub name: String,
    /// The sink configuration as JSON, tagged by `kind` (credentials included).
    pub config: Value,
    /// Deliver the whole existing log (`true`) or only events from now on.
    pub from_beginning: bool,
}

impl Identity {
    /// Adds a sink. Its configuration is validated, then sealed in the vault as a whole, so
    /// credentials never sit in the database in clear and are never shown again.
    pub async fn create_siem_sink(
        &self,
        caller: &Caller,
        request: CreateSiemSink,
    ) -> IdentityResult<StoredSiemSink> {
        let id = Uuid::now_v7();
        let operation = Operation::new(request.tenant_id, "siem_sink.create").on("siem_sink", id);
        let result = async {
            self.authorize(
                &caller.actor,
                Action::ManagePolicies,
                Resource::Tenant(request.tenant_id),
            )
            .await?;
            let name = validate::display_name("name", &request.name)?;
            let config: heddle_siem::SinkConfig = serde_json::from_value(request.config.clone())
                .map_err(|err| IdentityError::invalid("config", sanitize_serde(&err)))?;
            let kind = config.kind().to_owned();
            heddle_siem::SiemSink::new(config)
                .map_err(|err| IdentityError::invalid("config", err.to_string()))?;
            let summary = summarize(&kind, &request.config);
            let plaintext = serde_json::to_vec(&request.config)
                .map_err(|err| IdentityError::invalid("config", err.to_string()))?;
            let sealed = self
                .inner
                .vault
                .seal(
                    request.tenant_id,
                    TENANT_SCOPE,
                    heddle_audit_log::SINK_CONFIG_PURPOSE,
                    &id.to_string(),
                    &plaintext,
                )
                .await
                .map_err(|err| IdentityError::AuditUnavailable(err.to_string()))?;
            let cursor = if request.from_beginning {
                0
            } else {
                self.inner
                    .audit
                    .flush_tenant(request.tenant_id)
                    .await
                    .map_err(|err| IdentityError::AuditUnavailable(err.to_string()))?;
                self.inner
                    .store
                    .audit_head(request.tenant_id)
                    .await?
                    .map_or(0, |head| head.tree_size)
            };
            let event = self.change_event(
                caller,
                &operation,
                details([
                    ("name", Value::from(name.clone())),
                    ("kind", Value::from(kind.clone())),
                    ("summary", Value::from(summary.clone())),
                    ("cursor", Value::from(cursor)),
                ]),
            );
            Ok(self
                .inner
                .store
                .create_siem_sink(
                    NewSiemSink {
                        id,
                        tenant_id: request.tenant_id,
                        name,
                        kind,
                        summary,
                        sealed_config: sealed.ciphertext,
                        data_key_version: sealed.data_key_version,
                        cursor,
                        created_at: self.now(),
                    },
                    event,
                )
                .await?)
        }
        .await;
        self.finish(caller, operation, result).await
    }

    /// The tenant's sinks with their delivery status (cursor, last error).
    pub async fn list_siem_sinks(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
    ) -> IdentityResult<Vec<StoredSiemSink>> {
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ViewAuditLog,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(
            caller,
            Operation::new(tenant_id, "siem_sink.list"),
            authorized,
        )
        .await?;
        Ok(self.inner.store.list_siem_sinks(tenant_id).await?)
    }

    pub async fn delete_siem_sink(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: Uuid,
    ) -> IdentityResult<()> {
        let operation = Operation::new(tenant_id, "siem_sink.delete").on("siem_sink", id);
        let result = async {
            self.authorize(
                &caller.actor,
                Action::ManagePolicies,
                Resource::Tenant(tenant_id),
            )
            .await?;
            let event = self.change_event(caller, &operation, details([]));
            Ok(self
                .inner
                .store
                .delete_siem_sink(tenant_id, id, event)
                .await?)
        }
        .await;
        self.finish(caller, operation, result).await
    }

    /// Clears a paused sink's error so delivery is attempted again now.
    pub async fn resume_siem_sink(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: Uuid,
    ) -> IdentityResult<StoredSiemSink> {
        let operation = Operation::new(tenant_id, "siem_sink.resume").on("siem_sink", id);
        let result = async {
            self.authorize(
                &caller.actor,
                Action::ManagePolicies,
                Resource::Tenant(tenant_id),
            )
            .await?;
            let event = self.change_event(caller, &operation, details([]));
            Ok(self
                .inner
                .store
                .resume_siem_sink(tenant_id, id, event)
                .await?)
        }
        .await;
        self.finish(caller, operation, result).await
    }
}

/// `webhook → siem.example.com`: the kind and the receiving host, nothing secret.
fn summarize(kind: &str, config: &Value) -> String {
    let endpoint = ["url", "intake_url", "site"]
        .iter()
        .find_map(|field| config.get(field).and_then(Value::as_str))
        .map(|value| {
            let without_scheme = value.split_once("://").map_or(value, |(_, rest)| rest);
            let host = without_scheme
                .split(['/', '?', '#'])
                .next()
                .unwrap_or_default();
            // Never show userinfo, should a URL carry some.
            host.rsplit('@').next().unwrap_or_default().to_owned()
        })
        .unwrap_or_default();
    format!("{kind} → {endpoint}")
}

/// serde's message without the input it quotes (the input may be a credential).
fn sanitize_serde(err: &serde_json::Error) -> String {
    let text = err.to_string();
    if text.contains("unknown variant") {
        "unknown `kind`; use webhook, splunk_hec, datadog_logs or elasticsearch_bulk".to_owned()
    } else if let Some(field) = text.strip_prefix("missing field ") {
        format!(
            "is missing the field {}",
            field.split(' ').next().unwrap_or_default()
        )
    } else if text.contains("unknown field") {
        text.split(", expected")
            .next()
            .unwrap_or("has an unknown field")
            .to_owned()
    } else {
        "does not match the sink's documented shape".to_owned()
    }
}
