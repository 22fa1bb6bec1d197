//! The org configuration a platform engineer writes (`org.yaml`): users with their Heddle
//! logins, roles, public groups, profiles, permission sets, sharing rules, manual shares,
//! service users, custom objects and per-object sharing default overrides.
//!
//! [`OrgConfig`] is plain serde data (the YAML parsing happens in the caller, through
//! `heddle-yaml`). [`OrgConfig::build`] checks everything that refers to something else and
//! returns either the [`OrgDirectory`] the evaluator and the store use, or **every** problem
//! found, each with the path of the offending entry (`users[3].role`) and what to do about it.
//!
//! Shape, briefly:
//!
//! ```yaml
//! roles: [{ id: ceo }, { id: sales_vp, parent: ceo }]
//! groups: [{ id: escalations }]
//! profiles:
//!   - id: sales_rep
//!     objects: { Account: { read: true, create: true, edit: true } }
//!     fields: { Account: { Name: { read: true, edit: true } } }
//! users:
//!   - { id: 005000000000001AAA, login: ceo@example.com, role: ceo, profile: executive }
//!   - { id: 005000000000009AAA, login: ivy@example.org, profile: customer,
//!       kind: customer, contact_id: 003Hn0000000001IAA }
//! sharing_rules:
//!   - object: Case
//!     kind: { criteria_based: { field: Priority, equals: High } }
//!     share_with: { role_and_subordinates: support_manager }
//!     access: read
//! service_users:
//!   - { user: 005000000000012AAA, justification: "nightly ERP order sync writes as itself" }
//! custom_objects: [ ... ObjectDef ... ]
//! objects: { Lead: { sharing_default: public_read_only } }
//! ```
//!
//! User ids may be written in the 15- or 18-character form; the directory holds the
//! canonical 18-character form everywhere.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::access::MAX_PARENT_DEPTH;
use crate::id::{RecordId, validate_prefix};
use crate::metadata::{
    CONTACT_PREFIX, FieldType, ObjectDef, OrgWideDefault, USER_PREFIX, builtin_objects,
};
use crate::org::{
    GroupId, ManualShare, ManualShareTarget, Org, OrgUser, PermissionSet, PermissionSetId, Role,
    RoleId, ShareTarget, SharingRule, SharingRuleKind, UserId, UserKind,
};

/// Longest text field Heddle accepts (Salesforce's long text area limit).
pub const MAX_TEXT_LEN: u32 = 131_072;
/// Shortest service-user justification: a sentence, not a placeholder.
pub const MIN_JUSTIFICATION_LEN: usize = 20;
const MAX_NAME_LEN: usize = 80;
const MAX_LOGIN_LEN: usize = 254;

/// What a platform engineer writes in `org.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Public groups users can belong to and rules and shares can target.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    pub profiles: Vec<PermissionSet>,
    #[serde(default)]
    pub permission_sets: Vec<PermissionSet>,
    #[serde(default)]
    pub sharing_rules: Vec<SharingRule>,
    #[serde(default)]
    pub manual_shares: Vec<ManualShare>,
    /// Users allowed to run in system mode (no sharing), each with a written reason.
    #[serde(default)]
    pub service_users: Vec<ServiceUser>,
    /// Objects beyond the built-in ones; API names end in `__c`.
    #[serde(default)]
    pub custom_objects: Vec<ObjectDef>,
    /// Built-in object API name → override. Only the sharing default can be changed.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectOverride>,
}

/// One org user as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// A user id (`005…`), 15 or 18 characters.
    pub id: UserId,
    /// The email this person logs in to Heddle with; their requests act as this org user.
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub role: Option<RoleId>,
    pub profile: PermissionSetId,
    #[serde(default)]
    pub permission_sets: Vec<PermissionSetId>,
    #[serde(default)]
    pub groups: Vec<GroupId>,
    #[serde(default)]
    pub kind: UserConfigKind,
    /// The Contact a customer is verified as; required for customers, refused for others.
    #[serde(default)]
    pub contact_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserConfigKind {
    #[default]
    Internal,
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub id: GroupId,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceUser {
    pub user: UserId,
    /// Why this user may bypass sharing; shown to reviewers and recorded in audit.
    pub justification: String,
}

/// A change to a built-in object. Deliberately just the sharing default: fields, prefixes and
/// parents of built-ins are fixed so every org means the same thing by `Account.Name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectOverride {
    pub sharing_default: OrgWideDefault,
}

/// One problem in an [`OrgConfig`]: where (`users[3].role`) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

/// A validated org: the access configuration plus who logs in as whom and who may run in
/// system mode. Stored per tenant as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgDirectory {
    /// Built-in objects (overrides applied) and custom objects, users, roles, permissions,
    /// sharing rules and manual shares.
    pub org: Org,
    /// Heddle login → org user.
    pub logins: BTreeMap<String, UserId>,
    /// Users allowed to run in system mode → their justification.
    pub service_users: BTreeMap<UserId, String>,
}

impl OrgDirectory {
    /// The org user a Heddle login acts as.
    pub fn user_for_login(&self, login: &str) -> Option<&OrgUser> {
        self.logins.get(login).and_then(|id| self.org.user(id))
    }

    /// The contact a customer's login email verifies as: only customer users count, so an
    /// employee's address never verifies anyone on a service channel.
    pub fn customer_contact_for_email(&self, email: &str) -> Option<&RecordId> {
        match &self.user_for_login(&email.trim().to_lowercase())?.kind {
            crate::org::UserKind::Customer { contact_id } => Some(contact_id),
            crate::org::UserKind::Internal => None,
        }
    }

    /// The customer user who is the person behind `contact_id`.
    pub fn customer_user(&self, contact_id: &RecordId) -> Option<&OrgUser> {
        self.org.users.iter().find(|user| {
            matches!(&user.kind, crate::org::UserKind::Customer { contact_id: c } if c == contact_id)
        })
    }

    /// The justification when `user` may run in system mode.
    pub fn service_justification(&self, user: &UserId) -> Option<&str> {
        self.service_users.get(user).map(String::as_str)
    }
}

impl OrgConfig {
    /// Validates every reference and returns the directory, or every problem found.
    pub fn build(self) -> Result<OrgDirectory, Vec<ConfigError>> {
        let mut errors = Errors::default();
        let objects = self.resolve_objects(&mut errors);
        let known = Known::collect(&self, &mut errors);
        check_roles(&self.roles, &mut errors);
        self.check_permission_sets(&objects, &mut errors);
        let users = self.check_users(&known, &mut errors);
        self.check_sharing_rules(&objects, &known, &mut errors);
        let manual_shares = self.check_manual_shares(&objects, &known, &users, &mut errors);
        let service_users = self.check_service_users(&users, &mut errors);
        if !errors.0.is_empty() {
            return Err(errors.0);
        }
        let logins = self
            .users
            .iter()
            .zip(&users)
            .filter_map(|(config, user)| Some((config.login.clone()?, user.id.clone())))
            .collect();
        Ok(OrgDirectory {
            org: Org {
                users,
                roles: self.roles,
                profiles: self.profiles,
                permission_sets: self.permission_sets,
                sharing_rules: self.sharing_rules,
                manual_shares,
                objects,
            },
            logins,
            service_users,
        })
    }

    /// Built-ins with overrides applied, then the custom objects; reports problems in both.
    fn resolve_objects(&self, errors: &mut Errors) -> Vec<ObjectDef> {
        let mut objects = builtin_objects();
        let builtin_names: Vec<String> = objects.iter().map(|o| o.api_name.clone()).collect();
        for (name, change) in &self.objects {
            let path = format!("objects.{name}");
            let Some(object) = objects.iter_mut().find(|o| &o.api_name == name) else {
                if self.custom_objects.iter().any(|c| &c.api_name == name) {
                    errors.push(
                        path,
                        format!(
                            "`{name}` is a custom object: set its `sharing_default` in its \
                             declaration under `custom_objects`"
                        ),
                    );
                } else {
                    errors.push(
                        path,
                        format!(
                            "unknown built-in object `{name}`; overrides apply to {}",
                            choices(builtin_names.iter())
                        ),
                    );
                }
                continue;
            };
            if change.sharing_default == OrgWideDefault::ControlledByParent
                && object.parent.is_none()
            {
                errors.push(
                    format!("{path}.sharing_default"),
                    format!(
                        "`{name}` has no parent object, so it cannot be controlled_by_parent; \
                         use private, public_read_only or public_read_write"
                    ),
                );
                continue;
            }
            object.sharing_default = change.sharing_default;
        }

        let mut prefixes: BTreeMap<String, String> = objects
            .iter()
            .map(|o| (o.key_prefix.clone(), o.api_name.clone()))
            .collect();
        prefixes.insert(USER_PREFIX.to_owned(), "User".to_owned());
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, custom) in self.custom_objects.iter().enumerate() {
            let path = format!("custom_objects[{i}]");
            let name = custom.api_name.as_str();
            if !is_custom_object_name(name) {
                errors.push(
                    format!("{path}.api_name"),
                    format!(
                        "`{name}` is not a custom object API name: start with a letter, use \
                         letters, digits and single underscores, and end in `__c` \
                         (like `Warranty_Claim__c`)"
                    ),
                );
            }
            if let Some(first) = names.get(name) {
                errors.push(
                    format!("{path}.api_name"),
                    format!("`{name}` is already declared at custom_objects[{first}]; rename one"),
                );
                continue;
            }
            names.insert(name, i);
            if custom.label.trim().is_empty() {
                errors.push(
                    format!("{path}.label"),
                    "give the object a label people read",
                );
            }
            let prefix = custom.key_prefix.as_str();
            if validate_prefix(prefix).is_err() || !prefix.starts_with('a') {
                errors.push(
                    format!("{path}.key_prefix"),
                    format!(
                        "key prefix `{prefix}` must be `a` followed by two characters from \
                         0-9, A-Z, a-z (like `a00`), as custom object prefixes are"
                    ),
                );
            } else if let Some(owner) = prefixes.get(prefix) {
                errors.push(
                    format!("{path}.key_prefix"),
                    format!("key prefix `{prefix}` is already used by `{owner}`; pick another"),
                );
            } else {
                prefixes.insert(prefix.to_owned(), name.to_owned());
            }
            objects.push(custom.clone());
        }

        // Field and parent checks need every object declared first (references go both ways).
        for (i, custom) in self.custom_objects.iter().enumerate() {
            check_custom_object(&format!("custom_objects[{i}]"), custom, &objects, errors);
        }
        check_parent_chains(&self.custom_objects, &objects, errors);
        objects
    }

    fn check_permission_sets(&self, objects: &[ObjectDef], errors: &mut Errors) {
        let sets = self
            .profiles
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("profiles[{i}]"), p))
            .chain(
                self.permission_sets
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("permission_sets[{i}]"), p)),
            );
        for (path, set) in sets {
            for object_name in set.objects.keys() {
                if find_object(objects, object_name).is_none() {
                    errors.push(
                        format!("{path}.objects.{object_name}"),
                        unknown_object(object_name, objects),
                    );
                }
            }
            for (object_name, fields) in &set.fields {
                let Some(object) = find_object(objects, object_name) else {
                    errors.push(
                        format!("{path}.fields.{object_name}"),
                        unknown_object(object_name, objects),
                    );
                    continue;
                };
                for field_name in fields.keys() {
                    if object.field(field_name).is_none() {
                        errors.push(
                            format!("{path}.fields.{object_name}.{field_name}"),
                            unknown_field(object, field_name),
                        );
                    }
                }
            }
        }
    }

    /// Checks users and returns them as org users with canonical ids (in config order).
    fn check_users(&self, known: &Known, errors: &mut Errors) -> Vec<OrgUser> {
        let mut ids: BTreeMap<UserId, usize> = BTreeMap::new();
        let mut logins: BTreeMap<&str, usize> = BTreeMap::new();
        let mut contacts: BTreeMap<RecordId, usize> = BTreeMap::new();
        let mut users = Vec::with_capacity(self.users.len());
        for (i, user) in self.users.iter().enumerate() {
            let path = format!("users[{i}]");
            let id = match canonical_user_id(&user.id) {
                Ok(id) => {
                    if let Some(first) = ids.get(&id) {
                        errors.push(
                            format!("{path}.id"),
                            format!("user id `{id}` is already used by users[{first}]"),
                        );
                    } else {
                        ids.insert(id.clone(), i);
                    }
                    id
                }
                Err(message) => {
                    errors.push(format!("{path}.id"), message);
                    user.id.clone()
                }
            };
            if let Some(login) = &user.login {
                if !is_login(login) {
                    errors.push(
                        format!("{path}.login"),
                        format!(
                            "login `{login}` must be 1-{MAX_LOGIN_LEN} characters from a-z, \
                             0-9, `.`, `_`, `-`, `@`, `+`, starting with a letter or digit"
                        ),
                    );
                } else if let Some(first) = logins.get(login.as_str()) {
                    errors.push(
                        format!("{path}.login"),
                        format!("login `{login}` is already used by users[{first}]"),
                    );
                } else {
                    logins.insert(login, i);
                }
            }
            if let Some(role) = &user.role
                && !known.roles.contains(role)
            {
                errors.push(
                    format!("{path}.role"),
                    format!(
                        "role `{role}` is not declared under `roles` (declared: {})",
                        choices(known.roles.iter())
                    ),
                );
            }
            if !known.profiles.contains(&user.profile) {
                let hint = if known.permission_sets.contains(&user.profile) {
                    "; it is a permission set: list it under `permission_sets` and give a profile"
                        .to_owned()
                } else {
                    format!(" (declared: {})", choices(known.profiles.iter()))
                };
                errors.push(
                    format!("{path}.profile"),
                    format!(
                        "profile `{}` is not declared under `profiles`{hint}",
                        user.profile
                    ),
                );
            }
            for (j, set) in user.permission_sets.iter().enumerate() {
                if !known.permission_sets.contains(set) {
                    let hint = if known.profiles.contains(set) {
                        "; it is a profile, and a user has exactly one, in `profile`".to_owned()
                    } else {
                        format!(" (declared: {})", choices(known.permission_sets.iter()))
                    };
                    errors.push(
                        format!("{path}.permission_sets[{j}]"),
                        format!("permission set `{set}` is not declared{hint}"),
                    );
                }
            }
            for (j, group) in user.groups.iter().enumerate() {
                if !known.groups.contains(group) {
                    errors.push(
                        format!("{path}.groups[{j}]"),
                        format!(
                            "group `{group}` is not declared under `groups` (declared: {})",
                            choices(known.groups.iter())
                        ),
                    );
                }
            }
            let kind = match (user.kind, &user.contact_id) {
                (UserConfigKind::Internal, None) => UserKind::Internal,
                (UserConfigKind::Internal, Some(_)) => {
                    errors.push(
                        format!("{path}.contact_id"),
                        "only customers have a contact id; set `kind: customer` or remove it",
                    );
                    UserKind::Internal
                }
                (UserConfigKind::Customer, None) => {
                    errors.push(
                        format!("{path}.contact_id"),
                        "a customer needs `contact_id`: the id (`003…`) of the Contact they \
                         are verified as",
                    );
                    UserKind::Internal
                }
                (UserConfigKind::Customer, Some(contact)) => match RecordId::parse(contact) {
                    Ok(contact_id) if contact_id.key_prefix() == CONTACT_PREFIX => {
                        // One portal user per person, as Salesforce has it.
                        if let Some(first) = contacts.get(&contact_id) {
                            errors.push(
                                format!("{path}.contact_id"),
                                format!(
                                    "contact `{contact_id}` is already the customer \
                                     users[{first}]; one user per contact"
                                ),
                            );
                        } else {
                            contacts.insert(contact_id.clone(), i);
                        }
                        UserKind::Customer { contact_id }
                    }
                    Ok(_) => {
                        errors.push(
                            format!("{path}.contact_id"),
                            format!(
                                "`{contact}` is not a Contact id; Contact ids start with \
                                     `{CONTACT_PREFIX}`"
                            ),
                        );
                        UserKind::Internal
                    }
                    Err(e) => {
                        errors.push(format!("{path}.contact_id"), e.to_string());
                        UserKind::Internal
                    }
                },
            };
            users.push(OrgUser {
                id,
                role: user.role.clone(),
                profile: user.profile.clone(),
                permission_sets: user.permission_sets.clone(),
                groups: user.groups.clone(),
                kind,
            });
        }
        users
    }

    fn check_sharing_rules(&self, objects: &[ObjectDef], known: &Known, errors: &mut Errors) {
        for (i, rule) in self.sharing_rules.iter().enumerate() {
            let path = format!("sharing_rules[{i}]");
            match find_object(objects, &rule.object) {
                None => errors.push(
                    format!("{path}.object"),
                    unknown_object(&rule.object, objects),
                ),
                Some(object) => {
                    if object.sharing_default == OrgWideDefault::ControlledByParent {
                        errors.push(
                            format!("{path}.object"),
                            format!(
                                "`{}` is controlled by its parent and takes no sharing rules; \
                                 share the parent object instead",
                                rule.object
                            ),
                        );
                    }
                    if let SharingRuleKind::CriteriaBased { field, equals } = &rule.kind {
                        if object.field(field).is_none() {
                            errors.push(
                                format!("{path}.kind.criteria_based.field"),
                                unknown_field(object, field),
                            );
                        }
                        if !(equals.is_string() || equals.is_number() || equals.is_boolean()) {
                            errors.push(
                                format!("{path}.kind.criteria_based.equals"),
                                "compare with a single text, number or true/false value",
                            );
                        }
                    }
                }
            }
            if let SharingRuleKind::OwnerBased { owned_by } = &rule.kind {
                known.check_target(
                    owned_by,
                    &format!("{path}.kind.owner_based.owned_by"),
                    errors,
                );
            }
            known.check_target(&rule.share_with, &format!("{path}.share_with"), errors);
        }
    }

    /// Checks manual shares and returns them with canonical user ids.
    fn check_manual_shares(
        &self,
        objects: &[ObjectDef],
        known: &Known,
        users: &[OrgUser],
        errors: &mut Errors,
    ) -> Vec<ManualShare> {
        let mut shares = Vec::with_capacity(self.manual_shares.len());
        for (i, share) in self.manual_shares.iter().enumerate() {
            let path = format!("manual_shares[{i}]");
            let prefix = share.record_id.key_prefix();
            match objects.iter().find(|o| o.key_prefix == prefix) {
                None => errors.push(
                    format!("{path}.record_id"),
                    format!("no object has key prefix `{prefix}` (the id's first 3 characters)"),
                ),
                Some(object) if object.sharing_default == OrgWideDefault::ControlledByParent => {
                    errors.push(
                        format!("{path}.record_id"),
                        format!(
                            "`{}` records are controlled by their parent and cannot be shared \
                             by hand; share the parent record instead",
                            object.api_name
                        ),
                    );
                }
                Some(_) => {}
            }
            let share_with = match &share.share_with {
                ManualShareTarget::User(user) => {
                    let target = format!("{path}.share_with.user");
                    ManualShareTarget::User(resolve_user(user, users, &target, errors))
                }
                ManualShareTarget::Group(group) => {
                    if !known.groups.contains(group) {
                        errors.push(
                            format!("{path}.share_with.group"),
                            unknown_group(group, known),
                        );
                    }
                    ManualShareTarget::Group(group.clone())
                }
            };
            shares.push(ManualShare {
                record_id: share.record_id.clone(),
                share_with,
                access: share.access,
            });
        }
        shares
    }

    fn check_service_users(
        &self,
        users: &[OrgUser],
        errors: &mut Errors,
    ) -> BTreeMap<UserId, String> {
        let mut service_users = BTreeMap::new();
        for (i, service) in self.service_users.iter().enumerate() {
            let path = format!("service_users[{i}]");
            let id = resolve_user(&service.user, users, &format!("{path}.user"), errors);
            if let Some(user) = users.iter().find(|u| u.id == id)
                && matches!(user.kind, UserKind::Customer { .. })
            {
                errors.push(
                    format!("{path}.user"),
                    format!("`{id}` is an external customer; customers never run in system mode"),
                );
            }
            let justification = service.justification.trim();
            if justification.chars().count() < MIN_JUSTIFICATION_LEN {
                errors.push(
                    format!("{path}.justification"),
                    format!(
                        "write why this user must bypass sharing (at least \
                         {MIN_JUSTIFICATION_LEN} characters); reviewers and the audit log \
                         show it"
                    ),
                );
            }
            match service_users.entry(id) {
                Entry::Occupied(entry) => errors.push(
                    format!("{path}.user"),
                    format!("`{}` is listed twice; keep one entry", entry.key()),
                ),
                Entry::Vacant(entry) => {
                    entry.insert(justification.to_owned());
                }
            }
        }
        service_users
    }
}

#[derive(Debug, Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// The declared names references are checked against.
struct Known {
    roles: BTreeSet<RoleId>,
    groups: BTreeSet<GroupId>,
    profiles: BTreeSet<PermissionSetId>,
    permission_sets: BTreeSet<PermissionSetId>,
}

impl Known {
    /// Collects declared names, reporting blank and duplicate ones.
    fn collect(config: &OrgConfig, errors: &mut Errors) -> Self {
        let roles = declared("roles", config.roles.iter().map(|r| &r.id.0), errors);
        let groups = declared("groups", config.groups.iter().map(|g| &g.id.0), errors);
        let profiles = declared("profiles", config.profiles.iter().map(|p| &p.id.0), errors);
        let permission_sets = declared(
            "permission_sets",
            config.permission_sets.iter().map(|p| &p.id.0),
            errors,
        );
        for (i, set) in config.permission_sets.iter().enumerate() {
            if profiles.contains(&set.id.0) {
                errors.push(
                    format!("permission_sets[{i}].id"),
                    format!(
                        "`{}` is also a profile; profiles and permission sets share one \
                         namespace, rename one",
                        set.id
                    ),
                );
            }
        }
        Self {
            roles: roles.into_iter().map(RoleId).collect(),
            groups: groups.into_iter().map(GroupId).collect(),
            profiles: profiles.into_iter().map(PermissionSetId).collect(),
            permission_sets: permission_sets.into_iter().map(PermissionSetId).collect(),
        }
    }

    fn check_target(&self, target: &ShareTarget, path: &str, errors: &mut Errors) {
        match target {
            ShareTarget::Role(role) | ShareTarget::RoleAndSubordinates(role) => {
                if !self.roles.contains(role) {
                    errors.push(
                        path,
                        format!(
                            "role `{role}` is not declared under `roles` (declared: {})",
                            choices(self.roles.iter())
                        ),
                    );
                }
            }
            ShareTarget::Group(group) => {
                if !self.groups.contains(group) {
                    errors.push(path, unknown_group(group, self));
                }
            }
        }
    }
}

/// Names listed under `section`: each non-blank, short, and declared once.
fn declared<'a>(
    section: &str,
    names: impl Iterator<Item = &'a String>,
    errors: &mut Errors,
) -> BTreeSet<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, name) in names.enumerate() {
        let path = format!("{section}[{i}].id");
        if !is_name(name) {
            errors.push(
                path,
                format!(
                    "`{name}` is not a usable id: 1-{MAX_NAME_LEN} characters, no spaces or \
                     control characters"
                ),
            );
        } else if let Some(first) = seen.get(name.as_str()) {
            errors.push(
                path,
                format!("`{name}` is already declared at {section}[{first}]"),
            );
        } else {
            seen.insert(name, i);
        }
    }
    seen.into_keys().map(str::to_owned).collect()
}

fn check_roles(roles: &[Role], errors: &mut Errors) {
    let parents: BTreeMap<&RoleId, Option<&RoleId>> =
        roles.iter().map(|r| (&r.id, r.parent.as_ref())).collect();
    for (i, role) in roles.iter().enumerate() {
        let Some(parent) = &role.parent else { continue };
        if !parents.contains_key(parent) {
            errors.push(
                format!("roles[{i}].parent"),
                format!(
                    "parent role `{parent}` is not declared under `roles` (declared: {})",
                    choices(parents.keys())
                ),
            );
            continue;
        }
        // Walk up at most once around the whole list: returning to `role` is a cycle.
        let mut chain = vec![role.id.to_string()];
        let mut current = Some(parent);
        for _ in 0..roles.len() {
            let Some(id) = current else { break };
            chain.push(id.to_string());
            if id == &role.id {
                errors.push(
                    format!("roles[{i}].parent"),
                    format!(
                        "role `{}` is its own ancestor ({}); the hierarchy must be a tree",
                        role.id,
                        chain.join(" → ")
                    ),
                );
                break;
            }
            current = parents.get(id).copied().flatten();
        }
    }
}

fn check_custom_object(path: &str, custom: &ObjectDef, objects: &[ObjectDef], errors: &mut Errors) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, field) in custom.fields.iter().enumerate() {
        let field_path = format!("{path}.fields[{k}]");
        let name = field.api_name.as_str();
        if !is_field_name(name) {
            errors.push(
                format!("{field_path}.api_name"),
                format!(
                    "`{name}` is not a field API name: a letter, then letters, digits or `_` \
                     (at most {MAX_NAME_LEN} characters)"
                ),
            );
        } else if name.eq_ignore_ascii_case("Id") || name.eq_ignore_ascii_case("OwnerId") {
            errors.push(
                format!("{field_path}.api_name"),
                format!("`{name}` is a system field every record has; do not declare it"),
            );
        }
        if let Some(first) = seen.get(name) {
            errors.push(
                format!("{field_path}.api_name"),
                format!("field `{name}` is already declared at fields[{first}]"),
            );
        } else {
            seen.insert(name, k);
        }
        if field.label.trim().is_empty() {
            errors.push(
                format!("{field_path}.label"),
                "give the field a label people read",
            );
        }
        match &field.field_type {
            FieldType::Text { max_len } if *max_len == 0 || *max_len > MAX_TEXT_LEN => {
                errors.push(
                    format!("{field_path}.field_type.max_len"),
                    format!("max_len must be between 1 and {MAX_TEXT_LEN}"),
                );
            }
            FieldType::Picklist { values } => {
                let distinct: BTreeSet<String> = values.iter().map(|v| v.to_lowercase()).collect();
                if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
                    errors.push(
                        format!("{field_path}.field_type.values"),
                        "list at least one value, none blank",
                    );
                } else if distinct.len() != values.len() {
                    errors.push(
                        format!("{field_path}.field_type.values"),
                        "picklist values must differ (ignoring letter case)",
                    );
                }
            }
            FieldType::Reference { to } if to != "User" && find_object(objects, to).is_none() => {
                errors.push(
                    format!("{field_path}.field_type.to"),
                    format!(
                        "{}; a reference may also point at `User`",
                        unknown_object(to, objects)
                    ),
                );
            }
            _ => {}
        }
    }

    match (&custom.sharing_default, &custom.parent) {
        (OrgWideDefault::ControlledByParent, None) => errors.push(
            format!("{path}.parent"),
            "a controlled_by_parent object needs `parent: { field, object }`: the reference \
             field holding the parent record and the parent's object",
        ),
        (OrgWideDefault::ControlledByParent, Some(parent)) => {
            if find_object(objects, &parent.object).is_none() {
                errors.push(
                    format!("{path}.parent.object"),
                    unknown_object(&parent.object, objects),
                );
            }
            match custom.field(&parent.field).map(|f| &f.field_type) {
                Some(FieldType::Reference { to }) if to == &parent.object => {}
                _ => errors.push(
                    format!("{path}.parent.field"),
                    format!(
                        "`{}` must be a reference field of this object pointing at `{}`",
                        parent.field, parent.object
                    ),
                ),
            }
        }
        (_, Some(_)) => errors.push(
            format!("{path}.parent"),
            "only controlled_by_parent objects take a parent; remove `parent` or set \
             `sharing_default: controlled_by_parent`",
        ),
        (_, None) => {}
    }

    if let Some(link) = &custom.customer_link {
        let links_to_contact = matches!(
            custom.field(link).map(|f| &f.field_type),
            Some(FieldType::Reference { to }) if to == "Contact"
        );
        if !links_to_contact {
            errors.push(
                format!("{path}.customer_link"),
                format!(
                    "`{link}` must be a reference field of this object pointing at `Contact` \
                     (customers see records whose link is their contact)"
                ),
            );
        }
    }
}

/// Controlled-by-parent chains must end at an object with its own sharing within the depth
/// the evaluator follows; a loop or a longer chain would silently grant nothing.
fn check_parent_chains(customs: &[ObjectDef], objects: &[ObjectDef], errors: &mut Errors) {
    for (i, custom) in customs.iter().enumerate() {
        let mut chain = vec![custom.api_name.clone()];
        let mut current = custom;
        while current.sharing_default == OrgWideDefault::ControlledByParent {
            let Some(next) = current
                .parent
                .as_ref()
                .and_then(|p| find_object(objects, &p.object))
            else {
                break; // reported by check_custom_object
            };
            chain.push(next.api_name.clone());
            if next.api_name == custom.api_name || chain.len() > MAX_PARENT_DEPTH + 1 {
                errors.push(
                    format!("custom_objects[{i}].parent"),
                    format!(
                        "the parent chain {} {}; it must reach an object with its own sharing \
                         within {MAX_PARENT_DEPTH} steps",
                        chain.join(" → "),
                        if next.api_name == custom.api_name {
                            "loops"
                        } else {
                            "is too long"
                        }
                    ),
                );
                break;
            }
            current = next;
        }
    }
}

/// Parses a configured user id into its canonical 18-character form.
fn canonical_user_id(id: &UserId) -> Result<UserId, String> {
    match RecordId::parse(&id.0) {
        Ok(parsed) if parsed.key_prefix() == USER_PREFIX => Ok(UserId(parsed.as_str().to_owned())),
        Ok(_) => Err(format!(
            "`{id}` is not a user id; user ids start with `{USER_PREFIX}`"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A reference to a configured user, canonicalized; reports ids that are not users.
fn resolve_user(id: &UserId, users: &[OrgUser], path: &str, errors: &mut Errors) -> UserId {
    match canonical_user_id(id) {
        Ok(canonical) => {
            if !users.iter().any(|u| u.id == canonical) {
                errors.push(
                    path,
                    format!("`{id}` is not one of the users under `users`; add it there first"),
                );
            }
            canonical
        }
        Err(message) => {
            errors.push(path, message);
            id.clone()
        }
    }
}

fn find_object<'a>(objects: &'a [ObjectDef], name: &str) -> Option<&'a ObjectDef> {
    objects.iter().find(|o| o.api_name == name)
}

fn unknown_object(name: &str, objects: &[ObjectDef]) -> String {
    format!(
        "unknown object `{name}` (objects: {})",
        choices(objects.iter().map(|o| &o.api_name))
    )
}

fn unknown_field(object: &ObjectDef, name: &str) -> String {
    format!(
        "object `{}` has no field `{name}` (fields: {})",
        object.api_name,
        choices(object.fields.iter().map(|f| &f.api_name))
    )
}

fn unknown_group(group: &GroupId, known: &Known) -> String {
    format!(
        "group `{group}` is not declared under `groups` (declared: {})",
        choices(known.groups.iter())
    )
}

/// A short list of valid names for a message.
fn choices<T: std::fmt::Display>(names: impl Iterator<Item = T>) -> String {
    const SHOWN: usize = 12;
    let names: Vec<String> = names.map(|n| n.to_string()).collect();
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut out = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(", and {} more", names.len() - SHOWN));
    }
    out
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_LEN
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `[A-Za-z][A-Za-z0-9_]*`, as Salesforce field API names.
pub fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `Stem__c` where the stem is a field-style name without `__` and not ending in `_`.
pub fn is_custom_object_name(name: &str) -> bool {
    name.strip_suffix("__c")
        .is_some_and(|stem| is_field_name(stem) && !stem.contains("__") && !stem.ends_with('_'))
}

fn is_login(login: &str) -> bool {
    let mut chars = login.chars();
    login.len() <= MAX_LOGIN_LEN
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@' | '+')
        })
}
