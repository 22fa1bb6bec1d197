//! Business records (Salesforce-style) and the user-mode read path.
//!
//! The access model is `heddle_records`' pure evaluator; [`heddle_records::visibility_for`]
//! turns it into a filter the database applies with bound values, and field-level security is
//! applied afterwards with [`heddle_records::strip_inaccessible`].

use async_trait::async_trait;
use heddle_records::{Org, OrgUser, Record, RecordId, VisibilityError};
use heddle_types::TenantId;
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
    #[error(
        "object `{object}` is controlled by its parent; user-mode reads of it are not supported yet"
    )]
    ControlledByParent { object: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<VisibilityError> for RecordQueryError {
    fn from(err: VisibilityError) -> Self {
        match err {
            VisibilityError::ControlledByParent { object } => Self::ControlledByParent { object },
            other => Self::Store(StoreError::Corrupt(other.to_string())),
        }
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
