//! Record visibility as a database filter: for one user and one object, "nothing",
//! "everything", or the grounds on which a record is visible (owners, shared ids, criteria,
//! the customer link, the parent). A storage engine applies it as a plain filter with bound
//! values.
//!
//! The derivation follows [`record_access`](crate::record_access) rule by rule and reuses its
//! hierarchy and membership helpers, so that a record matches the filter exactly when
//! `record_access(org, user, record, lookup) != Access::None`, `lookup` being the table the
//! filter runs on:
//! - no object read ⇒ nothing; a customer ⇒ the customer link only; view all / modify all or a
//!   public org-wide default ⇒ everything;
//! - otherwise the owners whose records the user sees (themselves, users whose role is strictly
//!   below theirs, owners selected by owner-based rules that reach them), the values of
//!   criteria-based rules that reach them, and the ids of manual shares that reach them;
//! - on a controlled-by-parent object instead: records whose parent reference names a record
//!   of the parent object that the parent's own filter (derived recursively, up to
//!   [`MAX_PARENT_DEPTH`]) matches, and records without a parent owned by the user or by users
//!   below them.
//!
//! Both are judged against the evaluator on random orgs: in memory by this crate's tests, and
//! as SQL on both engines by the store's property test.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as JsonValue;

use crate::access::{MAX_PARENT_DEPTH, is_above, is_member, owns_or_manages, reaches};
use crate::{
    ManualShareTarget, Org, OrgUser, OrgWideDefault, RecordId, ShareTarget, SharingRuleKind,
    UserId, UserKind, object_permissions,
};

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
    /// Controlled by parent: records visible through their parent, or for lack of one.
    pub parent: Option<ParentGround>,
}

/// The link field of an object that ties its records to a customer's contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub field: String,
    pub contact_id: RecordId,
}

/// How a controlled-by-parent record is visible: through the record its reference field names,
/// or, when the field is absent or JSON null, through its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentGround {
    /// The child's reference field. It opens the child when its value is a JSON string that
    /// [`RecordId::parse`] accepts, naming a record of `object` that `parents` matches.
    pub field: String,
    /// The parent object; a reference to a record of another object grants nothing.
    pub object: String,
    /// The parent records whose children are visible: the parent object's own filter for the
    /// same user, or [`Visibility::None`] past [`MAX_PARENT_DEPTH`].
    pub parents: Box<Visibility>,
    /// The owners whose records without a parent are visible.
    pub orphan_owners: Vec<String>,
}

/// Derives the database filter for `user` reading `object`, exactly equivalent to
/// `record_access(org, user, record, lookup) != Access::None` for every record of the object,
/// where `lookup` finds the records of the same table.
pub fn visibility_for(org: &Org, user: &OrgUser, object: &str) -> Visibility {
    if let UserKind::Customer { contact_id } = &user.kind {
        return customer_visibility(org, user, object, contact_id);
    }
    internal_visibility(org, user, object, 0)
}

/// A customer sees the records linked to their contact, whatever else holds.
fn customer_visibility(
    org: &Org,
    user: &OrgUser,
    object: &str,
    contact_id: &RecordId,
) -> Visibility {
    let Some(def) = org.object(object) else {
        return Visibility::None;
    };
    if !object_permissions(org, user, object).read {
        return Visibility::None;
    }
    match def.customer_link.as_deref() {
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
    }
}

/// An internal user's filter on `object` reached through `depth` parent references.
fn internal_visibility(org: &Org, user: &OrgUser, object: &str, depth: usize) -> Visibility {
    let Some(def) = org.object(object) else {
        return Visibility::None;
    };
    let perms = object_permissions(org, user, object);
    if !perms.read {
        return Visibility::None;
    }
    if perms.view_all || perms.modify_all {
        return Visibility::All;
    }
    match def.sharing_default {
        OrgWideDefault::PublicReadOnly | OrgWideDefault::PublicReadWrite => Visibility::All,
        OrgWideDefault::ControlledByParent => {
            // A parentless child (a private contact) is its owner's alone, as in Salesforce:
            // the role hierarchy does not open it.
            let owner_only = vec![user.id.0.clone()];
            let Some(parent) = &def.parent else {
                // No reference field: every record is parentless.
                return Visibility::Restricted(Restriction {
                    owners: owner_only,
                    ..Restriction::default()
                });
            };
            let parents = if depth < MAX_PARENT_DEPTH {
                internal_visibility(org, user, &parent.object, depth + 1)
            } else {
                Visibility::None
            };
            Visibility::Restricted(Restriction {
                parent: Some(ParentGround {
                    field: parent.field.clone(),
                    object: parent.object.clone(),
                    parents: Box::new(parents),
                    orphan_owners: owner_only,
                }),
                ..Restriction::default()
            })
        }
        OrgWideDefault::Private => {
            Visibility::Restricted(shared_restriction(org, user, object, &Users::of(org)))
        }
    }
}

/// Ownership, hierarchy, sharing rules and manual shares on a privately shared object.
fn shared_restriction(org: &Org, user: &OrgUser, object: &str, users: &Users<'_>) -> Restriction {
    let mut owners: BTreeSet<String> = users.managed_by(org, user).into_iter().collect();
    let mut criteria: Vec<(String, JsonValue)> = Vec::new();
    for rule in org
        .sharing_rules
        .iter()
        .filter(|rule| rule.object == object)
    {
        if !reaches(org, user, &rule.share_with) {
            continue;
        }
        match &rule.kind {
            SharingRuleKind::OwnerBased { owned_by } => owners.extend(
                users
                    .first
                    .values()
                    .filter(|owner| is_member(org, owner, owned_by))
                    .map(|owner| owner.id.0.clone()),
            ),
            SharingRuleKind::CriteriaBased { field, equals } => {
                let pair = (field.clone(), equals.clone());
                if !criteria.contains(&pair) {
                    criteria.push(pair);
                }
            }
        }
    }
    let shared_ids: BTreeSet<&str> = org
        .manual_shares
        .iter()
        .filter(|share| match &share.share_with {
            ManualShareTarget::User(id) => owns_or_manages(org, user, id),
            ManualShareTarget::Group(g) => reaches(org, user, &ShareTarget::Group(g.clone())),
        })
        .map(|share| share.record_id.as_str())
        .collect();
    Restriction {
        owners: owners.into_iter().collect(),
        shared_ids: shared_ids.into_iter().map(str::to_owned).collect(),
        criteria,
        customer_link: None,
        parent: None,
    }
}

/// The org's users by id, as [`Org::user`] finds them (the first entry with an id wins), so
/// that a predicate over these is the predicate over a record's owner.
struct Users<'a> {
    first: BTreeMap<&'a UserId, &'a OrgUser>,
}

impl<'a> Users<'a> {
    fn of(org: &'a Org) -> Self {
        let mut first = BTreeMap::new();
        for u in &org.users {
            first.entry(&u.id).or_insert(u);
        }
        Self { first }
    }

    /// The owners `user` owns or manages: themselves and users whose role is strictly below.
    fn managed_by(&self, org: &Org, user: &OrgUser) -> Vec<String> {
        let mut out: BTreeSet<String> = self
            .first
            .values()
            .filter(|owner| is_above(org, user, owner))
            .map(|owner| owner.id.0.clone())
            .collect();
        out.insert(user.id.0.clone());
        out.into_iter().collect()
    }
}
