//! Records in user mode: the store's sharing filter (run in SQL) agrees with the pure reference
//! evaluator `heddle_records::record_access` record by record, and field maps equal
//! `strip_inaccessible`; plus table tests for the classic cases.

use std::collections::BTreeMap;

use heddle_records::{
    Access, DataClassification, FieldDef, FieldPermissions, FieldType, GroupId, ManualShare,
    ManualShareTarget, ObjectDef, ObjectPermissions, Org, OrgUser, OrgWideDefault, ParentRef,
    PermissionSet, PermissionSetId, Record, RecordId, Role, RoleId, ShareAccess, ShareTarget,
    SharingRule, SharingRuleKind, UserId, UserKind, builtin_objects, record_access,
    strip_inaccessible,
};
use heddle_store::{Store, VisibleRecord};
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
    a_rep_sees_contacts_of_their_own_accounts_and_their_manager_sees_both,
    a_criteria_rule_matches_its_field_whatever_the_name,
);

/// Random orgs checked per engine; each gets its own tenant in the test's database.
const CASES: usize = 24;
/// Every object of the random worlds: Account private, Case public read-only, Contact and
/// Order controlled by their Account, Part controlled by its parent Part (chains deeper than
/// the evaluator follows).
const OBJECTS: [&str; 5] = ["Account", "Case", "Contact", "Order", "Part"];
/// Digits only, so that an all-digit part id reads as a number.
const PART_PREFIX: &str = "802";
const INDUSTRIES: [&str; 2] = ["Technology", "Retail"];
const STATUSES: [&str; 2] = ["New", "Closed"];
const FIELDS: [(&str, &str); 12] = [
    ("Account", "Name"),
    ("Account", "Industry"),
    ("Account", "AnnualRevenue"),
    ("Case", "Subject"),
    ("Case", "Status"),
    ("Case", "ContactId"),
    ("Contact", "LastName"),
    ("Contact", "AccountId"),
    ("Order", "AccountId"),
    ("Order", "ContactId"),
    ("Part", "Name"),
    ("Part", "ParentId"),
];

fn id(prefix: &str, n: u64) -> RecordId {
    RecordId::generate(prefix, n).unwrap()
}

/// An id with letters of both cases in its body, so the case-folded forms of it differ.
fn mixed_id(prefix: &str, n: u64) -> RecordId {
    id(prefix, 3_000_000_000_000_000_001 + n)
}

/// The id of the `n`th contact of a world; customers are the first two.
fn contact_id(n: u8) -> RecordId {
    mixed_id("003", u64::from(n % 2))
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

/// The ways a record may name another: canonical, 15-character, folded to lower or upper
/// case (all parse to the record), a broken checksum, a body with one letter's case flipped
/// and a non-string (none of which does).
fn link_value(target: &RecordId, form: u8) -> JsonValue {
    let canonical = target.as_str();
    match form % 7 {
        0 => text(canonical),
        1 => text(target.to_15()),
        2 => text(&canonical.to_ascii_lowercase()),
        3 => text(&canonical.to_ascii_uppercase()),
        4 => text(&format!("{}ZZZ", target.to_15())),
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

/// A parent reference of a controlled-by-parent record. It names `wanted` in one of the forms
/// of [`link_value`], or is JSON null (no parent), or names a record that does not exist or
/// one of another object (both grant nothing), or is an all-digit id as a JSON number.
fn parent_value(wanted: &RecordId, form: u8, missing: &RecordId, other: &RecordId) -> JsonValue {
    match form % 12 {
        0..=6 => link_value(wanted, form % 12),
        7 | 8 => JsonValue::Null,
        9 => link_value(missing, form / 12),
        10 => link_value(other, form / 12),
        // The digits of an all-digit id as a JSON number: not a string, so no reference.
        _ => match wanted.to_15().parse::<u64>() {
            Ok(n) => JsonValue::from(n),
            Err(_) => text(wanted.as_str()),
        },
    }
}

type UserSpec = (Option<u8>, u8, Option<u8>, [u8; 5], [u8; 12]);
type RuleSpec = (u8, bool, u8, u8, u8, bool);
/// Object, owner, a value, a reference target and its form, a contact and its form.
type RecordSpec = (u8, u8, u8, Option<u8>, u8, Option<u8>, u8);

#[derive(Debug, Clone)]
struct World {
    org: Org,
    records: Vec<Record>,
}

fn build(
    role_parents: Vec<Option<u8>>,
    users: Vec<UserSpec>,
    records: Vec<RecordSpec>,
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
                    contact_id: contact_id(c),
                },
                None => UserKind::Internal,
            },
        });
    }
    // Owners include one id that is no user of the org.
    let owner = |n: u8| UserId::new(format!("u{}", usize::from(n) % (n_users + 1)));
    // Ids first, so that references may point anywhere (accounts and parts have mixed-case
    // bodies, so that their folded forms differ).
    let mut counts = [0u64; OBJECTS.len()];
    let ids: Vec<RecordId> = records
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let kind = usize::from(spec.0) % OBJECTS.len();
            counts[kind] += 1;
            let n = counts[kind] - 1;
            match OBJECTS[kind] {
                "Account" => mixed_id("001", n),
                "Case" => id("500", i as u64),
                "Contact" => mixed_id("003", n),
                "Order" => id("801", i as u64),
                // Some part ids are all digits (see `parent_value`).
                _ if n % 2 == 0 => mixed_id(PART_PREFIX, n),
                _ => id(PART_PREFIX, n),
            }
        })
        .collect();
    let of_object = |object: &str| -> Vec<RecordId> {
        ids.iter()
            .filter(|id| id.key_prefix() == object_prefix(object))
            .cloned()
            .collect()
    };
    let (accounts, parts) = (of_object("Account"), of_object("Part"));
    let pick = |pool: &[RecordId], n: u8| -> RecordId {
        if pool.is_empty() {
            mixed_id("001", 999)
        } else {
            pool[usize::from(n) % pool.len()].clone()
        }
    };
    let missing = mixed_id("001", 1_000_000);
    let mut out = Vec::new();
    let mut previous_part: Option<RecordId> = None;
    for (i, ((kind, own, value, reference, form, contact, link_form), id)) in
        records.into_iter().zip(ids.iter().cloned()).enumerate()
    {
        let other = &ids[usize::from(reference.unwrap_or(0)) % ids.len()];
        let other = if other.key_prefix() == "001" {
            &ids[(usize::from(reference.unwrap_or(0)) + 1) % ids.len()]
        } else {
            other
        };
        let mut fields = BTreeMap::new();
        let object = OBJECTS[usize::from(kind) % OBJECTS.len()];
        match object {
            "Account" => {
                fields.insert("Name".to_owned(), text(&format!("A{i}")));
                fields.insert(
                    "Industry".to_owned(),
                    text(INDUSTRIES[usize::from(value % 2)]),
                );
                fields.insert("AnnualRevenue".to_owned(), JsonValue::from(i * 1000));
            }
            "Case" => {
                fields.insert("Subject".to_owned(), text(&format!("S{i}")));
                fields.insert("Status".to_owned(), text(STATUSES[usize::from(value % 2)]));
                if let Some(c) = contact {
                    fields.insert(
                        "ContactId".to_owned(),
                        link_value(&contact_id(c), link_form),
                    );
                }
            }
            "Contact" | "Order" => {
                if object == "Contact" {
                    fields.insert("LastName".to_owned(), text(&format!("L{}", value % 2)));
                } else {
                    fields.insert("Status".to_owned(), text(STATUSES[usize::from(value % 2)]));
                    if let Some(c) = contact {
                        fields.insert(
                            "ContactId".to_owned(),
                            link_value(&contact_id(c), link_form),
                        );
                    }
                }
                if let Some(r) = reference {
                    fields.insert(
                        "AccountId".to_owned(),
                        parent_value(&pick(&accounts, r), form, &missing, other),
                    );
                }
            }
            _ => {
                fields.insert("Name".to_owned(), text(&format!("P{i}")));
                // Mostly the previous part, so that chains grow past the depth followed.
                let parent = match (&previous_part, form % 8) {
                    (Some(previous), 0..=5) => Some(JsonValue::from(previous.as_str())),
                    (_, 6) => {
                        reference.map(|r| parent_value(&pick(&parts, r), 11, &missing, other))
                    }
                    _ => {
                        reference.map(|r| parent_value(&pick(&parts, r), form / 8, &missing, other))
                    }
                };
                if let Some(parent) = parent {
                    fields.insert("ParentId".to_owned(), parent);
                }
                previous_part = Some(id.clone());
            }
        }
        out.push(Record {
            id,
            object: object.to_owned(),
            owner_id: owner(own),
            fields,
        });
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
    objects.push(ObjectDef {
        api_name: "Part".to_owned(),
        label: "Part".to_owned(),
        key_prefix: PART_PREFIX.to_owned(),
        sharing_default: OrgWideDefault::ControlledByParent,
        parent: Some(ParentRef {
            field: "ParentId".to_owned(),
            object: "Part".to_owned(),
        }),
        customer_link: None,
        fields: vec![
            FieldDef {
                api_name: "Name".to_owned(),
                label: "Name".to_owned(),
                field_type: FieldType::Text { max_len: 80 },
                classification: DataClassification::Public,
                required: false,
            },
            FieldDef {
                api_name: "ParentId".to_owned(),
                label: "Parent".to_owned(),
                field_type: FieldType::Reference {
                    to: "Part".to_owned(),
                },
                classification: DataClassification::Internal,
                required: false,
            },
        ],
    });
    // Rules on Contact exist to show they grant nothing on a controlled-by-parent object.
    let sharing_rules = rules
        .into_iter()
        .map(|(on, criteria, a, b, c, write)| {
            let object = ["Account", "Case", "Contact"][usize::from(on % 3)];
            let kind = match (criteria, object) {
                (false, _) => SharingRuleKind::OwnerBased {
                    owned_by: target(a, b, n_roles),
                },
                (true, "Account") => SharingRuleKind::CriteriaBased {
                    field: "Industry".to_owned(),
                    equals: text(INDUSTRIES[usize::from(a % 2)]),
                },
                (true, "Case") => SharingRuleKind::CriteriaBased {
                    field: "Status".to_owned(),
                    equals: text(STATUSES[usize::from(a % 2)]),
                },
                (true, _) => SharingRuleKind::CriteriaBased {
                    field: "LastName".to_owned(),
                    equals: text(&format!("L{}", a % 2)),
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

fn object_prefix(object: &str) -> &'static str {
    match object {
        "Account" => "001",
        "Case" => "500",
        "Contact" => "003",
        "Order" => "801",
        _ => PART_PREFIX,
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
                any::<[u8; 5]>(),
                any::<[u8; 12]>(),
            ),
            1..7,
        ),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                prop::option::weighted(0.8, any::<u8>()),
                any::<u8>(),
                prop::option::of(any::<u8>()),
                any::<u8>(),
            ),
            50..80,
        ),
        prop::collection::vec(
            (
                any::<u8>(),
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
/// Parents are looked up among all the world's records, as the database finds them.
fn expected(world: &World, user: &OrgUser, object: &str) -> Vec<VisibleRecord> {
    let mut records: Vec<&Record> = world
        .records
        .iter()
        .filter(|r| r.object == object)
        .filter(|r| record_access(&world.org, user, r, &world.records) != Access::None)
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
            for object in OBJECTS {
                let got = read_all(store, acme.id, &world.org, user, object).await;
                assert_eq!(
                    got,
                    expected(&world, user, object),
                    "case {case}, user {}, object {object}, org {:#?}, records {:#?}",
                    user.id,
                    world.org,
                    world.records
                );
            }
            for record in &world.records {
                let got = store
                    .get_visible(acme.id, &world.org, user, &record.id)
                    .await
                    .unwrap();
                let visible =
                    record_access(&world.org, user, record, &world.records) != Access::None;
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

async fn a_rep_sees_contacts_of_their_own_accounts_and_their_manager_sees_both(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let (rep, peer, vp) = (
        internal("rep", Some("rep")),
        internal("peer", Some("rep")),
        internal("vp", Some("vp")),
    );
    let org = small_org(vec![rep.clone(), peer.clone(), vp.clone()]);
    let (mine, theirs) = (mixed_id("001", 1), mixed_id("001", 2));
    let name = [("Name", text("Acme"))];
    let contact = |n: u64, owner: &str, account: Option<JsonValue>| {
        let mut fields = vec![("LastName", text("Doe"))];
        fields.extend(account.map(|a| ("AccountId", a)));
        record("Contact", mixed_id("003", n), owner, &fields)
    };
    // Who owns a contact does not matter while it has an account; without one (a private
    // contact) only its owner sees it, not even the manager.
    let contacts = [
        contact(1, "peer", Some(text(mine.as_str()))),
        contact(2, "rep", Some(text(theirs.as_str()))),
        contact(3, "peer", Some(text(mine.to_15()))),
        contact(4, "peer", Some(text(&mine.as_str().to_ascii_lowercase()))),
        contact(5, "rep", None),
        contact(6, "peer", Some(JsonValue::Null)),
        // An account that does not exist opens nothing, even to the owner.
        contact(7, "rep", Some(text(mixed_id("001", 9).as_str()))),
    ];
    let mut records = vec![
        record("Account", mine.clone(), "rep", &name),
        record("Account", theirs.clone(), "peer", &name),
    ];
    records.extend(contacts.iter().cloned());
    store
        .insert_records(acme.id, records, at(1), event(acme.id, "records.import"))
        .await
        .unwrap();

    let contact_ids =
        |ns: &[usize]| -> Vec<&str> { ns.iter().map(|n| contacts[n - 1].id.as_str()).collect() };
    let cases: [(&OrgUser, &[usize]); 3] = [
        (&rep, &[1, 3, 4, 5]),
        (&peer, &[2, 6]),
        (&vp, &[1, 2, 3, 4]),
    ];
    for (user, expected) in cases {
        let seen = store
            .query_visible(acme.id, &org, user, "Contact", 10, None)
            .await
            .unwrap();
        assert_eq!(ids(&seen), contact_ids(expected), "{}", user.id);
        for (n, contact) in contacts.iter().enumerate() {
            let got = store
                .get_visible(acme.id, &org, user, &contact.id)
                .await
                .unwrap();
            assert_eq!(
                got.is_some(),
                expected.contains(&(n + 1)),
                "{} {n}",
                user.id
            );
        }
    }
}

/// SQLite looks a plain field name up by path and any other with `json_each`: both match.
async fn a_criteria_rule_matches_its_field_whatever_the_name(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let rep = internal("rep", Some("rep"));
    let mut org = small_org(vec![rep.clone(), internal("peer", Some("rep"))]);
    let odd = "we\"ird.na\\me $[0]";
    for field in ["Industry", odd] {
        org.sharing_rules.push(SharingRule {
            object: "Account".to_owned(),
            kind: SharingRuleKind::CriteriaBased {
                field: field.to_owned(),
                equals: text("Retail"),
            },
            share_with: ShareTarget::Role(RoleId::new("rep")),
            access: ShareAccess::Read,
        });
    }
    let accounts = [
        vec![("Industry", text("Retail"))],
        vec![(odd, text("Retail"))],
        vec![("Industry", text("Retail ")), (odd, text("Tech"))],
        vec![(odd, JsonValue::from(vec![text("Retail")]))],
        vec![("Name", text("Retail"))],
    ];
    let records = accounts
        .iter()
        .enumerate()
        .map(|(n, fields)| record("Account", id("001", n as u64), "peer", fields))
        .collect();
    store
        .insert_records(acme.id, records, at(1), event(acme.id, "records.import"))
        .await
        .unwrap();
    let seen = store
        .query_visible(acme.id, &org, &rep, "Account", 10, None)
        .await
        .unwrap();
    assert_eq!(ids(&seen), [id("001", 0).as_str(), id("001", 1).as_str()]);
}
