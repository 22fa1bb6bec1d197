//! The five roles of the permission matrix (seed 002).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
pub enum Role {
    Admin,
    Builder,
    Operator,
    Viewer,
    ComplianceOfficer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a role; expected one of admin, builder, operator, viewer, compliance_officer"
)]
pub struct RoleParseError(pub String);

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Builder,
        Role::Operator,
        Role::Viewer,
        Role::ComplianceOfficer,
    ];

    /// The stable wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Builder => "builder",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::ComplianceOfficer => "compliance_officer",
        }
    }

    /// The Cedar entity id of the role (`Heddle::Role::"Admin"`).
    pub const fn cedar_id(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Builder => "Builder",
            Role::Operator => "Operator",
            Role::Viewer => "Viewer",
            Role::ComplianceOfficer => "ComplianceOfficer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RoleParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == input)
            .ok_or_else(|| RoleParseError(input.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
    }

    #[test]
    fn unknown_role_is_rejected_with_the_input() {
        let err = "root".parse::<Role>().unwrap_err();
        assert!(err.to_string().starts_with("`root` is not a role"));
    }
}
