//! What a mailer sends, and the one trait every transport implements.

use std::fmt;

use async_trait::async_trait;
use lettre::Address;

use crate::address::{check_header_text, mask_address, parse_recipient};
use crate::error::MailError;

/// One plain-text mail to one recipient.
///
/// `Debug` masks the recipient and leaves the body out: bodies carry one-time codes.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// A bare address, `user@domain`.
    pub to: String,
    /// One line; a CR or LF is refused.
    pub subject: String,
    pub text_body: String,
}

impl OutgoingMail {
    pub fn new(
        to: impl Into<String>,
        subject: impl Into<String>,
        text_body: impl Into<String>,
    ) -> Self {
        Self {
            to: to.into(),
            subject: subject.into(),
            text_body: text_body.into(),
        }
    }

    /// The checks every mailer runs before doing anything: the recipient parses as an
    /// address and neither it nor the subject can inject headers.
    pub fn validate(&self) -> Result<(), MailError> {
        self.checked_recipient().map(|_| ())
    }

    pub(crate) fn checked_recipient(&self) -> Result<Address, MailError> {
        check_header_text("subject", &self.subject)?;
        parse_recipient(&self.to)
    }
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &mask_address(&self.to))
            .field("subject", &self.subject)
            .field(
                "text_body",
                &format_args!("[{} bytes, not shown]", self.text_body.len()),
            )
            .finish()
    }
}

/// Sends mail. Implementations validate with [`OutgoingMail::validate`] first, so a bad
/// address or an injection attempt fails the same way in development as in production.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Delivers `mail` to the next hop (the SMTP server accepted it, or the log has it). Not
    /// retried here: [`MailError::is_transient`] tells the caller whether retrying may help.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}
