//! A mailer that writes mail to the log instead of sending it.

use async_trait::async_trait;

use crate::address::mask_address;
use crate::error::MailError;
use crate::mail::{Mailer, OutgoingMail};

/// **Development only.** Sends nothing: logs each mail with `tracing::info!` (target
/// `heddle_mail`), the recipient masked and the **full text body**, so a developer can read
/// the one-time code from the console. The body is a live credential while the code is
/// valid: never use this transport where the logs are shipped or read by others.
/// [`MailConfig::build`](crate::MailConfig::build) warns when it builds one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        mail.validate()?;
        tracing::info!(
            target: "heddle_mail",
            to = %mask_address(&mail.to),
            subject = %mail.subject,
            body = %mail.text_body,
            "mail not sent: log transport (development only)"
        );
        Ok(())
    }
}
