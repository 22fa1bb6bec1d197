//! `visibility_for`, the sharing filter a store runs in SQL: its shape for the classic cases,
//! and, over random orgs, an in-memory reading of it (what the SQL renderings do) that agrees
//! with `record_access` on every record, controlled-by-parent chains included.

use std::collections::BTreeMap;

use heddle_records::{
    Access, CustomerLink, DataClassification, FieldDef, FieldType, GroupId, ManualShare,
    ManualShareTarget, ObjectDef, ObjectPermissions, Org, OrgUser, OrgWideDefault, ParentGround,
    ParentRef, PermissionSet, PermissionSetId, Record, RecordId, Restriction, Role, RoleId,
    ShareAccess, ShareTarget, SharingRule, SharingRuleKind, UserId, UserKind, Visibility,
    builtin_objects, record_access, visibility_for,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::fixture::{demo, id};

/// Whether `record` matches `visibility`, reading every ground as the SQL renderings do;
/// parents are looked up in `all`.
fn matches(visibility: &Visibility, record: &Record, all: &[Record]) -> bool {
    let restriction = match visibility {
        Visibility::None => return false,
        Visibility::All => return true,
        Visibility::Restricted(restriction) => restriction,
    };
    let reference = |field: &str| {
        record
            .fields
            .get(field)
            .and_then(Value::as_str)
            .and_then(|s| RecordId::parse(s).ok())
    };
    restriction.owners.contains(&record.owner_id.0)
        || restriction
            .shared_ids
            .iter()
            .any(|id| id == record.id.as_str())
        || restriction
            .criteria
            .iter()
            .any(|(field, value)| record.fields.get(field) == Some(value))
        || restriction
            .customer_link
            .as_ref()
            .is_some_and(|link| reference(&link.field).as_ref() == Some(&link.contact_id))
        || restriction.parent.as_ref().is_some_and(|parent| {
            match record.fields.get(&parent.field) {
                None | Some(Value::Null) => parent.orphan_owners.contains(&record.owner_id.0),
                Some(_) => reference(&parent.field)
                    .and_then(|id| all.iter().find(|r| r.id == id))
                    .filter(|p| p.object == parent.object)
                    .is_some_and(|p| matches(&parent.parents, p, all)),
            }
        })
}

fn owners(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

fn restricted(restriction: Restriction) -> Visibility {
    Visibility::Restricted(restriction)
}

#[test]
fn the_filter_of_the_demo_org() {
    let demo = demo();
    let visibility = |user: &str, object: &str| visibility_for(&demo.org, demo.user(user), object);
    let account_of = |ids: &[&str]| {
        restricted(Restriction {
            owners: owners(ids),
            ..Restriction::default()
        })
    };
    // `me`: a contact without an account is its owner's alone.
    let contact_of = |ids: &[&str], me: &str| {
        restricted(Restriction {
            parent: Some(ParentGround {
                field: "AccountId".to_owned(),
                object: "Account".to_owned(),
                parents: Box::new(account_of(ids)),
                orphan_owners: owners(&[me]),
            }),
            ..Restriction::default()
        })
    };
    // A rep: their own records; the VP: theirs and those of the roles below.
    assert_eq!(visibility("rep_a", "Account"), account_of(&["rep_a"]));
    assert_eq!(
        visibility("rep_a", "Contact"),
        contact_of(&["rep_a"], "rep_a")
    );
    let vp = ["no_access", "rep_a", "rep_b", "vp"];
    assert_eq!(visibility("vp", "Contact"), contact_of(&vp, "vp"));
    // No object read, or an unknown object: nothing.
    assert_eq!(visibility("no_access", "Account"), Visibility::None);
    assert_eq!(visibility("rep_a", "Nope"), Visibility::None);
    // Customers: the link only, whatever they own.
    let contact = id("003", 1);
    assert_eq!(
        visibility("cust_1", "Contact"),
        restricted(Restriction {
            shared_ids: vec![contact.as_str().to_owned()],
            ..Restriction::default()
        })
    );
    assert_eq!(
        visibility("cust_1", "Case"),
        restricted(Restriction {
            customer_link: Some(CustomerLink {
                field: "ContactId".to_owned(),
                contact_id: contact,
            }),
            ..Restriction::default()
        })
    );
    assert_eq!(visibility("cust_1", "Account"), Visibility::None);
}

#[test]
fn defaults_view_all_and_rules_shape_the_filter() {
    let mut demo = demo();
    for object in &mut demo.org.objects {
        if object.api_name == "Lead" {
            object.sharing_default = OrgWideDefault::PublicReadOnly;
        }
    }
    let all_accounts = ObjectPermissions {
        read: true,
        view_all: true,
        ..ObjectPermissions::default()
    };
    demo.org.permission_sets.push(PermissionSet {
        id: PermissionSetId::new("auditor"),
        objects: BTreeMap::from([("Account".to_owned(), all_accounts)]),
        fields: BTreeMap::new(),
    });
    let mut auditor = demo.user("rep_b").clone();
    auditor.id = UserId::new("auditor");
    auditor
        .permission_sets
        .push(PermissionSetId::new("auditor"));
    demo.org.users.push(auditor.clone());
    demo.org.sharing_rules.push(SharingRule {
        object: "Account".to_owned(),
        kind: SharingRuleKind::CriteriaBased {
            field: "Industry".to_owned(),
            equals: json!("Retail"),
        },
        share_with: ShareTarget::Role(RoleId::new("sales_rep")),
        access: ShareAccess::Read,
    });
    demo.org.sharing_rules.push(SharingRule {
        object: "Account".to_owned(),
        kind: SharingRuleKind::OwnerBased {
            owned_by: ShareTarget::Role(RoleId::new("support_agent")),
        },
        share_with: ShareTarget::Group(GroupId::new("marketing")),
        access: ShareAccess::Read,
    });
    let acme = demo.record("Acme").id.clone();
    demo.org.manual_shares.push(ManualShare {
        record_id: acme.clone(),
        share_with: ManualShareTarget::User(UserId::new("rep_b")),
        access: ShareAccess::Read,
    });
    let org = &demo.org;
    assert_eq!(
        visibility_for(org, demo.user("agent"), "Lead"),
        Visibility::All
    );
    assert_eq!(visibility_for(org, &auditor, "Account"), Visibility::All);
    // View all on the parent opens every contact that names an account.
    let Visibility::Restricted(contacts) = visibility_for(org, &auditor, "Contact") else {
        panic!("contacts of the auditor are restricted");
    };
    assert_eq!(contacts.parent.unwrap().parents, Box::new(Visibility::All));
    // The criteria rule reaches the reps, the manual share rep_b and, up the hierarchy, the
    // VP; the owner rule reaches the marketer's group.
    let rule = ("Industry".to_owned(), json!("Retail"));
    assert_eq!(
        visibility_for(org, demo.user("rep_b"), "Account"),
        restricted(Restriction {
            owners: owners(&["rep_b"]),
            shared_ids: vec![acme.as_str().to_owned()],
            criteria: vec![rule.clone()],
            ..Restriction::default()
        })
    );
    let Visibility::Restricted(vp) = visibility_for(org, demo.user("vp"), "Account") else {
        panic!("accounts of the VP are restricted");
    };
    assert_eq!((vp.shared_ids.len(), vp.criteria), (1, vec![rule]));
    assert_eq!(
        visibility_for(org, demo.user("marketer"), "Account"),
        restricted(Restriction {
            owners: owners(&["agent", "marketer"]),
            ..Restriction::default()
        })
    );
}

#[test]
fn chains_deeper_than_followed_open_only_parentless_records() {
    let mut org = demo().org;
    org.objects.push(part_object());
    for profile in &mut org.profiles {
        profile
            .objects
            .insert("Part".to_owned(), ObjectPermissions::default().union(READ));
    }
    let mut depth = 0;
    let mut visibility = visibility_for(&org, &org.users[2], "Part");
    while let Visibility::Restricted(Restriction {
        parent: Some(parent),
        ..
    }) = visibility
    {
        depth += 1;
        visibility = *parent.parents;
    }
    assert_eq!(depth, heddle_records::access::MAX_PARENT_DEPTH + 1);
    assert_eq!(visibility, Visibility::None);
}

const READ: ObjectPermissions = ObjectPermissions {
    read: true,
    create: false,
    edit: false,
    delete: false,
    view_all: false,
    modify_all: false,
};

/// An object controlled by a parent of its own kind, so chains can be as deep as wanted.
fn part_object() -> ObjectDef {
    ObjectDef {
        api_name: "Part".to_owned(),
        label: "Part".to_owned(),
        key_prefix: "a00".to_owned(),
        sharing_default: OrgWideDefault::ControlledByParent,
        parent: Some(ParentRef {
            field: "ParentId".to_owned(),
            object: "Part".to_owned(),
        }),
        customer_link: None,
        fields: vec![FieldDef {
            api_name: "ParentId".to_owned(),
            label: "Parent".to_owned(),
            field_type: FieldType::Reference {
                to: "Part".to_owned(),
            },
            classification: DataClassification::Internal,
            required: false,
        }],
    }
}

const OBJECTS: [&str; 4] = ["Account", "Contact", "Case", "Part"];

fn perms(bits: u8) -> ObjectPermissions {
    ObjectPermissions {
        read: bits & 3 != 0,
        create: false,
        edit: bits & 4 != 0,
        delete: false,
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

/// A reference to `to` in one of the forms the parse accepts or rejects.
fn reference(to: &RecordId, form: u8) -> Value {
    let canonical = to.as_str();
    match form % 9 {
        0 | 1 => json!(canonical),
        2 => json!(to.to_15()),
        3 => json!(canonical.to_ascii_lowercase()),
        4 => json!(canonical.to_ascii_uppercase()),
        5 => json!(format!("{}ZZZ", to.to_15())),
        6 => Value::Null,
        7 => json!(7),
        _ => json!(id("001", 999_999).as_str()),
    }
}

#[derive(Debug, Clone)]
struct World {
    org: Org,
    records: Vec<Record>,
}

type UserSpec = (Option<u8>, u8, Option<u8>, [u8; 4]);
type RecordSpec = (u8, u8, u8, Option<u8>, u8);
type RuleSpec = (u8, bool, u8, u8, u8);

fn build(
    role_parents: Vec<Option<u8>>,
    users: Vec<UserSpec>,
    account_owd: u8,
    records: Vec<RecordSpec>,
    rules: Vec<RuleSpec>,
    shares: Vec<(u8, u8)>,
) -> World {
    let roles: Vec<Role> = role_parents
        .iter()
        .enumerate()
        .map(|(i, parent)| Role {
            id: RoleId::new(format!("r{i}")),
            parent: parent
                .filter(|_| i > 0)
                .map(|p| RoleId::new(format!("r{}", usize::from(p) % i))),
        })
        .collect();
    let n_roles = roles.len();
    // Duplicate user ids happen: the first entry is the one that counts.
    let user_id = |n: u8| UserId::new(format!("u{}", n % 7));
    let mut profiles = Vec::new();
    let mut org_users = Vec::new();
    for (i, (role, groups, customer, bits)) in users.into_iter().enumerate() {
        profiles.push(PermissionSet {
            id: PermissionSetId::new(format!("p{i}")),
            objects: OBJECTS
                .iter()
                .zip(bits)
                .map(|(o, b)| ((*o).to_owned(), perms(b)))
                .collect(),
            fields: BTreeMap::new(),
        });
        org_users.push(OrgUser {
            id: user_id(u8::try_from(i).unwrap_or(0).wrapping_add(groups / 64)),
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
                    contact_id: id("003", u64::from(c % 3)),
                },
                None => UserKind::Internal,
            },
        });
    }
    let prefix = |kind: usize| ["001", "003", "500", "a00"][kind];
    let kinds: Vec<usize> = records
        .iter()
        .map(|r| usize::from(r.0) % OBJECTS.len())
        .collect();
    let ids: Vec<RecordId> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| id(prefix(*kind), 3_000_000_000_000_000_000 + i as u64))
        .collect();
    let mut out = Vec::new();
    for (i, (_, owner, value, target, form)) in records.into_iter().enumerate() {
        let kind = kinds[i];
        let mut fields = BTreeMap::new();
        let pick = |wanted: usize| {
            let pool: Vec<&RecordId> = ids
                .iter()
                .zip(&kinds)
                .filter(|(_, k)| **k == wanted)
                .map(|(id, _)| id)
                .collect();
            target.and_then(|t| pool.get(usize::from(t) % pool.len().max(1)).copied())
        };
        match OBJECTS[kind] {
            "Account" => {
                fields.insert(
                    "Industry".to_owned(),
                    json!(["Retail", "Tech"][usize::from(value % 2)]),
                );
            }
            "Contact" => {
                fields.insert("LastName".to_owned(), json!(format!("L{}", value % 2)));
                if let Some(account) = pick(0) {
                    fields.insert("AccountId".to_owned(), reference(account, form));
                }
            }
            "Case" => {
                fields.insert(
                    "Status".to_owned(),
                    json!(["New", "Closed"][usize::from(value % 2)]),
                );
                if let Some(contact) = pick(1) {
                    fields.insert("ContactId".to_owned(), reference(contact, form));
                }
            }
            _ => {
                // Mostly the previous part, so that chains grow past the depth followed.
                let previous = (0..i).rev().find(|j| kinds[*j] == kind).map(|j| &ids[j]);
                let parent = match previous {
                    Some(p) if form % 8 != 0 => Some(json!(p.as_str())),
                    _ => pick(3).map(|p| reference(p, form / 8)),
                };
                if let Some(parent) = parent {
                    fields.insert("ParentId".to_owned(), parent);
                }
            }
        }
        out.push(Record {
            id: ids[i].clone(),
            object: OBJECTS[kind].to_owned(),
            owner_id: user_id(owner),
            fields,
        });
    }
    let mut objects = builtin_objects();
    for object in &mut objects {
        if object.api_name == "Account" {
            object.sharing_default = [
                OrgWideDefault::Private,
                OrgWideDefault::Private,
                OrgWideDefault::PublicReadOnly,
                OrgWideDefault::PublicReadWrite,
            ][usize::from(account_owd % 4)];
        }
    }
    objects.push(part_object());
    let sharing_rules = rules
        .into_iter()
        .map(|(on, criteria, a, b, c)| {
            let object = ["Account", "Case", "Contact"][usize::from(on % 3)];
            let kind = if criteria {
                let (field, values) = match object {
                    "Account" => ("Industry", ["Retail", "Tech"]),
                    "Case" => ("Status", ["New", "Closed"]),
                    _ => ("LastName", ["L0", "L1"]),
                };
                SharingRuleKind::CriteriaBased {
                    field: field.to_owned(),
                    equals: json!(values[usize::from(a % 2)]),
                }
            } else {
                SharingRuleKind::OwnerBased {
                    owned_by: target(a, b, n_roles),
                }
            };
            SharingRule {
                object: object.to_owned(),
                kind,
                share_with: target(c, b.wrapping_add(c), n_roles),
                access: ShareAccess::Read,
            }
        })
        .collect();
    let manual_shares = shares
        .into_iter()
        .filter(|_| !out.is_empty())
        .map(|(r, t)| ManualShare {
            record_id: out[usize::from(r) % out.len()].id.clone(),
            share_with: if t % 3 == 0 {
                ManualShareTarget::Group(GroupId::new(format!("g{}", t % 2)))
            } else {
                ManualShareTarget::User(user_id(t))
            },
            access: ShareAccess::ReadWrite,
        })
        .collect();
    World {
        org: Org {
            users: org_users,
            roles,
            profiles,
            permission_sets: Vec::new(),
            sharing_rules,
            manual_shares,
            objects,
        },
        records: out,
    }
}

prop_compose! {
    fn world()(
        role_parents in prop::collection::vec(prop::option::of(any::<u8>()), 0..5),
        users in prop::collection::vec(
            (prop::option::of(any::<u8>()), any::<u8>(), prop::option::weighted(0.2, any::<u8>()), any::<[u8; 4]>()),
            1..8,
        ),
        account_owd in any::<u8>(),
        records in prop::collection::vec(
            (any::<u8>(), any::<u8>(), any::<u8>(), prop::option::weighted(0.9, any::<u8>()), any::<u8>()),
            1..80,
        ),
        rules in prop::collection::vec((any::<u8>(), any::<bool>(), any::<u8>(), any::<u8>(), any::<u8>()), 0..4),
        shares in prop::collection::vec((any::<u8>(), any::<u8>()), 0..4),
    ) -> World {
        build(role_parents, users, account_owd, records, rules, shares)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_filter_matches_exactly_the_records_the_evaluator_opens(world in world()) {
        for user in &world.org.users {
            for object in OBJECTS {
                let visibility = visibility_for(&world.org, user, object);
                for record in world.records.iter().filter(|r| r.object == object) {
                    let access = record_access(&world.org, user, record, &world.records);
                    prop_assert_eq!(
                        matches(&visibility, record, &world.records),
                        access != Access::None,
                        "user {} on {} ({:?}): {:?}", user.id, record.id, record.fields, visibility
                    );
                }
            }
        }
    }
}
