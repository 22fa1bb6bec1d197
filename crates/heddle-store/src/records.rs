//! Business records (Salesforce-style) and the user-mode read path.
//!
//! The access model is `heddle_records`' pure evaluator. [`visibility_for`] turns it into a
//! filter the database can apply: for one user and one object it derives, from the org alone,
//! either "nothing", "everything", or a [`Restriction`] (owners whose records are visible,
//! record ids shared with the user, criteria that open records, the customer link). The SQL is
//! then a plain filter with bound values, and field-level security is applied afterwards with
//! [`heddle_records::strip_inaccessible`].
//!
//! The derivation asks the reference evaluator itself, on probe records, instead of
//! re-implementing hierarchy and sharing: a probe with a given owner, no fields and an id no
//! manual share names is visible exactly when ownership, the role hierarchy or an owner-based
//! rule opens that owner's records; a probe owned by nobody with one field set is visible
//! exactly when a criteria-based rule on that value reaches the user; and so on. A record is
//! visible when any of these grounds holds, which is what the SQL filter checks.
//!
//! Not yet supported: objects whose default is Controlled by Parent, for internal users without
//! view all / modify all (their access follows the parent record, which this filter does not
//! express); [`visibility_for`] refuses them with [`RecordQueryError::ControlledByParent`].

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use heddle_records::{
    Access, NoRecords, Org, OrgUser, OrgWideDefault, Record, RecordId, SharingRuleKind, UserId,
    UserKind, object_permissions, record_access,
};
use heddle_types::TenantId;
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use crate::{NewAuditEvent, StoreError, StoreResult};

/// What a user may read of one object, as a database filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// No record of the object.
    None,
    /// Every record of the object.
    All,
    /// The records matching at least one ground of the restriction.
    Restricted(Restriction),
}

/// The grounds on which a record is visible; a record is visible when any one holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restriction {
    /// Records owned by one of these users (ownership, role hierarchy, owner-based rules).
    pub owners: Vec<String>,
    /// Records with one of these ids (manual shares; a customer's own contact).
    pub shared_ids: Vec<String>,
    /// Records whose field (name) holds exactly this JSON value (criteria-based rules).
    pub criteria: Vec<(String, JsonValue)>,
    /// Records whose field holds (a 15- or 18-character form of) the customer's contact id.
    pub customer_link: Option<CustomerLink>,
}

/// The link field of an object that ties its records to a customer's contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub field: String,
    pub contact_id: RecordId,
}

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

/// Derives the database filter for `user` reading `object`, exactly equivalent to
/// `record_access(org, user, record, _) != Access::None` for every record of the object.
pub fn visibility_for(
    org: &Org,
    user: &OrgUser,
    object: &str,
) -> Result<Visibility, RecordQueryError> {
    let Some(def) = org.object(object) else {
        return Ok(Visibility::None);
    };
    let perms = object_permissions(org, user, object);
    if !perms.read {
        return Ok(Visibility::None);
    }
    if let UserKind::Customer { contact_id } = &user.kind {
        return Ok(match def.customer_link.as_deref() {
            None => Visibility::None,
            Some("Id") => Visibility::Restricted(Restriction {
                shared_ids: vec![contact_id.as_str().to_owned()],
                ..Restriction::default()
            }),
            Some(field) => Visibility::Restricted(Restriction {
                customer_link: Some(CustomerLink {
                    field: field.to_owned(),
                    contact_id: contact_id.clone(),
                }),
                ..Restriction::default()
            }),
        });
    }
    if perms.view_all || perms.modify_all {
        return Ok(Visibility::All);
    }
    if def.sharing_default == OrgWideDefault::ControlledByParent {
        return Err(RecordQueryError::ControlledByParent {
            object: object.to_owned(),
        });
    }
    let probes = Probes::new(org, user, object).ok_or_else(|| {
        StoreError::Corrupt("no record id is free for an access probe".to_owned())
    })?;
    if probes.visible(&probes.nobody, &probes.unshared_id, BTreeMap::new()) {
        // Nothing about the record matters: the org-wide default opens them all.
        return Ok(Visibility::All);
    }
    let mut restriction = Restriction {
        owners: std::iter::once(&user.id)
            .chain(org.users.iter().map(|u| &u.id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|owner| probes.visible(owner, &probes.unshared_id, BTreeMap::new()))
            .map(|owner| owner.0.clone())
            .collect(),
        ..Restriction::default()
    };
    for rule in org
        .sharing_rules
        .iter()
        .filter(|rule| rule.object == object)
    {
        if let SharingRuleKind::CriteriaBased { field, equals } = &rule.kind {
            let pair = (field.clone(), equals.clone());
            if !restriction.criteria.contains(&pair)
                && probes.visible(
                    &probes.nobody,
                    &probes.unshared_id,
                    BTreeMap::from([pair.clone()]),
                )
            {
                restriction.criteria.push(pair);
            }
        }
    }
    restriction.shared_ids = org
        .manual_shares
        .iter()
        .map(|share| &share.record_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|id| probes.visible(&probes.nobody, id, BTreeMap::new()))
        .map(|id| id.as_str().to_owned())
        .collect();
    Ok(Visibility::Restricted(restriction))
}

/// Probe records for asking the reference evaluator what opens records of one object.
struct Probes<'a> {
    org: &'a Org,
    user: &'a OrgUser,
    object: &'a str,
    /// An owner id no user of the org has.
    nobody: UserId,
    /// A record id no manual share names.
    unshared_id: RecordId,
}

impl<'a> Probes<'a> {
    fn new(org: &'a Org, user: &'a OrgUser, object: &'a str) -> Option<Self> {
        let mut nobody = String::from("\u{0}nobody");
        while org.users.iter().any(|u| u.id.0 == nobody) || user.id.0 == nobody {
            nobody.push('\u{0}');
        }
        let shared: BTreeSet<&RecordId> = org.manual_shares.iter().map(|s| &s.record_id).collect();
        // One more candidate than there are shared ids, so one of them is free.
        let unshared_id = (0..=shared.len() as u64)
            .filter_map(|n| RecordId::generate("000", n).ok())
            .find(|id| !shared.contains(id))?;
        Some(Self {
            org,
            user,
            object,
            nobody: UserId::new(nobody),
            unshared_id,
        })
    }

    fn visible(&self, owner: &UserId, id: &RecordId, fields: BTreeMap<String, JsonValue>) -> bool {
        let probe = Record {
            id: id.clone(),
            object: self.object.to_owned(),
            owner_id: owner.clone(),
            fields,
        };
        record_access(self.org, self.user, &probe, &NoRecords) != Access::None
    }
}
