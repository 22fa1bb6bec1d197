//! Record sources: where agents and people read and change business records, always **as a
//! principal**.
//!
//! [`RecordSource`] is the interface: describe objects, query, get, create, update, delete.
//! Every call takes a [`RecordActor`], which says who acts and in which [`AccessMode`]:
//! - [`AccessMode::User`] (the default and the only mode an API caller gets): sharing, object
//!   CRUD and field-level security of the acting org user apply to every call;
//! - [`AccessMode::System`]: no sharing, CRUD or FLS, for a service user the tenant's record
//!   org lists with a written justification. It is reached only through
//!   [`EmbeddedRecords::system_actor`], and every event it causes is recorded with identity
//!   mode `service_user` and the justification.
//!
//! [`EmbeddedRecords`] implements the interface over Heddle's own store (SQLite or
//! PostgreSQL); a Salesforce connector implements the same trait later.
//!
//! Tested end to end through the HTTP API (`crates/heddle-server/tests/it/records.rs`) and the
//! CLI (`crates/heddle-cli/tests/it/records.rs`); the access rules themselves are
//! property-tested in `heddle-records` and `heddle-store`.
//!
//! Invariants: a record that exists but is not visible is indistinguishable from one that does
//! not exist; a field the actor cannot read never appears in a result, an error or an audit
//! event; audit events name fields, never values (values may be personal data).

mod actor;
mod audit;
mod embedded;
mod error;
mod import;
mod orgs;

use std::collections::BTreeMap;

use async_trait::async_trait;
use heddle_records::query::RecordQuery;
use heddle_records::{ObjectDef, RecordId};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

pub use actor::{AccessMode, RecordActor};
pub use embedded::{EmbeddedRecords, RecordSettings};
pub use error::RecordError;
pub use import::{ImportSummary, MAX_IMPORT_ROWS};
pub use orgs::AppliedOrg;

pub type RecordResult<T> = Result<T, RecordError>;

/// One record as the actor may see it: unreadable fields removed and named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    pub id: RecordId,
    pub object: String,
    pub owner_id: String,
    pub fields: BTreeMap<String, JsonValue>,
    /// Fields the record has that the actor may not read (Salesforce's `stripInaccessible`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_fields: Vec<String>,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    pub records: Vec<RecordView>,
    /// Pass back as the query's `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What a write does with fields the actor may not edit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Refuse the whole write, naming the first such field.
    #[default]
    Strict,
    /// Drop those fields, write the rest and report what was dropped.
    Partial,
}

/// The result of a create or update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// The record after the write, as the actor may see it.
    pub record: RecordView,
    /// Fields dropped in [`WriteMode::Partial`] because the actor may not edit them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_fields: Vec<String>,
}

/// A write that runs at most once per idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied<T> {
    /// Written by this call.
    Now(T),
    /// Written before under the same key; what that write recorded (`action`, `object`,
    /// `id`). Nothing changed now.
    Before(JsonValue),
}

impl<T> Applied<T> {
    /// The outcome of a write that passed no key, which cannot have been applied before.
    pub(crate) fn now(self) -> RecordResult<T> {
        match self {
            Applied::Now(value) => Ok(value),
            Applied::Before(_) => Err(RecordError::Conflict(
                "this change was already applied".to_owned(),
            )),
        }
    }
}

/// Reading and writing business records as a principal.
#[async_trait]
pub trait RecordSource: Send + Sync {
    /// The objects the actor may read, each with only the fields the actor may read.
    async fn describe_objects(&self, actor: &RecordActor) -> RecordResult<Vec<ObjectDef>>;

    /// One object as the actor may see it; [`RecordError::NotFound`] when it does not exist
    /// or the actor may not read it.
    async fn describe_object(&self, actor: &RecordActor, object: &str) -> RecordResult<ObjectDef>;

    /// A page of records matching a structured query.
    async fn query(&self, actor: &RecordActor, query: &RecordQuery) -> RecordResult<QueryResult>;

    /// One record; [`RecordError::NotFound`] when absent or not visible.
    async fn get(&self, actor: &RecordActor, id: &RecordId) -> RecordResult<RecordView>;

    /// Creates a record of `object` owned by the actor.
    async fn create(
        &self,
        actor: &RecordActor,
        object: &str,
        fields: BTreeMap<String, JsonValue>,
        mode: WriteMode,
    ) -> RecordResult<WriteOutcome>;

    /// Changes fields of a record (JSON null clears a field).
    async fn update(
        &self,
        actor: &RecordActor,
        id: &RecordId,
        changes: BTreeMap<String, JsonValue>,
        mode: WriteMode,
    ) -> RecordResult<WriteOutcome>;

    /// Deletes a record.
    async fn delete(&self, actor: &RecordActor, id: &RecordId) -> RecordResult<()>;
}
