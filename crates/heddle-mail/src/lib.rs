//! Heddle's one way to send email. Its job is small: deliver one-time verification codes
//! (and later other short plain-text notices) through a [`Mailer`]: [`SmtpMailer`] in
//! production, [`LogMailer`] in development, [`MemoryMailer`] in tests. [`MailConfig`] is the
//! piece of server configuration that picks one.
//!
//! Invariants:
//! - plain text only; the subject and the addresses are checked before anything is built or
//!   any connection is opened: a CR or LF (header injection) or an address that does not
//!   parse is refused;
//! - recipient addresses never appear in full in errors, `Debug` or logs: they are masked
//!   (`i***@customers.example`), including when a server echoes them in a rejection;
//! - the SMTP password travels as a [`SecretString`](heddle_crypto::SecretString), is shown as
//!   `[redacted]`, and is never in configuration files (`password_env` names a variable);
//! - SMTP uses TLS (STARTTLS by default, or implicit TLS) with certificate verification; a
//!   plaintext connection is refused at construction unless the host is loopback;
//! - every send has a total deadline.

mod address;
mod config;
mod error;
mod log;
mod mail;
mod memory;
mod smtp;

pub use address::mask_address;
pub use config::{DEFAULT_SMTP_TIMEOUT_SECS, MailConfig};
pub use error::{AddressRole, MailError};
pub use log::LogMailer;
pub use mail::{Mailer, OutgoingMail};
pub use memory::MemoryMailer;
pub use smtp::{DEFAULT_SMTP_TIMEOUT, SmtpMailer, SmtpSettings, SmtpTls};
