//! Records in user mode: the store's sharing filter (run in SQL) agrees with the pure reference
//! evaluator `heddle_records::record_access` record by record, and field maps equal
//! `strip_inaccessible`; plus table tests for the classic cases.

use std::collections::BTreeMap;

use heddle_records::{
    Access, FieldPermissions, GroupId, ManualShare, ManualShareTarget, NoRecords,
    ObjectPermissions, Org, OrgUser, OrgWideDefault, PermissionSet, PermissionSetId, Record,
    RecordId, Role, RoleId, ShareAccess, ShareTarget, SharingRule, SharingRuleKind, UserId,
    UserKind, builtin_objects, record_access, strip_inaccessible,
};
use heddle_store::{RecordQueryError, Store, VisibleRecord};
use heddle_types::TenantId;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sqlx::types::JsonValue;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    query_visible_matches_the_reference_evaluator,
    a_rep_sees_their_own_accounts_and_their_manager_sees_both,
    a_customer_sees_only_cases_linked_to_their_contact,
    controlled_by_parent_objects_are_refused_for_internal_users,
);

/// Random orgs checked per engine; each gets its own tenant in the test's database.
const CASES: usize = 24;
const INDUSTRIES: [&str; 2] = ["Technology", "Retail"];
const STATUSES: [&str; 2] = ["New", "Closed"];
const FIELDS: [(&str, &str); 6] = [
    ("Account", "Name"),
    ("Account", "Industry"),
    ("Account", "AnnualRevenue"),
    ("Case", "Subject"),
    ("Case", "Status"),
    ("Case", "ContactId"),
];

fn id(prefix: &str, n: u64) -> RecordId {
    RecordId::generate(prefix, n).unwrap()
}

/// A contact id with letters of both cases in its body, so the case-folded forms of it differ.
fn contact_id(n: u8) -> RecordId {
    id("003", 3_000_000_000_000_000_001 + u64::from(n % 2))
}

fn text(value: &str) -> JsonValue {
    JsonValue::from(value)
}

fn perms(bits: u8) -> ObjectPermissions {
    ObjectPermissions {
        read: bits & 1 != 0 || bits & 2 != 0,
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

/// The ways a case may name its contact: canonical, 15-character, folded to lower or upper
/// case (all parse to the contact), a broken checksum, a body with one letter's case flipped
/// and a non-string (none of which does).
fn link_value(contact: &RecordId, form: u8) -> JsonValue {
    let canonical = contact.as_str();
    match form % 7 {
        0 => text(canonical),
        1 => text(contact.to_15()),
        2 => text(&canonical.to_ascii_lowercase()),
        3 => text(&canonical.to_ascii_uppercase()),
        4 => text(&format!("{}ZZZ", contact.to_15())),
        5 => {
            let mut flipped = canonical.to_owned().into_bytes();
            if let Some(letter) = flipped.iter_mut().find(|b| b.is_ascii_alphabetic()) {
                *letter ^= 0x20;
            }
            text(&String::from_utf8(flipped).unwrap())
        }
        _ => JsonValue::from(7),
    }
}

type UserSpec = (Option<u8>, u8, Option<u8>, [u8; 2], [u8; 6]);
type RuleSpec = (bool, bool, u8, u8, u8, bool);
type RecordSpec = (u8, u8, Option<u8>, u8);

#[derive(Debug, Clone)]
struct World {
    org: Org,
    records: Vec<Record>,
}

fn build(
    role_parents: Vec<Option<u8>>,
    users: Vec<UserSpec>,
    records: Vec<(bool, RecordSpec)>,
    rules: Vec<RuleSpec>,
    shares: Vec<(u8, u8, bool)>,
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
    let n_users = users.len();
    let mut profiles = Vec::new();
    let mut org_users = Vec::new();
    for (i, (role, groups, customer, object_bits, field_bits)) in users.into_iter().enumerate() {
        let objects = ["Account", "Case"]
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
                    contact_id: contact_id(c),
                },
                None => UserKind::Internal,
            },
        });
    }
    // Owners include one id that is no user of the org.
    let owner = |n: u8| UserId::new(format!("u{}", usize::from(n) % (n_users + 1)));
    let mut out = Vec::new();
    for (i, (is_case, (own, value, contact, form))) in records.into_iter().enumerate() {
        let n = i as u64;
        let record = if is_case {
            let mut fields = BTreeMap::from([
                ("Subject".to_owned(), text(&format!("S{i}"))),
                ("Status".to_owned(), text(STATUSES[usize::from(value % 2)])),
            ]);
            if let Some(c) = contact {
                fields.insert("ContactId".to_owned(), link_value(&contact_id(c), form));
            }
            Record {
                id: id("500", n),
                object: "Case".to_owned(),
                owner_id: owner(own),
                fields,
            }
        } else {
            Record {
                id: id("001", n),
                object: "Account".to_owned(),
                owner_id: owner(own),
                fields: BTreeMap::from([
                    ("Name".to_owned(), text(&format!("A{i}"))),
                    (
                        "Industry".to_owned(),
                        text(INDUSTRIES[usize::from(value % 2)]),
                    ),
                    ("AnnualRevenue".to_owned(), JsonValue::from(i * 1000)),
                ]),
            }
        };
        out.push(record);
    }
    let mut objects = builtin_objects();
    for object in &mut objects {
        if object.api_name == "Case" {
            object.sharing_default = OrgWideDefault::PublicReadOnly;
        }
        if object.api_name == "Account" {
            object.sharing_default = OrgWideDefault::Private;
        }
    }
    let sharing_rules = rules
        .into_iter()
        .map(|(on_case, criteria, a, b, c, write)| {
            let object = if on_case { "Case" } else { "Account" };
            let kind = match (criteria, on_case) {
                (false, _) => SharingRuleKind::OwnerBased {
                    owned_by: target(a, b, n_roles),
                },
                (true, false) => SharingRuleKind::CriteriaBased {
                    field: "Industry".to_owned(),
                    equals: text(INDUSTRIES[usize::from(a % 2)]),
                },
                (true, true) => SharingRuleKind::CriteriaBased {
                    field: "Status".to_owned(),
                    equals: text(STATUSES[usize::from(a % 2)]),
                },
            };
            SharingRule {
                object: object.to_owned(),
                kind,
                share_with: target(c, b.wrapping_add(c), n_roles),
                access: if write {
                    ShareAccess::ReadWrite
                } else {
                    ShareAccess::Read
                },
            }
        })
        .collect();
    let manual_shares = shares
        .iter()
        .filter(|_| !out.is_empty())
        .map(|(r, t, write)| ManualShare {
            record_id: out[usize::from(*r) % out.len()].id.clone(),
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

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(prop::option::of(any::<u8>()), 0..5),
        prop::collection::vec(
            (
                prop::option::of(any::<u8>()),
                any::<u8>(),
                prop::option::weighted(0.25, any::<u8>()),
                any::<[u8; 2]>(),
                any::<[u8; 6]>(),
            ),
            1..7,
        ),
        prop::collection::vec(
            (
                any::<bool>(),
                (
                    any::<u8>(),
                    any::<u8>(),
                    prop::option::of(any::<u8>()),
                    any::<u8>(),
                ),
            ),
            40..60,
        ),
        prop::collection::vec(
            (
                any::<bool>(),
                any::<bool>(),
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                any::<bool>(),
            ),
            0..4,
        ),
        prop::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..4),
    )
        .prop_map(|(roles, users, records, rules, shares)| {
            build(roles, users, records, rules, shares)
        })
}

/// What the reference says `user` reads of `object`: visible records in id order, stripped.
fn expected(world: &World, user: &OrgUser, object: &str) -> Vec<VisibleRecord> {
    let mut records: Vec<&Record> = world
        .records
        .iter()
        .filter(|r| r.object == object)
        .filter(|r| record_access(&world.org, user, r, &NoRecords) != Access::None)
        .collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    records
        .into_iter()
        .map(|r| stripped(&world.org, user, r))
        .collect()
}

fn stripped(org: &Org, user: &OrgUser, record: &Record) -> VisibleRecord {
    let (fields, removed_fields) = strip_inaccessible(org, user, record);
    VisibleRecord {
        record: Record {
            fields,
            ..record.clone()
        },
        removed_fields,
    }
}

/// Every visible record of `object`, read page by page through the cursor.
async fn read_all(
    store: &dyn Store,
    tenant_id: TenantId,
    org: &Org,
    user: &OrgUser,
    object: &str,
) -> Vec<VisibleRecord> {
    let mut out: Vec<VisibleRecord> = Vec::new();
    loop {
        let after = out.last().map(|r| r.record.id.clone());
        let page = store
            .query_visible(tenant_id, org, user, object, 7, after.as_ref())
            .await
            .unwrap();
        assert!(page.len() <= 7);
        let done = page.len() < 7;
        out.extend(page);
        if done {
            return out;
        }
    }
}

async fn query_visible_matches_the_reference_evaluator(db: TestDb) {
    let store = &*db.store;
    let mut runner = TestRunner::deterministic();
    let strategy = world();
    for case in 0..CASES {
        let world = strategy.new_tree(&mut runner).unwrap().current();
        let acme = tenant(store, &format!("org{case}")).await;
        store
            .insert_records(
                acme.id,
                world.records.clone(),
                at(1),
                event(acme.id, "records.import"),
            )
            .await
            .unwrap();
        for user in &world.org.users {
            for object in ["Account", "Case"] {
                let got = read_all(store, acme.id, &world.org, user, object).await;
                assert_eq!(
                    got,
                    expected(&world, user, object),
                    "case {case}, user {}, object {object}, org {:#?}",
                    user.id,
                    world.org
                );
            }
            for record in &world.records {
                let got = store
                    .get_visible(acme.id, &world.org, user, &record.id)
                    .await
                    .unwrap();
                let visible = record_access(&world.org, user, record, &NoRecords) != Access::None;
                assert_eq!(
                    got,
                    visible.then(|| stripped(&world.org, user, record)),
                    "case {case}, user {}, record {}",
                    user.id,
                    record.id
                );
            }
        }
    }
}

fn internal(id: &str, role: Option<&str>) -> OrgUser {
    OrgUser {
        id: UserId::new(id),
        role: role.map(RoleId::new),
        profile: PermissionSetId::new("standard"),
        permission_sets: Vec::new(),
        groups: Vec::new(),
        kind: UserKind::Internal,
    }
}

fn standard_profile() -> PermissionSet {
    let read = ObjectPermissions {
        read: true,
        create: true,
        edit: true,
        delete: true,
        view_all: false,
        modify_all: false,
    };
    let fls = |names: &[&str]| {
        names
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    FieldPermissions {
                        read: true,
                        edit: true,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    PermissionSet {
        id: PermissionSetId::new("standard"),
        objects: [
            ("Account".to_owned(), read),
            ("Case".to_owned(), read),
            ("Contact".to_owned(), read),
        ]
        .into_iter()
        .collect(),
        fields: [
            ("Account".to_owned(), fls(&["Name"])),
            ("Case".to_owned(), fls(&["Subject", "ContactId"])),
        ]
        .into_iter()
        .collect(),
    }
}

fn small_org(users: Vec<OrgUser>) -> Org {
    Org {
        users,
        roles: vec![
            Role {
                id: RoleId::new("ceo"),
                parent: None,
            },
            Role {
                id: RoleId::new("vp"),
                parent: Some(RoleId::new("ceo")),
            },
            Role {
                id: RoleId::new("rep"),
                parent: Some(RoleId::new("vp")),
            },
        ],
        profiles: vec![standard_profile()],
        permission_sets: Vec::new(),
        sharing_rules: Vec::new(),
        manual_shares: Vec::new(),
        objects: builtin_objects(),
    }
}

fn record(object: &str, id: RecordId, owner: &str, fields: &[(&str, JsonValue)]) -> Record {
    Record {
        id,
        object: object.to_owned(),
        owner_id: UserId::new(owner),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

fn ids(records: &[VisibleRecord]) -> Vec<&str> {
    records.iter().map(|r| r.record.id.as_str()).collect()
}

async fn a_rep_sees_their_own_accounts_and_their_manager_sees_both(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let (rep, peer, vp) = (
        internal("rep", Some("rep")),
        internal("peer", Some("rep")),
        internal("vp", Some("vp")),
    );
    let org = small_org(vec![rep.clone(), peer.clone(), vp.clone()]);
    let (mine, theirs) = (id("001", 1), id("001", 2));
    let fields = [("Name", text("Acme")), ("Industry", text("Retail"))];
    store
        .insert_records(
            acme.id,
            vec![
                record("Account", mine.clone(), "rep", &fields),
                record("Account", theirs.clone(), "peer", &fields),
            ],
            at(1),
            event(acme.id, "records.import"),
        )
        .await
        .unwrap();

    let seen = store
        .query_visible(acme.id, &org, &rep, "Account", 10, None)
        .await
        .unwrap();
    assert_eq!(ids(&seen), [mine.as_str()]);
    // Industry has no FLS read in the profile: removed and reported, never returned.
    assert_eq!(seen[0].record.fields.keys().collect::<Vec<_>>(), ["Name"]);
    assert_eq!(seen[0].removed_fields, ["Industry"]);
    assert!(
        store
            .get_visible(acme.id, &org, &rep, &theirs)
            .await
            .unwrap()
            .is_none()
    );
    let seen = store
        .query_visible(acme.id, &org, &vp, "Account", 10, None)
        .await
        .unwrap();
    assert_eq!(ids(&seen), [mine.as_str(), theirs.as_str()]);
    // Another tenant with the same org sees nothing of acme's records.
    let other = tenant(store, "other").await;
    assert!(
        store
            .query_visible(other.id, &org, &vp, "Account", 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_customer_sees_only_cases_linked_to_their_contact(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let (alice_contact, bob_contact) = (id("003", 1), id("003", 2));
    let alice = OrgUser {
        kind: UserKind::Customer {
            contact_id: alice_contact.clone(),
        },
        ..internal("alice", None)
    };
    let agent = internal("agent", Some("rep"));
    let org = small_org(vec![alice.clone(), agent]);
    let cases = vec![
        record(
            "Case",
            id("500", 1),
            "agent",
            &[("ContactId", text(alice_contact.as_str()))],
        ),
        record(
            "Case",
            id("500", 2),
            "agent",
            &[("ContactId", text(bob_contact.as_str()))],
        ),
        // The 15-character form names the same contact.
        record(
            "Case",
            id("500", 3),
            "agent",
            &[("ContactId", text(alice_contact.to_15()))],
        ),
        record("Case", id("500", 4), "alice", &[]),
        record("Contact", alice_contact.clone(), "agent", &[]),
        record("Contact", bob_contact.clone(), "agent", &[]),
        record("Account", id("001", 1), "alice", &[]),
    ];
    store
        .insert_records(acme.id, cases, at(1), event(acme.id, "records.import"))
        .await
        .unwrap();

    let seen = store
        .query_visible(acme.id, &org, &alice, "Case", 10, None)
        .await
        .unwrap();
    assert_eq!(
        ids(&seen),
        [id("500", 1).as_str(), id("500", 3).as_str()],
        "not bob's case, and not the one alice merely owns"
    );
    let contacts = store
        .query_visible(acme.id, &org, &alice, "Contact", 10, None)
        .await
        .unwrap();
    assert_eq!(ids(&contacts), [alice_contact.as_str()]);
    assert!(
        store
            .query_visible(acme.id, &org, &alice, "Account", 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    for other in [id("500", 2), id("500", 4), bob_contact, id("001", 1)] {
        assert!(
            store
                .get_visible(acme.id, &org, &alice, &other)
                .await
                .unwrap()
                .is_none(),
            "{other}"
        );
    }
}

async fn controlled_by_parent_objects_are_refused_for_internal_users(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let rep = internal("rep", Some("rep"));
    let org = small_org(vec![rep.clone()]);
    let err = store
        .query_visible(acme.id, &org, &rep, "Contact", 10, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RecordQueryError::ControlledByParent { object } if object == "Contact"),
        "{err:?}"
    );
}
