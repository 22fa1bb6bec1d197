//! The crate's error type. Each variant says what a person can do about it; none carries a
//! full recipient address (masked instead) or a credential.

use std::fmt;
use std::time::Duration;

/// Which address an [`MailError::InvalidAddress`] or [`MailError::HeaderInjection`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRole {
    /// The `From` address of the mailer's settings.
    Sender,
    /// The `To` address of one mail.
    Recipient,
}

impl fmt::Display for AddressRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressRole::Sender => "sender",
            AddressRole::Recipient => "recipient",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// An address does not parse as an email address. `masked` keeps only the first character
    /// of the local part and the domain.
    #[error("invalid {role} address `{masked}`: {reason}")]
    InvalidAddress {
        role: AddressRole,
        masked: String,
        reason: String,
    },
    /// A header value (subject, address) contains a line break or another control
    /// character; refused so nobody can add headers or recipients through it.
    #[error("the {field} contains a line break or control character; refusing to send it")]
    HeaderInjection { field: &'static str },
    /// The mailer's settings cannot work (plaintext to a non-loopback host, a missing
    /// password variable, …). Fix the configuration.
    #[error("invalid mail settings: {reason}")]
    InvalidSettings { reason: String },
    /// The message could not be assembled.
    #[error("could not build the mail: {reason}")]
    InvalidMessage { reason: String },
    /// No connection to the server, or it broke (refused, reset, name not found).
    #[error("could not reach mail server `{server}`: {reason}")]
    Connection { server: String, reason: String },
    /// The TLS handshake failed (certificate not trusted, wrong name) or the server does not
    /// offer the TLS the settings require.
    #[error("tls with mail server `{server}` failed: {reason}")]
    Tls { server: String, reason: String },
    /// The server answered with a negative reply: 4xx (try again later) or 5xx (permanent,
    /// e.g. 550 unknown mailbox, 535 bad credentials). `message` is the server's text, with
    /// the recipient address masked.
    #[error("mail server `{server}` rejected the mail with {code}: {message}")]
    Rejected {
        server: String,
        code: u16,
        message: String,
    },
    /// The whole exchange (connect, TLS, authentication, delivery) took longer than allowed.
    #[error("mail server `{server}` did not complete the delivery within {after:?}")]
    Timeout { server: String, after: Duration },
    /// The server spoke something other than SMTP, or the client gave up on the exchange.
    #[error("smtp exchange with `{server}` failed: {reason}")]
    Protocol { server: String, reason: String },
}

impl MailError {
    /// Whether sending the same mail again later may succeed: timeouts, connection failures
    /// and 4xx replies.
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Timeout { .. } | MailError::Connection { .. } => true,
            MailError::Rejected { code, .. } => (400..500).contains(code),
            _ => false,
        }
    }
}
