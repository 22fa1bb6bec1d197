//! Structured record queries: on random orgs and random queries (every operator on every field
//! type, `and`/`or`/`not`, orders, page sizes), the store's pages, read through the cursor and
//! concatenated, equal the reference: the visible records (`record_access`) that `matches`,
//! sorted by `compare`, stripped (`strip_inaccessible`) and projected. Plus table tests for
//! refusals that must not leak, and page boundaries inside runs of equal sort values.

use std::collections::BTreeMap;

use heddle_records::query::FieldUse;
use heddle_records::{
    Access, DataClassification, FieldAccess, FieldDef, FieldPermissions, FieldType, GroupId,
    ManualShare, ManualShareTarget, ObjectDef, ObjectPermissions, Org, OrgUser, OrgWideDefault,
    PermissionSet, PermissionSetId, QueryError, Record, RecordId, RecordQuery, Role, RoleId,
    ShareAccess, ShareTarget, SharingRule, SharingRuleKind, UserId, UserKind, ValidQuery,
    field_access, object_permissions, record_access, strip_inaccessible, validate_query,
};
use heddle_store::{RecordQueryError, Store, VisibleRecord};
use heddle_types::TenantId;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    query_pages_match_the_reference_evaluator,
    sorting_by_an_unreadable_field_is_refused,
    a_filter_on_an_unreadable_field_is_refused,
    a_page_boundary_inside_equal_sort_values_loses_and_repeats_nothing,
    text_sorts_bytewise_and_wrong_types_are_null,
);

/// Random orgs per engine, and random queries per user of each.
const CASES: usize = 24;
const QUERIES_PER_USER: usize = 6;

const OBJECT: &str = "Widget__c";
const PREFIX: &str = "a00";
/// A name no JSON path can quote, so SQLite's fallback lookup is exercised too.
const ODD: &str = "Say \"hi\"\\now";

/// Every field type, by name.
const FIELDS: [(&str, Kind); 11] = [
    ("Name", Kind::Text),
    ("Email", Kind::Text),
    ("Phone", Kind::Text),
    (ODD, Kind::Text),
    ("Qty", Kind::Number),
    ("Price", Kind::Number),
    ("Due", Kind::Date),
    ("Stage", Kind::Picklist),
    ("Parent", Kind::Widget),
    ("Contact", Kind::Contact),
    ("Flag", Kind::Boolean),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Date,
    Picklist,
    Widget,
    Contact,
    Owner,
    Boolean,
}

const TEXTS: [&str; 17] = [
    "", "a", "A", "ab", "abc", "b", "B", "Z", "z", "é", "ä", "aé", "a b", "10", "9", "Ωmega", "😀",
];
const PREFIXES: [&str; 7] = ["", "a", "A", "é", "b", "1", "ab"];
const NUMBERS: [&str; 11] = [
    "-3", "-1.5", "0", "0.5", "1", "1.0", "2", "2.5", "10", "1000", "1000.5",
];
const DATES: [&str; 5] = [
    "2024-01-01",
    "2024-02-29",
    "2024-12-31",
    "2025-06-15",
    "2023-07-04",
];
const STAGES: [&str; 4] = ["New", "Open", "Won", "Lost"];
const WIDGETS: u64 = 40;

fn rid(prefix: &str, n: u64) -> RecordId {
    RecordId::generate(prefix, n).unwrap()
}

/// Ids with letters of both cases, so their 15- and 18-character forms differ in more than
/// the suffix.
fn widget(n: u64) -> RecordId {
    rid(PREFIX, 1_000_000_000_000_000 + n * 7_919)
}

fn contact(n: u8) -> RecordId {
    rid("003", 3_000_000_000_000_000_001 + u64::from(n % 2))
}

/// User ids whose last character runs through `a`, `B`, `A`, `b`, …: bytewise and
/// linguistic order disagree on them.
fn owner(n: usize) -> RecordId {
    const LAST_DIGIT: [u64; 7] = [36, 11, 10, 37, 1, 62 + 36, 62 + 10];
    rid("005", 500_000_000_000 + LAST_DIGIT[n % 7])
}

fn user_id(n: usize) -> String {
    owner(n).as_str().to_owned()
}

/// An id in one of its stored forms: canonical, 15 characters, or folded to lower case.
fn id_form(id: &RecordId, form: u8) -> String {
    match form % 3 {
        0 => id.as_str().to_owned(),
        1 => id.to_15().to_owned(),
        _ => id.as_str().to_ascii_lowercase(),
    }
}

fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// A stored value of `kind`: mostly well typed, sometimes null, absent (`None`) or of another
/// JSON type.
fn stored(kind: Kind, a: u8, b: u8) -> Option<Value> {
    let pick = usize::from(a);
    match b % 10 {
        0 => return None,
        1 => return Some(Value::Null),
        2 => {
            return Some(match kind {
                Kind::Number | Kind::Boolean => json!("1"),
                Kind::Text | Kind::Date | Kind::Picklist => json!(5),
                Kind::Widget | Kind::Contact | Kind::Owner => json!(7),
            });
        }
        _ => {}
    }
    Some(match kind {
        Kind::Text => json!(TEXTS[pick % TEXTS.len()]),
        Kind::Number => number(NUMBERS[pick % NUMBERS.len()]),
        // A string that is no date still sorts as text.
        Kind::Date if b % 10 == 3 => json!("soon"),
        Kind::Date => json!(DATES[pick % DATES.len()]),
        Kind::Picklist if b % 10 == 3 => json!("Legacy"),
        Kind::Picklist => json!(STAGES[pick % STAGES.len()]),
        Kind::Widget => json!(id_form(&widget(u64::from(a) % WIDGETS), b / 10)),
        Kind::Contact => json!(id_form(&contact(a), b / 10)),
        Kind::Owner => json!(user_id(pick % 7)),
        Kind::Boolean => json!(a.is_multiple_of(2)),
    })
}

fn widget_def(sharing_default: OrgWideDefault) -> ObjectDef {
    let field = |name: &str, field_type| FieldDef {
        api_name: name.to_owned(),
        label: name.to_owned(),
        field_type,
        classification: DataClassification::Internal,
        required: false,
    };
    ObjectDef {
        api_name: OBJECT.to_owned(),
        label: "Widget".to_owned(),
        key_prefix: PREFIX.to_owned(),
        sharing_default,
        parent: None,
        customer_link: Some("Contact".to_owned()),
        fields: vec![
            field("Name", FieldType::Text { max_len: 80 }),
            field("Email", FieldType::Email),
            field("Phone", FieldType::Phone),
            field(ODD, FieldType::Text { max_len: 80 }),
            field("Qty", FieldType::Number),
            field("Price", FieldType::Currency),
            field("Due", FieldType::Date),
            field(
                "Stage",
                FieldType::Picklist {
                    values: STAGES.map(str::to_owned).to_vec(),
                },
            ),
            field(
                "Parent",
                FieldType::Reference {
                    to: OBJECT.to_owned(),
                },
            ),
            field(
                "Contact",
                FieldType::Reference {
                    to: "Contact".to_owned(),
                },
            ),
            field("Flag", FieldType::Boolean),
        ],
    }
}

#[derive(Debug, Clone)]
struct World {
    org: Org,
    records: Vec<Record>,
}

type UserSpec = (Option<u8>, u8, Option<u8>, u8, [u8; 11]);

fn build(
    public: bool,
    role_parents: Vec<Option<u8>>,
    users: Vec<UserSpec>,
    records: Vec<(u8, [(u8, u8); 11])>,
    rules: Vec<(bool, u8, u8, u8)>,
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
    let role = |n: u8| RoleId::new(format!("r{}", usize::from(n) % n_roles.max(1)));
    let target = |kind: u8, n: u8| match kind % 3 {
        0 if n_roles > 0 => ShareTarget::Role(role(n)),
        1 if n_roles > 0 => ShareTarget::RoleAndSubordinates(role(n)),
        _ => ShareTarget::Group(GroupId::new(format!("g{}", n % 2))),
    };
    let mut profiles = Vec::new();
    let mut org_users = Vec::new();
    for (i, (role_n, groups, customer, object_bits, field_bits)) in users.into_iter().enumerate() {
        let perms = ObjectPermissions {
            read: object_bits % 8 != 0,
            create: false,
            edit: object_bits & 8 != 0,
            delete: false,
            view_all: object_bits & 0x30 == 0x30,
            modify_all: false,
        };
        let fields = FIELDS
            .iter()
            .zip(field_bits)
            .map(|((name, _), bits)| {
                (
                    (*name).to_owned(),
                    FieldPermissions {
                        read: bits % 8 != 0,
                        edit: false,
                    },
                )
            })
            .collect();
        profiles.push(PermissionSet {
            id: PermissionSetId::new(format!("p{i}")),
            objects: BTreeMap::from([(OBJECT.to_owned(), perms)]),
            fields: BTreeMap::from([(OBJECT.to_owned(), fields)]),
        });
        org_users.push(OrgUser {
            id: UserId::new(user_id(i)),
            role: role_n.filter(|_| n_roles > 0).map(role),
            profile: PermissionSetId::new(format!("p{i}")),
            permission_sets: Vec::new(),
            groups: (0..2)
                .filter(|g| groups & (1 << g) != 0)
                .map(|g| GroupId::new(format!("g{g}")))
                .collect(),
            kind: match customer {
                Some(c) => UserKind::Customer {
                    contact_id: contact(c),
                },
                None => UserKind::Internal,
            },
        });
    }
    let n_users = org_users.len();
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (owner, values))| Record {
            id: widget(i as u64),
            object: OBJECT.to_owned(),
            // One owner id in seven is no user of the org.
            owner_id: UserId::new(user_id(usize::from(owner) % (n_users + 1))),
            fields: FIELDS
                .iter()
                .zip(values)
                .filter_map(|((name, kind), (a, b))| {
                    stored(*kind, a, b).map(|v| ((*name).to_owned(), v))
                })
                .collect(),
        })
        .collect();
    let sharing_rules = rules
        .into_iter()
        .map(|(criteria, a, b, c)| SharingRule {
            object: OBJECT.to_owned(),
            kind: if criteria {
                SharingRuleKind::CriteriaBased {
                    field: "Stage".to_owned(),
                    equals: json!(STAGES[usize::from(a) % STAGES.len()]),
                }
            } else {
                SharingRuleKind::OwnerBased {
                    owned_by: target(a, b),
                }
            },
            share_with: target(c, b.wrapping_add(c)),
            access: ShareAccess::Read,
        })
        .collect();
    let manual_shares = shares
        .into_iter()
        .filter(|_| !records.is_empty())
        .map(|(r, t)| ManualShare {
            record_id: records[usize::from(r) % records.len()].id.clone(),
            share_with: if t % 3 == 0 {
                ManualShareTarget::Group(GroupId::new(format!("g{}", t % 2)))
            } else {
                ManualShareTarget::User(UserId::new(user_id(usize::from(t) % n_users)))
            },
            access: ShareAccess::Read,
        })
        .collect();
    let sharing_default = if public {
        OrgWideDefault::PublicReadOnly
    } else {
        OrgWideDefault::Private
    };
    World {
        org: Org {
            users: org_users,
            roles,
            profiles,
            permission_sets: Vec::new(),
            sharing_rules,
            manual_shares,
            objects: vec![widget_def(sharing_default)],
        },
        records,
    }
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::bool::weighted(0.25),
        prop::collection::vec(prop::option::of(any::<u8>()), 0..4),
        prop::collection::vec(
            (
                prop::option::of(any::<u8>()),
                any::<u8>(),
                prop::option::weighted(0.2, any::<u8>()),
                any::<u8>(),
                any::<[u8; 11]>(),
            ),
            1..6,
        ),
        prop::collection::vec((any::<u8>(), any::<[(u8, u8); 11]>()), 25..40),
        prop::collection::vec((any::<bool>(), any::<u8>(), any::<u8>(), any::<u8>()), 0..3),
        prop::collection::vec((any::<u8>(), any::<u8>()), 0..3),
    )
        .prop_map(|(public, roles, users, records, rules, shares)| {
            build(public, roles, users, records, rules, shares)
        })
}

/// The fields a query may name: the object's, `Id` and `OwnerId`.
fn query_field(n: usize) -> (&'static str, Kind) {
    match n % (FIELDS.len() + 2) {
        i if i < FIELDS.len() => FIELDS[i],
        i if i == FIELDS.len() => ("Id", Kind::Widget),
        _ => ("OwnerId", Kind::Owner),
    }
}

/// A valid operand for `kind`.
fn operand(kind: Kind, a: u8, b: u8) -> Value {
    let pick = usize::from(a);
    match kind {
        Kind::Text => json!(TEXTS[pick % TEXTS.len()]),
        Kind::Number => number(NUMBERS[pick % NUMBERS.len()]),
        Kind::Date => json!(DATES[pick % DATES.len()]),
        // Any letter case names the value.
        Kind::Picklist if b.is_multiple_of(4) => {
            json!(STAGES[pick % STAGES.len()].to_ascii_uppercase())
        }
        Kind::Picklist => json!(STAGES[pick % STAGES.len()]),
        Kind::Widget => json!(id_form(&widget(u64::from(a) % WIDGETS), b)),
        Kind::Contact => json!(id_form(&contact(a), b)),
        Kind::Owner => json!(id_form(&owner(usize::from(a)), b)),
        Kind::Boolean => json!(a.is_multiple_of(2)),
    }
}

fn condition((field, op, a, b): (usize, u8, u8, u8)) -> Value {
    let (name, kind) = query_field(field);
    let ops: &[&str] = match kind {
        Kind::Text => &[
            "eq",
            "ne",
            "lt",
            "le",
            "gt",
            "ge",
            "in",
            "starts_with",
            "contains",
            "is_null",
        ],
        Kind::Number | Kind::Date => &["eq", "ne", "lt", "le", "gt", "ge", "in", "is_null"],
        Kind::Picklist | Kind::Widget | Kind::Contact | Kind::Owner => {
            &["eq", "ne", "in", "is_null"]
        }
        Kind::Boolean => &["eq", "ne", "is_null"],
    };
    let op = ops[usize::from(op) % ops.len()];
    let value = match op {
        "is_null" => json!(a.is_multiple_of(2)),
        "starts_with" | "contains" => json!(PREFIXES[usize::from(a) % PREFIXES.len()]),
        "in" => Value::Array(
            (0..=b % 3)
                .map(|i| operand(kind, a.wrapping_add(i.wrapping_mul(37)), b / 3 + i))
                .collect(),
        ),
        _ => operand(kind, a, b),
    };
    json!({"field": name, "op": op, "value": value})
}

fn filter() -> impl Strategy<Value = Value> {
    let leaf = (0..FIELDS.len() + 2, any::<u8>(), any::<u8>(), any::<u8>()).prop_map(condition);
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|all| json!({ "and": all })),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|any| json!({ "or": any })),
            inner.prop_map(|f| json!({ "not": f })),
        ]
    })
}

fn query() -> impl Strategy<Value = RecordQuery> {
    (
        prop::option::weighted(0.8, filter()),
        prop::collection::vec((0..FIELDS.len() + 2, any::<bool>()), 0..=3),
        1u32..9,
        prop::option::weighted(0.3, prop::collection::vec(0..FIELDS.len() + 2, 1..4)),
    )
        .prop_map(|(filter, order, limit, fields)| {
            serde_json::from_value(json!({
                "object": OBJECT,
                "fields": fields
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| query_field(f).0)
                    .collect::<Vec<_>>(),
                "filter": filter,
                "order_by": order
                    .into_iter()
                    .map(|(f, desc)| json!({
                        "field": query_field(f).0,
                        "direction": if desc { "desc" } else { "asc" },
                    }))
                    .collect::<Vec<_>>(),
                "limit": limit,
            }))
            .unwrap()
        })
}

/// What the reference says a query returns, all pages together.
fn expected(
    world: &World,
    user: &OrgUser,
    query: &RecordQuery,
    valid: &ValidQuery,
) -> Vec<VisibleRecord> {
    let mut hits: Vec<&Record> = world
        .records
        .iter()
        .filter(|r| record_access(&world.org, user, r, &world.records) != Access::None)
        .filter(|r| valid.matches(r))
        .collect();
    hits.sort_by(|a, b| valid.compare(a, b));
    hits.into_iter()
        .map(|record| {
            let (mut fields, mut removed_fields) = strip_inaccessible(&world.org, user, record);
            if !query.fields.is_empty() {
                fields.retain(|name, _| query.fields.contains(name));
                removed_fields.retain(|name| query.fields.contains(name));
            }
            VisibleRecord {
                record: Record {
                    fields,
                    ..record.clone()
                },
                removed_fields,
            }
        })
        .collect()
}

/// Every page of `query`, through the cursor; checks page sizes and where the cursor ends.
async fn read_pages(
    store: &dyn Store,
    tenant_id: TenantId,
    org: &Org,
    user: &OrgUser,
    mut query: RecordQuery,
) -> Vec<VisibleRecord> {
    let limit = query.limit.unwrap_or(50) as usize;
    let mut out = Vec::new();
    for _ in 0..=200 {
        let valid = validate_query(org, user, &query).unwrap();
        let page = store
            .query_records(tenant_id, org, user, &valid)
            .await
            .unwrap();
        assert!(page.records.len() <= limit);
        out.extend(page.records.iter().cloned());
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(page.records.len(), limit, "a page before the last is full");
                query.cursor = Some(cursor);
            }
            None => return out,
        }
    }
    panic!("the cursor never ended");
}

async fn query_pages_match_the_reference_evaluator(db: TestDb) {
    let store = &*db.store;
    // Generated up front: the recursive filter strategy is not `Send`, so it cannot live
    // across an await.
    let cases: Vec<(World, Vec<RecordQuery>)> = {
        let mut runner = TestRunner::deterministic();
        let (worlds, queries) = (world(), query());
        (0..CASES)
            .map(|_| {
                let world = worlds.new_tree(&mut runner).unwrap().current();
                let queries = (0..world.org.users.len() * QUERIES_PER_USER)
                    .map(|_| queries.new_tree(&mut runner).unwrap().current())
                    .collect();
                (world, queries)
            })
            .collect()
    };
    let mut checked = 0;
    for (case, (world, queries)) in cases.into_iter().enumerate() {
        let mut queries = queries.into_iter();
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
            for _ in 0..QUERIES_PER_USER {
                let query = queries.next().unwrap();
                let valid = match validate_query(&world.org, user, &query) {
                    Ok(valid) => valid,
                    // Random queries name fields this user may not read: refused, rightly.
                    Err(QueryError::FieldNotReadable { field, .. }) => {
                        assert_eq!(
                            field_access(&world.org, user, OBJECT, &field),
                            FieldAccess::default()
                        );
                        continue;
                    }
                    Err(QueryError::ObjectNotReadable { .. }) => {
                        assert!(!object_permissions(&world.org, user, OBJECT).read);
                        continue;
                    }
                    Err(err) => panic!("{err}: {query:?}"),
                };
                let got = read_pages(store, acme.id, &world.org, user, query.clone()).await;
                assert_eq!(
                    got,
                    expected(&world, user, &query, &valid),
                    "case {case}, user {}, query {}\norg {:#?}",
                    user.id,
                    serde_json::to_string(&query).unwrap(),
                    world.org
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= CASES * 2, "only {checked} queries ran");
}

// ---- Table tests on a small Account org. ----

fn fls(names: &[&str]) -> BTreeMap<String, FieldPermissions> {
    names
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                FieldPermissions {
                    read: true,
                    edit: false,
                },
            )
        })
        .collect()
}

fn profile(id: &str, fields: &[&str]) -> PermissionSet {
    PermissionSet {
        id: PermissionSetId::new(id),
        objects: BTreeMap::from([(
            "Account".to_owned(),
            ObjectPermissions {
                read: true,
                view_all: true,
                ..ObjectPermissions::default()
            },
        )]),
        fields: BTreeMap::from([("Account".to_owned(), fls(fields))]),
    }
}

fn person(id: &str, profile: &str) -> OrgUser {
    OrgUser {
        id: UserId::new(id),
        role: None,
        profile: PermissionSetId::new(profile),
        permission_sets: Vec::new(),
        groups: Vec::new(),
        kind: UserKind::Internal,
    }
}

/// `rep` reads Name, Industry and Website; `finance` AnnualRevenue too. Both see every account.
fn accounts_org() -> (Org, OrgUser, OrgUser) {
    let rep = person("rep", "rep");
    let finance = person("finance", "finance");
    let org = Org {
        users: vec![rep.clone(), finance.clone()],
        roles: Vec::new(),
        profiles: vec![
            profile("rep", &["Name", "Industry", "Website"]),
            profile("finance", &["Name", "Industry", "Website", "AnnualRevenue"]),
        ],
        permission_sets: Vec::new(),
        sharing_rules: Vec::new(),
        manual_shares: Vec::new(),
        objects: heddle_records::builtin_objects(),
    };
    (org, rep, finance)
}

fn account(n: u64, fields: Value) -> Record {
    Record {
        id: rid("001", n),
        object: "Account".to_owned(),
        owner_id: UserId::new("rep"),
        fields: serde_json::from_value(fields).unwrap(),
    }
}

async fn seeded(store: &dyn Store, records: Vec<Record>) -> TenantId {
    let acme = tenant(store, "acme").await;
    store
        .insert_records(acme.id, records, at(1), event(acme.id, "records.import"))
        .await
        .unwrap();
    acme.id
}

fn parse(value: Value) -> RecordQuery {
    serde_json::from_value(value).unwrap()
}

async fn sorting_by_an_unreadable_field_is_refused(db: TestDb) {
    let store = &*db.store;
    let (org, rep, finance) = accounts_org();
    let tenant_id = seeded(
        store,
        (1..=4)
            .map(|n| account(n, json!({"Name": "A", "AnnualRevenue": 10 - n})))
            .collect(),
    )
    .await;
    let by_revenue = parse(json!({"object": "Account", "order_by": [{"field": "AnnualRevenue"}]}));
    let refused = validate_query(&org, &rep, &by_revenue).unwrap_err();
    assert_eq!(
        refused,
        QueryError::FieldNotReadable {
            object: "Account".to_owned(),
            field: "AnnualRevenue".to_owned(),
            used_in: FieldUse::OrderBy,
        }
    );
    // The same refusal as for a field that does not exist: nothing to tell them apart.
    let unknown = validate_query(
        &org,
        &rep,
        &parse(json!({"object": "Account", "order_by": [{"field": "Bogus"}]})),
    )
    .unwrap_err();
    assert_eq!(
        refused.to_string().replace("AnnualRevenue", "F"),
        unknown.to_string().replace("Bogus", "F")
    );
    // A query validated for finance does not run for the rep: the store re-checks.
    let valid = validate_query(&org, &finance, &by_revenue).unwrap();
    let page = store
        .query_records(tenant_id, &org, &finance, &valid)
        .await
        .unwrap();
    assert_eq!(
        page.records
            .iter()
            .map(|r| r.record.id.clone())
            .collect::<Vec<_>>(),
        [4, 3, 2, 1].map(|n| rid("001", n))
    );
    let err = store
        .query_records(tenant_id, &org, &rep, &valid)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RecordQueryError::Query(QueryError::FieldNotReadable { field, .. }) if field == "AnnualRevenue"),
        "{err:?}"
    );
}

async fn a_filter_on_an_unreadable_field_is_refused(db: TestDb) {
    let store = &*db.store;
    let (org, rep, finance) = accounts_org();
    let tenant_id = seeded(
        store,
        vec![
            account(1, json!({"Name": "Rich", "AnnualRevenue": 1_000_000})),
            account(2, json!({"Name": "Poor", "AnnualRevenue": 5})),
        ],
    )
    .await;
    for filter in [
        json!({"field": "AnnualRevenue", "op": "gt", "value": 100}),
        // Hidden inside `not` and `or`, with an operator the field's type would refuse.
        json!({"or": [{"field": "Name", "op": "eq", "value": "Rich"},
                      {"not": {"field": "AnnualRevenue", "op": "contains", "value": "1"}}]}),
    ] {
        let query = parse(json!({"object": "Account", "filter": filter}));
        assert_eq!(
            validate_query(&org, &rep, &query).unwrap_err(),
            QueryError::FieldNotReadable {
                object: "Account".to_owned(),
                field: "AnnualRevenue".to_owned(),
                used_in: FieldUse::Filter,
            }
        );
    }
    let rich = parse(json!({"object": "Account", "fields": ["Name"],
        "filter": {"field": "AnnualRevenue", "op": "gt", "value": 100}}));
    let valid = validate_query(&org, &finance, &rich).unwrap();
    let page = store
        .query_records(tenant_id, &org, &finance, &valid)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].record.id, rid("001", 1));
    // Projected to the selection, even for a user who may read more.
    assert_eq!(
        page.records[0].record.fields,
        BTreeMap::from([("Name".to_owned(), json!("Rich"))])
    );
    assert!(page.next_cursor.is_none());
    assert!(matches!(
        store
            .query_records(tenant_id, &org, &rep, &valid)
            .await
            .unwrap_err(),
        RecordQueryError::Query(QueryError::FieldNotReadable { .. })
    ));
}

async fn a_page_boundary_inside_equal_sort_values_loses_and_repeats_nothing(db: TestDb) {
    let store = &*db.store;
    let (org, rep, _) = accounts_org();
    // Long runs of equal values and of nulls, inserted out of id order.
    let industries = [
        json!("Retail"),
        json!(null),
        json!("Finance"),
        json!("Retail"),
        json!(null),
        json!("Retail"),
        json!("Finance"),
        json!("Retail"),
        json!(null),
        json!("Retail"),
        json!("Retail"),
    ];
    let mut records: Vec<Record> = industries
        .iter()
        .enumerate()
        .map(|(i, industry)| {
            account(
                i as u64,
                json!({"Name": format!("n{}", i % 3), "Industry": industry}),
            )
        })
        .collect();
    records.reverse();
    let tenant_id = seeded(store, records).await;
    let ids = |ns: &[u64]| ns.iter().map(|n| rid("001", *n)).collect::<Vec<_>>();
    let cases = [
        (
            json!([{"field": "Industry"}]),
            ids(&[1, 4, 8, 2, 6, 0, 3, 5, 7, 9, 10]),
        ),
        (
            json!([{"field": "Industry", "direction": "desc"}]),
            ids(&[0, 3, 5, 7, 9, 10, 2, 6, 1, 4, 8]),
        ),
        (
            json!([{"field": "Industry", "direction": "desc"}, {"field": "Name"}]),
            ids(&[0, 3, 9, 7, 10, 5, 6, 2, 1, 4, 8]),
        ),
    ];
    for (order, want) in cases {
        for limit in 1..=4 {
            let query = parse(json!({"object": "Account", "order_by": order, "limit": limit}));
            let got = read_pages(store, tenant_id, &org, &rep, query).await;
            let got: Vec<RecordId> = got.into_iter().map(|r| r.record.id).collect();
            assert_eq!(got, want, "{order}, limit {limit}");
        }
    }
}

async fn text_sorts_bytewise_and_wrong_types_are_null(db: TestDb) {
    let store = &*db.store;
    let (org, rep, _) = accounts_org();
    let names = [
        json!("apple"),
        json!("Banana"),
        json!("éclair"),
        json!("zebra"),
        json!(42),
        json!(["a"]),
        json!("Zed"),
    ];
    let tenant_id = seeded(
        store,
        names
            .iter()
            .enumerate()
            .map(|(i, name)| account(i as u64, json!({ "Name": name })))
            .collect(),
    )
    .await;
    let run = |value: Value| {
        let query = parse(value);
        let (org, rep) = (&org, &rep);
        async move {
            read_pages(store, tenant_id, org, rep, query)
                .await
                .into_iter()
                .map(|r| r.record.id)
                .collect::<Vec<_>>()
        }
    };
    let ids = |ns: &[u64]| ns.iter().map(|n| rid("001", *n)).collect::<Vec<_>>();
    // Upper case before lower case, `é` after `z`; the number and the array sort as null.
    assert_eq!(
        run(json!({"object": "Account", "order_by": [{"field": "Name"}]})).await,
        ids(&[4, 5, 1, 6, 0, 3, 2])
    );
    assert_eq!(
        run(json!({"object": "Account", "filter": {"field": "Name", "op": "is_null", "value": true}}))
            .await,
        ids(&[4, 5])
    );
    assert_eq!(
        run(
            json!({"object": "Account", "filter": {"field": "Name", "op": "ne", "value": "apple"}})
        )
        .await,
        ids(&[1, 2, 3, 4, 5, 6])
    );
    assert_eq!(
        run(json!({"object": "Account", "filter": {"field": "Name", "op": "gt", "value": "Zed"}}))
            .await,
        ids(&[0, 2, 3])
    );
}
