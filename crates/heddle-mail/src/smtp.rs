//! Delivery over SMTP with lettre: STARTTLS or implicit TLS through rustls (aws-lc-rs,
//! platform roots), AUTH PLAIN/LOGIN, one connection per mail (codes are rare; no pool
//! keeps credentials or sockets around between sends).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use heddle_crypto::{ExposeSecret, SecretString};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::address::{check_header_text, mask_address, parse_sender};
use crate::error::MailError;
use crate::mail::{Mailer, OutgoingMail};

/// The total deadline for one send when the settings do not say otherwise.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest server reply text kept in a [`MailError::Rejected`].
const MAX_SERVER_TEXT_CHARS: usize = 512;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Connect in clear, then upgrade with STARTTLS before anything else; fails if the server
    /// does not offer it (no silent downgrade). Usually port 587.
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", SMTPS). Usually port 465.
    Tls,
    /// No encryption at all. Only for a relay on a loopback address (a local MTA or a
    /// development catcher); refused for any other host.
    None,
}

impl SmtpTls {
    /// The conventional port: 587 for STARTTLS (submission), 465 for implicit TLS, 25 for
    /// plaintext.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        }
    }
}

/// Where and how [`SmtpMailer`] delivers. `Debug` shows the password as `[redacted]`.
#[derive(Clone)]
pub struct SmtpSettings {
    /// A host name or IP address: no scheme, port or credentials.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Set together with `password`, or neither (no AUTH).
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The `From` mailbox: `no-reply@heddle.example` or `Heddle <no-reply@heddle.example>`.
    pub from: String,
    /// Total deadline for one send: connect, TLS, authentication and delivery together.
    pub timeout: Duration,
}

impl SmtpSettings {
    /// STARTTLS on port 587, no authentication, [`DEFAULT_SMTP_TIMEOUT`].
    pub fn new(host: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: SmtpTls::Starttls.default_port(),
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: from.into(),
            timeout: DEFAULT_SMTP_TIMEOUT,
        }
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Sends mail through one SMTP server. Built only from settings that can work securely: see
/// [`SmtpMailer::new`].
pub struct SmtpMailer {
    /// Without IPv6 brackets; what lettre resolves and TLS verifies.
    host: String,
    port: u16,
    tls_mode: SmtpTls,
    tls: Tls,
    credentials: Option<(String, SecretString)>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpMailer {
    /// Checks the settings and prepares TLS. Refused: an empty or malformed host, port 0, a
    /// zero timeout, `tls = none` for a host that is not loopback (`localhost`, `127.0.0.0/8`,
    /// `::1`), a username without a password or the reverse, and a `from` that is not a
    /// mailbox.
    pub fn new(settings: SmtpSettings) -> Result<Self, MailError> {
        let host = checked_host(&settings.host)?;
        if settings.port == 0 {
            return Err(invalid_settings("`port` must not be 0"));
        }
        if settings.timeout.is_zero() {
            return Err(invalid_settings("`timeout` must be longer than zero"));
        }
        if settings.tls == SmtpTls::None && !is_loopback_host(&host) {
            return Err(invalid_settings(format!(
                "tls `none` would send mail and credentials in clear to `{host}`; it is \
                 allowed only for loopback hosts (localhost, 127.0.0.1, ::1): use `starttls` \
                 or `tls`"
            )));
        }
        let credentials = match (settings.username, settings.password) {
            (None, None) => None,
            (Some(username), Some(password)) => {
                if username.trim().is_empty() {
                    return Err(invalid_settings("`username` is empty"));
                }
                check_header_text("smtp username", &username)?;
                if password.expose_secret().is_empty() {
                    return Err(invalid_settings("the smtp password is empty"));
                }
                Some((username, password))
            }
            (Some(_), None) => {
                return Err(invalid_settings("`username` is set but no password is"));
            }
            (None, Some(_)) => {
                return Err(invalid_settings("a password is set but no `username`"));
            }
        };
        let from = parse_sender(&settings.from)?;
        let server = server_label(&host, settings.port);
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters(&host, &server)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(&host, &server)?),
        };
        Ok(Self {
            host,
            port: settings.port,
            tls_mode: settings.tls,
            tls,
            credentials,
            from,
            timeout: settings.timeout,
        })
    }

    /// `host:port` (`[::1]:25` for IPv6), as errors name the server.
    pub fn server(&self) -> String {
        server_label(&self.host, self.port)
    }

    fn build_message(&self, mail: &OutgoingMail, to: Address) -> Result<Message, MailError> {
        // A Message-ID under the sender's domain, as RFC 5322 recommends, rather than the
        // library's `localhost` default that spam filters dislike.
        let message_id = format!("<{}@{}>", uuid::Uuid::now_v7(), self.from.email.domain());
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(mail.subject.as_str())
            .message_id(Some(message_id))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text_body.clone())
            .map_err(|error| MailError::InvalidMessage {
                reason: error.to_string(),
            })
    }

    /// A transport for one send. Built per call so the clear password lives only as long as
    /// the call (lettre keeps it in a plain `String` while the transport exists).
    fn transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(self.tls.clone())
            .timeout(Some(self.timeout))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        if let Some((username, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        builder.build()
    }

    fn map_error(&self, error: &lettre::transport::smtp::Error, recipient: &str) -> MailError {
        let server = self.server();
        let detail = error_detail(error);
        if let Some(code) = error.status() {
            return MailError::Rejected {
                server,
                code: u16::from(code),
                message: sanitize_server_text(&detail, recipient),
            };
        }
        if error.is_timeout() {
            return MailError::Timeout {
                server,
                after: self.timeout,
            };
        }
        // lettre reports a failed handshake (untrusted certificate, a plaintext server on
        // the TLS port) as a connection error; tokio-rustls marks it as invalid data.
        if error.is_tls() || (self.tls_mode != SmtpTls::None && has_invalid_data_cause(error)) {
            return MailError::Tls {
                server,
                reason: detail,
            };
        }
        if error.is_client() && detail.contains("STARTTLS") {
            // lettre's words for "the server did not advertise STARTTLS"; we never fall back
            // to clear text.
            return MailError::Tls {
                server,
                reason: "the server does not offer STARTTLS, which tls `starttls` requires; \
                         check the port (465 needs tls `tls`)"
                    .to_owned(),
            };
        }
        if error.is_client() || error.is_response() || error.is_transport_shutdown() {
            return MailError::Protocol {
                server,
                reason: detail,
            };
        }
        MailError::Connection {
            server,
            reason: detail,
        }
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server())
            .field("tls", &self.tls_mode.as_str())
            .field(
                "username",
                &self.credentials.as_ref().map(|(username, _)| username),
            )
            .field("password", &self.credentials.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let to = mail.checked_recipient()?;
        let message = self.build_message(mail, to)?;
        let transport = self.transport();
        match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Err(_elapsed) => Err(MailError::Timeout {
                server: self.server(),
                after: self.timeout,
            }),
            Ok(Err(error)) => Err(self.map_error(&error, &mail.to)),
            Ok(Ok(_accepted)) => {
                tracing::debug!(
                    target: "heddle_mail",
                    server = %self.server(),
                    to = %mask_address(&mail.to),
                    "mail accepted by the smtp server"
                );
                Ok(())
            }
        }
    }
}

fn invalid_settings(reason: impl Into<String>) -> MailError {
    MailError::InvalidSettings {
        reason: reason.into(),
    }
}

/// The host without IPv6 brackets, if it is an IP address or a DNS name. Not echoed when
/// malformed: a pasted URL may hold credentials.
fn checked_host(host: &str) -> Result<String, MailError> {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() {
        return Err(invalid_settings("`host` is empty"));
    }
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(bare.to_owned());
    }
    let is_dns_name = bare.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        });
    if !is_dns_name {
        return Err(invalid_settings(
            "`host` must be a host name or an IP address, without scheme, port, path or \
             credentials (use `port` for the port)",
        ));
    }
    Ok(bare.to_ascii_lowercase())
}

/// Loopback by address, or the name `localhost` (RFC 6761). Other `*.localhost` names are
/// not trusted: resolvers differ on them.
fn is_loopback_host(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(address) => address.to_canonical().is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn server_label(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn tls_parameters(host: &str, server: &str) -> Result<TlsParameters, MailError> {
    TlsParameters::builder(host.to_owned())
        .build_rustls()
        .map_err(|error| MailError::Tls {
            server: server.to_owned(),
            reason: error_detail(&error),
        })
}

/// The most specific text lettre has: its innermost cause (the server's reply for a
/// rejection, the I/O or TLS error otherwise), or its own summary.
fn error_detail(error: &lettre::transport::smtp::Error) -> String {
    let mut innermost: Option<&(dyn std::error::Error + 'static)> = None;
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        innermost = Some(current);
        cause = current.source();
    }
    innermost.map_or_else(|| error.to_string(), ToString::to_string)
}

fn has_invalid_data_cause(error: &lettre::transport::smtp::Error) -> bool {
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io_error| io_error.kind() == std::io::ErrorKind::InvalidData)
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Server text made safe to store and show: control characters dropped, length capped, and
/// the recipient address masked (servers often echo it: `550 5.1.1 <ivan@…>: unknown`).
fn sanitize_server_text(text: &str, recipient: &str) -> String {
    let mut cleaned: String = text
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .take(MAX_SERVER_TEXT_CHARS)
        .collect();
    let recipient = recipient.trim();
    if !recipient.is_empty() {
        cleaned = replace_ascii_case_insensitive(&cleaned, recipient, &mask_address(recipient));
    }
    cleaned.trim().to_owned()
}

fn replace_ascii_case_insensitive(haystack: &str, needle: &str, replacement: &str) -> String {
    let lower_haystack = haystack.to_ascii_lowercase();
    let lower_needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(haystack.len());
    let mut rest = 0;
    // ASCII lowercasing keeps byte offsets, so indexes found in the copy fit the original.
    for (start, _) in lower_haystack.match_indices(&lower_needle) {
        if start < rest {
            continue;
        }
        out.push_str(haystack.get(rest..start).unwrap_or_default());
        out.push_str(replacement);
        rest = start + needle.len();
    }
    out.push_str(haystack.get(rest..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.8.9.10"));
        assert!(is_loopback_host("::1"));
        assert!(is_loopback_host("::ffff:127.0.0.1"));
        assert!(is_loopback_host("LocalHost"));
        assert!(!is_loopback_host("mail.localhost"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("smtp.example.com"));
    }

    #[test]
    fn host_shapes() {
        assert_eq!(checked_host("[::1]").ok().as_deref(), Some("::1"));
        assert_eq!(
            checked_host("SMTP.Example.com").ok().as_deref(),
            Some("smtp.example.com")
        );
        for bad in [
            "",
            "smtp://smtp.example.com",
            "user:pw@smtp.example.com",
            "a b",
            "host:25",
        ] {
            let error = checked_host(bad).unwrap_err();
            assert!(!error.to_string().contains("pw@"), "{bad:?}: {error}");
        }
        assert_eq!(server_label("::1", 25), "[::1]:25");
    }

    #[test]
    fn server_text_masks_the_recipient_in_any_case() {
        let text = sanitize_server_text(
            "5.1.1 <Ivan@Customers.example>: Recipient address rejected\r\n",
            "ivan@customers.example",
        );
        assert_eq!(
            text,
            "5.1.1 <i***@customers.example>: Recipient address rejected"
        );
    }

    #[test]
    fn debug_redacts_the_password() {
        let mut settings = SmtpSettings::new("smtp.example.com", "no-reply@heddle.example");
        settings.username = Some("mailer".to_owned());
        settings.password = Some(SecretString::from("hunter2-very-secret"));
        assert!(!format!("{settings:?}").contains("hunter2"));
        let mailer = SmtpMailer::new(settings).unwrap();
        let shown = format!("{mailer:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("[redacted]"));
        assert!(shown.contains("smtp.example.com:587"));
    }
}
