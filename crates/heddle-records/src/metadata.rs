//! Object and field metadata: what objects exist, their key prefixes, their org-wide sharing
//! default, and their fields with types and data classification.
//!
//! `Id` and `OwnerId` are system fields: they live on [`crate::Record`] itself, are readable
//! with the record, and are not listed in [`ObjectDef::fields`].
//!
//! Every type deserializes with `deny_unknown_fields`, so a typo in a YAML object declaration
//! is an error rather than a silently ignored setting.

use serde::{Deserialize, Serialize};

/// The baseline record access for users who neither own a record nor get it another way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgWideDefault {
    Private,
    PublicReadOnly,
    PublicReadWrite,
    /// Access to a record follows access to its parent (see [`ObjectDef::parent`]).
    ControlledByParent,
}

/// How sensitive a field's values are; drives masking and audit, not access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClassification {
    Public,
    Internal,
    Confidential,
    Pii,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldType {
    Text {
        max_len: u32,
    },
    Email,
    Phone,
    Number,
    Currency,
    Date,
    Picklist {
        values: Vec<String>,
    },
    /// A lookup to a record of object `to` (or to a user when `to` is `User`).
    Reference {
        to: String,
    },
    Boolean,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub api_name: String,
    pub label: String,
    pub field_type: FieldType,
    pub classification: DataClassification,
    #[serde(default)]
    pub required: bool,
}

/// The parent a [`OrgWideDefault::ControlledByParent`] object takes its access from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentRef {
    /// The reference field on the child holding the parent's id.
    pub field: String,
    /// The parent object's API name.
    pub object: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDef {
    pub api_name: String,
    pub label: String,
    pub key_prefix: String,
    pub sharing_default: OrgWideDefault,
    #[serde(default)]
    pub parent: Option<ParentRef>,
    /// The field tying a record to an external customer's Contact id; `Id` means the record's
    /// own id (the Contact itself). Objects without one are invisible to customers.
    #[serde(default)]
    pub customer_link: Option<String>,
    pub fields: Vec<FieldDef>,
}

impl ObjectDef {
    pub fn field(&self, api_name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.api_name == api_name)
    }
}

pub const ACCOUNT_PREFIX: &str = "001";
pub const CONTACT_PREFIX: &str = "003";
pub const LEAD_PREFIX: &str = "00Q";
pub const OPPORTUNITY_PREFIX: &str = "006";
pub const CASE_PREFIX: &str = "500";
pub const TASK_PREFIX: &str = "00T";
pub const ORDER_PREFIX: &str = "801";
/// Users are not records here, but their ids share the Salesforce shape.
pub const USER_PREFIX: &str = "005";

fn field(api: &str, label: &str, field_type: FieldType, class: DataClassification) -> FieldDef {
    FieldDef {
        api_name: api.to_owned(),
        label: label.to_owned(),
        field_type,
        classification: class,
        required: false,
    }
}

fn required(mut f: FieldDef) -> FieldDef {
    f.required = true;
    f
}

fn text(max_len: u32) -> FieldType {
    FieldType::Text { max_len }
}

fn reference(to: &str) -> FieldType {
    FieldType::Reference { to: to.to_owned() }
}

fn picklist(values: &[&str]) -> FieldType {
    FieldType::Picklist {
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn object(
    api: &str,
    label: &str,
    prefix: &str,
    sharing_default: OrgWideDefault,
    parent: Option<(&str, &str)>,
    customer_link: Option<&str>,
    fields: Vec<FieldDef>,
) -> ObjectDef {
    ObjectDef {
        api_name: api.to_owned(),
        label: label.to_owned(),
        key_prefix: prefix.to_owned(),
        sharing_default,
        parent: parent.map(|(field, object)| ParentRef {
            field: field.to_owned(),
            object: object.to_owned(),
        }),
        customer_link: customer_link.map(str::to_owned),
        fields,
    }
}

/// The standard objects with their Salesforce key prefixes, realistic fields and defaults:
/// Account, Lead, Opportunity, Case and Task are Private; Contact and Order are controlled by
/// their Account. Case, Order and Contact carry the customer link.
pub fn builtin_objects() -> Vec<ObjectDef> {
    use DataClassification::{Confidential, Internal, Pii, Public};
    use FieldType::{Boolean, Currency, Date, Email, Number, Phone};
    use OrgWideDefault::{ControlledByParent, Private};
    vec![
        object(
            "Account",
            "Account",
            ACCOUNT_PREFIX,
            Private,
            None,
            None,
            vec![
                required(field("Name", "Account Name", text(255), Public)),
                field(
                    "Industry",
                    "Industry",
                    picklist(&[
                        "Technology",
                        "Finance",
                        "Retail",
                        "Healthcare",
                        "Manufacturing",
                    ]),
                    Public,
                ),
                field("Phone", "Phone", Phone, Internal),
                field("Website", "Website", text(255), Public),
                field("AnnualRevenue", "Annual Revenue", Currency, Confidential),
                field("NumberOfEmployees", "Employees", Number, Internal),
            ],
        ),
        object(
            "Contact",
            "Contact",
            CONTACT_PREFIX,
            ControlledByParent,
            Some(("AccountId", "Account")),
            Some("Id"),
            vec![
                field("FirstName", "First Name", text(40), Pii),
                required(field("LastName", "Last Name", text(80), Pii)),
                field("Email", "Email", Email, Pii),
                field("Phone", "Phone", Phone, Pii),
                field("Birthdate", "Birthdate", Date, Pii),
                field("AccountId", "Account", reference("Account"), Internal),
            ],
        ),
        object(
            "Lead",
            "Lead",
            LEAD_PREFIX,
            Private,
            None,
            None,
            vec![
                field("FirstName", "First Name", text(40), Pii),
                required(field("LastName", "Last Name", text(80), Pii)),
                required(field("Company", "Company", text(255), Public)),
                field("Email", "Email", Email, Pii),
                field("Phone", "Phone", Phone, Pii),
                field(
                    "Status",
                    "Lead Status",
                    picklist(&["Open", "Working", "Qualified", "Unqualified"]),
                    Internal,
                ),
            ],
        ),
        object(
            "Opportunity",
            "Opportunity",
            OPPORTUNITY_PREFIX,
            Private,
            None,
            None,
            vec![
                required(field("Name", "Opportunity Name", text(120), Internal)),
                field("AccountId", "Account", reference("Account"), Internal),
                field("Amount", "Amount", Currency, Confidential),
                required(field("CloseDate", "Close Date", Date, Internal)),
                required(field(
                    "StageName",
                    "Stage",
                    picklist(&[
                        "Prospecting",
                        "Qualification",
                        "Proposal",
                        "Negotiation",
                        "Closed Won",
                        "Closed Lost",
                    ]),
                    Internal,
                )),
            ],
        ),
        object(
            "Case",
            "Case",
            CASE_PREFIX,
            Private,
            None,
            Some("ContactId"),
            vec![
                required(field("Subject", "Subject", text(255), Internal)),
                field("Description", "Description", text(32000), Internal),
                required(field(
                    "Status",
                    "Status",
                    picklist(&["New", "Working", "Escalated", "Closed"]),
                    Internal,
                )),
                field(
                    "Priority",
                    "Priority",
                    picklist(&["Low", "Medium", "High"]),
                    Internal,
                ),
                field("AccountId", "Account", reference("Account"), Internal),
                field("ContactId", "Contact", reference("Contact"), Internal),
                field("SuppliedEmail", "Web Email", Email, Pii),
            ],
        ),
        object(
            "Order",
            "Order",
            ORDER_PREFIX,
            ControlledByParent,
            Some(("AccountId", "Account")),
            Some("ContactId"),
            vec![
                required(field(
                    "AccountId",
                    "Account",
                    reference("Account"),
                    Internal,
                )),
                field("ContactId", "Contact", reference("Contact"), Internal),
                required(field(
                    "Status",
                    "Status",
                    picklist(&["Draft", "Activated", "Shipped", "Cancelled"]),
                    Internal,
                )),
                required(field("EffectiveDate", "Order Start Date", Date, Internal)),
                field("TotalAmount", "Order Amount", Currency, Confidential),
                field("ShippingStreet", "Shipping Street", text(255), Pii),
            ],
        ),
        object(
            "Task",
            "Task",
            TASK_PREFIX,
            Private,
            None,
            None,
            vec![
                required(field("Subject", "Subject", text(255), Internal)),
                field("ActivityDate", "Due Date", Date, Internal),
                field(
                    "Status",
                    "Status",
                    picklist(&["Not Started", "In Progress", "Completed"]),
                    Internal,
                ),
                field("WhoId", "Name", reference("Contact"), Internal),
                field("WhatId", "Related To", reference("Account"), Internal),
                field("IsHighPriority", "High Priority", Boolean, Internal),
            ],
        ),
    ]
}
