//! The access configuration of an org as plain data: users, roles, profiles and permission
//! sets, sharing rules, manual shares and object metadata, plus the [`Record`] shape the
//! evaluator judges. Everything is serializable so storage and YAML can carry it unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::RecordId;
use crate::metadata::ObjectDef;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A user (the owner of records, the subject of access checks).
    UserId
);
string_id!(
    /// A role in the role hierarchy.
    RoleId
);
string_id!(
    /// A public group.
    GroupId
);
string_id!(
    /// A profile or a permission set (both are [`PermissionSet`]s).
    PermissionSetId
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    pub users: Vec<OrgUser>,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub profiles: Vec<PermissionSet>,
    #[serde(default)]
    pub permission_sets: Vec<PermissionSet>,
    #[serde(default)]
    pub sharing_rules: Vec<SharingRule>,
    #[serde(default)]
    pub manual_shares: Vec<ManualShare>,
    pub objects: Vec<ObjectDef>,
}

impl Org {
    pub fn object(&self, api_name: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.api_name == api_name)
    }

    pub fn user(&self, id: &UserId) -> Option<&OrgUser> {
        self.users.iter().find(|u| &u.id == id)
    }

    pub fn role(&self, id: &RoleId) -> Option<&Role> {
        self.roles.iter().find(|r| &r.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgUser {
    pub id: UserId,
    #[serde(default)]
    pub role: Option<RoleId>,
    pub profile: PermissionSetId,
    #[serde(default)]
    pub permission_sets: Vec<PermissionSetId>,
    #[serde(default)]
    pub groups: Vec<GroupId>,
    pub kind: UserKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum UserKind {
    Internal,
    /// An external customer, verified as the person behind `contact_id`.
    Customer {
        contact_id: RecordId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub id: RoleId,
    #[serde(default)]
    pub parent: Option<RoleId>,
}

/// A profile or a permission set: grants are additive, a user's effective permissions are the
/// union of their profile and all their permission sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionSet {
    pub id: PermissionSetId,
    /// Object API name → object permissions.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectPermissions>,
    /// Object API name → field API name → field permissions.
    #[serde(default)]
    pub fields: BTreeMap<String, BTreeMap<String, FieldPermissions>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectPermissions {
    pub read: bool,
    pub create: bool,
    pub edit: bool,
    pub delete: bool,
    pub view_all: bool,
    pub modify_all: bool,
}

impl ObjectPermissions {
    /// The union of two grants.
    pub fn union(self, other: Self) -> Self {
        Self {
            read: self.read || other.read,
            create: self.create || other.create,
            edit: self.edit || other.edit,
            delete: self.delete || other.delete,
            view_all: self.view_all || other.view_all,
            modify_all: self.modify_all || other.modify_all,
        }
    }

    /// Applies Salesforce's implications: modify all ⇒ everything; view all ⇒ read;
    /// delete ⇒ edit; edit or create ⇒ read.
    pub fn normalized(self) -> Self {
        let modify_all = self.modify_all;
        let delete = self.delete || modify_all;
        let edit = self.edit || delete;
        let view_all = self.view_all || modify_all;
        Self {
            read: self.read || edit || self.create || view_all,
            create: self.create || modify_all,
            edit,
            delete,
            view_all,
            modify_all,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldPermissions {
    pub read: bool,
    pub edit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareAccess {
    Read,
    ReadWrite,
}

/// A set of users a sharing rule selects or shares with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareTarget {
    Role(RoleId),
    RoleAndSubordinates(RoleId),
    Group(GroupId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharingRuleKind {
    /// Shares records owned by users in `owned_by`.
    OwnerBased { owned_by: ShareTarget },
    /// Shares records whose `field` equals `equals`.
    CriteriaBased {
        field: String,
        equals: serde_json::Value,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharingRule {
    pub object: String,
    pub kind: SharingRuleKind,
    pub share_with: ShareTarget,
    pub access: ShareAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManualShareTarget {
    User(UserId),
    Group(GroupId),
}

/// One record shared by hand with a user or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualShare {
    pub record_id: RecordId,
    pub share_with: ManualShareTarget,
    pub access: ShareAccess,
}

/// A record as the evaluator sees it. `Id` and the owner live outside `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub id: RecordId,
    pub object: String,
    pub owner_id: UserId,
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
}
