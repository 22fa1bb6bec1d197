use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use heddle_records::{
    Access, FieldType, ImportFormat, OrgConfig, OrgDirectory, Record, RecordId, UserId, UserKind,
    check_required, field_access, parse_records, record_access, validate_fields,
};
use serde_json::Value;

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo-org")
}

fn directory() -> OrgDirectory {
    let path = demo_dir().join("org.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config: OrgConfig = heddle_yaml::from_str(&text, "examples/demo-org/org.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    config.build().unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("org.yaml does not build:\n{}", lines.join("\n"))
    })
}

/// Every record of the demo, by id, with canonical field values.
fn records(directory: &OrgDirectory) -> BTreeMap<RecordId, Record> {
    let org = &directory.org;
    let mut all = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(demo_dir().join("records"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let (stem, _) = name.rsplit_once('.').unwrap();
        let object = org
            .object(stem)
            .unwrap_or_else(|| panic!("{name}: no object `{stem}` in the org"));
        let format = ImportFormat::from_file_name(&name).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let rows = parse_records(object, format, &text).unwrap_or_else(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("{name}: {e}")).collect();
            panic!("{}", lines.join("\n"))
        });
        for (i, row) in rows.into_iter().enumerate() {
            let at = format!("{name} row {}", i + 1);
            let id = row.id.unwrap_or_else(|| panic!("{at}: no Id"));
            assert_eq!(id.key_prefix(), object.key_prefix, "{at}");
            assert!(
                org.user(&row.owner_id).is_some(),
                "{at}: owner {} is not an org user",
                row.owner_id
            );
            let fields = validate_fields(&org.objects, object, &row.fields)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            check_required(object, &fields).unwrap_or_else(|e| panic!("{at}: {e}"));
            let record = Record {
                id: id.clone(),
                object: object.api_name.clone(),
                owner_id: row.owner_id,
                fields,
            };
            assert!(all.insert(id, record).is_none(), "{at}: duplicate id");
        }
    }
    all
}

fn reference<'a>(record: &'a Record, field: &str) -> Option<&'a str> {
    record.fields.get(field).and_then(Value::as_str)
}

fn id(text: &str) -> RecordId {
    RecordId::parse(text).unwrap()
}

#[test]
fn org_yaml_builds_and_the_records_import() {
    let directory = directory();
    let org = &directory.org;
    let records = records(&directory);

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for record in records.values() {
        *counts.entry(record.object.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("Account", 150),
        ("Contact", 450),
        ("Lead", 250),
        ("Opportunity", 300),
        ("Case", 350),
        ("Order", 250),
        ("Task", 200),
        ("Warranty_Claim__c", 60),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(records.len(), 2010);

    // Every reference points at an existing record of the right object (or a user).
    for record in records.values() {
        let object = org.object(&record.object).unwrap();
        for field in &object.fields {
            let FieldType::Reference { to } = &field.field_type else {
                continue;
            };
            let Some(target) = reference(record, &field.api_name) else {
                continue;
            };
            if to == "User" {
                assert!(org.user(&UserId::new(target)).is_some());
                continue;
            }
            let found = records
                .get(&id(target))
                .unwrap_or_else(|| panic!("{}.{} → missing {target}", record.id, field.api_name));
            assert_eq!(&found.object, to, "{}.{}", record.id, field.api_name);
        }
    }

    // References agree with each other: a case's account is its contact's, and so on.
    let account_of = |contact: &str| reference(&records[&id(contact)], "AccountId");
    for record in records.values() {
        let (contact_field, account_field) = match record.object.as_str() {
            "Case" | "Order" => ("ContactId", "AccountId"),
            "Task" => ("WhoId", "WhatId"),
            "Warranty_Claim__c" => ("Contact__c", "Account__c"),
            _ => continue,
        };
        if let Some(contact) = reference(record, contact_field) {
            assert_eq!(
                account_of(contact),
                reference(record, account_field),
                "{}: {contact_field} belongs to another account",
                record.id
            );
        }
        if let Some(order) = reference(record, "Order__c") {
            assert_eq!(
                reference(&records[&id(order)], "AccountId"),
                reference(record, "Account__c"),
                "{}: the claim's order is another account's",
                record.id
            );
        }
    }

    // The config's own references into the data exist.
    for user in &org.users {
        if let UserKind::Customer { contact_id } = &user.kind {
            let contact = records.get(contact_id).unwrap();
            assert_eq!(contact.object, "Contact");
            assert!(reference(contact, "AccountId").is_some());
        }
    }
    for share in &org.manual_shares {
        assert!(records.contains_key(&share.record_id));
    }
    assert_eq!(directory.logins.len(), 12);
    assert_eq!(directory.service_users.len(), 1);
}

/// The demo's login emails, from the short names used below (`rep.ana`).
fn email(name: &str) -> String {
    if name.contains('@') {
        name.to_owned()
    } else if name.starts_with("customer.") {
        format!("{name}@customers.example")
    } else {
        format!("{name}@northwind.example")
    }
}

/// Counts the records of `object` a login can read.
fn visible(
    directory: &OrgDirectory,
    records: &BTreeMap<RecordId, Record>,
    login: &str,
    object: &str,
) -> usize {
    let user = directory.user_for_login(&email(login)).unwrap();
    records
        .values()
        .filter(|r| r.object == object)
        .filter(|r| record_access(&directory.org, user, r, records) != Access::None)
        .count()
}

#[test]
fn people_see_what_the_readme_says() {
    let directory = directory();
    let org = &directory.org;
    let records = records(&directory);
    let user = |login: &str| directory.user_for_login(&email(login)).unwrap();
    let total = |object: &str| records.values().filter(|r| r.object == object).count();
    let owned_by = |login: &str, object: &str| {
        let owner = &user(login).id;
        records
            .values()
            .filter(|r| r.object == object && &r.owner_id == owner)
            .count()
    };

    // The CEO and the admin see everything (the CEO no private contact: those are their
    // owners' alone); only the admin may edit everything.
    let private_contacts = records
        .values()
        .filter(|r| r.object == "Contact" && !r.fields.contains_key("AccountId"))
        .count();
    assert_eq!(private_contacts, 10);
    assert_eq!(
        visible(&directory, &records, "admin", "Contact"),
        total("Contact")
    );
    assert_eq!(
        visible(&directory, &records, "ceo", "Contact"),
        total("Contact") - private_contacts
    );
    for object in [
        "Account",
        "Opportunity",
        "Case",
        "Order",
        "Task",
        "Warranty_Claim__c",
    ] {
        assert_eq!(
            visible(&directory, &records, "ceo", object),
            total(object),
            "ceo {object}"
        );
        assert_eq!(
            visible(&directory, &records, "admin", object),
            total(object),
            "admin {object}"
        );
    }
    assert!(
        records
            .values()
            .all(|r| record_access(org, user("admin"), r, &records) == Access::Edit)
    );

    // Reps see their own book only, and never AnnualRevenue; the VP sees both books.
    let ana_accounts = visible(&directory, &records, "rep.ana", "Account");
    assert_eq!(ana_accounts, owned_by("rep.ana", "Account"));
    let ben_account = records
        .values()
        .find(|r| r.object == "Account" && r.owner_id == user("rep.ben").id)
        .unwrap();
    assert_eq!(
        record_access(org, user("rep.ana"), ben_account, &records),
        Access::None
    );
    assert_eq!(
        record_access(org, user("sales.vp"), ben_account, &records),
        Access::Edit
    );
    assert!(!field_access(org, user("rep.ana"), "Account", "AnnualRevenue").read);
    assert!(field_access(org, user("sales.vp"), "Account", "AnnualRevenue").read);

    // Leads are public read-only: every rep reads every lead, edits only their own.
    assert_eq!(
        visible(&directory, &records, "rep.ana", "Lead"),
        total("Lead")
    );
    let ben_lead = records
        .values()
        .find(|r| r.object == "Lead" && r.owner_id == user("rep.ben").id)
        .unwrap();
    assert_eq!(
        record_access(org, user("rep.ana"), ben_lead, &records),
        Access::Read
    );
    assert_eq!(
        visible(&directory, &records, "agent.cho", "Lead"),
        0,
        "no Lead read"
    );

    // Support reads every account the sales team owns (owner rule), and their contacts.
    let sales_accounts = ["sales.vp", "rep.ana", "rep.ben"]
        .iter()
        .map(|l| owned_by(l, "Account"))
        .sum::<usize>();
    assert_eq!(
        visible(&directory, &records, "agent.cho", "Account"),
        sales_accounts
    );
    assert!(!field_access(org, user("agent.cho"), "Account", "AnnualRevenue").read);

    // Agents: their own cases plus every High priority case (criteria rule).
    let high_cases = records
        .values()
        .filter(|r| r.object == "Case" && r.fields.get("Priority") == Some(&Value::from("High")))
        .collect::<Vec<_>>();
    let dev_high = high_cases
        .iter()
        .find(|r| r.owner_id == user("agent.dev").id)
        .unwrap();
    assert_eq!(
        record_access(org, user("agent.cho"), dev_high, &records),
        Access::Read
    );
    let dev_low = records
        .values()
        .find(|r| {
            r.object == "Case"
                && r.owner_id == user("agent.dev").id
                && r.fields.get("Priority") != Some(&Value::from("High"))
        })
        .unwrap();
    assert_eq!(
        record_access(org, user("agent.cho"), dev_low, &records),
        Access::None
    );
    assert_eq!(
        record_access(org, user("support.lead"), dev_low, &records),
        Access::Edit
    );

    // The manually shared deal: agent Cho reads it without Amount; agent Dev does not see it.
    let deal = &records[&directory.org.manual_shares[0].record_id];
    assert_eq!(
        record_access(org, user("agent.cho"), deal, &records),
        Access::Read
    );
    assert_eq!(
        record_access(org, user("agent.dev"), deal, &records),
        Access::None
    );
    assert!(!field_access(org, user("agent.cho"), "Opportunity", "Amount").read);
    assert_eq!(visible(&directory, &records, "agent.cho", "Opportunity"), 1);
    // Shares reach up the hierarchy: the support manager sees it too, with Amount.
    assert_eq!(
        record_access(org, user("support.lead"), deal, &records),
        Access::Read
    );
    assert!(field_access(org, user("support.lead"), "Opportunity", "Amount").read);

    // Customers: exactly what is linked to their contact, a few fields, nothing else.
    for login in ["customer.ivy", "customer.jon", "customer.kai"] {
        let UserKind::Customer { contact_id } = &user(login).kind else {
            panic!("{login} is not a customer");
        };
        let linked = |object: &str, field: &str| {
            records
                .values()
                .filter(|r| r.object == object && reference(r, field) == Some(contact_id.as_str()))
                .count()
        };
        assert_eq!(
            visible(&directory, &records, login, "Contact"),
            1,
            "{login}"
        );
        assert_eq!(
            visible(&directory, &records, login, "Case"),
            linked("Case", "ContactId")
        );
        assert_eq!(
            visible(&directory, &records, login, "Order"),
            linked("Order", "ContactId")
        );
        assert_eq!(
            visible(&directory, &records, login, "Warranty_Claim__c"),
            linked("Warranty_Claim__c", "Contact__c")
        );
        assert!(linked("Case", "ContactId") > 0 && linked("Order", "ContactId") > 0);
        assert!(linked("Warranty_Claim__c", "Contact__c") > 0);
        for object in ["Account", "Opportunity", "Lead", "Task"] {
            assert_eq!(
                visible(&directory, &records, login, object),
                0,
                "{login} {object}"
            );
        }
    }
    assert!(!field_access(org, user("customer.ivy"), "Contact", "Birthdate").read);
    assert!(
        !field_access(
            org,
            user("customer.ivy"),
            "Warranty_Claim__c",
            "Claim_Amount__c"
        )
        .read
    );

    // The ERP user owns most orders yet sees none of them in user mode: orders follow their
    // account. That is why it is a service user, with a written justification.
    assert!(owned_by("svc.erp", "Order") > 0);
    assert_eq!(visible(&directory, &records, "svc.erp", "Order"), 0);
    assert!(
        directory
            .service_justification(&user("svc.erp").id)
            .is_some()
    );
}

/// The README's "who should see what" table is the evaluator's answer, row by row.
#[test]
fn the_readme_visibility_table_is_current() {
    let directory = directory();
    let records = records(&directory);
    let readme = std::fs::read_to_string(demo_dir().join("README.md")).unwrap();
    let header = readme
        .lines()
        .find(|l| l.starts_with("| login | Account |"))
        .unwrap();
    let objects: Vec<&str> = header
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .skip(1)
        .map(|c| {
            if c == "Warranty" {
                "Warranty_Claim__c"
            } else {
                c
            }
        })
        .collect();
    let mut checked = BTreeSet::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let Some((login, counts)) = cells.split_first() else {
            continue;
        };
        let Ok(counts) = counts
            .iter()
            .map(|c| c.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        if counts.len() != objects.len() {
            continue;
        }
        let login = login.trim_matches('`');
        for (object, expected) in objects.iter().zip(counts) {
            assert_eq!(
                visible(&directory, &records, login, object),
                expected,
                "README says `{login}` sees {expected} {object} records"
            );
        }
        checked.insert(login.to_owned());
    }
    let logins: BTreeSet<String> = directory.logins.keys().cloned().collect();
    assert_eq!(checked, logins, "the table has a row per login");
}
