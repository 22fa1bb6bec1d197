//! What can go wrong reading or writing records, in terms a caller can act on.

use heddle_identity::IdentityError;
use heddle_records::config::ConfigError;
use heddle_records::query::QueryError;
use heddle_records::{AccessDenied, ValueError};
use heddle_store::{RecordQueryError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Authentication or Cedar authorization failed before any record was considered.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The tenant has no record org yet.
    #[error("this tenant has no record org; an admin applies one with `heddle records apply`")]
    NoRecordOrg,
    /// A record org to apply has problems; every one is listed with its path.
    #[error("the record org has {} problem(s): {}", .0.len(), summarize(.0))]
    InvalidConfig(Vec<ConfigError>),
    /// The stored record org no longer builds (for example after an upgrade changed a rule).
    #[error("the tenant's record org is invalid: {}", summarize(.0))]
    InvalidOrg(Vec<ConfigError>),
    /// The caller is not (or no longer) a user of the record org.
    #[error("{0}")]
    NoRecordIdentity(String),
    /// An object or record that does not exist or that the actor may not see.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The record org refuses the operation (CRUD, FLS, sharing); the message names what is
    /// missing and never a value.
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    InvalidQuery(#[from] QueryError),
    #[error(transparent)]
    InvalidValue(#[from] ValueError),
    /// A request that is well-formed but not acceptable (an import file, a service user).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

fn summarize(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for RecordError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<RecordQueryError> for RecordError {
    fn from(err: RecordQueryError) -> Self {
        match err {
            RecordQueryError::Query(query) => Self::InvalidQuery(query),
            RecordQueryError::Store(store) => Self::Store(store),
        }
    }
}

impl From<AccessDenied> for RecordError {
    fn from(err: AccessDenied) -> Self {
        match err {
            AccessDenied::RecordNotVisible { id } => Self::NotFound {
                what: format!("record `{id}`"),
            },
            AccessDenied::UnknownObject { object } => Self::NotFound {
                what: format!("object `{object}`"),
            },
            other => Self::Denied(other.to_string()),
        }
    }
}

impl RecordError {
    /// A stable reason code for audit events; never contains values.
    pub(crate) fn reason(&self) -> String {
        match self {
            RecordError::Identity(IdentityError::Forbidden { action }) => {
                format!("forbidden:{action}")
            }
            RecordError::Identity(_) => "identity".to_owned(),
            RecordError::NoRecordOrg => "no_record_org".to_owned(),
            RecordError::InvalidOrg(_) => "invalid_record_org".to_owned(),
            RecordError::InvalidConfig(_) => "invalid_config".to_owned(),
            RecordError::NoRecordIdentity(_) => "no_record_identity".to_owned(),
            RecordError::NotFound { .. } => "not_found".to_owned(),
            RecordError::Denied(_) => "denied".to_owned(),
            RecordError::InvalidQuery(_) => "invalid_query".to_owned(),
            RecordError::InvalidValue(_) => "invalid_value".to_owned(),
            RecordError::Invalid(_) => "invalid".to_owned(),
            RecordError::Conflict(_) => "conflict".to_owned(),
            RecordError::Store(_) => "storage".to_owned(),
        }
    }

    /// How the audit log classifies it: the caller's (denied) or the system's (failure).
    pub(crate) fn outcome(&self) -> heddle_types::AuditOutcome {
        if matches!(self, RecordError::Store(_) | RecordError::InvalidOrg(_)) {
            heddle_types::AuditOutcome::Failure
        } else {
            heddle_types::AuditOutcome::Denied
        }
    }
}
