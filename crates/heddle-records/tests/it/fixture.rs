//! A small company: CEO → sales VP → two reps; CEO → support manager → agent; two external
//! customers; a finance permission set; a criteria rule and an owner rule.

use std::collections::BTreeMap;

use heddle_records::{
    FieldPermissions, GroupId, ObjectPermissions, Org, OrgUser, PermissionSet, PermissionSetId,
    Record, RecordId, Role, RoleId, UserId, UserKind, builtin_objects,
};
use serde_json::{Value, json};

pub fn crud(read: bool, create: bool, edit: bool, delete: bool) -> ObjectPermissions {
    ObjectPermissions {
        read,
        create,
        edit,
        delete,
        view_all: false,
        modify_all: false,
    }
}

pub fn fls(read: bool, edit: bool) -> FieldPermissions {
    FieldPermissions { read, edit }
}

pub fn user(id: &str, role: Option<&str>, profile: &str) -> OrgUser {
    OrgUser {
        id: UserId::new(id),
        role: role.map(RoleId::new),
        profile: PermissionSetId::new(profile),
        permission_sets: Vec::new(),
        groups: Vec::new(),
        kind: UserKind::Internal,
    }
}

pub fn customer(id: &str, contact: &RecordId) -> OrgUser {
    OrgUser {
        kind: UserKind::Customer {
            contact_id: contact.clone(),
        },
        ..user(id, None, "customer")
    }
}

pub fn id(prefix: &str, n: u64) -> RecordId {
    RecordId::generate(prefix, n).unwrap()
}

pub fn record(object: &str, id: RecordId, owner: &str, fields: &[(&str, Value)]) -> Record {
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

fn all_fields(object: &str, access: FieldPermissions) -> BTreeMap<String, FieldPermissions> {
    builtin_objects()
        .into_iter()
        .find(|o| o.api_name == object)
        .unwrap()
        .fields
        .into_iter()
        .map(|f| (f.api_name, access))
        .collect()
}

fn standard_profile() -> PermissionSet {
    let full = crud(true, true, true, true);
    let mut objects = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for object in [
        "Account",
        "Contact",
        "Lead",
        "Opportunity",
        "Case",
        "Order",
        "Task",
    ] {
        objects.insert(object.to_owned(), full);
        fields.insert(object.to_owned(), all_fields(object, fls(true, true)));
    }
    // Revenue is for finance only.
    fields.get_mut("Account").unwrap().remove("AnnualRevenue");
    PermissionSet {
        id: PermissionSetId::new("standard"),
        objects,
        fields,
    }
}

fn customer_profile() -> PermissionSet {
    let objects = [
        ("Case", crud(true, true, false, false)),
        ("Order", crud(true, false, false, false)),
        ("Contact", crud(true, false, false, false)),
        ("Account", crud(true, false, false, false)),
    ]
    .into_iter()
    .map(|(o, p)| (o.to_owned(), p))
    .collect();
    let mut case_fields = all_fields("Case", fls(true, false));
    case_fields.insert("Subject".to_owned(), fls(true, true));
    case_fields.insert("Description".to_owned(), fls(true, true));
    case_fields.insert("ContactId".to_owned(), fls(true, true));
    let fields = [
        ("Case".to_owned(), case_fields),
        ("Order".to_owned(), all_fields("Order", fls(true, false))),
        (
            "Contact".to_owned(),
            all_fields("Contact", fls(true, false)),
        ),
    ]
    .into_iter()
    .collect();
    PermissionSet {
        id: PermissionSetId::new("customer"),
        objects,
        fields,
    }
}

pub struct Demo {
    pub org: Org,
    pub records: Vec<Record>,
}

impl Demo {
    pub fn user(&self, id: &str) -> &OrgUser {
        self.org.users.iter().find(|u| u.id.0 == id).unwrap()
    }

    /// A record by its `Name`, `Subject` or `LastName`, or by its id.
    pub fn record(&self, name: &str) -> &Record {
        let label = |r: &Record| {
            ["Name", "Subject", "LastName"]
                .iter()
                .find_map(|f| r.fields.get(*f))
                .cloned()
        };
        self.records
            .iter()
            .find(|r| label(r) == Some(json!(name)) || r.id.as_str() == name)
            .unwrap_or_else(|| panic!("no record {name}"))
    }
}

pub const ACME: u64 = 1;
pub const C1: u64 = 1;
pub const C2: u64 = 2;

pub fn demo() -> Demo {
    let roles = [
        ("ceo", None),
        ("sales_vp", Some("ceo")),
        ("sales_rep", Some("sales_vp")),
        ("support_mgr", Some("ceo")),
        ("support_agent", Some("support_mgr")),
    ]
    .into_iter()
    .map(|(id, parent)| Role {
        id: RoleId::new(id),
        parent: parent.map(RoleId::new),
    })
    .collect();
    let c1 = id("003", C1);
    let c2 = id("003", C2);
    let mut finance = user("finance", Some("ceo"), "standard");
    finance
        .permission_sets
        .push(PermissionSetId::new("finance"));
    let mut marketer = user("marketer", None, "standard");
    marketer.groups.push(GroupId::new("marketing"));
    let users = vec![
        user("ceo", Some("ceo"), "standard"),
        user("vp", Some("sales_vp"), "standard"),
        user("rep_a", Some("sales_rep"), "standard"),
        user("rep_b", Some("sales_rep"), "standard"),
        user("sup_mgr", Some("support_mgr"), "standard"),
        user("agent", Some("support_agent"), "standard"),
        user("no_access", Some("sales_rep"), "none"),
        finance,
        marketer,
        customer("cust_1", &c1),
        customer("cust_2", &c2),
    ];
    let finance_set = PermissionSet {
        id: PermissionSetId::new("finance"),
        objects: BTreeMap::new(),
        fields: [(
            "Account".to_owned(),
            [("AnnualRevenue".to_owned(), fls(true, false))]
                .into_iter()
                .collect(),
        )]
        .into_iter()
        .collect(),
    };
    let org = Org {
        users,
        roles,
        profiles: vec![
            standard_profile(),
            customer_profile(),
            PermissionSet {
                id: PermissionSetId::new("none"),
                objects: BTreeMap::new(),
                fields: BTreeMap::new(),
            },
        ],
        permission_sets: vec![finance_set],
        sharing_rules: Vec::new(),
        manual_shares: Vec::new(),
        objects: builtin_objects(),
    };
    let acme = id("001", ACME);
    let globex = id("001", 2);
    let records = vec![
        record(
            "Account",
            acme.clone(),
            "rep_a",
            &[
                ("Name", json!("Acme")),
                ("Industry", json!("Finance")),
                ("AnnualRevenue", json!(1_000_000)),
            ],
        ),
        record(
            "Account",
            globex.clone(),
            "rep_b",
            &[("Name", json!("Globex")), ("Industry", json!("Technology"))],
        ),
        record(
            "Account",
            id("001", 3),
            "rep_b",
            &[
                ("Name", json!("Initech")),
                ("Industry", json!("Technology")),
            ],
        ),
        record(
            "Account",
            id("001", 4),
            "rep_b",
            &[("Name", json!("Umbrella")), ("Industry", json!("Retail"))],
        ),
        record(
            "Contact",
            c1.clone(),
            "rep_a",
            &[
                ("LastName", json!("One")),
                ("AccountId", json!(acme.as_str())),
            ],
        ),
        record(
            "Contact",
            c2.clone(),
            "rep_b",
            &[
                ("LastName", json!("Two")),
                ("AccountId", json!(globex.as_str())),
            ],
        ),
        record(
            "Contact",
            id("003", 3),
            "rep_b",
            &[("LastName", json!("Orphan"))],
        ),
        record(
            "Case",
            id("500", 1),
            "agent",
            &[
                ("Subject", json!("Case of one")),
                ("Status", json!("New")),
                ("ContactId", json!(c1.to_15())),
            ],
        ),
        // Owned by customer one, but linked to customer two: ownership must not matter.
        record(
            "Case",
            id("500", 2),
            "cust_1",
            &[
                ("Subject", json!("Case of two")),
                ("Status", json!("New")),
                ("ContactId", json!(c2.as_str())),
            ],
        ),
        record(
            "Order",
            id("801", 1),
            "rep_a",
            &[
                ("AccountId", json!(acme.as_str())),
                ("ContactId", json!(c1.as_str())),
            ],
        ),
        record(
            "Order",
            id("801", 2),
            "rep_b",
            &[
                ("AccountId", json!(globex.as_str())),
                ("ContactId", json!(c2.as_str())),
            ],
        ),
        record(
            "Lead",
            id("00Q", 1),
            "rep_a",
            &[
                ("LastName", json!("Lead of a")),
                ("Company", json!("Hooli")),
            ],
        ),
    ];
    Demo { org, records }
}
