//! The mail section of the server's configuration: which transport, and for SMTP where and
//! as whom. The password itself is never in the file; `password_env` names the environment
//! variable that holds it.

use std::sync::Arc;
use std::time::Duration;

use heddle_crypto::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::MailError;
use crate::log::LogMailer;
use crate::mail::Mailer;
use crate::smtp::{SmtpMailer, SmtpSettings, SmtpTls};

/// [`MailConfig::Smtp`]'s `timeout_secs` when absent.
pub const DEFAULT_SMTP_TIMEOUT_SECS: u64 = 30;

/// ```toml
/// [mail]
/// transport = "smtp"
/// host = "smtp.example.com"
/// port = 587                  # optional: 587 for starttls, 465 for tls, 25 for none
/// tls = "starttls"            # starttls (default) | tls | none (loopback hosts only)
/// username = "heddle@example.com"
/// password_env = "SMTP_PASSWORD"     # not HEDDLE_*: those are Heddle settings
/// from = "Heddle <no-reply@example.com>"
/// timeout_secs = 30           # optional
/// ```
/// The default, `transport = "log"`, writes mail to the log (development only: see
/// [`LogMailer`]). Unknown fields are refused so a typo does not silently change behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(
    tag = "transport",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "MailConfigFields"
)]
pub enum MailConfig {
    #[default]
    Log,
    Smtp {
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        #[serde(default)]
        tls: SmtpTls,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// The name of an environment variable holding the password; never the password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_env: Option<String>,
        from: String,
        #[serde(default = "default_timeout_secs")]
        timeout_secs: u64,
    },
}

/// What [`MailConfig`] deserializes through. serde ignores `deny_unknown_fields` for unit
/// variants of an internally tagged enum (`{transport = "log", host = "…"}` would pass), so
/// `log` is an empty struct variant here and the public enum keeps its plain `Log`.
#[derive(Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case", deny_unknown_fields)]
enum MailConfigFields {
    Log {},
    Smtp {
        host: String,
        #[serde(default)]
        port: Option<u16>,
        #[serde(default)]
        tls: SmtpTls,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password_env: Option<String>,
        from: String,
        #[serde(default = "default_timeout_secs")]
        timeout_secs: u64,
    },
}

impl From<MailConfigFields> for MailConfig {
    fn from(fields: MailConfigFields) -> Self {
        match fields {
            MailConfigFields::Log {} => MailConfig::Log,
            MailConfigFields::Smtp {
                host,
                port,
                tls,
                username,
                password_env,
                from,
                timeout_secs,
            } => MailConfig::Smtp {
                host,
                port,
                tls,
                username,
                password_env,
                from,
                timeout_secs,
            },
        }
    }
}

fn default_timeout_secs() -> u64 {
    DEFAULT_SMTP_TIMEOUT_SECS
}

impl MailConfig {
    /// The mailer this configuration describes, reading the SMTP password from the process
    /// environment.
    pub fn build(&self) -> Result<Arc<dyn Mailer>, MailError> {
        self.build_with_env(|name| std::env::var(name).ok())
    }

    /// [`MailConfig::build`] with the environment lookup supplied by the caller (tests, or a
    /// server that keeps its environment in a snapshot).
    pub fn build_with_env(
        &self,
        read_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Mailer>, MailError> {
        match self {
            MailConfig::Log => {
                tracing::warn!(
                    target: "heddle_mail",
                    "mail transport `log` writes one-time codes to the log instead of sending \
                     them; use it only in development"
                );
                Ok(Arc::new(LogMailer))
            }
            MailConfig::Smtp {
                host,
                port,
                tls,
                username,
                password_env,
                from,
                timeout_secs,
            } => {
                let password = match password_env {
                    None => None,
                    Some(name) => Some(read_password(name, &read_env)?),
                };
                let settings = SmtpSettings {
                    host: host.clone(),
                    port: port.unwrap_or_else(|| tls.default_port()),
                    tls: *tls,
                    username: username.clone(),
                    password,
                    from: from.clone(),
                    timeout: Duration::from_secs(*timeout_secs),
                };
                Ok(Arc::new(SmtpMailer::new(settings)?))
            }
        }
    }
}

fn read_password(
    name: &str,
    read_env: &impl Fn(&str) -> Option<String>,
) -> Result<SecretString, MailError> {
    if name.trim().is_empty() {
        return Err(MailError::InvalidSettings {
            reason: "`password_env` is empty; set it to the name of an environment variable"
                .to_owned(),
        });
    }
    // Heddle reads every `HEDDLE_*` variable (but `HEDDLE_TEST_*`) as a setting and refuses
    // unknown ones: a password there would stop the server with a confusing message.
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("HEDDLE_") && !upper.starts_with("HEDDLE_TEST_") {
        return Err(MailError::InvalidSettings {
            reason: format!(
                "`password_env` names `{name}`, but `HEDDLE_*` variables are Heddle's own \
                 settings; use another name, such as `SMTP_PASSWORD`"
            ),
        });
    }
    match read_env(name) {
        Some(password) if !password.is_empty() => Ok(SecretString::from(password)),
        Some(_) => Err(MailError::InvalidSettings {
            reason: format!("environment variable `{name}` (from `password_env`) is empty"),
        }),
        None => Err(MailError::InvalidSettings {
            reason: format!(
                "environment variable `{name}` (from `password_env`) is not set or not UTF-8"
            ),
        }),
    }
}
