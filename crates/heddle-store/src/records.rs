//! Business records (Salesforce-style) and the user-mode read path.
//!
//! The access model is `heddle_records`' pure evaluator; [`heddle_records::visibility_for`]
//! turns it into a filter the database applies with bound values, and field-level security is
//! applied afterwards with [`heddle_records::strip_inaccessible`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use heddle_records::{AccessDenied, Org, OrgUser, OrgWideDefault, Record, RecordId};
use heddle_types::TenantId;
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use crate::{NewAuditEvent, StoreError, StoreResult};

/// A record as the user may read it: fields without FLS read removed, their names reported.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleRecord {
    pub record: Record,
    pub removed_fields: Vec<String>,
}

/// Why a user-mode read failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordQueryError {
    /// The query names an object or field this user may not read (the store re-checks what
    /// [`heddle_records::validate_query`] checked).
    #[error(transparent)]
    Query(#[from] heddle_records::QueryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a structured query: the records as the user may read them (stripped and
/// projected), and the cursor of the next page when there is one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryPage {
    pub records: Vec<VisibleRecord>,
    pub next_cursor: Option<String>,
}

/// Why a user-mode write was refused or failed. A refusal writes nothing (no record change, no
/// audit event); auditing the refusal is the caller's job.
#[derive(Debug, thiserror::Error)]
pub enum RecordWriteError {
    /// The record does not exist in the tenant, or the user cannot see it: the two are
    /// indistinguishable, so a write never reveals that a record exists.
    #[error("record `{id}` not found")]
    NotFound { id: RecordId },
    /// The pure write check refused: missing object permission, a field without edit access,
    /// a read-only record, delete without full access, a customer link, a parent, ….
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// A create with an id that already exists in the tenant.
    #[error("record `{id}` already exists")]
    Conflict { id: RecordId },
    /// A write with an idempotency key under which an effect was already applied: nothing
    /// was written now (no change, no audit event). `result` is what the first write stored
    /// (see [`RecordStore::create_record`]).
    #[error("a change with this idempotency key was already applied")]
    AlreadyApplied { result: JsonValue },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RecordWriteError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(err))
    }
}

#[async_trait]
pub trait RecordStore: Send + Sync + std::fmt::Debug {
    /// Inserts records in bulk (import, tests), stamped `at`, with one audit event. Fails with
    /// [`StoreError::Conflict`] when an id exists in the tenant and [`StoreError::NotFound`]
    /// when the tenant does not exist; then nothing is inserted.
    async fn insert_records(
        &self,
        tenant_id: TenantId,
        records: Vec<Record>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<()>;

    /// Up to `limit` records of `object` that `user` may read, in id order, after `after` when
    /// given; the sharing filter runs in the database, FLS stripping after it.
    async fn query_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        object: &str,
        limit: u32,
        after: Option<&RecordId>,
    ) -> Result<Vec<VisibleRecord>, RecordQueryError>;

    /// The record with `id` when `user` may read it; `None` when it does not exist or is not
    /// visible (the two are indistinguishable to the caller).
    async fn get_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
    ) -> Result<Option<VisibleRecord>, RecordQueryError>;

    /// One page of a structured query as `user` reads it: the sharing filter, the query's
    /// filter, order and cursor run in the database with bound values; fields are then
    /// stripped ([`heddle_records::strip_inaccessible`]) and projected. Re-checks that `user`
    /// may read every field the query names.
    async fn query_records(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        query: &heddle_records::ValidQuery,
    ) -> Result<QueryPage, RecordQueryError>;

    /// Creates `record` as `user`, stamped `at`, in one transaction with `audit`: loads the
    /// controlled-by-parent chain the record points at, runs [`heddle_records::check_create`]
    /// and inserts. The owner is `record.owner_id` as given. Null values are not stored (a
    /// null field is an absent field). Values are not validated here (the service runs
    /// [`heddle_records::validate_fields`] first). [`RecordWriteError::Conflict`] when the id
    /// exists, checked only after the access check passed.
    ///
    /// With an `idempotency_key` the write applies at most once per key in the tenant: when
    /// an effect was applied under the key, [`RecordWriteError::AlreadyApplied`] returns the
    /// result stored then and nothing is written or checked; otherwise the key is stored in
    /// `action_effects` in the write's transaction with the result `{"action": "create",
    /// "object": …, "id": …}` (`update`/`delete` for the siblings). Attempts with the same key
    /// are serialized, so even concurrent ones (from several processes) write once. A
    /// refused or failed write stores no key, so it can be retried.
    #[expect(
        clippy::too_many_arguments,
        reason = "tenant, access context, record, time, idempotency key, audit"
    )]
    async fn create_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        record: Record,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Record, RecordWriteError>;

    /// Applies `changes` to the record `id` as `user` in one transaction with `audit`: locks
    /// the record, loads its controlled-by-parent chain (and a new parent's), runs
    /// [`heddle_records::check_update`], merges and sets `updated_at` to `at`. A JSON null
    /// removes the field (the evaluator treats a null and a missing field alike). Returns the
    /// record as stored. [`RecordWriteError::NotFound`] when it is absent or not visible.
    /// `idempotency_key` as for [`RecordStore::create_record`].
    #[allow(
        clippy::too_many_arguments,
        reason = "tenant, access context, target, change, time, idempotency key, audit"
    )]
    async fn update_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
        changes: BTreeMap<String, JsonValue>,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Record, RecordWriteError>;

    /// Deletes the record `id` as `user` in one transaction with `audit`, after
    /// [`heddle_records::check_delete`]. [`RecordWriteError::NotFound`] when it is absent or
    /// not visible. Children that named it as their parent stay (and then grant nothing).
    /// `idempotency_key` as for [`RecordStore::create_record`] (`at` stamps its row); a
    /// retried delete under its key reports `AlreadyApplied`, not `NotFound`.
    #[expect(
        clippy::too_many_arguments,
        reason = "tenant, access context, target, time, idempotency key, audit"
    )]
    async fn delete_record(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
        at: OffsetDateTime,
        idempotency_key: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<(), RecordWriteError>;
}

/// Which rows of an object a visible-records query reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seek<'a> {
    /// Up to `limit` records in id order, after `after` when given.
    Page {
        after: Option<&'a RecordId>,
        limit: u32,
    },
    /// The one record with this id.
    Only(&'a RecordId),
}

/// The id a controlled-by-parent `record` names as its parent, when its object has one and
/// the value parses: the next link of the chain a write check reads.
pub(crate) fn parent_id(org: &Org, record: &Record) -> Option<RecordId> {
    let object = org.object(&record.object)?;
    let parent = object
        .parent
        .as_ref()
        .filter(|_| object.sharing_default == OrgWideDefault::ControlledByParent)?;
    let value = record.fields.get(&parent.field)?.as_str()?;
    RecordId::parse(value).ok()
}

/// Which write an effect row records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EffectAction {
    Create,
    Update,
    Delete,
}

/// The result a record write stores under its idempotency key: what it did, to which record.
pub(crate) fn effect_result(action: EffectAction, id: &RecordId, object: &str) -> JsonValue {
    let action = match action {
        EffectAction::Create => "create",
        EffectAction::Update => "update",
        EffectAction::Delete => "delete",
    };
    JsonValue::from_iter([
        ("action", JsonValue::from(action)),
        ("object", JsonValue::from(object)),
        ("id", JsonValue::from(id.as_str())),
    ])
}

/// A refused write check as the caller sees it: a record the user cannot see is not found.
pub(crate) fn refused(err: AccessDenied) -> RecordWriteError {
    match err {
        AccessDenied::RecordNotVisible { id } => RecordWriteError::NotFound { id },
        other => RecordWriteError::Denied(other),
    }
}

/// `fields` with `changes` applied; a null removes the field, so null is never stored.
pub(crate) fn merge_fields(
    mut fields: BTreeMap<String, JsonValue>,
    changes: BTreeMap<String, JsonValue>,
) -> BTreeMap<String, JsonValue> {
    for (name, value) in changes {
        if value.is_null() {
            fields.remove(&name);
        } else {
            fields.insert(name, value);
        }
    }
    fields
}
