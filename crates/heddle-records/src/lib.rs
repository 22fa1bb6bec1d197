//! Heddle's record access model, the pure part: Salesforce-style record ids, object and field
//! metadata, and the evaluation of who may read, edit, create and delete which record and which
//! field (object CRUD, field-level security, org-wide defaults, ownership, role hierarchy,
//! sharing rules, manual shares, controlled-by-parent and external customers).
//!
//! - [`RecordId`]: 15-character case-sensitive and 18-character case-insensitive ids; always
//!   held in the canonical 18-character form.
//! - [`metadata`]: [`ObjectDef`], [`FieldDef`], [`OrgWideDefault`] and [`builtin_objects`].
//! - [`org`]: the access configuration as plain serializable data ([`Org`], [`OrgUser`], …).
//! - [`access`]: [`record_access`], [`field_access`], [`strip_inaccessible`], the write
//!   checks and the query/describe helpers; the semantics (and every simplification of Salesforce's) are documented there.
//! - [`validate_fields`] / [`check_required`]: a write's values against their field types.
//! - [`query`]: structured record queries ([`RecordQuery`]), validated by [`validate_query`]
//!   into a [`ValidQuery`] with a reference filter, order and keyset cursor.
//! - [`config`]: the org as configured (`org.yaml` as serde data), validated by
//!   [`OrgConfig::build`] into an [`OrgDirectory`]; [`import`]: records from CSV or JSON.
//!
//! Invariants: no I/O, no clock, no async; evaluation is a function of its inputs only (the
//! storage layer compiles the same rules to SQL and is tested against this evaluator); an
//! unknown object, field, role or user never grants anything (fail closed).

pub mod access;
pub mod config;
mod id;
pub mod import;
pub mod metadata;
pub mod org;
pub mod query;
mod values;
mod visibility;

pub use access::{
    Access, AccessDenied, FieldAccess, NoRecords, RecordLookup, check_create, check_delete,
    check_fields_readable, check_update, describe_object, field_access, object_permissions,
    record_access, strip_inaccessible, strip_uneditable,
};
pub use config::{
    ConfigError, GroupConfig, ObjectOverride, OrgConfig, OrgDirectory, ServiceUser, UserConfig,
    UserConfigKind,
};
pub use id::{RecordId, RecordIdError, custom_key_prefix};
pub use import::{
    ImportError, ImportFormat, ImportPlace, ImportRow, parse_csv, parse_json, parse_records,
};
pub use metadata::{
    DataClassification, FieldDef, FieldType, ObjectDef, OrgWideDefault, ParentRef, builtin_objects,
};
pub use org::{
    FieldPermissions, GroupId, ManualShare, ManualShareTarget, ObjectPermissions, Org, OrgUser,
    PermissionSet, PermissionSetId, Record, Role, RoleId, ShareAccess, ShareTarget, SharingRule,
    SharingRuleKind, UserId, UserKind,
};
pub use query::{
    Condition, Direction, Filter, Op, OrderBy, QueryError, RecordQuery, ValidQuery, validate_query,
};
pub use values::{MAX_EMAIL_LEN, MAX_PHONE_LEN, ValueError, check_required, validate_fields};
pub use visibility::{CustomerLink, ParentGround, Restriction, Visibility, visibility_for};
