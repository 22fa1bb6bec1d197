//! Secrets kept in the vault: their deployment environment, their kind, and the metadata the
//! API shows. The value itself never appears in these types; it exists in clear only inside
//! the identity service for one call, and in storage only sealed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{SecretId, TenantId, UserId};

/// Where a secret (and later an agent) is used. Access can differ per environment: builders
/// may touch `dev` and `staging` but not `prod`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Dev,
    Staging,
    Prod,
}

/// A string that is not an environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an environment; expected one of dev, staging, prod")]
pub struct EnvironmentParseError(pub String);

impl Environment {
    pub const ALL: [Environment; 3] = [Environment::Dev, Environment::Staging, Environment::Prod];

    /// The stable wire, storage and Cedar name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Staging => "staging",
            Environment::Prod => "prod",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = EnvironmentParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .into_iter()
            .find(|environment| environment.as_str() == input)
            .ok_or_else(|| EnvironmentParseError(input.chars().take(64).collect()))
    }
}

/// What a secret holds; each kind has its own fields (see the identity service).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A single API key or token.
    ApiKey,
    /// An OAuth client: id, secret and optionally a refresh token.
    OauthClient,
    /// A database user name and password, optionally with host and database.
    DatabaseCredential,
    /// Any other single value.
    Custom,
}

/// A string that is not a secret kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a secret kind; expected one of api_key, oauth_client, database_credential, custom"
)]
pub struct SecretKindParseError(pub String);

impl SecretKind {
    pub const ALL: [SecretKind; 4] = [
        SecretKind::ApiKey,
        SecretKind::OauthClient,
        SecretKind::DatabaseCredential,
        SecretKind::Custom,
    ];

    /// The stable wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SecretKind::ApiKey => "api_key",
            SecretKind::OauthClient => "oauth_client",
            SecretKind::DatabaseCredential => "database_credential",
            SecretKind::Custom => "custom",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecretKind {
    type Err = SecretKindParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        SecretKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == input)
            .ok_or_else(|| SecretKindParseError(input.chars().take(64).collect()))
    }
}

/// A secret's metadata: everything the API ever shows about it. The value is not here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Secret {
    pub id: SecretId,
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// Unique per tenant and environment among secrets that are not deleted.
    pub name: String,
    pub kind: SecretKind,
    /// Starts at 1; every rotation adds one.
    pub version: u32,
    /// A display form: at most the last four characters of the secret (`…abcd`) and the
    /// non-secret fields (client id, user name, host).
    pub masked: String,
    pub created_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Set when deleted; the sealed value is gone from then on.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_and_kinds_round_trip_through_their_names() {
        for environment in Environment::ALL {
            assert_eq!(
                environment.as_str().parse::<Environment>().unwrap(),
                environment
            );
            let json = serde_json::to_string(&environment).unwrap();
            assert_eq!(json, format!("\"{}\"", environment.as_str()));
        }
        for kind in SecretKind::ALL {
            assert_eq!(kind.as_str().parse::<SecretKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn unknown_names_are_rejected_with_the_input() {
        let err = "production".parse::<Environment>().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`production` is not an environment")
        );
        let err = "password".parse::<SecretKind>().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`password` is not a secret kind")
        );
    }
}
