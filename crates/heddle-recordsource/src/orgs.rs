//! Applying and reading a tenant's record org.

use std::sync::Arc;

use heddle_identity::Caller;
use heddle_records::config::{ConfigError, OrgConfig};
use heddle_types::{Action, AuditOutcome, Resource, TenantId};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::{finish_tenant_op, tenant_event};
use crate::embedded::LoadedOrg;
use crate::{EmbeddedRecords, RecordError, RecordResult};

/// A record org as applied: its version and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedOrg {
    pub version: i64,
    pub users: usize,
    pub objects: usize,
    pub sharing_rules: usize,
}

/// The audit action of applying a record org.
const APPLY: &str = "record_org.apply";

impl EmbeddedRecords {
    /// Validates `config` and makes it the tenant's record org. `expected_version` is the
    /// version the caller last read (`None` for a tenant without one); a concurrent change in
    /// between is a conflict. Needs `manage_record_org`.
    pub async fn apply_org(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        config: OrgConfig,
        expected_version: Option<i64>,
    ) -> RecordResult<AppliedOrg> {
        let mut details = Map::new();
        let result = async {
            self.identity()
                .authorize(
                    &caller.actor,
                    Action::ManageRecordOrg,
                    Resource::Tenant(tenant_id),
                )
                .await?;
            let stored = serde_json::to_value(&config).map_err(|err| {
                RecordError::Invalid(format!("the record org cannot be stored: {err}"))
            })?;
            let directory = config.build().map_err(RecordError::InvalidConfig)?;
            let applied_shape = |version| AppliedOrg {
                version,
                users: directory.org.users.len(),
                objects: directory.org.objects.len(),
                sharing_rules: directory.org.sharing_rules.len(),
            };
            let preview = applied_shape(0);
            details.insert("users".to_owned(), Value::from(preview.users));
            details.insert("objects".to_owned(), Value::from(preview.objects));
            details.insert(
                "sharing_rules".to_owned(),
                Value::from(preview.sharing_rules),
            );
            details.insert(
                "service_users".to_owned(),
                Value::from(directory.service_users.len()),
            );
            let audit = heddle_audit_log::prepare_event(&tenant_event(
                self.identity(),
                caller,
                tenant_id,
                APPLY,
                AuditOutcome::Success,
                details.clone(),
            ));
            let written = self
                .identity()
                .store()
                .put_record_org(
                    tenant_id,
                    stored,
                    expected_version,
                    self.identity().now(),
                    audit,
                )
                .await
                .map_err(|err| match err {
                    heddle_store::StoreError::Conflict { .. } => RecordError::Conflict(format!(
                        "the record org changed since version {}; read it again and re-apply",
                        expected_version.map_or_else(|| "none".to_owned(), |v| v.to_string())
                    )),
                    other => RecordError::from(other),
                })?;
            let applied = applied_shape(written.version);
            self.remember(tenant_id, Arc::new(LoadedOrg::new(directory)));
            Ok::<_, RecordError>(applied)
        }
        .await;
        finish_tenant_op(self.identity(), caller, tenant_id, APPLY, details, result).await
    }

    /// The tenant's record org as last applied, with its version. Needs `view_record_org`.
    pub async fn get_org(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
    ) -> RecordResult<(i64, OrgConfig)> {
        self.identity()
            .authorize(
                &caller.actor,
                Action::ViewRecordOrg,
                Resource::Tenant(tenant_id),
            )
            .await?;
        let stored = self
            .identity()
            .store()
            .get_record_org(tenant_id)
            .await?
            .ok_or(RecordError::NoRecordOrg)?;
        let config = serde_json::from_value(stored.config).map_err(|err| {
            RecordError::InvalidOrg(vec![ConfigError {
                path: String::new(),
                message: err.to_string(),
            }])
        })?;
        Ok((stored.version, config))
    }
}
