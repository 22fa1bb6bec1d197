//! Records written in user mode: the store accepts a create, update or delete exactly when the
//! pure check (`check_create` / `check_update` / `check_delete`) on the reference state does,
//! reports what it does not see as not found, leaves the records equal to the reference state
//! and writes an audit event exactly for each committed write; plus table tests for the
//! classic cases.

use std::collections::BTreeMap;

use heddle_records::{
    AccessDenied, DataClassification, FieldDef, FieldPermissions, FieldType, GroupId, ManualShare,
    ManualShareTarget, ObjectDef, ObjectPermissions, Org, OrgUser, OrgWideDefault, ParentRef,
    PermissionSet, PermissionSetId, Record, RecordId, Role, RoleId, ShareAccess, ShareTarget,
    SharingRule, SharingRuleKind, UserId, UserKind, builtin_objects, check_create, check_delete,
    check_update, strip_uneditable,
};
use heddle_store::{AuditFilter, NewAuditEvent, RecordWriteError, Store};
use heddle_types::TenantId;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sqlx::types::JsonValue;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;
use crate::sequencer::TestSequencer;

conformance_tests!(
    writes_match_the_reference_checks,
    a_field_without_edit_access_is_rejected_by_name_and_nothing_changes,
    a_rep_cannot_update_a_peers_private_account_but_their_manager_can,
    a_read_only_share_cannot_edit,
    delete_needs_full_access,
    a_customer_cannot_create_a_case_for_another_contact,
    controlled_by_parent_writes_follow_the_parent,
    parent_chains_are_followed_to_the_depth_bound,
    a_create_with_a_taken_id_conflicts_only_after_the_access_check,
    an_audit_event_is_written_exactly_for_committed_writes,
);

// ---------------------------------------------------------------------------------------------
// The property test
// ---------------------------------------------------------------------------------------------

/// Random orgs (each with a sequence of writes) per engine.
const CASES: usize = 32;
/// The objects written: two private, two controlled by parent (one of them by itself, so
/// chains get long and may be cyclic).
const OBJECTS: [(&str, &str); 4] = [
    ("Account", "001"),
    ("Contact", "003"),
    ("Case", "500"),
    ("Node__c", "a00"),
];
/// The fields writes touch, per object (index as in `OBJECTS`).
const WRITABLE: [&[&str]; 4] = [
    &["Name", "Industry"],
    &["LastName", "AccountId"],
    &["Subject", "Status", "ContactId"],
    &["Label__c", "ParentId__c"],
];
const INDUSTRIES: [&str; 2] = ["Technology", "Retail"];
const STATUSES: [&str; 2] = ["New", "Closed"];
/// Record numbers per object are drawn below this, so creates sometimes hit taken ids and
/// updates sometimes miss.
const ID_SPACE: u64 = 14;
/// Record numbers of the long node chain, outside `ID_SPACE`.
const CHAIN_BASE: u64 = 1_000;

pub(crate) fn id(prefix: &str, n: u64) -> RecordId {
    RecordId::generate(prefix, n).unwrap()
}

pub(crate) fn text(value: &str) -> JsonValue {
    JsonValue::from(value)
}

/// The `Node__c` custom object: controlled by its parent node.
fn node_object() -> ObjectDef {
    let field = |name: &str, field_type| FieldDef {
        api_name: name.to_owned(),
        label: name.to_owned(),
        field_type,
        classification: DataClassification::Internal,
        required: false,
    };
    ObjectDef {
        api_name: "Node__c".to_owned(),
        label: "Node".to_owned(),
        key_prefix: "a00".to_owned(),
        sharing_default: OrgWideDefault::ControlledByParent,
        parent: Some(ParentRef {
            field: "ParentId__c".to_owned(),
            object: "Node__c".to_owned(),
        }),
        customer_link: None,
        fields: vec![
            field("Label__c", FieldType::Text { max_len: 80 }),
            field(
                "ParentId__c",
                FieldType::Reference {
                    to: "Node__c".to_owned(),
                },
            ),
        ],
    }
}

/// The builtins (Case with the given default) and `Node__c`.
fn objects(case_default: OrgWideDefault) -> Vec<ObjectDef> {
    let mut objects = builtin_objects();
    for object in &mut objects {
        if object.api_name == "Case" {
            object.sharing_default = case_default;
        }
    }
    objects.push(node_object());
    objects
}

fn perms(bits: u8) -> ObjectPermissions {
    ObjectPermissions {
        read: bits & 1 != 0,
        create: bits & 2 != 0,
        edit: bits & 4 != 0,
        delete: bits & 8 != 0,
        view_all: bits & 0x70 == 0x70,
        modify_all: bits & 0xF0 == 0xF0,
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

/// A value for `field` of object `object` (index into `OBJECTS`), chosen by `v`: references
/// come canonical, 15-character, null, to a record that may not exist, to the wrong object, or
/// as a non-string.
fn value(object: usize, field: &str, v: u8) -> JsonValue {
    let n = u64::from(v / 8) % ID_SPACE;
    let reference = |prefix: &str| match v % 8 {
        0..=2 => text(id(prefix, n).as_str()),
        3 => text(id(prefix, n).to_15()),
        4 => JsonValue::Null,
        5 => text(id("500", n).as_str()),
        6 => JsonValue::from(7),
        // Nodes: into the long chain.
        _ if prefix == "a00" => text(id(prefix, CHAIN_BASE + n).as_str()),
        _ => text(id(prefix, n + ID_SPACE).as_str()),
    };
    match (object, field) {
        (_, "AccountId") => reference("001"),
        (_, "ContactId") => reference("003"),
        (_, "ParentId__c") => reference("a00"),
        (_, "Industry") if v.is_multiple_of(5) => JsonValue::Null,
        (_, "Industry") => text(INDUSTRIES[usize::from(v % 2)]),
        (_, "Status") if v.is_multiple_of(5) => JsonValue::Null,
        (_, "Status") => text(STATUSES[usize::from(v % 2)]),
        _ => text(&format!("v{v}")),
    }
}

/// Who does what: user, object, record number, owner (`None`: the acting user), fields.
#[derive(Debug, Clone)]
enum Op {
    Create {
        user: u8,
        object: u8,
        n: u64,
        owner: Option<u8>,
        fields: Vec<(u8, u8)>,
    },
    Update {
        user: u8,
        target: Target,
        fields: Vec<(u8, u8)>,
    },
    Delete {
        user: u8,
        target: Target,
    },
}

/// An existing record (an index into the current state), or any id (which may not exist).
#[derive(Debug, Clone)]
enum Target {
    Existing(Index),
    Any { object: u8, n: u64 },
}

type UserSpec = (Option<u8>, u8, Option<u8>, [u8; 4], [u8; 9]);
type RuleSpec = (bool, bool, u8, u8, u8, bool);

#[derive(Debug, Clone)]
struct World {
    org: Org,
    records: Vec<Record>,
    ops: Vec<Op>,
}

fn build(
    role_parents: Vec<Option<u8>>,
    users: Vec<UserSpec>,
    records: Vec<(u8, u8, u8, u8)>,
    rules: Vec<RuleSpec>,
    shares: Vec<(u8, u64, u8, bool)>,
    ops: Vec<Op>,
    (case_default, chain): (u8, (u8, u8)),
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
            .map(|((o, _), b)| ((*o).to_owned(), perms(b)))
            .collect();
        let mut fields: BTreeMap<String, BTreeMap<String, FieldPermissions>> = BTreeMap::new();
        let all_fields = OBJECTS
            .iter()
            .zip(WRITABLE)
            .flat_map(|((o, _), fs)| fs.iter().map(move |f| (*o, *f)));
        for ((object, field), bits) in all_fields.zip(field_bits) {
            let edit = bits & 3 != 0;
            fields.entry(object.to_owned()).or_default().insert(
                field.to_owned(),
                FieldPermissions {
                    read: edit || bits & 4 != 0,
                    edit,
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
                    contact_id: id("003", u64::from(c) % ID_SPACE),
                },
                None => UserKind::Internal,
            },
        });
    }
    let owner = |n: u8| UserId::new(format!("u{}", usize::from(n) % (n_users + 1)));
    let mut counters = [0_u64; 4];
    let mut out = Vec::new();
    for (object, own, a, b) in records {
        let object = usize::from(object) % OBJECTS.len();
        let n = counters[object];
        counters[object] += 1;
        let mut fields = BTreeMap::new();
        for (i, field) in WRITABLE[object].iter().enumerate() {
            // Nodes mostly hang under the previous node (node 0 is a root): long chains.
            let v = if *field == "ParentId__c" && a % 3 != 0 {
                match n.checked_sub(1) {
                    Some(previous) => u8::try_from(previous * 8).unwrap_or(0),
                    None => 4,
                }
            } else {
                a.wrapping_add(b.wrapping_mul(u8::try_from(i).unwrap()))
            };
            let value = value(object, field, v);
            if i == 0 || (!value.is_null() && (b >> i) & 1 == 0) {
                fields.insert((*field).to_owned(), value);
            }
        }
        fields.retain(|_, v| !v.is_null());
        out.push(Record {
            id: id(OBJECTS[object].1, n),
            object: OBJECTS[object].0.to_owned(),
            owner_id: owner(own),
            fields,
        });
    }
    // A long chain of nodes, deeper than the evaluator follows, hanging under node 0.
    let (length, chain_owner) = chain;
    for k in 0..u64::from(length % 14) {
        let parent = if k == 0 {
            id("a00", 0)
        } else {
            id("a00", CHAIN_BASE + k - 1)
        };
        out.push(Record {
            id: id("a00", CHAIN_BASE + k),
            object: "Node__c".to_owned(),
            owner_id: owner(chain_owner.wrapping_add(u8::try_from(k).unwrap() / 5)),
            fields: BTreeMap::from([
                ("Label__c".to_owned(), text(&format!("chain {k}"))),
                ("ParentId__c".to_owned(), text(parent.as_str())),
            ]),
        });
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
    // Shares name ids that exist now or may be created later.
    let manual_shares = shares
        .into_iter()
        .map(|(object, n, t, write)| ManualShare {
            record_id: id(OBJECTS[usize::from(object) % 4].1, n % ID_SPACE),
            share_with: if t % 3 == 0 {
                ManualShareTarget::Group(GroupId::new(format!("g{}", t % 2)))
            } else {
                ManualShareTarget::User(owner(t))
            },
            access: if write {
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
            objects: objects(match case_default % 3 {
                0 => OrgWideDefault::Private,
                1 => OrgWideDefault::PublicReadOnly,
                _ => OrgWideDefault::PublicReadWrite,
            }),
        },
        records: out,
        ops,
    }
}

fn op() -> impl Strategy<Value = Op> {
    let fields = prop::collection::vec((any::<u8>(), any::<u8>()), 0..4);
    let target = prop_oneof![
        4 => any::<Index>().prop_map(Target::Existing),
        1 => (any::<u8>(), 0..ID_SPACE).prop_map(|(object, n)| Target::Any { object, n }),
    ];
    prop_oneof![
        3 => (
            any::<u8>(),
            any::<u8>(),
            0..ID_SPACE,
            prop::option::weighted(0.3, any::<u8>()),
            fields.clone()
        )
            .prop_map(|(user, object, n, owner, fields)| Op::Create {
                user,
                object,
                n,
                owner,
                fields
            }),
        4 => (any::<u8>(), target.clone(), fields).prop_map(|(user, target, fields)| {
            Op::Update {
                user,
                target,
                fields,
            }
        }),
        2 => (any::<u8>(), target).prop_map(|(user, target)| Op::Delete { user, target }),
    ]
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(prop::option::of(any::<u8>()), 0..5),
        prop::collection::vec(
            (
                prop::option::of(any::<u8>()),
                any::<u8>(),
                prop::option::weighted(0.2, any::<u8>()),
                any::<[u8; 4]>(),
                any::<[u8; 9]>(),
            ),
            1..6,
        ),
        prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 10..24),
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
        prop::collection::vec(
            (any::<u8>(), any::<u64>(), any::<u8>(), any::<bool>()),
            0..8,
        ),
        prop::collection::vec(op(), 30..50),
        (any::<u8>(), any::<(u8, u8)>()),
    )
        .prop_map(|(roles, users, records, rules, shares, ops, extra)| {
            build(roles, users, records, rules, shares, ops, extra)
        })
}

/// What a write came to, comparable between the store and the reference.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Written(Option<Record>),
    NotFound,
    Denied(AccessDenied),
    Conflict,
}

fn store_outcome<T>(
    result: Result<T, RecordWriteError>,
    written: impl FnOnce(T) -> Option<Record>,
) -> Outcome {
    match result {
        Ok(value) => Outcome::Written(written(value)),
        Err(RecordWriteError::NotFound { .. }) => Outcome::NotFound,
        Err(RecordWriteError::Denied(denied)) => Outcome::Denied(denied),
        Err(RecordWriteError::Conflict { .. }) => Outcome::Conflict,
        Err(RecordWriteError::Store(err)) => panic!("store error: {err}"),
        Err(RecordWriteError::AlreadyApplied { result }) => {
            panic!("no idempotency key was given, yet already applied: {result}")
        }
    }
}

/// The reference's verdict on a refused check: what the user cannot see is not found.
fn refused(denied: AccessDenied) -> Outcome {
    match denied {
        AccessDenied::RecordNotVisible { .. } => Outcome::NotFound,
        other => Outcome::Denied(other),
    }
}

fn without_nulls(mut fields: BTreeMap<String, JsonValue>) -> BTreeMap<String, JsonValue> {
    fields.retain(|_, v| !v.is_null());
    fields
}

fn pick_fields(object: usize, picks: &[(u8, u8)]) -> BTreeMap<String, JsonValue> {
    let writable = WRITABLE[object];
    picks
        .iter()
        .map(|(f, v)| {
            let field = writable[usize::from(*f) % writable.len()];
            (field.to_owned(), value(object, field, *v))
        })
        .collect()
}

fn object_index(name: &str) -> usize {
    OBJECTS.iter().position(|(o, _)| *o == name).unwrap()
}

/// A user who reads everything: modify all and field read on every object.
fn auditor(org: &mut Org) -> OrgUser {
    let all = ObjectPermissions {
        modify_all: true,
        ..ObjectPermissions::default()
    };
    let fields = org
        .objects
        .iter()
        .map(|o| {
            let read = FieldPermissions {
                read: true,
                edit: false,
            };
            (
                o.api_name.clone(),
                o.fields
                    .iter()
                    .map(|f| (f.api_name.clone(), read))
                    .collect(),
            )
        })
        .collect();
    org.profiles.push(PermissionSet {
        id: PermissionSetId::new("auditor"),
        objects: org
            .objects
            .iter()
            .map(|o| (o.api_name.clone(), all))
            .collect(),
        fields,
    });
    OrgUser {
        id: UserId::new("auditor"),
        role: None,
        profile: PermissionSetId::new("auditor"),
        permission_sets: Vec::new(),
        groups: Vec::new(),
        kind: UserKind::Internal,
    }
}

/// Every stored record of the tenant, read through the auditor, by id.
async fn stored(
    store: &dyn Store,
    tenant_id: TenantId,
    org: &Org,
    auditor: &OrgUser,
) -> BTreeMap<RecordId, Record> {
    let mut out = BTreeMap::new();
    for (object, _) in OBJECTS {
        let mut after: Option<RecordId> = None;
        loop {
            let page = store
                .query_visible(tenant_id, org, auditor, object, 50, after.as_ref())
                .await
                .unwrap();
            after = page.last().map(|r| r.record.id.clone());
            let done = page.len() < 50;
            for visible in page {
                assert!(visible.removed_fields.is_empty());
                out.insert(visible.record.id.clone(), visible.record);
            }
            if done {
                break;
            }
        }
    }
    out
}

async fn outbox_len(store: &dyn Store) -> u64 {
    store.audit_outbox_len().await.unwrap()
}

async fn writes_match_the_reference_checks(db: TestDb) {
    let store = &*db.store;
    let mut runner = TestRunner::deterministic();
    let strategy = world();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for case in 0..CASES {
        let World {
            mut org,
            records,
            ops,
        } = strategy.new_tree(&mut runner).unwrap().current();
        let auditor = auditor(&mut org);
        let acme = tenant(store, &format!("org{case}")).await;
        store
            .insert_records(
                acme.id,
                records.clone(),
                at(1),
                event(acme.id, "records.import"),
            )
            .await
            .unwrap();
        let mut state: BTreeMap<RecordId, Record> =
            records.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut events = outbox_len(store).await;
        for (step, op) in ops.iter().enumerate() {
            let user = &org.users[match op {
                Op::Create { user, .. } | Op::Update { user, .. } | Op::Delete { user, .. } => {
                    usize::from(*user) % org.users.len()
                }
            }];
            let target_id = |target: &Target| match target {
                Target::Existing(index) if !state.is_empty() => {
                    state.keys().nth(index.index(state.len())).unwrap().clone()
                }
                Target::Existing(_) => id("001", 0),
                Target::Any { object, n } => id(OBJECTS[usize::from(*object) % 4].1, *n),
            };
            let audit = event(acme.id, "record.write");
            let (expected, got) = match op {
                Op::Create {
                    object,
                    n,
                    owner,
                    fields,
                    ..
                } => {
                    let object = usize::from(*object) % OBJECTS.len();
                    let record = Record {
                        id: id(OBJECTS[object].1, *n),
                        object: OBJECTS[object].0.to_owned(),
                        owner_id: owner.map_or_else(
                            || user.id.clone(),
                            |o| UserId::new(format!("u{}", usize::from(o) % org.users.len())),
                        ),
                        fields: pick_fields(object, fields),
                    };
                    let expected = match check_create(&org, user, &record, &state) {
                        Err(denied) => refused(denied),
                        Ok(()) if state.contains_key(&record.id) => Outcome::Conflict,
                        Ok(()) => Outcome::Written(Some(Record {
                            fields: without_nulls(record.fields.clone()),
                            ..record.clone()
                        })),
                    };
                    let got = store
                        .create_record(acme.id, &org, user, record, at(2), None, audit)
                        .await;
                    (expected, store_outcome(got, Some))
                }
                Op::Update { target, fields, .. } => {
                    let record_id = target_id(target);
                    let object = state
                        .get(&record_id)
                        .map_or(0, |current| object_index(&current.object));
                    let changes = pick_fields(object, fields);
                    let expected = match state.get(&record_id) {
                        None => Outcome::NotFound,
                        Some(current) => {
                            match check_update(&org, user, current, &changes, &state) {
                                Err(denied) => refused(denied),
                                Ok(()) => {
                                    let mut fields = current.fields.clone();
                                    fields.extend(changes.clone());
                                    Outcome::Written(Some(Record {
                                        fields: without_nulls(fields),
                                        ..current.clone()
                                    }))
                                }
                            }
                        }
                    };
                    let got = store
                        .update_record(acme.id, &org, user, &record_id, changes, at(3), None, audit)
                        .await;
                    (expected, store_outcome(got, Some))
                }
                Op::Delete { target, .. } => {
                    let record_id = target_id(target);
                    let expected = match state.get(&record_id) {
                        None => Outcome::NotFound,
                        Some(current) => match check_delete(&org, user, current, &state) {
                            Err(denied) => refused(denied),
                            Ok(()) => Outcome::Written(None),
                        },
                    };
                    let got = store
                        .delete_record(acme.id, &org, user, &record_id, at(4), None, audit)
                        .await;
                    (expected, store_outcome(got, |()| None))
                }
            };
            assert_eq!(
                got, expected,
                "case {case} step {step}: {op:?} by {}\nstate {state:#?}\norg {org:#?}",
                user.id
            );
            let kind = match (op, &expected) {
                (Op::Create { .. }, _) => "create",
                (Op::Update { .. }, _) => "update",
                (Op::Delete { .. }, _) => "delete",
            };
            let verdict = match &expected {
                Outcome::Written(_) => "written".to_owned(),
                Outcome::NotFound => "not found".to_owned(),
                Outcome::Conflict => "conflict".to_owned(),
                Outcome::Denied(denied) => format!("{denied:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_owned(),
            };
            *tally.entry(format!("{kind} {verdict}")).or_default() += 1;
            // The reference moves on, and the audit outbox grows only with committed writes.
            if let Outcome::Written(written) = expected {
                match (op, written) {
                    (Op::Delete { target, .. }, _) => {
                        state.remove(&target_id(target));
                    }
                    (_, Some(record)) => {
                        state.insert(record.id.clone(), record);
                    }
                    (_, None) => unreachable!(),
                }
                events += 1;
            }
            assert_eq!(outbox_len(store).await, events, "case {case} step {step}");
        }
        assert_eq!(
            stored(store, acme.id, &org, &auditor).await,
            state,
            "case {case}"
        );
    }
    // The generator must reach every verdict, or the comparison proves little.
    for needed in [
        "create written",
        "create conflict",
        "create FieldNotEditable",
        "create ParentNotAccessible",
        "update written",
        "update not found",
        "update RecordNotEditable",
        "update FieldNotEditable",
        "update ParentNotAccessible",
        "delete written",
        "delete not found",
        "delete DeleteNeedsFullAccess",
    ] {
        assert!(
            tally.contains_key(needed),
            "never saw `{needed}`: {tally:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Table tests
// ---------------------------------------------------------------------------------------------

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

fn customer(id: &str, contact: &RecordId) -> OrgUser {
    OrgUser {
        profile: PermissionSetId::new("customer"),
        kind: UserKind::Customer {
            contact_id: contact.clone(),
        },
        ..internal(id, None)
    }
}

fn fls(names: &[(&str, bool)]) -> BTreeMap<String, FieldPermissions> {
    names
        .iter()
        .map(|(n, edit)| {
            (
                (*n).to_owned(),
                FieldPermissions {
                    read: true,
                    edit: *edit,
                },
            )
        })
        .collect()
}

/// Full CRUD on Account, Contact and Case; every field editable except Account.Industry,
/// which is read-only.
fn standard_profile() -> PermissionSet {
    let crud = ObjectPermissions {
        read: true,
        create: true,
        edit: true,
        delete: true,
        view_all: false,
        modify_all: false,
    };
    PermissionSet {
        id: PermissionSetId::new("standard"),
        objects: ["Account", "Contact", "Case"]
            .into_iter()
            .map(|o| (o.to_owned(), crud))
            .collect(),
        fields: [
            (
                "Account".to_owned(),
                fls(&[("Name", true), ("Industry", false)]),
            ),
            (
                "Contact".to_owned(),
                fls(&[("LastName", true), ("AccountId", true)]),
            ),
            (
                "Case".to_owned(),
                fls(&[("Subject", true), ("Status", true), ("ContactId", true)]),
            ),
        ]
        .into_iter()
        .collect(),
    }
}

/// Customers read, create and edit cases; nothing else.
fn customer_profile() -> PermissionSet {
    PermissionSet {
        id: PermissionSetId::new("customer"),
        objects: [(
            "Case".to_owned(),
            ObjectPermissions {
                read: true,
                create: true,
                edit: true,
                ..ObjectPermissions::default()
            },
        )]
        .into_iter()
        .collect(),
        fields: [(
            "Case".to_owned(),
            fls(&[("Subject", true), ("ContactId", true)]),
        )]
        .into_iter()
        .collect(),
    }
}

/// CEO → VP → reps.
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
        profiles: vec![standard_profile(), customer_profile()],
        permission_sets: Vec::new(),
        sharing_rules: Vec::new(),
        manual_shares: Vec::new(),
        objects: builtin_objects(),
    }
}

pub(crate) fn record(
    object: &str,
    id: RecordId,
    owner: &str,
    fields: &[(&str, JsonValue)],
) -> Record {
    Record {
        id,
        object: object.to_owned(),
        owner_id: UserId::new(owner),
        fields: changes(fields),
    }
}

pub(crate) fn changes(fields: &[(&str, JsonValue)]) -> BTreeMap<String, JsonValue> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The sales team of `small_org`, with two accounts: `mine` (rep's) and `theirs` (peer's).
pub(crate) struct Team {
    pub(crate) org: Org,
    pub(crate) rep: OrgUser,
    pub(crate) peer: OrgUser,
    pub(crate) vp: OrgUser,
    pub(crate) tenant_id: TenantId,
    pub(crate) mine: RecordId,
    pub(crate) theirs: RecordId,
}

impl Team {
    fn user(&self, name: &str) -> &OrgUser {
        self.org.users.iter().find(|u| u.id.0 == name).unwrap()
    }
}

pub(crate) async fn team(store: &dyn Store) -> Team {
    let (rep, peer, vp) = (
        internal("rep", Some("rep")),
        internal("peer", Some("rep")),
        internal("vp", Some("vp")),
    );
    let org = small_org(vec![rep.clone(), peer.clone(), vp.clone()]);
    let acme = tenant(store, "acme").await;
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
    Team {
        org,
        rep,
        peer,
        vp,
        tenant_id: acme.id,
        mine,
        theirs,
    }
}

/// The record as stored, read by the auditor.
pub(crate) async fn read(
    store: &dyn Store,
    tenant_id: TenantId,
    org: &Org,
    id: &RecordId,
) -> Option<Record> {
    let mut org = org.clone();
    let auditor = auditor(&mut org);
    store
        .get_visible(tenant_id, &org, &auditor, id)
        .await
        .unwrap()
        .map(|v| v.record)
}

#[track_caller]
fn assert_denied(err: RecordWriteError, expected: &AccessDenied) {
    match err {
        RecordWriteError::Denied(denied) => assert_eq!(&denied, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found(err: RecordWriteError, expected: &RecordId) {
    match err {
        RecordWriteError::NotFound { id } => assert_eq!(&id, expected),
        other => panic!("expected not found, got {other:?}"),
    }
}

async fn a_field_without_edit_access_is_rejected_by_name_and_nothing_changes(db: TestDb) {
    let store = &*db.store;
    let t = team(store).await;
    let before = read(store, t.tenant_id, &t.org, &t.mine).await.unwrap();
    let events = outbox_len(store).await;
    let wanted = changes(&[("Name", text("Acme Corp")), ("Industry", text("Finance"))]);

    let err = store
        .update_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            &t.mine,
            wanted.clone(),
            at(2),
            None,
            event(t.tenant_id, "record.update"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`Industry`"), "{err}");
    assert_denied(
        err,
        &AccessDenied::FieldNotEditable {
            object: "Account".to_owned(),
            field: "Industry".to_owned(),
        },
    );
    assert_eq!(
        read(store, t.tenant_id, &t.org, &t.mine).await,
        Some(before)
    );
    assert_eq!(outbox_len(store).await, events);

    // Creating with the field is refused alike, and creates nothing.
    let new_id = id("001", 3);
    let err = store
        .create_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            record(
                "Account",
                new_id.clone(),
                "rep",
                &[("Industry", text("Finance"))],
            ),
            at(2),
            None,
            event(t.tenant_id, "record.create"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`Industry`"), "{err}");
    assert_eq!(read(store, t.tenant_id, &t.org, &new_id).await, None);
    assert_eq!(outbox_len(store).await, events);

    // The opt-in partial mode: drop what the user cannot edit, report it, write the rest.
    let (kept, dropped) = strip_uneditable(&t.org, &t.rep, "Account", &wanted);
    assert_eq!(dropped, ["Industry"]);
    let updated = store
        .update_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            &t.mine,
            kept,
            at(3),
            None,
            event(t.tenant_id, "record.update"),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.fields,
        changes(&[("Name", text("Acme Corp")), ("Industry", text("Retail"))])
    );
    assert_eq!(
        read(store, t.tenant_id, &t.org, &t.mine).await,
        Some(updated)
    );
    assert_eq!(outbox_len(store).await, events + 1);
}

async fn a_rep_cannot_update_a_peers_private_account_but_their_manager_can(db: TestDb) {
    let store = &*db.store;
    let t = team(store).await;
    let rename = changes(&[("Name", text("Mine now"))]);
    let update = |user: &OrgUser, id: &RecordId, tenant_id: TenantId| {
        let (user, id, rename) = (user.clone(), id.clone(), rename.clone());
        let org = t.org.clone();
        async move {
            store
                .update_record(
                    tenant_id,
                    &org,
                    &user,
                    &id,
                    rename,
                    at(2),
                    None,
                    event(tenant_id, "record.update"),
                )
                .await
        }
    };

    // A peer's private account looks exactly like one that does not exist.
    assert_not_found(
        update(&t.rep, &t.theirs, t.tenant_id).await.unwrap_err(),
        &t.theirs,
    );
    let absent = id("001", 99);
    assert_not_found(
        update(&t.rep, &absent, t.tenant_id).await.unwrap_err(),
        &absent,
    );
    let err = store
        .delete_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            &t.theirs,
            at(2),
            None,
            event(t.tenant_id, "record.delete"),
        )
        .await
        .unwrap_err();
    assert_not_found(err, &t.theirs);
    // Nor does another tenant reach acme's records.
    let other = tenant(store, "other").await;
    assert_not_found(
        update(&t.vp, &t.theirs, other.id).await.unwrap_err(),
        &t.theirs,
    );
    assert_eq!(
        read(store, t.tenant_id, &t.org, &t.theirs)
            .await
            .unwrap()
            .fields["Name"],
        text("Acme")
    );

    // The manager gets the owner's access.
    let updated = update(&t.vp, &t.theirs, t.tenant_id).await.unwrap();
    assert_eq!(updated.fields["Name"], text("Mine now"));
    assert_eq!(updated.owner_id, t.peer.id);
    assert_eq!(
        read(store, t.tenant_id, &t.org, &t.theirs).await,
        Some(updated)
    );
    // The owner, of course, too.
    update(&t.rep, &t.mine, t.tenant_id).await.unwrap();
}

async fn a_read_only_share_cannot_edit(db: TestDb) {
    let store = &*db.store;
    let mut t = team(store).await;
    t.org.manual_shares.push(ManualShare {
        record_id: t.theirs.clone(),
        share_with: ManualShareTarget::User(t.rep.id.clone()),
        access: ShareAccess::Read,
    });
    let err = store
        .update_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            &t.theirs,
            changes(&[("Name", text("Edited"))]),
            at(2),
            None,
            event(t.tenant_id, "record.update"),
        )
        .await
        .unwrap_err();
    assert_denied(
        err,
        &AccessDenied::RecordNotEditable {
            id: t.theirs.clone(),
        },
    );
    // Read-write sharing lets the edit through.
    t.org.manual_shares[0].access = ShareAccess::ReadWrite;
    let updated = store
        .update_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            &t.theirs,
            changes(&[("Name", text("Edited"))]),
            at(2),
            None,
            event(t.tenant_id, "record.update"),
        )
        .await
        .unwrap();
    assert_eq!(updated.fields["Name"], text("Edited"));
}

async fn delete_needs_full_access(db: TestDb) {
    let store = &*db.store;
    let mut t = team(store).await;
    t.org.manual_shares.push(ManualShare {
        record_id: t.theirs.clone(),
        share_with: ManualShareTarget::User(t.rep.id.clone()),
        access: ShareAccess::ReadWrite,
    });
    let delete = |user: OrgUser, id: RecordId, org: Org| async move {
        store
            .delete_record(
                t.tenant_id,
                &org,
                &user,
                &id,
                at(2),
                None,
                event(t.tenant_id, "record.delete"),
            )
            .await
    };
    // Sharing grants edit, never delete.
    let err = delete(t.rep.clone(), t.theirs.clone(), t.org.clone())
        .await
        .unwrap_err();
    assert_denied(
        err,
        &AccessDenied::DeleteNeedsFullAccess {
            id: t.theirs.clone(),
        },
    );
    // Without delete permission, not even the owner deletes.
    let mut no_delete = t.org.clone();
    no_delete.profiles[0]
        .objects
        .get_mut("Account")
        .unwrap()
        .delete = false;
    let err = delete(t.rep.clone(), t.mine.clone(), no_delete)
        .await
        .unwrap_err();
    assert_denied(
        err,
        &AccessDenied::MissingObjectPermission {
            object: "Account".to_owned(),
            permission: "delete",
        },
    );
    assert!(read(store, t.tenant_id, &t.org, &t.theirs).await.is_some());

    // The owner and the owner's manager have full access.
    delete(t.vp.clone(), t.theirs.clone(), t.org.clone())
        .await
        .unwrap();
    delete(t.rep.clone(), t.mine.clone(), t.org.clone())
        .await
        .unwrap();
    for gone in [&t.theirs, &t.mine] {
        assert_eq!(read(store, t.tenant_id, &t.org, gone).await, None);
        let err = delete(t.vp.clone(), gone.clone(), t.org.clone())
            .await
            .unwrap_err();
        assert_not_found(err, gone);
    }
}

async fn a_customer_cannot_create_a_case_for_another_contact(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let (alice_contact, bob_contact) = (id("003", 1), id("003", 2));
    let alice = customer("alice", &alice_contact);
    let agent = internal("agent", Some("rep"));
    let org = small_org(vec![alice.clone(), agent]);
    let case = |n: u64, contact: &RecordId| {
        record(
            "Case",
            id("500", n),
            "alice",
            &[
                ("Subject", text("Broken")),
                ("ContactId", text(contact.as_str())),
            ],
        )
    };

    let err = store
        .create_record(
            acme.id,
            &org,
            &alice,
            case(1, &bob_contact),
            at(2),
            None,
            event(acme.id, "record.create"),
        )
        .await
        .unwrap_err();
    assert_denied(
        err,
        &AccessDenied::CustomerLinkRequired {
            object: "Case".to_owned(),
        },
    );
    assert_eq!(read(store, acme.id, &org, &id("500", 1)).await, None);

    let created = store
        .create_record(
            acme.id,
            &org,
            &alice,
            case(2, &alice_contact),
            at(2),
            None,
            event(acme.id, "record.create"),
        )
        .await
        .unwrap();
    assert_eq!(read(store, acme.id, &org, &created.id).await, Some(created));
    // Nor may she hand her case over to another contact.
    let err = store
        .update_record(
            acme.id,
            &org,
            &alice,
            &id("500", 2),
            changes(&[("ContactId", text(bob_contact.as_str()))]),
            at(3),
            None,
            event(acme.id, "record.update"),
        )
        .await
        .unwrap_err();
    assert_denied(
        err,
        &AccessDenied::CustomerLinkRequired {
            object: "Case".to_owned(),
        },
    );
}

async fn controlled_by_parent_writes_follow_the_parent(db: TestDb) {
    let store = &*db.store;
    let t = team(store).await;
    let contact = id("003", 1);
    store
        .insert_records(
            t.tenant_id,
            vec![record(
                "Contact",
                contact.clone(),
                "peer",
                &[
                    ("LastName", text("Lovelace")),
                    ("AccountId", text(t.mine.as_str())),
                ],
            )],
            at(1),
            event(t.tenant_id, "records.import"),
        )
        .await
        .unwrap();
    let update = |user: OrgUser, fields: BTreeMap<String, JsonValue>| {
        let org = t.org.clone();
        let contact = contact.clone();
        async move {
            store
                .update_record(
                    t.tenant_id,
                    &org,
                    &user,
                    &contact,
                    fields,
                    at(2),
                    None,
                    event(t.tenant_id, "record.update"),
                )
                .await
        }
    };
    // Access follows the account (rep's), not the contact's owner (peer).
    update(t.rep.clone(), changes(&[("LastName", text("King"))]))
        .await
        .unwrap();
    assert_not_found(
        update(t.peer.clone(), changes(&[("LastName", text("X"))]))
            .await
            .unwrap_err(),
        &contact,
    );
    // Moving it under an account the rep cannot see is refused.
    let err = update(
        t.rep.clone(),
        changes(&[("AccountId", text(t.theirs.as_str()))]),
    )
    .await
    .unwrap_err();
    assert_denied(
        err,
        &AccessDenied::ParentNotAccessible {
            object: "Contact".to_owned(),
            field: "AccountId".to_owned(),
        },
    );
    // Creating a contact under it too.
    let err = store
        .create_record(
            t.tenant_id,
            &t.org,
            &t.rep,
            record(
                "Contact",
                id("003", 2),
                "rep",
                &[
                    ("LastName", text("Hopper")),
                    ("AccountId", text(t.theirs.to_15())),
                ],
            ),
            at(2),
            None,
            event(t.tenant_id, "record.create"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RecordWriteError::Denied(AccessDenied::ParentNotAccessible { .. })
    ));
    // Null clears the parent: the field is removed, and the orphan is its owner's (peer's).
    let orphaned = update(t.rep.clone(), changes(&[("AccountId", JsonValue::Null)]))
        .await
        .unwrap();
    assert_eq!(orphaned.fields, changes(&[("LastName", text("King"))]));
    assert_eq!(
        read(store, t.tenant_id, &t.org, &contact).await,
        Some(orphaned)
    );
    assert_not_found(
        update(t.rep.clone(), changes(&[("LastName", text("Y"))]))
            .await
            .unwrap_err(),
        &contact,
    );
    update(t.peer.clone(), changes(&[("LastName", text("Z"))]))
        .await
        .unwrap();
}

async fn a_create_with_a_taken_id_conflicts_only_after_the_access_check(db: TestDb) {
    let store = &*db.store;
    let t = team(store).await;
    let events = outbox_len(store).await;
    let create = |user: &OrgUser, org: &Org| {
        let (user, org) = (user.clone(), org.clone());
        let taken = t.theirs.clone();
        async move {
            store
                .create_record(
                    t.tenant_id,
                    &org,
                    &user,
                    record("Account", taken, "rep", &[("Name", text("Dup"))]),
                    at(2),
                    None,
                    event(t.tenant_id, "record.create"),
                )
                .await
        }
    };
    let err = create(&t.rep, &t.org).await.unwrap_err();
    assert!(
        matches!(&err, RecordWriteError::Conflict { id } if id == &t.theirs),
        "{err:?}"
    );
    // Without create permission the refusal is the permission, whatever exists.
    let mut no_create = t.org.clone();
    no_create.profiles[0]
        .objects
        .get_mut("Account")
        .unwrap()
        .create = false;
    let err = create(&t.rep, &no_create).await.unwrap_err();
    assert_denied(
        err,
        &AccessDenied::MissingObjectPermission {
            object: "Account".to_owned(),
            permission: "create",
        },
    );
    assert_eq!(
        read(store, t.tenant_id, &t.org, &t.theirs)
            .await
            .unwrap()
            .fields["Name"],
        text("Acme")
    );
    assert_eq!(outbox_len(store).await, events);
}

async fn an_audit_event_is_written_exactly_for_committed_writes(db: TestDb) {
    let store = &*db.store;
    let t = team(store).await;
    let mut committed: Vec<NewAuditEvent> = Vec::new();
    let rep = t.user("rep").clone();

    let audit = event(t.tenant_id, "record.create");
    let new_id = id("001", 5);
    store
        .create_record(
            t.tenant_id,
            &t.org,
            &rep,
            record("Account", new_id.clone(), "rep", &[("Name", text("New"))]),
            at(2),
            None,
            audit.clone(),
        )
        .await
        .unwrap();
    committed.push(audit);
    // Refused: a conflict, a field without edit, a record not visible, delete without full
    // access. None leaves an event.
    store
        .create_record(
            t.tenant_id,
            &t.org,
            &rep,
            record("Account", new_id.clone(), "rep", &[("Name", text("Again"))]),
            at(2),
            None,
            event(t.tenant_id, "record.create"),
        )
        .await
        .unwrap_err();
    store
        .update_record(
            t.tenant_id,
            &t.org,
            &rep,
            &new_id,
            changes(&[("Industry", text("Retail"))]),
            at(3),
            None,
            event(t.tenant_id, "record.update"),
        )
        .await
        .unwrap_err();
    store
        .update_record(
            t.tenant_id,
            &t.org,
            &rep,
            &t.theirs,
            changes(&[("Name", text("No"))]),
            at(3),
            None,
            event(t.tenant_id, "record.update"),
        )
        .await
        .unwrap_err();
    let mut shared = t.org.clone();
    shared.manual_shares.push(ManualShare {
        record_id: t.theirs.clone(),
        share_with: ManualShareTarget::User(rep.id.clone()),
        access: ShareAccess::ReadWrite,
    });
    store
        .delete_record(
            t.tenant_id,
            &shared,
            &rep,
            &t.theirs,
            at(4),
            None,
            event(t.tenant_id, "record.delete"),
        )
        .await
        .unwrap_err();
    // Committed: an update and a delete.
    let audit = event(t.tenant_id, "record.update");
    store
        .update_record(
            t.tenant_id,
            &shared,
            &rep,
            &t.theirs,
            changes(&[("Name", text("Shared edit"))]),
            at(3),
            None,
            audit.clone(),
        )
        .await
        .unwrap();
    committed.push(audit);
    let audit = event(t.tenant_id, "record.delete");
    store
        .delete_record(
            t.tenant_id,
            &t.org,
            &rep,
            &new_id,
            at(4),
            None,
            audit.clone(),
        )
        .await
        .unwrap();
    committed.push(audit);

    store
        .drain_audit_outbox(&TestSequencer, u32::MAX)
        .await
        .unwrap();
    let logged: Vec<Vec<u8>> = store
        .list_audit_events(t.tenant_id, &AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.action
                .as_deref()
                .is_some_and(|a| a.starts_with("record."))
        })
        .map(|e| e.canonical.unwrap())
        .collect();
    let expected: Vec<Vec<u8>> = committed.into_iter().map(|e| e.canonical).collect();
    assert_eq!(logged, expected);
}

async fn parent_chains_are_followed_to_the_depth_bound(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let rep = internal("rep", Some("rep"));
    let mut org = small_org(vec![rep.clone()]);
    org.objects.push(node_object());
    let profile = &mut org.profiles[0];
    let crud = profile.objects["Account"];
    profile.objects.insert("Node__c".to_owned(), crud);
    profile.fields.insert(
        "Node__c".to_owned(),
        fls(&[("Label__c", true), ("ParentId__c", true)]),
    );
    // N0 (rep's, a root) ← N1 ← … ← N9, each owned by nobody in the org.
    let node = |k: u64| id("a00", k);
    let chain: Vec<Record> = (0..10)
        .map(|k| {
            let mut fields = vec![("Label__c", text(&format!("N{k}")))];
            if k > 0 {
                fields.push(("ParentId__c", text(node(k - 1).as_str())));
            }
            record(
                "Node__c",
                node(k),
                if k == 0 { "rep" } else { "x" },
                &fields,
            )
        })
        .collect();
    store
        .insert_records(acme.id, chain, at(1), event(acme.id, "records.import"))
        .await
        .unwrap();
    let update = |k: u64, fields: BTreeMap<String, JsonValue>| {
        let (org, rep) = (org.clone(), rep.clone());
        async move {
            store
                .update_record(
                    acme.id,
                    &org,
                    &rep,
                    &node(k),
                    fields,
                    at(2),
                    None,
                    event(acme.id, "record.update"),
                )
                .await
        }
    };
    let create = |n: u64, parent: u64| {
        let (org, rep) = (org.clone(), rep.clone());
        async move {
            store
                .create_record(
                    acme.id,
                    &org,
                    &rep,
                    record(
                        "Node__c",
                        node(n),
                        "rep",
                        &[("ParentId__c", text(node(parent).as_str()))],
                    ),
                    at(2),
                    None,
                    event(acme.id, "record.create"),
                )
                .await
        }
    };
    let label = || changes(&[("Label__c", text("edited"))]);

    // N8 reaches its root in eight steps, N9 would need nine.
    update(8, label()).await.unwrap();
    assert_not_found(update(9, label()).await.unwrap_err(), &node(9));
    // A new child of N8 is allowed (N8 is visible: the store loads nine ancestors of the
    // new record), though the child itself is then too deep to see.
    create(20, 8).await.unwrap();
    assert_not_found(update(20, label()).await.unwrap_err(), &node(20));
    let err = create(21, 9).await.unwrap_err();
    assert!(
        matches!(
            err,
            RecordWriteError::Denied(AccessDenied::ParentNotAccessible { .. })
        ),
        "{err:?}"
    );
    // Re-parenting N5 under N8 is allowed (the check reads the chain as stored) and closes a
    // cycle N5 → N8 → N7 → N6 → N5, which grants nothing: N5 is out of reach.
    update(5, changes(&[("ParentId__c", text(node(8).as_str()))]))
        .await
        .unwrap();
    assert_not_found(update(5, label()).await.unwrap_err(), &node(5));
}
