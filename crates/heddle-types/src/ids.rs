//! Typed identifiers. All are UUIDv7 so they sort by creation time, which is what cursor
//! pagination relies on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An id string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {kind} id (expected a UUID)")]
pub struct IdParseError {
    pub kind: &'static str,
    pub input: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(input).map(Self).map_err(|_| IdParseError {
                    kind: $kind,
                    input: input.chars().take(64).collect(),
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

typed_id!(
    /// An isolated organisation.
    TenantId,
    "tenant"
);
typed_id!(
    /// A human account inside a tenant.
    UserId,
    "user"
);
typed_id!(
    /// An application credential.
    ApiKeyId,
    "api key"
);
typed_id!(
    /// A tenant's custom Cedar policy.
    PolicyId,
    "policy"
);
typed_id!(
    /// A short-lived bearer token issued to a user at login.
    AccessTokenId,
    "access token"
);
typed_id!(
    /// A secret kept in the vault.
    SecretId,
    "secret"
);
typed_id!(
    /// A conversation with an agent.
    SessionId,
    "session"
);
typed_id!(
    /// The durable record of one turn's work.
    ExecutionId,
    "execution"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = UserId::new();
        let parsed: UserId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn malformed_id_names_input_and_kind() {
        let err = "not-a-uuid".parse::<TenantId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`not-a-uuid` is not a valid tenant id (expected a UUID)"
        );
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = ApiKeyId::new();
        let b = ApiKeyId::new();
        assert!(a < b);
    }
}
