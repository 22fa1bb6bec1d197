//! The classic cases of issue 4 as tables.

use std::collections::BTreeMap;

use heddle_records::{
    Access, AccessDenied, GroupId, ManualShare, ManualShareTarget, OrgWideDefault, RoleId,
    ShareAccess, ShareTarget, SharingRule, SharingRuleKind, UserId, check_create, check_delete,
    check_update, field_access, record_access, strip_inaccessible,
};
use serde_json::json;

use crate::fixture::{Demo, demo, id, record};

fn expect(demo: &Demo, table: &[(&str, &str, Access)]) {
    for (user, name, expected) in table {
        let access = record_access(&demo.org, demo.user(user), demo.record(name), &demo.records);
        assert_eq!(access, *expected, "{user} on {name}");
    }
}

#[test]
fn private_accounts_follow_ownership_and_the_role_hierarchy() {
    let demo = demo();
    expect(
        &demo,
        &[
            ("rep_a", "Acme", Access::Edit),
            ("rep_b", "Acme", Access::None), // a peer's private account
            ("vp", "Acme", Access::Edit),    // the manager gets the owner's access
            ("ceo", "Acme", Access::Edit),   // and so does everyone above
            ("sup_mgr", "Acme", Access::None), // another branch of the hierarchy
            ("agent", "Acme", Access::None),
            ("no_access", "Acme", Access::None), // no object read: nothing at all
        ],
    );
}

#[test]
fn a_criteria_rule_opens_exactly_the_matching_records() {
    let mut demo = demo();
    demo.org.sharing_rules.push(SharingRule {
        object: "Account".to_owned(),
        kind: SharingRuleKind::CriteriaBased {
            field: "Industry".to_owned(),
            equals: json!("Technology"),
        },
        share_with: ShareTarget::RoleAndSubordinates(RoleId::new("support_mgr")),
        access: ShareAccess::Read,
    });
    for user in ["agent", "sup_mgr"] {
        for account in demo.records.iter().filter(|r| r.object == "Account") {
            let expected = if account.fields.get("Industry") == Some(&json!("Technology")) {
                Access::Read
            } else {
                Access::None
            };
            let access = record_access(&demo.org, demo.user(user), account, &demo.records);
            assert_eq!(access, expected, "{user} on {}", account.id);
        }
    }
    // The rule does not reach other branches.
    expect(
        &demo,
        &[
            ("rep_a", "Globex", Access::None),
            ("rep_b", "Globex", Access::Edit),
        ],
    );
}

#[test]
fn an_owner_rule_to_a_group_reaches_members_and_their_managers() {
    let mut demo = demo();
    demo.org.sharing_rules.push(SharingRule {
        object: "Account".to_owned(),
        kind: SharingRuleKind::OwnerBased {
            owned_by: ShareTarget::Role(RoleId::new("sales_rep")),
        },
        share_with: ShareTarget::Group(GroupId::new("marketing")),
        access: ShareAccess::ReadWrite,
    });
    expect(
        &demo,
        &[
            ("marketer", "Acme", Access::Edit),
            ("marketer", "Globex", Access::Edit),
            ("agent", "Acme", Access::None),
        ],
    );
    // Put an agent in the group: their manager now reaches the accounts too.
    let agent = demo
        .org
        .users
        .iter_mut()
        .find(|u| u.id.0 == "agent")
        .unwrap();
    agent.groups.push(GroupId::new("marketing"));
    expect(
        &demo,
        &[
            ("agent", "Acme", Access::Edit),
            ("sup_mgr", "Acme", Access::Edit),
        ],
    );
}

#[test]
fn field_level_security_removes_and_protects_fields() {
    let demo = demo();
    let acme = demo.record("Acme");
    let (visible, removed) = strip_inaccessible(&demo.org, demo.user("rep_a"), acme);
    assert_eq!(removed, vec!["AnnualRevenue".to_owned()]);
    assert!(visible.contains_key("Name") && !visible.contains_key("AnnualRevenue"));

    let (visible, removed) = strip_inaccessible(&demo.org, demo.user("finance"), acme);
    assert!(removed.is_empty());
    assert_eq!(visible.get("AnnualRevenue"), Some(&json!(1_000_000)));
    let finance = field_access(&demo.org, demo.user("finance"), "Account", "AnnualRevenue");
    assert!(finance.read && !finance.edit);
    assert!(!field_access(&demo.org, demo.user("rep_a"), "Account", "NoSuchField").read);
    assert!(field_access(&demo.org, demo.user("rep_a"), "Account", "Id").read);

    let changes = BTreeMap::from([("AnnualRevenue".to_owned(), json!(5))]);
    let err =
        check_update(&demo.org, demo.user("rep_a"), acme, &changes, &demo.records).unwrap_err();
    assert_eq!(
        err,
        AccessDenied::FieldNotEditable {
            object: "Account".to_owned(),
            field: "AnnualRevenue".to_owned()
        }
    );
    assert!(err.to_string().contains("`AnnualRevenue`"));
    let changes = BTreeMap::from([("Phone".to_owned(), json!("555"))]);
    check_update(&demo.org, demo.user("rep_a"), acme, &changes, &demo.records).unwrap();
}

#[test]
fn a_customer_sees_only_their_own_records_whatever_id() {
    let demo = demo();
    let case_1 = id("500", 1);
    let case_2 = id("500", 2);
    let order_1 = id("801", 1);
    let order_2 = id("801", 2);
    let c1 = id("003", 1);
    expect(
        &demo,
        &[
            ("cust_1", case_1.as_str(), Access::Read), // linked through a 15-char ContactId
            ("cust_1", case_2.as_str(), Access::None), // owned by them, linked to someone else
            ("cust_1", order_1.as_str(), Access::Read),
            ("cust_1", order_2.as_str(), Access::None),
            ("cust_1", c1.as_str(), Access::Read), // their own contact
            ("cust_1", "Two", Access::None),
            ("cust_1", "Acme", Access::None), // no link on Account
            ("cust_2", case_2.as_str(), Access::Read),
            ("cust_2", case_1.as_str(), Access::None),
        ],
    );
    for user in ["cust_1", "cust_2"] {
        let visible = demo
            .records
            .iter()
            .filter(|r| record_access(&demo.org, demo.user(user), r, &demo.records) > Access::None)
            .count();
        assert_eq!(visible, 3, "{user}: one case, one order, one contact");
    }
}

#[test]
fn a_customer_writes_only_linked_records_and_never_edits_without_edit() {
    let demo = demo();
    let cust = demo.user("cust_1");
    let lookup = &demo.records;
    let mine = record(
        "Case",
        id("500", 9),
        "cust_1",
        &[
            ("Subject", json!("Help")),
            ("ContactId", json!(id("003", 1).as_str())),
        ],
    );
    check_create(&demo.org, cust, &mine, lookup).unwrap();
    let theirs = record(
        "Case",
        id("500", 9),
        "cust_1",
        &[
            ("Subject", json!("Help")),
            ("ContactId", json!(id("003", 2).as_str())),
        ],
    );
    assert_eq!(
        check_create(&demo.org, cust, &theirs, lookup),
        Err(AccessDenied::CustomerLinkRequired {
            object: "Case".to_owned()
        })
    );
    let status = record(
        "Case",
        id("500", 9),
        "cust_1",
        &[
            ("Status", json!("Closed")),
            ("ContactId", json!(id("003", 1).as_str())),
        ],
    );
    assert!(matches!(
        check_create(&demo.org, cust, &status, lookup),
        Err(AccessDenied::FieldNotEditable { .. })
    ));
    let changes = BTreeMap::from([("Subject".to_owned(), json!("x"))]);
    let err = check_update(
        &demo.org,
        cust,
        demo.record(id("500", 1).as_str()),
        &changes,
        lookup,
    )
    .unwrap_err();
    assert_eq!(
        err,
        AccessDenied::MissingObjectPermission {
            object: "Case".to_owned(),
            permission: "edit"
        }
    );
    assert!(err.to_string().contains("`edit`") && err.to_string().contains("`Case`"));
}

#[test]
fn controlled_by_parent_follows_the_parent() {
    let mut demo = demo();
    expect(
        &demo,
        &[
            ("rep_a", "One", Access::Edit),
            ("vp", "One", Access::Edit),
            ("rep_b", "One", Access::None),
            ("rep_b", "Orphan", Access::Edit), // no parent: the owner only
            ("rep_a", "Orphan", Access::None),
            ("vp", "Orphan", Access::None), // not even up the hierarchy
            ("rep_a", id("801", 1).as_str(), Access::Edit),
            ("rep_b", id("801", 1).as_str(), Access::None),
        ],
    );
    let acme = demo.record("Acme").id.clone();
    demo.org.manual_shares.push(ManualShare {
        record_id: acme,
        share_with: ManualShareTarget::User(UserId::new("rep_b")),
        access: ShareAccess::Read,
    });
    expect(
        &demo,
        &[
            ("rep_b", "One", Access::Read),
            ("rep_b", id("801", 1).as_str(), Access::Read),
        ],
    );
    // Pointing a contact at an account you cannot see is refused.
    let sneaky = record(
        "Contact",
        id("003", 9),
        "rep_a",
        &[
            ("LastName", json!("X")),
            ("AccountId", json!(demo.record("Globex").id.as_str())),
        ],
    );
    assert_eq!(
        check_create(&demo.org, demo.user("rep_a"), &sneaky, &demo.records),
        Err(AccessDenied::ParentNotAccessible {
            object: "Contact".to_owned(),
            field: "AccountId".to_owned()
        })
    );
}

#[test]
fn public_read_only_gives_read_not_edit() {
    let mut demo = demo();
    for object in &mut demo.org.objects {
        if object.api_name == "Lead" {
            object.sharing_default = OrgWideDefault::PublicReadOnly;
        }
    }
    expect(
        &demo,
        &[
            ("rep_b", "Lead of a", Access::Read),
            ("agent", "Lead of a", Access::Read),
            ("rep_a", "Lead of a", Access::Edit),
        ],
    );
    let changes = BTreeMap::from([("Company".to_owned(), json!("Pied Piper"))]);
    let lead = demo.record("Lead of a");
    assert_eq!(
        check_update(&demo.org, demo.user("rep_b"), lead, &changes, &demo.records),
        Err(AccessDenied::RecordNotEditable {
            id: lead.id.clone()
        })
    );
    for object in &mut demo.org.objects {
        if object.api_name == "Lead" {
            object.sharing_default = OrgWideDefault::PublicReadWrite;
        }
    }
    expect(&demo, &[("rep_b", "Lead of a", Access::Edit)]);
}

#[test]
fn a_manual_share_grants_read_but_not_delete() {
    let mut demo = demo();
    let acme = demo.record("Acme").id.clone();
    demo.org.manual_shares.push(ManualShare {
        record_id: acme,
        share_with: ManualShareTarget::User(UserId::new("rep_b")),
        access: ShareAccess::Read,
    });
    expect(
        &demo,
        &[
            ("rep_b", "Acme", Access::Read),
            ("agent", "Acme", Access::None),
        ],
    );
    let lookup = &demo.records;
    let acme = demo.record("Acme");
    assert_eq!(
        check_delete(&demo.org, demo.user("rep_b"), acme, lookup),
        Err(AccessDenied::RecordNotEditable {
            id: acme.id.clone()
        })
    );
    check_delete(&demo.org, demo.user("vp"), acme, lookup).unwrap();
    check_delete(&demo.org, demo.user("rep_a"), acme, lookup).unwrap();
    assert_eq!(
        check_delete(&demo.org, demo.user("agent"), acme, lookup),
        Err(AccessDenied::RecordNotVisible {
            id: acme.id.clone()
        })
    );
}

#[test]
fn view_all_and_modify_all_override_sharing() {
    let mut demo = demo();
    let standard = demo
        .org
        .profiles
        .iter_mut()
        .find(|p| p.id.0 == "standard")
        .unwrap();
    let mut view_all = standard.clone();
    view_all.id.0 = "auditor".to_owned();
    view_all.objects.get_mut("Account").unwrap().view_all = true;
    let mut admin = standard.clone();
    admin.id.0 = "admin".to_owned();
    admin.objects.get_mut("Account").unwrap().modify_all = true;
    demo.org.profiles.extend([view_all, admin]);
    demo.org
        .users
        .push(crate::fixture::user("auditor", None, "auditor"));
    demo.org
        .users
        .push(crate::fixture::user("admin", None, "admin"));
    expect(
        &demo,
        &[
            ("auditor", "Acme", Access::Read),
            ("admin", "Acme", Access::Edit),
            ("auditor", "One", Access::Read),
        ],
    );
    check_delete(
        &demo.org,
        demo.user("admin"),
        demo.record("Acme"),
        &demo.records,
    )
    .unwrap();
}

#[test]
fn unknown_fields_and_objects_are_refused() {
    let demo = demo();
    let lookup = &demo.records;
    let bogus = record("Account", id("001", 9), "rep_a", &[("Bogus", json!(1))]);
    assert_eq!(
        check_create(&demo.org, demo.user("rep_a"), &bogus, lookup),
        Err(AccessDenied::UnknownField {
            object: "Account".to_owned(),
            field: "Bogus".to_owned()
        })
    );
    let widget = record("Widget__c", id("a00", 1), "rep_a", &[]);
    assert_eq!(
        record_access(&demo.org, demo.user("ceo"), &widget, lookup),
        Access::None
    );
    assert!(matches!(
        check_create(&demo.org, demo.user("ceo"), &widget, lookup),
        Err(AccessDenied::UnknownObject { .. })
    ));
    let no_create = record("Account", id("001", 9), "no_access", &[]);
    assert_eq!(
        check_create(&demo.org, demo.user("no_access"), &no_create, lookup),
        Err(AccessDenied::MissingObjectPermission {
            object: "Account".to_owned(),
            permission: "create"
        })
    );
}

#[test]
fn metadata_round_trips_through_json_and_rejects_unknown_keys() {
    let objects = heddle_records::builtin_objects();
    let prefixes: Vec<&str> = objects.iter().map(|o| o.key_prefix.as_str()).collect();
    assert_eq!(prefixes, ["001", "003", "00Q", "006", "500", "801", "00T"]);
    let text = serde_json::to_string(&objects).unwrap();
    let back: Vec<heddle_records::ObjectDef> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, objects);
    let demo = demo();
    let org_text = serde_json::to_string(&demo.org).unwrap();
    assert_eq!(
        serde_json::from_str::<heddle_records::Org>(&org_text).unwrap(),
        demo.org
    );
    let bad = json!({"api_name": "X", "label": "X", "key_prefix": "a00", "sharing_default": "private", "fields": [], "colour": "red"});
    let err = serde_json::from_value::<heddle_records::ObjectDef>(bad).unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn a_read_write_share_grants_edit_but_still_not_delete() {
    let mut demo = demo();
    let acme = demo.record("Acme").id.clone();
    demo.org.manual_shares.push(ManualShare {
        record_id: acme,
        share_with: ManualShareTarget::Group(GroupId::new("marketing")),
        access: ShareAccess::ReadWrite,
    });
    expect(
        &demo,
        &[
            ("marketer", "Acme", Access::Edit),
            ("rep_b", "Acme", Access::None),
        ],
    );
    let acme = demo.record("Acme");
    let changes = BTreeMap::from([("Phone".to_owned(), json!("555"))]);
    check_update(
        &demo.org,
        demo.user("marketer"),
        acme,
        &changes,
        &demo.records,
    )
    .unwrap();
    assert_eq!(
        check_delete(&demo.org, demo.user("marketer"), acme, &demo.records),
        Err(AccessDenied::DeleteNeedsFullAccess {
            id: acme.id.clone()
        })
    );
}

#[test]
fn partial_writes_queries_and_describe_respect_fls() {
    let demo = demo();
    let rep = demo.user("rep_a");
    let changes = BTreeMap::from([
        ("Phone".to_owned(), json!("555")),
        ("AnnualRevenue".to_owned(), json!(1)),
        ("Bogus".to_owned(), json!(1)),
    ]);
    let (kept, dropped) = heddle_records::strip_uneditable(&demo.org, rep, "Account", &changes);
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["Phone"]);
    assert_eq!(dropped, ["AnnualRevenue", "Bogus"]);

    heddle_records::check_fields_readable(&demo.org, rep, "Account", ["Id", "Name", "Industry"])
        .unwrap();
    assert_eq!(
        heddle_records::check_fields_readable(&demo.org, rep, "Account", ["Name", "AnnualRevenue"]),
        Err(AccessDenied::FieldNotReadable {
            object: "Account".to_owned(),
            field: "AnnualRevenue".to_owned()
        })
    );
    assert!(matches!(
        heddle_records::check_fields_readable(
            &demo.org,
            demo.user("no_access"),
            "Account",
            ["Name"]
        ),
        Err(AccessDenied::MissingObjectPermission {
            permission: "read",
            ..
        })
    ));

    let described = heddle_records::describe_object(&demo.org, rep, "Account").unwrap();
    assert!(described.field("Name").is_some() && described.field("AnnualRevenue").is_none());
    assert!(
        heddle_records::describe_object(&demo.org, demo.user("finance"), "Account")
            .unwrap()
            .field("AnnualRevenue")
            .is_some()
    );
    assert!(heddle_records::describe_object(&demo.org, demo.user("cust_1"), "Lead").is_none());
}

#[test]
fn created_ids_must_carry_the_object_key_prefix() {
    let demo = demo();
    let wrong = record("Account", id("003", 9), "rep_a", &[("Name", json!("X"))]);
    let err = check_create(&demo.org, demo.user("rep_a"), &wrong, &demo.records).unwrap_err();
    assert!(matches!(err, AccessDenied::WrongKeyPrefix { .. }));
    assert!(err.to_string().contains("`001`"), "{err}");
}
