//! What can go wrong in an identity operation, in terms a caller can act on.

use heddle_store::StoreError;
use heddle_types::Action;

use crate::AuthFailure;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No valid credential. The reason is for logs and metrics, not for the response body.
    #[error("authentication failed: {0}")]
    Unauthenticated(AuthFailure),
    #[error("the caller's role does not allow `{action}`")]
    Forbidden { action: Action },
    #[error("{entity} `{id}` not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{entity} with {field} `{value}` already exists")]
    Conflict {
        entity: &'static str,
        field: &'static str,
        value: String,
    },
    /// A request field that does not satisfy its rules.
    #[error("invalid `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The request is well-formed but would leave the system in a bad state.
    #[error("{0}")]
    Refused(String),
    #[error("custom policy rejected")]
    PolicyRejected(#[from] heddle_policy::PolicyValidationError),
    #[error("policy engine error: {0}")]
    Policy(#[from] heddle_policy::PolicyError),
    #[error("cryptography error: {0}")]
    Crypto(#[from] heddle_crypto::CryptoError),
    #[error("the audit log is unavailable: {0}")]
    AuditUnavailable(String),
    #[error(transparent)]
    Store(StoreError),
}

impl IdentityError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<StoreError> for IdentityError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { entity, id } => Self::NotFound { entity, id },
            StoreError::Conflict {
                entity,
                field,
                value,
            } => Self::Conflict {
                entity,
                field,
                value,
            },
            other => Self::Store(other),
        }
    }
}
