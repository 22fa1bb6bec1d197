//! Record visibility as a database filter: for one user and one object, "nothing",
//! "everything", or the grounds on which a record is visible (owners, shared ids, criteria,
//! the customer link). A storage engine applies it as a plain filter with bound values.
//!
//! The derivation asks the reference evaluator itself, on probe records, instead of
//! re-implementing hierarchy and sharing: a probe with a given owner, no fields and an id no
//! manual share names is visible exactly when ownership, the role hierarchy or an owner-based
//! rule opens that owner's records; a probe owned by nobody with one field set is visible
//! exactly when a criteria-based rule on that value reaches the user; and so on. A record is
//! visible when any of these grounds holds. The probing is O(users) per call; a direct walk
//! can replace it, with the store's property test as the judge.
//!
//! Not yet supported: objects whose default is Controlled by Parent, for internal users without
//! view all / modify all (their access follows the parent record, which this filter does not
//! express); [`visibility_for`] refuses them with [`VisibilityError::ControlledByParent`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as JsonValue;

use crate::{
    Access, NoRecords, Org, OrgUser, OrgWideDefault, Record, RecordId, SharingRuleKind, UserId,
    UserKind, object_permissions, record_access,
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
}

/// The link field of an object that ties its records to a customer's contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub field: String,
    pub contact_id: RecordId,
}

/// Why no filter can be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisibilityError {
    #[error(
        "object `{object}` is controlled by its parent; user-mode reads of it are not supported yet"
    )]
    ControlledByParent { object: String },
    #[error("no record id is free for an access probe")]
    NoProbeId,
}

/// Derives the database filter for `user` reading `object`, exactly equivalent to
/// `record_access(org, user, record, _) != Access::None` for every record of the object.
pub fn visibility_for(
    org: &Org,
    user: &OrgUser,
    object: &str,
) -> Result<Visibility, VisibilityError> {
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
        return Err(VisibilityError::ControlledByParent {
            object: object.to_owned(),
        });
    }
    let probes = Probes::new(org, user, object).ok_or(VisibilityError::NoProbeId)?;
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
