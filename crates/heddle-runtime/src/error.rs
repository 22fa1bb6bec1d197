//! What can go wrong for a caller of the runtime. The server maps each variant to one HTTP
//! status and an RFC 9457 problem document; every message is written for the person reading
//! it and never quotes message text or record values.

use heddle_identity::IdentityError;
use heddle_recordsource::RecordError;
use heddle_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Authentication, authorization and store errors, mapped as everywhere else.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("{entity} `{id}` not found")]
    NotFound { entity: &'static str, id: String },
    /// A request field that does not satisfy its rules.
    #[error("invalid `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The session already has a turn running; wait for it to finish.
    #[error("{0}")]
    TurnRunning(String),
    /// Well-formed but not possible in this state (verifying on an employee agent, …).
    #[error("{0}")]
    Refused(String),
    /// The caller may not do this here; the message says who may (403).
    #[error("{0}")]
    NotAllowed(String),
    /// Too many attempts; the message says what to do next.
    #[error("{0}")]
    TooManyAttempts(String),
    /// The stored configuration or the record org cannot be used as it is.
    #[error("{0}")]
    Unavailable(String),
}

impl RuntimeError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A short reason for audit events and logs.
    pub(crate) fn reason(&self) -> String {
        self.to_string()
    }
}

impl From<StoreError> for RuntimeError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict {
                entity: "session",
                field: "turn",
                ..
            } => Self::TurnRunning(
                "this session has a turn running; wait for its answer before sending the next \
                 message"
                    .to_owned(),
            ),
            other => Self::Identity(IdentityError::from(other)),
        }
    }
}

impl From<RecordError> for RuntimeError {
    fn from(error: RecordError) -> Self {
        match error {
            RecordError::Identity(identity) => Self::Identity(identity),
            RecordError::Store(store) => Self::Identity(IdentityError::from(store)),
            RecordError::NotFound { what } => Self::NotFound {
                entity: "record",
                id: what,
            },
            // The stored org no longer builds: nothing the caller can change.
            RecordError::InvalidOrg(_) => Self::Unavailable(error.to_string()),
            // No org yet, not a user of it, a refusal of the org: the caller's situation.
            other => Self::Refused(other.to_string()),
        }
    }
}

impl From<heddle_vault::VaultError> for RuntimeError {
    fn from(error: heddle_vault::VaultError) -> Self {
        Self::Unavailable(format!("the vault refused: {error}"))
    }
}
