//! The shared vocabulary of the trust layers: what a detector found, where, how bad it is, and
//! what a guardrail does about it. Offsets are UTF-8 byte offsets into the scanned `&str`,
//! always on character boundaries, end exclusive.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of personal data or secret the PII layer finds. The names are the placeholder
/// prefixes (`<EMAIL_1>`) and the labels of the evaluation sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntityKind {
    Email,
    Phone,
    CreditCard,
    UsSsn,
    Iban,
    IpAddress,
    ApiKey,
    Secret,
    Person,
    StreetAddress,
    DateOfBirth,
}

impl EntityKind {
    pub const ALL: [EntityKind; 11] = [
        EntityKind::Email,
        EntityKind::Phone,
        EntityKind::CreditCard,
        EntityKind::UsSsn,
        EntityKind::Iban,
        EntityKind::IpAddress,
        EntityKind::ApiKey,
        EntityKind::Secret,
        EntityKind::Person,
        EntityKind::StreetAddress,
        EntityKind::DateOfBirth,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EntityKind::Email => "EMAIL",
            EntityKind::Phone => "PHONE",
            EntityKind::CreditCard => "CREDIT_CARD",
            EntityKind::UsSsn => "US_SSN",
            EntityKind::Iban => "IBAN",
            EntityKind::IpAddress => "IP_ADDRESS",
            EntityKind::ApiKey => "API_KEY",
            EntityKind::Secret => "SECRET",
            EntityKind::Person => "PERSON",
            EntityKind::StreetAddress => "STREET_ADDRESS",
            EntityKind::DateOfBirth => "DATE_OF_BIRTH",
        }
    }

    /// Secrets are never unmasked into anything: a model has no use for a live credential.
    pub const fn is_secret(self) -> bool {
        matches!(self, EntityKind::ApiKey | EntityKind::Secret)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown entity kind `{s}`"))
    }
}

/// One piece of personal data or secret found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiFinding {
    pub kind: EntityKind,
    /// Byte offsets into the scanned text.
    pub start: usize,
    pub end: usize,
}

impl PiiFinding {
    pub fn value<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or("")
    }
}

/// How bad a finding is. Ordered: a guardrail's threshold passes everything at or above it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a guardrail does when it fires. Ordered by strength: when several fire, the strongest
/// wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// Recorded and reported; the text goes on unchanged.
    Warn,
    /// Recorded and marked for review; the text goes on unchanged.
    Flag,
    /// The offending part is masked or removed; the rest goes on.
    Redact,
    /// Nothing goes on.
    Block,
}

impl GuardAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            GuardAction::Warn => "warn",
            GuardAction::Flag => "flag",
            GuardAction::Redact => "redact",
            GuardAction::Block => "block",
        }
    }
}

impl fmt::Display for GuardAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a text came from. Indirect channels carry content the principal did not write, so
/// injections there are judged more strictly and the content is datamarked before a model
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    User,
    ToolResult,
    Document,
    WebPage,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::User,
        Channel::ToolResult,
        Channel::Document,
        Channel::WebPage,
        Channel::Email,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::User => "user",
            Channel::ToolResult => "tool_result",
            Channel::Document => "document",
            Channel::WebPage => "web_page",
            Channel::Email => "email",
        }
    }

    pub const fn is_indirect(self) -> bool {
        !matches!(self, Channel::User)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|channel| channel.as_str() == s)
            .ok_or_else(|| format!("unknown channel `{s}`"))
    }
}
