//! Bulk import of records into the embedded store (`heddle records import`, the demo org).
//!
//! An import is administrative, not user-mode: it needs `manage_record_org`, writes records
//! owned by the users the file names, and is all or nothing (one transaction, one audit event
//! naming the object and the count). Every row is validated like a user's write — types,
//! picklists, references, required fields, owners — and all problems are reported by row.

use std::collections::BTreeSet;

use heddle_identity::Caller;
use heddle_records::import::ImportRow;
use heddle_records::{Record, check_required, validate_fields};
use heddle_types::{Action, AuditOutcome, Resource, TenantId};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::{finish_tenant_op, tenant_event};
use crate::embedded::new_record_id;
use crate::{EmbeddedRecords, RecordError, RecordResult};

/// The audit action of an import.
const IMPORT: &str = "record.import";
/// Most rows one import takes; larger files are split by the caller.
pub const MAX_IMPORT_ROWS: usize = 50_000;
/// Problems listed before the rest are summarized.
const MAX_REPORTED: usize = 20;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub object: String,
    pub imported: usize,
}

impl EmbeddedRecords {
    /// Validates and inserts `rows` as records of `object`.
    pub async fn import_records(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        object: &str,
        rows: Vec<ImportRow>,
    ) -> RecordResult<ImportSummary> {
        let mut details = Map::new();
        details.insert("object".to_owned(), Value::from(object));
        details.insert("rows".to_owned(), Value::from(rows.len()));
        let result = self
            .import_unrecorded(caller, tenant_id, object, rows, &details)
            .await;
        finish_tenant_op(self.identity(), caller, tenant_id, IMPORT, details, result).await
    }

    async fn import_unrecorded(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        object: &str,
        rows: Vec<ImportRow>,
        details: &Map<String, Value>,
    ) -> RecordResult<ImportSummary> {
        self.identity()
            .authorize(
                &caller.actor,
                Action::ManageRecordOrg,
                Resource::Tenant(tenant_id),
            )
            .await?;
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(RecordError::Invalid(format!(
                "an import takes at most {MAX_IMPORT_ROWS} rows; this one has {}; split the file",
                rows.len()
            )));
        }
        let loaded = self.loaded(tenant_id).await?;
        let org = &loaded.directory.org;
        let def = org.object(object).ok_or_else(|| RecordError::NotFound {
            what: format!("object `{object}`"),
        })?;
        let mut problems = Vec::new();
        let mut records = Vec::with_capacity(rows.len());
        let mut seen = BTreeSet::new();
        for (index, row) in rows.into_iter().enumerate() {
            let n = index + 1;
            let checked = (|| -> Result<Record, String> {
                if org.user(&row.owner_id).is_none() {
                    return Err(format!(
                        "owner `{}` is not a user of the record org",
                        row.owner_id
                    ));
                }
                let mut fields =
                    validate_fields(&org.objects, def, &row.fields).map_err(|e| e.to_string())?;
                fields.retain(|_, v| !v.is_null());
                check_required(def, &fields).map_err(|e| e.to_string())?;
                let id = match row.id {
                    Some(id) if id.key_prefix() != def.key_prefix => {
                        return Err(format!(
                            "id `{id}` does not have key prefix `{}` of object `{object}`",
                            def.key_prefix
                        ));
                    }
                    Some(id) => id,
                    None => new_record_id(def).map_err(|e| e.to_string())?,
                };
                if !seen.insert(id.clone()) {
                    return Err(format!("id `{id}` appears more than once in this import"));
                }
                Ok(Record {
                    id,
                    object: def.api_name.clone(),
                    owner_id: row.owner_id,
                    fields,
                })
            })();
            match checked {
                Ok(record) => records.push(record),
                Err(message) => problems.push(format!("row {n}: {message}")),
            }
        }
        if !problems.is_empty() {
            let total = problems.len();
            problems.truncate(MAX_REPORTED);
            let more = if total > MAX_REPORTED {
                format!(" (and {} more)", total - MAX_REPORTED)
            } else {
                String::new()
            };
            return Err(RecordError::Invalid(format!(
                "{total} row(s) of `{object}` are invalid; nothing was imported: {}{more}",
                problems.join("; ")
            )));
        }
        let imported = records.len();
        let audit = heddle_audit_log::prepare_event(&tenant_event(
            self.identity(),
            caller,
            tenant_id,
            IMPORT,
            AuditOutcome::Success,
            details.clone(),
        ));
        self.identity()
            .store()
            .insert_records(tenant_id, records, self.identity().now(), audit)
            .await
            .map_err(|err| match err {
                heddle_store::StoreError::Conflict { value, .. } => RecordError::Conflict(format!(
                    "a record in this import already exists ({value}); nothing was imported"
                )),
                other => RecordError::from(other),
            })?;
        Ok(ImportSummary {
            object: def.api_name.clone(),
            imported,
        })
    }
}
