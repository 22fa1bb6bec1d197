//! The org configuration: a valid one builds a directory the evaluator uses; an invalid one
//! reports every problem with its path. Configs are written as JSON here (the YAML shape is the
//! same; heddle-records does not parse YAML).

use std::collections::BTreeSet;

use heddle_records::{
    Access, ConfigError, NoRecords, OrgConfig, OrgDirectory, OrgWideDefault, RecordId, UserId,
    UserKind, record_access,
};
use serde_json::{Value, json};

use crate::fixture::record;

const CEO: &str = "005000000000001"; // 15-character form on purpose
const CEO_18: &str = "005000000000001AAA";
const REP: &str = "005000000000002AAA";
const CUSTOMER: &str = "005000000000003AAA";
const SYNC: &str = "005000000000004AAA";

fn contact_id() -> RecordId {
    RecordId::generate("003", 42).unwrap()
}

fn valid() -> Value {
    json!({
        "roles": [{ "id": "ceo" }, { "id": "sales_rep", "parent": "ceo" }],
        "groups": [{ "id": "escalations", "description": "people who see escalated cases" }],
        "profiles": [
            {
                "id": "standard",
                "objects": {
                    "Account": { "read": true, "create": true, "edit": true },
                    "Warranty_Claim__c": { "read": true }
                },
                "fields": { "Account": { "Name": { "read": true, "edit": true } } }
            },
            {
                "id": "customer",
                "objects": { "Case": { "read": true, "create": true } },
                "fields": { "Case": { "Subject": { "read": true, "edit": true } } }
            }
        ],
        "permission_sets": [
            { "id": "data_admin", "objects": { "Account": { "modify_all": true } } }
        ],
        "users": [
            { "id": CEO, "login": "ceo", "role": "ceo", "profile": "standard",
              "permission_sets": ["data_admin"] },
            { "id": REP, "login": "rep.ana", "role": "sales_rep", "profile": "standard",
              "groups": ["escalations"] },
            { "id": CUSTOMER, "login": "customer.ivy", "profile": "customer",
              "kind": "customer", "contact_id": contact_id().to_15() },
            { "id": SYNC, "profile": "standard" }
        ],
        "sharing_rules": [
            { "object": "Case", "kind": { "criteria_based": { "field": "Priority", "equals": "High" } },
              "share_with": { "group": "escalations" }, "access": "read" },
            { "object": "Account", "kind": { "owner_based": { "owned_by": { "role": "sales_rep" } } },
              "share_with": { "role_and_subordinates": "ceo" }, "access": "read_write" },
            { "object": "Warranty_Claim__c",
              "kind": { "criteria_based": { "field": "Status__c", "equals": "Open" } },
              "share_with": { "role": "sales_rep" }, "access": "read" }
        ],
        "manual_shares": [
            { "record_id": RecordId::generate("006", 7).unwrap(),
              "share_with": { "user": "005000000000002" }, "access": "read" }
        ],
        "service_users": [
            { "user": SYNC, "justification": "nightly ERP sync must see every order to reconcile" }
        ],
        "custom_objects": [{
            "api_name": "Warranty_Claim__c",
            "label": "Warranty Claim",
            "key_prefix": "a00",
            "sharing_default": "private",
            "customer_link": "Contact__c",
            "fields": [
                { "api_name": "Status__c", "label": "Status", "classification": "internal",
                  "field_type": { "type": "picklist", "values": ["Open", "Closed"] } },
                { "api_name": "Contact__c", "label": "Contact", "classification": "internal",
                  "field_type": { "type": "reference", "to": "Contact" } },
                { "api_name": "Phone__c", "label": "Phone", "classification": "pii",
                  "field_type": { "type": "phone" } }
            ]
        }],
        "objects": { "Lead": { "sharing_default": "public_read_only" } }
    })
}

fn config(value: Value) -> OrgConfig {
    serde_json::from_value(value).unwrap()
}

fn build(value: Value) -> OrgDirectory {
    match config(value).build() {
        Ok(directory) => directory,
        Err(errors) => panic!("{errors:#?}"),
    }
}

fn errors_of(value: Value) -> Vec<ConfigError> {
    match config(value).build() {
        Ok(_) => panic!("the config built"),
        Err(errors) => errors,
    }
}

fn paths(errors: &[ConfigError]) -> BTreeSet<&str> {
    errors.iter().map(|e| e.path.as_str()).collect()
}

fn message<'a>(errors: &'a [ConfigError], path: &str) -> &'a str {
    errors
        .iter()
        .find(|e| e.path == path)
        .map(|e| e.message.as_str())
        .unwrap_or_else(|| panic!("no error at {path}: {errors:#?}"))
}

#[test]
fn a_valid_config_builds_the_directory() {
    let directory = build(valid());
    let org = &directory.org;

    // Ids are canonical whatever form was written.
    let ceo = directory.user_for_login("ceo").unwrap();
    assert_eq!(ceo.id, UserId::new(CEO_18));
    assert_eq!(
        directory.user_for_login("customer.ivy").unwrap().kind,
        UserKind::Customer {
            contact_id: contact_id()
        }
    );
    assert!(directory.user_for_login("nobody").is_none());
    assert_eq!(directory.logins.len(), 3, "the sync user has no login");
    assert_eq!(
        directory.service_justification(&UserId::new(SYNC)),
        Some("nightly ERP sync must see every order to reconcile")
    );
    assert!(directory.service_justification(&ceo.id).is_none());
    match &org.manual_shares[0].share_with {
        heddle_records::ManualShareTarget::User(user) => assert_eq!(user, &UserId::new(REP)),
        other => panic!("{other:?}"),
    }

    // Built-ins, the override, and the custom object.
    assert_eq!(
        org.object("Lead").unwrap().sharing_default,
        OrgWideDefault::PublicReadOnly
    );
    assert_eq!(
        org.object("Account").unwrap().sharing_default,
        OrgWideDefault::Private
    );
    assert_eq!(org.object("Warranty_Claim__c").unwrap().key_prefix, "a00");
    assert_eq!(
        org.objects.len(),
        heddle_records::builtin_objects().len() + 1
    );

    // Stored as JSON and read back unchanged.
    let json = serde_json::to_string(&directory).unwrap();
    let back: OrgDirectory = serde_json::from_str(&json).unwrap();
    assert_eq!(back, directory);
    // The config itself round-trips too.
    let config = config(valid());
    let again: OrgConfig = serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(again, config);
}

#[test]
fn the_built_org_drives_the_evaluator() {
    let directory = build(valid());
    let org = &directory.org;
    let customer = directory.user_for_login("customer.ivy").unwrap();
    let theirs = record(
        "Case",
        RecordId::generate("500", 1).unwrap(),
        REP,
        &[
            ("ContactId", json!(contact_id().as_str())),
            ("Subject", json!("Broken zip")),
        ],
    );
    let others = record(
        "Case",
        RecordId::generate("500", 2).unwrap(),
        REP,
        &[(
            "ContactId",
            json!(RecordId::generate("003", 43).unwrap().as_str()),
        )],
    );
    assert_eq!(
        record_access(org, customer, &theirs, &NoRecords),
        Access::Read
    );
    assert_eq!(
        record_access(org, customer, &others, &NoRecords),
        Access::None
    );

    // The CEO sees the rep's account through the hierarchy and modify all.
    let ceo = directory.user_for_login("ceo").unwrap();
    let account = record(
        "Account",
        RecordId::generate("001", 1).unwrap(),
        REP,
        &[("Name", json!("Acme"))],
    );
    assert_eq!(record_access(org, ceo, &account, &NoRecords), Access::Edit);
}

#[test]
fn unknown_fields_in_the_config_are_refused() {
    let mut value = valid();
    value["users"][0]["rol"] = json!("ceo");
    assert!(serde_json::from_value::<OrgConfig>(value).is_err());
    let mut value = valid();
    value["objects"]["Lead"]["key_prefix"] = json!("00X");
    assert!(
        serde_json::from_value::<OrgConfig>(value).is_err(),
        "only the sharing default of a built-in can change"
    );
}

#[test]
fn user_problems_are_all_reported() {
    let mut value = valid();
    value["users"] = json!([
        { "id": CEO, "login": "ceo", "role": "chief", "profile": "standard" },
        { "id": REP, "login": "ceo", "profile": "data_admin" },
        { "id": CEO_18, "profile": "standard", "permission_sets": ["standard", "ghost"],
          "groups": ["nobody"] },
        { "id": "001000000000001", "login": "Bad Login", "profile": "standard" },
        { "id": CUSTOMER, "profile": "customer", "kind": "customer" },
        { "id": "005000000000005", "profile": "customer", "kind": "customer",
          "contact_id": RecordId::generate("001", 1).unwrap() },
        { "id": "005000000000006", "profile": "customer", "kind": "customer",
          "contact_id": "003000000000001ZZZ" },
        { "id": SYNC, "profile": "standard", "contact_id": contact_id() },
        { "id": "005000000000008", "profile": "customer", "kind": "customer",
          "contact_id": contact_id() },
        { "id": "005000000000009", "profile": "customer", "kind": "customer",
          "contact_id": contact_id() }
    ]);
    let errors = errors_of(value);
    let expected = [
        "users[0].role",
        "users[1].login",
        "users[1].profile",
        "users[2].id",
        "users[2].permission_sets[0]",
        "users[2].permission_sets[1]",
        "users[2].groups[0]",
        "users[3].id",
        "users[3].login",
        "users[4].contact_id",
        "users[5].contact_id",
        "users[6].contact_id",
        "users[7].contact_id",
        "users[9].contact_id",
    ];
    assert_eq!(
        paths(&errors),
        expected.into_iter().collect(),
        "{errors:#?}"
    );
    assert!(
        message(&errors, "users[0].role").contains("`ceo`"),
        "lists the declared roles"
    );
    assert!(message(&errors, "users[1].profile").contains("permission set"));
    assert!(message(&errors, "users[2].permission_sets[0]").contains("is a profile"));
    assert!(message(&errors, "users[2].id").contains("users[0]"));
    assert!(message(&errors, "users[3].id").contains("`005`"));
    assert!(message(&errors, "users[4].contact_id").contains("needs `contact_id`"));
    assert!(message(&errors, "users[5].contact_id").contains("`003`"));
    assert!(message(&errors, "users[6].contact_id").contains("suffix"));
    assert!(message(&errors, "users[7].contact_id").contains("only customers"));
    assert!(message(&errors, "users[9].contact_id").contains("users[8]"));
    // Every error displays as `path: message`.
    assert!(errors[0].to_string().starts_with("users[0].role: "));
}

#[test]
fn role_cycles_and_unknown_parents_are_reported() {
    let mut value = valid();
    value["roles"] = json!([
        { "id": "ceo" },
        { "id": "sales_rep", "parent": "vp" },
        { "id": "vp", "parent": "sales_rep" },
        { "id": "intern", "parent": "mentor" },
        { "id": "ceo" },
        { "id": "" }
    ]);
    let errors = errors_of(value);
    assert_eq!(
        paths(&errors),
        [
            "roles[1].parent",
            "roles[2].parent",
            "roles[3].parent",
            "roles[4].id",
            "roles[5].id"
        ]
        .into_iter()
        .collect(),
        "{errors:#?}"
    );
    assert!(message(&errors, "roles[1].parent").contains("sales_rep → vp → sales_rep"));
    assert!(message(&errors, "roles[3].parent").contains("`mentor`"));
}

#[test]
fn sharing_rule_and_share_problems_are_reported() {
    let mut value = valid();
    value["sharing_rules"] = json!([
        { "object": "Invoice", "kind": { "owner_based": { "owned_by": { "role": "ceo" } } },
          "share_with": { "role": "ceo" }, "access": "read" },
        { "object": "Case", "kind": { "criteria_based": { "field": "Severity", "equals": "High" } },
          "share_with": { "group": "nobody" }, "access": "read" },
        { "object": "Contact", "kind": { "owner_based": { "owned_by": { "role_and_subordinates": "cto" } } },
          "share_with": { "role": "ceo" }, "access": "read" },
        { "object": "Case", "kind": { "criteria_based": { "field": "Priority", "equals": ["High"] } },
          "share_with": { "role": "ceo" }, "access": "read" }
    ]);
    value["manual_shares"] = json!([
        { "record_id": RecordId::generate("003", 1).unwrap(),
          "share_with": { "user": REP }, "access": "read" },
        { "record_id": RecordId::generate("a99", 1).unwrap(),
          "share_with": { "group": "nobody" }, "access": "read" },
        { "record_id": RecordId::generate("001", 1).unwrap(),
          "share_with": { "user": "005000000000099" }, "access": "read_write" }
    ]);
    let errors = errors_of(value);
    assert_eq!(
        paths(&errors),
        [
            "sharing_rules[0].object",
            "sharing_rules[1].kind.criteria_based.field",
            "sharing_rules[1].share_with",
            "sharing_rules[2].object",
            "sharing_rules[2].kind.owner_based.owned_by",
            "sharing_rules[3].kind.criteria_based.equals",
            "manual_shares[0].record_id",
            "manual_shares[1].record_id",
            "manual_shares[1].share_with.group",
            "manual_shares[2].share_with.user",
        ]
        .into_iter()
        .collect(),
        "{errors:#?}"
    );
    assert!(message(&errors, "sharing_rules[1].kind.criteria_based.field").contains("`Priority`"));
    assert!(message(&errors, "sharing_rules[2].object").contains("controlled by its parent"));
    assert!(message(&errors, "manual_shares[0].record_id").contains("share the parent"));
}

#[test]
fn an_override_changes_what_rules_may_target() {
    // Contact made private: it takes sharing rules and manual shares like any private object.
    let mut value = valid();
    value["objects"]["Contact"] = json!({ "sharing_default": "private" });
    value["sharing_rules"] = json!([
        { "object": "Contact", "kind": { "owner_based": { "owned_by": { "role": "sales_rep" } } },
          "share_with": { "role": "ceo" }, "access": "read" }
    ]);
    let directory = build(value);
    assert_eq!(
        directory.org.object("Contact").unwrap().sharing_default,
        OrgWideDefault::Private
    );

    let mut value = valid();
    value["objects"] = json!({
        "Account": { "sharing_default": "controlled_by_parent" },
        "Invoice": { "sharing_default": "private" },
        "Warranty_Claim__c": { "sharing_default": "public_read_only" }
    });
    let errors = errors_of(value);
    assert_eq!(
        paths(&errors),
        [
            "objects.Account.sharing_default",
            "objects.Invoice",
            "objects.Warranty_Claim__c"
        ]
        .into_iter()
        .collect(),
        "{errors:#?}"
    );
    assert!(message(&errors, "objects.Warranty_Claim__c").contains("custom_objects"));
}

#[test]
fn custom_object_problems_are_reported() {
    let field = |name: &str, field_type: Value| json!({ "api_name": name, "label": name, "classification": "internal", "field_type": field_type });
    let object = |name: &str, prefix: &str, fields: Vec<Value>| {
        json!({ "api_name": name, "label": name, "key_prefix": prefix,
                "sharing_default": "private", "fields": fields })
    };
    let mut value = valid();
    let mut child = object(
        "Claim_Line__c",
        "a02",
        vec![field(
            "Claim__c",
            json!({ "type": "reference", "to": "Warranty_Claim__c" }),
        )],
    );
    child["sharing_default"] = json!("controlled_by_parent");
    child["parent"] = json!({ "field": "Claim__c", "object": "Warranty_Claim__c" });
    let mut orphan = object("Orphan__c", "a03", vec![]);
    orphan["sharing_default"] = json!("controlled_by_parent");
    let mut linked = object(
        "Linked__c",
        "a04",
        vec![field(
            "Account__c",
            json!({ "type": "reference", "to": "Account" }),
        )],
    );
    linked["customer_link"] = json!("Account__c");
    linked["parent"] = json!({ "field": "Account__c", "object": "Account" });
    let mut ping = object(
        "Ping__c",
        "a05",
        vec![field(
            "Pong__c",
            json!({ "type": "reference", "to": "Pong__c" }),
        )],
    );
    ping["sharing_default"] = json!("controlled_by_parent");
    ping["parent"] = json!({ "field": "Pong__c", "object": "Pong__c" });
    let mut pong = object(
        "Pong__c",
        "a06",
        vec![field(
            "Ping__c",
            json!({ "type": "reference", "to": "Ping__c" }),
        )],
    );
    pong["sharing_default"] = json!("controlled_by_parent");
    pong["parent"] = json!({ "field": "Ping__c", "object": "Ping__c" });
    value["custom_objects"].as_array_mut().unwrap().extend([
        object("Warranty_Claim__c", "a01", vec![]),
        object("Invoice", "001", vec![]),
        object("Dup_Prefix__c", "a00", vec![]),
        object(
            "Bad_Fields__c",
            "a07",
            vec![
                field("1st", json!({ "type": "text", "max_len": 10 })),
                field("OwnerId", json!({ "type": "text", "max_len": 10 })),
                field("Note__c", json!({ "type": "text", "max_len": 0 })),
                field("Note__c", json!({ "type": "boolean" })),
                field(
                    "Kind__c",
                    json!({ "type": "picklist", "values": ["A", "a"] }),
                ),
                field(
                    "Target__c",
                    json!({ "type": "reference", "to": "Invoice__c" }),
                ),
                field("Owner__c", json!({ "type": "reference", "to": "User" })),
            ],
        ),
        child,
        orphan,
        linked,
        ping,
        pong,
    ]);
    let errors = errors_of(value);
    assert_eq!(
        paths(&errors),
        [
            "custom_objects[1].api_name",
            "custom_objects[2].api_name",
            "custom_objects[2].key_prefix",
            "custom_objects[3].key_prefix",
            "custom_objects[4].fields[0].api_name",
            "custom_objects[4].fields[1].api_name",
            "custom_objects[4].fields[2].field_type.max_len",
            "custom_objects[4].fields[3].api_name",
            "custom_objects[4].fields[4].field_type.values",
            "custom_objects[4].fields[5].field_type.to",
            "custom_objects[6].parent",
            "custom_objects[7].parent",
            "custom_objects[7].customer_link",
            "custom_objects[8].parent",
            "custom_objects[9].parent",
        ]
        .into_iter()
        .collect(),
        "{errors:#?}"
    );
    assert!(message(&errors, "custom_objects[2].api_name").contains("__c"));
    assert!(message(&errors, "custom_objects[2].key_prefix").contains("`a`"));
    assert!(message(&errors, "custom_objects[3].key_prefix").contains("`Warranty_Claim__c`"));
    assert!(message(&errors, "custom_objects[8].parent").contains("loops"));
}

#[test]
fn service_user_problems_are_reported() {
    let mut value = valid();
    value["service_users"] = json!([
        { "user": "005000000000077", "justification": "integration that syncs every order nightly" },
        { "user": SYNC, "justification": "  because  " },
        { "user": CUSTOMER, "justification": "the customer portal needs to see everything" },
        { "user": SYNC, "justification": "listed a second time with another reason" }
    ]);
    let errors = errors_of(value);
    assert_eq!(
        paths(&errors),
        [
            "service_users[0].user",
            "service_users[1].justification",
            "service_users[2].user",
            "service_users[3].user"
        ]
        .into_iter()
        .collect(),
        "{errors:#?}"
    );
    assert!(message(&errors, "service_users[2].user").contains("never run in system mode"));
}

#[test]
fn permission_set_problems_are_reported() {
    let mut value = valid();
    value["profiles"][0]["fields"]["Account"]["Revenue"] = json!({ "read": true });
    value["profiles"][0]["objects"]["Invoice"] = json!({ "read": true });
    value["permission_sets"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "customer", "fields": { "Quote": { "Name": { "read": true } } } }));
    let errors = errors_of(value);
    assert_eq!(
        paths(&errors),
        [
            "profiles[0].fields.Account.Revenue",
            "profiles[0].objects.Invoice",
            "permission_sets[1].id",
            "permission_sets[1].fields.Quote"
        ]
        .into_iter()
        .collect(),
        "{errors:#?}"
    );
    assert!(message(&errors, "profiles[0].fields.Account.Revenue").contains("`AnnualRevenue`"));
}
