//! Record and field access evaluation, following Salesforce's sharing model.
//!
//! # Semantics implemented
//!
//! **Object permissions (CRUD).** A user's object permissions are the union of their profile
//! and permission sets, with Salesforce's implications (modify all ⇒ all; view all ⇒ read;
//! delete ⇒ edit ⇒ read; create ⇒ read). Without object read, access is `None` whatever else
//! holds; without object edit, access is at most `Read`.
//!
//! **Internal users.** Record access is the highest of:
//! - *modify all* (`Edit`) and *view all* (`Read`) on the object;
//! - ownership (`Edit`);
//! - the role hierarchy: a user whose role is strictly above the owner's role gets the owner's
//!   access, which is full (`Edit`). Peers in the same role get nothing from the hierarchy;
//! - the org-wide default: `PublicReadOnly` ⇒ `Read`, `PublicReadWrite` ⇒ `Edit`;
//! - sharing rules on the object (owner-based: the owner is in the rule's role / role and
//!   subordinates / group; criteria-based: the field's JSON value equals the rule's value),
//!   granting `Read` or `ReadWrite` to the users of a role, a role and its subordinates, or a
//!   public group;
//! - manual shares of the record to a user or a group.
//!
//! Shares also reach up the hierarchy ("grant access using hierarchies"): a share to a role
//! reaches that role's ancestors, a share to a group or a user reaches the ancestors of each
//! member's role. The result is then capped by object CRUD.
//!
//! **Controlled by parent.** Access to such a record is exactly the user's access to the
//! record in the parent reference field (evaluated recursively with the parent object's
//! CRUD), capped by the child's CRUD; sharing rules, manual shares and ownership of the child
//! do not apply, as Salesforce allows none on these objects. A child with no parent (a private
//! contact) is visible only to its owner and to view all / modify all. A parent the lookup
//! cannot find grants nothing.
//!
//! **External customers** see only records linked to their verified contact (the object's
//! `customer_link` field equals their contact id, or the record *is* their contact), and
//! nothing else regardless of ownership, defaults, rules, shares, hierarchy or view all.
//! A linked record is `Read`, or `Edit` when their object permissions include edit.
//!
//! **Field-level security.** A field is readable when the object is readable and some profile or
//! permission set grants field read (edit implies read); editable when also granted field edit
//! and object edit or create. `Id` is always readable with the object. Fields absent from the
//! object's metadata are never readable (fail closed).
//!
//! **Writes.** Create needs object create, an id with the object's key prefix, field edit on
//! every supplied field, for a
//! controlled-by-parent child read access to the parent, and for a customer a record linked to
//! them. Update needs object edit, `Edit` record access, field edit on every changed field, read
//! access to a new parent, and for a customer that the record stays linked. Delete needs object
//! delete, `Edit` record access and *full access*: modify all, or ownership or a role above
//! the owner (on a controlled-by-parent child: full access to the parent, including delete
//! permission on the parent object, "the same action on the parent"). Sharing never grants
//! delete. A customer may delete only linked records, and only with object delete.
//!
//! [`strip_uneditable`] is the opt-in partial mode (drop and report fields the user cannot
//! edit); [`check_fields_readable`] refuses queries that select, filter or sort on an
//! unreadable field; [`describe_object`] is the describe a user may see.
//!
//! # Simplifications
//!
//! - Groups contain users only (no nested groups, no roles as members); every group grants
//!   access using hierarchies.
//! - "Grant access using hierarchies" cannot be turned off per object.
//! - No territories, teams, implicit (parent ↔ child) sharing of Account from Contacts, Cases
//!   or Opportunities, restriction rules, or sharing sets beyond the customer link.
//! - Owner changes (transfers) and required-field validation are not checked here.
//! - Controlled-by-parent chains deeper than [`MAX_PARENT_DEPTH`] grant nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::RecordId;
use crate::metadata::{ObjectDef, OrgWideDefault};
use crate::org::{
    FieldPermissions, ManualShareTarget, ObjectPermissions, Org, OrgUser, Record, RoleId,
    ShareAccess, ShareTarget, SharingRuleKind, UserId, UserKind,
};

/// How deep controlled-by-parent chains are followed; deeper (or cyclic) chains grant nothing.
pub const MAX_PARENT_DEPTH: usize = 8;

/// A user's access to one record. Ordered: `None < Read < Edit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    None,
    Read,
    Edit,
}

impl From<ShareAccess> for Access {
    fn from(access: ShareAccess) -> Self {
        match access {
            ShareAccess::Read => Self::Read,
            ShareAccess::ReadWrite => Self::Edit,
        }
    }
}

/// A user's field-level security on one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAccess {
    pub read: bool,
    pub edit: bool,
}

/// Finds the parent records controlled-by-parent access follows.
pub trait RecordLookup {
    fn record(&self, id: &RecordId) -> Option<&Record>;
}

impl RecordLookup for BTreeMap<RecordId, Record> {
    fn record(&self, id: &RecordId) -> Option<&Record> {
        self.get(id)
    }
}

impl RecordLookup for Vec<Record> {
    fn record(&self, id: &RecordId) -> Option<&Record> {
        self.iter().find(|r| &r.id == id)
    }
}

/// A lookup that finds nothing, for objects without controlled-by-parent parents.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRecords;

impl RecordLookup for NoRecords {
    fn record(&self, _id: &RecordId) -> Option<&Record> {
        None
    }
}

/// A write the user may not make; the message names the missing permission or the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    #[error("unknown object `{object}`")]
    UnknownObject { object: String },
    #[error("missing `{permission}` permission on object `{object}`")]
    MissingObjectPermission {
        object: String,
        permission: &'static str,
    },
    #[error("unknown field `{field}` on object `{object}`")]
    UnknownField { object: String, field: String },
    #[error("field `{field}` on object `{object}` is not editable by this user")]
    FieldNotEditable { object: String, field: String },
    #[error("record `{id}` is not visible to this user")]
    RecordNotVisible { id: RecordId },
    #[error("record `{id}` is read-only for this user")]
    RecordNotEditable { id: RecordId },
    #[error("deleting record `{id}` needs ownership, a role above the owner, or `modify_all`")]
    DeleteNeedsFullAccess { id: RecordId },
    #[error("the parent in field `{field}` of object `{object}` is not visible to this user")]
    ParentNotAccessible { object: String, field: String },
    #[error("a customer may only write `{object}` records linked to their own contact")]
    CustomerLinkRequired { object: String },
    #[error("field `{field}` on object `{object}` is not readable by this user")]
    FieldNotReadable { object: String, field: String },
    #[error("record id `{id}` does not have key prefix `{prefix}` of object `{object}`")]
    WrongKeyPrefix {
        id: RecordId,
        object: String,
        prefix: String,
    },
}

/// The user's effective object permissions: profile ∪ permission sets, normalized. Unknown
/// profiles or permission sets grant nothing.
pub fn object_permissions(org: &Org, user: &OrgUser, object: &str) -> ObjectPermissions {
    permission_sets_of(org, user)
        .filter_map(|ps| ps.objects.get(object).copied())
        .fold(ObjectPermissions::default(), ObjectPermissions::union)
        .normalized()
}

/// Field-level security of `field` on `object` for `user`.
pub fn field_access(org: &Org, user: &OrgUser, object: &str, field: &str) -> FieldAccess {
    let perms = object_permissions(org, user, object);
    if !perms.read {
        return FieldAccess::default();
    }
    if field == "Id" {
        return FieldAccess {
            read: true,
            edit: false,
        };
    }
    if org.object(object).and_then(|o| o.field(field)).is_none() {
        return FieldAccess::default();
    }
    let granted = permission_sets_of(org, user)
        .filter_map(|ps| ps.fields.get(object).and_then(|f| f.get(field)).copied())
        .fold(FieldPermissions::default(), |a, b| FieldPermissions {
            read: a.read || b.read,
            edit: a.edit || b.edit,
        });
    FieldAccess {
        read: granted.read || granted.edit,
        edit: granted.edit && (perms.edit || perms.create),
    }
}

/// The user's access to `record`; `lookup` supplies parents for controlled-by-parent objects.
pub fn record_access(
    org: &Org,
    user: &OrgUser,
    record: &Record,
    lookup: &dyn RecordLookup,
) -> Access {
    record_access_at(org, user, record, lookup, 0)
}

/// Splits `record.fields` into the fields the user may read and the names of those removed
/// (Salesforce's `stripInaccessible`). Record visibility is the caller's separate check.
pub fn strip_inaccessible(
    org: &Org,
    user: &OrgUser,
    record: &Record,
) -> (BTreeMap<String, serde_json::Value>, Vec<String>) {
    let mut visible = BTreeMap::new();
    let mut removed = Vec::new();
    for (name, value) in &record.fields {
        if field_access(org, user, &record.object, name).read {
            visible.insert(name.clone(), value.clone());
        } else {
            removed.push(name.clone());
        }
    }
    (visible, removed)
}

/// Splits a write's `changes` into the fields the user may edit and the names of those dropped:
/// the opt-in partial mode of a write (the strict mode is [`check_update`] / [`check_create`]).
/// Unknown fields are dropped too.
pub fn strip_uneditable(
    org: &Org,
    user: &OrgUser,
    object: &str,
    changes: &BTreeMap<String, serde_json::Value>,
) -> (BTreeMap<String, serde_json::Value>, Vec<String>) {
    let mut kept = BTreeMap::new();
    let mut dropped = Vec::new();
    for (name, value) in changes {
        if field_access(org, user, object, name).edit {
            kept.insert(name.clone(), value.clone());
        } else {
            dropped.push(name.clone());
        }
    }
    (kept, dropped)
}

/// Refuses a query that names (selects, filters or sorts on) a field the user cannot read, so
/// that neither results, errors nor ordering leak it. `Id` is always allowed.
pub fn check_fields_readable<'a>(
    org: &Org,
    user: &OrgUser,
    object: &str,
    fields: impl IntoIterator<Item = &'a str>,
) -> Result<(), AccessDenied> {
    let def = known_object(org, object)?;
    require_permission(org, user, def, "read", |p| p.read)?;
    for field in fields {
        if !field_access(org, user, object, field).read {
            return Err(AccessDenied::FieldNotReadable {
                object: object.to_owned(),
                field: field.to_owned(),
            });
        }
    }
    Ok(())
}

/// The object as `user` may see it described: `None` without object read, otherwise the
/// definition with only the fields the user can read.
pub fn describe_object(org: &Org, user: &OrgUser, object: &str) -> Option<ObjectDef> {
    let def = org.object(object)?;
    if !object_permissions(org, user, object).read {
        return None;
    }
    let mut visible = def.clone();
    visible
        .fields
        .retain(|f| field_access(org, user, object, &f.api_name).read);
    Some(visible)
}

/// May `user` create `record` (its `fields` are the values being supplied)?
pub fn check_create(
    org: &Org,
    user: &OrgUser,
    record: &Record,
    lookup: &dyn RecordLookup,
) -> Result<(), AccessDenied> {
    let object = known_object(org, &record.object)?;
    require_permission(org, user, object, "create", |p| p.create)?;
    if record.id.key_prefix() != object.key_prefix {
        return Err(AccessDenied::WrongKeyPrefix {
            id: record.id.clone(),
            object: object.api_name.clone(),
            prefix: object.key_prefix.clone(),
        });
    }
    check_fields_editable(org, user, object, record.fields.keys())?;
    match &user.kind {
        UserKind::Customer { contact_id } => require_linked(object, record, contact_id),
        UserKind::Internal => check_parent_visible(org, user, object, record, lookup, None),
    }
}

/// May `user` apply `changes` (field → new value) to `current`?
pub fn check_update(
    org: &Org,
    user: &OrgUser,
    current: &Record,
    changes: &BTreeMap<String, serde_json::Value>,
    lookup: &dyn RecordLookup,
) -> Result<(), AccessDenied> {
    let object = known_object(org, &current.object)?;
    require_permission(org, user, object, "edit", |p| p.edit)?;
    match record_access(org, user, current, lookup) {
        Access::None => {
            return Err(AccessDenied::RecordNotVisible {
                id: current.id.clone(),
            });
        }
        Access::Read => {
            return Err(AccessDenied::RecordNotEditable {
                id: current.id.clone(),
            });
        }
        Access::Edit => {}
    }
    check_fields_editable(org, user, object, changes.keys())?;
    let mut updated = current.clone();
    updated
        .fields
        .extend(changes.iter().map(|(k, v)| (k.clone(), v.clone())));
    match &user.kind {
        UserKind::Customer { contact_id } => require_linked(object, &updated, contact_id),
        UserKind::Internal => {
            check_parent_visible(org, user, object, &updated, lookup, Some(changes))
        }
    }
}

/// May `user` delete `record`?
pub fn check_delete(
    org: &Org,
    user: &OrgUser,
    record: &Record,
    lookup: &dyn RecordLookup,
) -> Result<(), AccessDenied> {
    let object = known_object(org, &record.object)?;
    require_permission(org, user, object, "delete", |p| p.delete)?;
    match record_access(org, user, record, lookup) {
        Access::None => {
            return Err(AccessDenied::RecordNotVisible {
                id: record.id.clone(),
            });
        }
        Access::Read => {
            return Err(AccessDenied::RecordNotEditable {
                id: record.id.clone(),
            });
        }
        Access::Edit => {}
    }
    if has_full_access(org, user, record, lookup, 0) {
        Ok(())
    } else {
        Err(AccessDenied::DeleteNeedsFullAccess {
            id: record.id.clone(),
        })
    }
}

fn permission_sets_of<'a>(
    org: &'a Org,
    user: &'a OrgUser,
) -> impl Iterator<Item = &'a crate::org::PermissionSet> {
    let profile = org.profiles.iter().filter(|p| p.id == user.profile);
    let sets = org
        .permission_sets
        .iter()
        .filter(|p| user.permission_sets.contains(&p.id));
    profile.chain(sets)
}

fn record_access_at(
    org: &Org,
    user: &OrgUser,
    record: &Record,
    lookup: &dyn RecordLookup,
    depth: usize,
) -> Access {
    let Some(object) = org.object(&record.object) else {
        return Access::None;
    };
    let perms = object_permissions(org, user, &object.api_name);
    if !perms.read {
        return Access::None;
    }
    let granted = match &user.kind {
        UserKind::Customer { contact_id } => {
            if is_linked(object, record, contact_id) {
                Access::Edit
            } else {
                Access::None
            }
        }
        UserKind::Internal if perms.modify_all => Access::Edit,
        UserKind::Internal => {
            let shared = sharing_access(org, user, object, record, lookup, depth);
            if perms.view_all {
                shared.max(Access::Read)
            } else {
                shared
            }
        }
    };
    // Object CRUD caps everything the record grants.
    if granted == Access::Edit && !perms.edit {
        Access::Read
    } else {
        granted
    }
}

/// Access from ownership, hierarchy, the default, rules and shares, before CRUD.
fn sharing_access(
    org: &Org,
    user: &OrgUser,
    object: &ObjectDef,
    record: &Record,
    lookup: &dyn RecordLookup,
    depth: usize,
) -> Access {
    if object.sharing_default == OrgWideDefault::ControlledByParent {
        return match parent_of(object, record, lookup) {
            ParentState::Found(parent) if depth < MAX_PARENT_DEPTH => {
                record_access_at(org, user, parent, lookup, depth + 1)
            }
            ParentState::Found(_) | ParentState::Missing => Access::None,
            // A private child: its owner's alone; the role hierarchy does not open it.
            ParentState::NoParent if record.owner_id == user.id => Access::Edit,
            ParentState::NoParent => Access::None,
        };
    }
    if owns_or_manages(org, user, &record.owner_id) {
        return Access::Edit;
    }
    let mut access = match object.sharing_default {
        OrgWideDefault::PublicReadWrite => Access::Edit,
        OrgWideDefault::PublicReadOnly => Access::Read,
        OrgWideDefault::Private | OrgWideDefault::ControlledByParent => Access::None,
    };
    let owner = org.user(&record.owner_id);
    for rule in org
        .sharing_rules
        .iter()
        .filter(|r| r.object == object.api_name)
    {
        let selects = match &rule.kind {
            SharingRuleKind::OwnerBased { owned_by } => {
                owner.is_some_and(|o| is_member(org, o, owned_by))
            }
            SharingRuleKind::CriteriaBased { field, equals } => {
                record.fields.get(field) == Some(equals)
            }
        };
        if selects && reaches(org, user, &rule.share_with) {
            access = access.max(rule.access.into());
        }
    }
    for share in org
        .manual_shares
        .iter()
        .filter(|s| s.record_id == record.id)
    {
        let reached = match &share.share_with {
            ManualShareTarget::User(id) => {
                &user.id == id || org.user(id).is_some_and(|u| is_above(org, user, u))
            }
            ManualShareTarget::Group(g) => reaches(org, user, &ShareTarget::Group(g.clone())),
        };
        if reached {
            access = access.max(share.access.into());
        }
    }
    access
}

/// Full access (what delete needs): modify all, or delete permission with ownership or a role
/// above the owner; on a controlled-by-parent child, full access to the parent ("the same
/// action on the parent").
fn has_full_access(
    org: &Org,
    user: &OrgUser,
    record: &Record,
    lookup: &dyn RecordLookup,
    depth: usize,
) -> bool {
    let Some(object) = org.object(&record.object) else {
        return false;
    };
    let perms = object_permissions(org, user, &object.api_name);
    match &user.kind {
        UserKind::Customer { contact_id } => perms.delete && is_linked(object, record, contact_id),
        UserKind::Internal if perms.modify_all => true,
        UserKind::Internal if object.sharing_default == OrgWideDefault::ControlledByParent => {
            match parent_of(object, record, lookup) {
                ParentState::Found(parent) if depth < MAX_PARENT_DEPTH => {
                    has_full_access(org, user, parent, lookup, depth + 1)
                }
                ParentState::Found(_) | ParentState::Missing => false,
                ParentState::NoParent => record.owner_id == user.id,
            }
        }
        UserKind::Internal => perms.delete && owns_or_manages(org, user, &record.owner_id),
    }
}

enum ParentState<'a> {
    Found(&'a Record),
    /// The reference is set but unreadable or not found: grants nothing.
    Missing,
    NoParent,
}

fn parent_of<'a>(
    object: &ObjectDef,
    record: &Record,
    lookup: &'a dyn RecordLookup,
) -> ParentState<'a> {
    let Some(parent) = &object.parent else {
        return ParentState::NoParent;
    };
    match record.fields.get(&parent.field) {
        None | Some(serde_json::Value::Null) => ParentState::NoParent,
        Some(value) => {
            let found = value
                .as_str()
                .and_then(|s| RecordId::parse(s).ok())
                .and_then(|id| lookup.record(&id))
                .filter(|p| p.object == parent.object);
            found.map_or(ParentState::Missing, ParentState::Found)
        }
    }
}

fn is_linked(object: &ObjectDef, record: &Record, contact_id: &RecordId) -> bool {
    match object.customer_link.as_deref() {
        None => false,
        Some("Id") => &record.id == contact_id,
        Some(field) => record
            .fields
            .get(field)
            .and_then(serde_json::Value::as_str)
            .and_then(|s| RecordId::parse(s).ok())
            .is_some_and(|id| &id == contact_id),
    }
}

pub(crate) fn owns_or_manages(org: &Org, user: &OrgUser, owner_id: &UserId) -> bool {
    &user.id == owner_id
        || org
            .user(owner_id)
            .is_some_and(|owner| is_above(org, user, owner))
}

/// Whether `user`'s role is strictly above `other`'s role.
pub(crate) fn is_above(org: &Org, user: &OrgUser, other: &OrgUser) -> bool {
    match (&user.role, &other.role) {
        (Some(mine), Some(theirs)) => is_strict_ancestor(org, mine, theirs),
        _ => false,
    }
}

fn is_strict_ancestor(org: &Org, ancestor: &RoleId, role: &RoleId) -> bool {
    let mut current = org.role(role).and_then(|r| r.parent.as_ref());
    // Bounded walk: a cyclic hierarchy in bad data must not loop.
    for _ in 0..=org.roles.len() {
        match current {
            Some(id) if id == ancestor => return true,
            Some(id) => current = org.role(id).and_then(|r| r.parent.as_ref()),
            None => return false,
        }
    }
    false
}

fn in_role_or_below(org: &Org, role: Option<&RoleId>, top: &RoleId) -> bool {
    role.is_some_and(|r| r == top || is_strict_ancestor(org, top, r))
}

/// Membership without the hierarchy (who a rule's `owned_by` selects).
pub(crate) fn is_member(org: &Org, user: &OrgUser, target: &ShareTarget) -> bool {
    match target {
        ShareTarget::Role(r) => user.role.as_ref() == Some(r),
        ShareTarget::RoleAndSubordinates(r) => in_role_or_below(org, user.role.as_ref(), r),
        ShareTarget::Group(g) => user.groups.contains(g),
    }
}

/// Whether a share to `target` reaches `user`: members, plus everyone above a member's role.
pub(crate) fn reaches(org: &Org, user: &OrgUser, target: &ShareTarget) -> bool {
    if is_member(org, user, target) {
        return true;
    }
    let Some(mine) = &user.role else {
        return false;
    };
    match target {
        ShareTarget::Role(r) | ShareTarget::RoleAndSubordinates(r) => {
            is_strict_ancestor(org, mine, r)
        }
        ShareTarget::Group(g) => org
            .users
            .iter()
            .filter(|m| m.groups.contains(g))
            .any(|m| is_above(org, user, m)),
    }
}

fn known_object<'a>(org: &'a Org, object: &str) -> Result<&'a ObjectDef, AccessDenied> {
    org.object(object)
        .ok_or_else(|| AccessDenied::UnknownObject {
            object: object.to_owned(),
        })
}

fn require_permission(
    org: &Org,
    user: &OrgUser,
    object: &ObjectDef,
    permission: &'static str,
    has: impl Fn(&ObjectPermissions) -> bool,
) -> Result<(), AccessDenied> {
    if has(&object_permissions(org, user, &object.api_name)) {
        Ok(())
    } else {
        Err(AccessDenied::MissingObjectPermission {
            object: object.api_name.clone(),
            permission,
        })
    }
}

fn check_fields_editable<'a>(
    org: &Org,
    user: &OrgUser,
    object: &ObjectDef,
    fields: impl Iterator<Item = &'a String>,
) -> Result<(), AccessDenied> {
    for field in fields {
        if object.field(field).is_none() {
            return Err(AccessDenied::UnknownField {
                object: object.api_name.clone(),
                field: field.clone(),
            });
        }
        if !field_access(org, user, &object.api_name, field).edit {
            return Err(AccessDenied::FieldNotEditable {
                object: object.api_name.clone(),
                field: field.clone(),
            });
        }
    }
    Ok(())
}

fn require_linked(
    object: &ObjectDef,
    record: &Record,
    contact_id: &RecordId,
) -> Result<(), AccessDenied> {
    if is_linked(object, record, contact_id) {
        Ok(())
    } else {
        Err(AccessDenied::CustomerLinkRequired {
            object: object.api_name.clone(),
        })
    }
}

/// A controlled-by-parent child may only point at a parent the user can see. On update only a
/// changed parent reference is checked (`changes`), on create any set one.
fn check_parent_visible(
    org: &Org,
    user: &OrgUser,
    object: &ObjectDef,
    record: &Record,
    lookup: &dyn RecordLookup,
    changes: Option<&BTreeMap<String, serde_json::Value>>,
) -> Result<(), AccessDenied> {
    let Some(parent) = object
        .parent
        .as_ref()
        .filter(|_| object.sharing_default == OrgWideDefault::ControlledByParent)
    else {
        return Ok(());
    };
    if changes.is_some_and(|c| !c.contains_key(&parent.field)) {
        return Ok(());
    }
    let visible = match parent_of(object, record, lookup) {
        ParentState::NoParent => true,
        ParentState::Missing => false,
        ParentState::Found(p) => record_access(org, user, p, lookup) >= Access::Read,
    };
    if visible {
        Ok(())
    } else {
        Err(AccessDenied::ParentNotAccessible {
            object: object.api_name.clone(),
            field: parent.field.clone(),
        })
    }
}
