//! Invariants over random small orgs: access never exceeds object CRUD, a customer never sees
//! an unlinked record, more sharing never means less access, FLS stripping is a partition,
//! and the write checks agree with record access.

use std::collections::BTreeMap;

use heddle_records::{
    Access, FieldPermissions, GroupId, ManualShare, ManualShareTarget, ObjectPermissions, Org,
    OrgUser, OrgWideDefault, PermissionSet, PermissionSetId, Record, RecordId, Role, RoleId,
    ShareAccess, ShareTarget, SharingRule, SharingRuleKind, UserId, UserKind, builtin_objects,
    check_delete, check_update, field_access, object_permissions, record_access,
    strip_inaccessible,
};
use proptest::prelude::*;
use serde_json::json;

use crate::fixture::id;

const OBJECTS: [&str; 3] = ["Account", "Contact", "Case"];
const FIELDS: [(&str, &str); 6] = [
    ("Account", "Industry"),
    ("Account", "AnnualRevenue"),
    ("Contact", "Email"),
    ("Contact", "AccountId"),
    ("Case", "Status"),
    ("Case", "ContactId"),
];
const INDUSTRIES: [&str; 2] = ["Technology", "Retail"];

fn perms(bits: u8) -> ObjectPermissions {
    ObjectPermissions {
        read: bits & 1 != 0,
        create: bits & 2 != 0,
        edit: bits & 4 != 0,
        delete: bits & 8 != 0,
        // Rarer: only when both high bits are set.
        view_all: bits & 0x30 == 0x30,
        modify_all: bits & 0xC0 == 0xC0,
    }
}

fn target(kind: u8, n: u8, roles: usize) -> ShareTarget {
    let role = RoleId::new(format!("r{}", usize::from(n) % roles.max(1)));
    match kind % 3 {
        0 => ShareTarget::Role(role),
        1 => ShareTarget::RoleAndSubordinates(role),
        _ => ShareTarget::Group(GroupId::new(format!("g{}", n % 2))),
    }
}

fn rule(spec: (u8, u8, u8, u8, u8, u8), roles: usize) -> SharingRule {
    let (object, kind, a, b, c, access) = spec;
    let object = if object % 2 == 0 { "Account" } else { "Case" };
    let kind = if kind % 2 == 0 {
        SharingRuleKind::OwnerBased {
            owned_by: target(a, b, roles),
        }
    } else if object == "Account" {
        SharingRuleKind::CriteriaBased {
            field: "Industry".to_owned(),
            equals: json!(INDUSTRIES[usize::from(a % 2)]),
        }
    } else {
        SharingRuleKind::CriteriaBased {
            field: "Status".to_owned(),
            equals: json!(["New", "Closed"][usize::from(a % 2)]),
        }
    };
    SharingRule {
        object: object.to_owned(),
        kind,
        share_with: target(c, b.wrapping_add(c), roles),
        access: if access % 2 == 0 {
            ShareAccess::Read
        } else {
            ShareAccess::ReadWrite
        },
    }
}

#[derive(Debug, Clone)]
struct World {
    org: Org,
    records: Vec<Record>,
}

type UserSpec = (Option<u8>, u8, Option<u8>, [u8; 3], [u8; 6]);
type RuleSpec = (u8, u8, u8, u8, u8, u8);

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per generated part of the org"
)]
fn build(
    role_parents: Vec<Option<u8>>,
    users: Vec<UserSpec>,
    account_owd: u8,
    accounts: Vec<(u8, u8)>,
    contacts: [(u8, Option<u8>); 2],
    cases: Vec<(u8, Option<u8>, bool)>,
    rules: Vec<RuleSpec>,
    shares: Vec<(u8, u8, bool)>,
) -> World {
    let roles: Vec<Role> = role_parents
        .iter()
        .enumerate()
        .map(|(i, parent)| Role {
            id: RoleId::new(format!("r{i}")),
            // Parents point at earlier roles, so the hierarchy is a forest.
            parent: parent
                .filter(|_| i > 0)
                .map(|p| RoleId::new(format!("r{}", usize::from(p) % i))),
        })
        .collect();
    let n_roles = roles.len();
    let n_users = users.len();
    let mut profiles = Vec::new();
    let mut org_users = Vec::new();
    for (i, (role, groups, customer, object_bits, field_bits)) in users.into_iter().enumerate() {
        let objects = OBJECTS
            .iter()
            .zip(object_bits)
            .map(|(o, b)| ((*o).to_owned(), perms(b)))
            .collect();
        let mut fields: BTreeMap<String, BTreeMap<String, FieldPermissions>> = BTreeMap::new();
        for ((object, field), bits) in FIELDS.iter().zip(field_bits) {
            fields.entry((*object).to_owned()).or_default().insert(
                (*field).to_owned(),
                FieldPermissions {
                    read: bits & 1 != 0,
                    edit: bits & 2 != 0,
                },
            );
        }
        profiles.push(PermissionSet {
            id: PermissionSetId::new(format!("p{i}")),
            objects,
            fields,
        });
        org_users.push(OrgUser {
            id: UserId::new(format!("u{i}")),
            role: role
                .filter(|_| n_roles > 0)
                .map(|r| RoleId::new(format!("r{}", usize::from(r) % n_roles))),
            profile: PermissionSetId::new(format!("p{i}")),
            permission_sets: Vec::new(),
            groups: (0..2)
                .filter(|g| groups & (1 << g) != 0)
                .map(|g| GroupId::new(format!("g{g}")))
                .collect(),
            kind: match customer {
                Some(c) => UserKind::Customer {
                    contact_id: id("003", u64::from(c % 2)),
                },
                None => UserKind::Internal,
            },
        });
    }
    let owner = |n: u8| UserId::new(format!("u{}", usize::from(n) % n_users));
    let mut records = Vec::new();
    for (i, (own, industry)) in accounts.iter().enumerate() {
        records.push(Record {
            id: id("001", i as u64),
            object: "Account".to_owned(),
            owner_id: owner(*own),
            fields: [
                ("Name".to_owned(), json!(format!("A{i}"))),
                (
                    "Industry".to_owned(),
                    json!(INDUSTRIES[usize::from(industry % 2)]),
                ),
                ("AnnualRevenue".to_owned(), json!(i * 1000)),
            ]
            .into_iter()
            .collect(),
        });
    }
    for (i, (own, account)) in contacts.iter().enumerate() {
        let mut fields = BTreeMap::from([
            ("LastName".to_owned(), json!(format!("C{i}"))),
            ("Email".to_owned(), json!("x@example.com")),
        ]);
        if let Some(a) = account {
            fields.insert(
                "AccountId".to_owned(),
                json!(id("001", u64::from(*a) % accounts.len() as u64).as_str()),
            );
        }
        records.push(Record {
            id: id("003", i as u64),
            object: "Contact".to_owned(),
            owner_id: owner(*own),
            fields,
        });
    }
    for (i, (own, contact, closed)) in cases.iter().enumerate() {
        let mut fields = BTreeMap::from([
            ("Subject".to_owned(), json!(format!("S{i}"))),
            (
                "Status".to_owned(),
                json!(if *closed { "Closed" } else { "New" }),
            ),
        ]);
        if let Some(c) = contact {
            fields.insert(
                "ContactId".to_owned(),
                json!(id("003", u64::from(c % 2)).as_str()),
            );
        }
        records.push(Record {
            id: id("500", i as u64),
            object: "Case".to_owned(),
            owner_id: owner(*own),
            fields,
        });
    }
    let mut objects = builtin_objects();
    for object in &mut objects {
        if object.api_name == "Account" {
            object.sharing_default = [
                OrgWideDefault::Private,
                OrgWideDefault::PublicReadOnly,
                OrgWideDefault::PublicReadWrite,
            ][usize::from(account_owd % 3)];
        }
    }
    let manual_shares = shares
        .iter()
        .map(|(r, t, write)| ManualShare {
            record_id: records[usize::from(*r) % records.len()].id.clone(),
            share_with: if t % 3 == 0 {
                ManualShareTarget::Group(GroupId::new(format!("g{}", t % 2)))
            } else {
                ManualShareTarget::User(owner(*t))
            },
            access: if *write {
                ShareAccess::ReadWrite
            } else {
                ShareAccess::Read
            },
        })
        .collect();
    let org = Org {
        users: org_users,
        roles,
        profiles,
        permission_sets: Vec::new(),
        sharing_rules: rules.into_iter().map(|r| rule(r, n_roles)).collect(),
        manual_shares,
        objects,
    };
    World { org, records }
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
    )
}

prop_compose! {
    fn world()(
        role_parents in prop::collection::vec(prop::option::of(any::<u8>()), 0..5),
        users in prop::collection::vec(
            (prop::option::of(any::<u8>()), any::<u8>(), prop::option::weighted(0.25, any::<u8>()), any::<[u8; 3]>(), any::<[u8; 6]>()),
            1..7,
        ),
        account_owd in any::<u8>(),
        accounts in prop::collection::vec((any::<u8>(), any::<u8>()), 1..5),
        contacts in any::<[(u8, Option<u8>); 2]>(),
        cases in prop::collection::vec((any::<u8>(), prop::option::of(any::<u8>()), any::<bool>()), 0..5),
        rules in prop::collection::vec(rule_spec(), 0..4),
        shares in prop::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..3),
    ) -> World {
        build(role_parents, users, account_owd, accounts, contacts, cases, rules, shares)
    }
}

fn all_access(world: &World) -> Vec<Access> {
    let mut out = Vec::new();
    for user in &world.org.users {
        for record in &world.records {
            out.push(record_access(&world.org, user, record, &world.records));
        }
    }
    out
}

fn is_linked(user: &OrgUser, record: &Record) -> bool {
    let UserKind::Customer { contact_id } = &user.kind else {
        return true;
    };
    match record.object.as_str() {
        "Contact" => &record.id == contact_id,
        "Case" => record.fields.get("ContactId") == Some(&json!(contact_id.as_str())),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn access_respects_crud_and_customer_links(world in world()) {
        for user in &world.org.users {
            for record in &world.records {
                let access = record_access(&world.org, user, record, &world.records);
                let crud = object_permissions(&world.org, user, &record.object);
                prop_assert!(crud.read || access == Access::None);
                prop_assert!(crud.edit || access <= Access::Read);
                prop_assert!(is_linked(user, record) || access == Access::None, "{} sees {}", user.id, record.id);
                if matches!(user.kind, UserKind::Customer { .. }) && is_linked(user, record) && crud.read {
                    prop_assert!(access >= Access::Read);
                }
                // Owners of shared (non-parent-controlled) records always see them.
                if user.kind == UserKind::Internal && record.owner_id == user.id && record.object != "Contact" && crud.read {
                    prop_assert!(access >= Access::Read);
                }
                let empty = BTreeMap::new();
                let update = check_update(&world.org, user, record, &empty, &world.records);
                prop_assert_eq!(update.is_ok(), crud.edit && access == Access::Edit);
                if check_delete(&world.org, user, record, &world.records).is_ok() {
                    prop_assert!(crud.delete && access == Access::Edit);
                }
            }
        }
    }

    #[test]
    fn more_sharing_never_reduces_access(world in world(), extra in rule_spec(), share in (any::<u8>(), any::<u8>(), any::<bool>())) {
        let before = all_access(&world);
        let mut wider = world.clone();
        wider.org.sharing_rules.push(rule(extra, wider.org.roles.len()));
        let (r, t, write) = share;
        wider.org.manual_shares.push(ManualShare {
            record_id: wider.records[usize::from(r) % wider.records.len()].id.clone(),
            share_with: ManualShareTarget::User(wider.org.users[usize::from(t) % wider.org.users.len()].id.clone()),
            access: if write { ShareAccess::ReadWrite } else { ShareAccess::Read },
        });
        let after = all_access(&wider);
        for (b, a) in before.iter().zip(&after) {
            prop_assert!(a >= b);
        }
    }

    #[test]
    fn stripping_partitions_fields_by_read_access(world in world()) {
        for user in &world.org.users {
            for record in &world.records {
                let (visible, removed) = strip_inaccessible(&world.org, user, record);
                prop_assert_eq!(visible.len() + removed.len(), record.fields.len());
                for name in visible.keys() {
                    prop_assert!(field_access(&world.org, user, &record.object, name).read);
                }
                for name in &removed {
                    prop_assert!(!field_access(&world.org, user, &record.object, name).read);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Grant access using hierarchies: with the same permissions, a user above another in the
    /// role hierarchy has at least their access to every record.
    #[test]
    fn managers_have_at_least_their_subordinates_access(world in world()) {
        let org = &world.org;
        for sub in org.users.iter().filter(|u| u.kind == UserKind::Internal) {
            for manager in org.users.iter().filter(|u| u.kind == UserKind::Internal && u.id != sub.id) {
                let above = match (&manager.role, &sub.role) {
                    (Some(m), Some(s)) => is_ancestor(org, m, s),
                    _ => false,
                };
                if !above {
                    continue;
                }
                let same_perms = OrgUser { profile: sub.profile.clone(), ..manager.clone() };
                for record in world.records.iter().filter(|r| !ends_in_private_child(org, r, &world.records)) {
                    let theirs = record_access(org, sub, record, &world.records);
                    let mine = record_access(org, &same_perms, record, &world.records);
                    prop_assert!(mine >= theirs, "{} above {} on {}", manager.id, sub.id, record.id);
                }
            }
        }
    }
}

/// The one exception to the hierarchy: a controlled-by-parent record without a parent (a
/// private contact), or one whose chain of parents ends in such a record, is its owner's alone.
fn ends_in_private_child(org: &Org, record: &Record, records: &[Record]) -> bool {
    let mut current = record;
    for _ in 0..=records.len() {
        let Some(def) = org.object(&current.object) else {
            return false;
        };
        let Some(parent) = def
            .parent
            .as_ref()
            .filter(|_| def.sharing_default == OrgWideDefault::ControlledByParent)
        else {
            return false;
        };
        let reference = match current.fields.get(&parent.field) {
            None | Some(serde_json::Value::Null) => return true,
            Some(value) => value.as_str().and_then(|s| RecordId::parse(s).ok()),
        };
        match reference.and_then(|id| records.iter().find(|r| r.id == id)) {
            Some(next) => current = next,
            None => return false,
        }
    }
    false
}

fn is_ancestor(org: &Org, ancestor: &RoleId, role: &RoleId) -> bool {
    let mut current = org.role(role).and_then(|r| r.parent.clone());
    while let Some(id) = current {
        if &id == ancestor {
            return true;
        }
        current = org.role(&id).and_then(|r| r.parent.clone());
    }
    false
}
