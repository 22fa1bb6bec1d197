//! One integration-test binary for heddle-mail: SmtpMailer against the RFC 5321 fake in
//! heddle-testkit (delivery, rejections, authentication, STARTTLS refusal, timeouts), the
//! checks every mailer runs before sending, the dev and test mailers, and MailConfig parsing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heddle_crypto::SecretString;
use heddle_mail::{
    AddressRole, LogMailer, MailConfig, MailError, Mailer, MemoryMailer, OutgoingMail, SmtpMailer,
    SmtpSettings, SmtpTls,
};
use heddle_testkit::FakeSmtp;

const RECIPIENT: &str = "ivan@customers.example";
const FROM: &str = "Heddle <no-reply@heddle.example>";

fn code_mail() -> OutgoingMail {
    OutgoingMail::new(
        RECIPIENT,
        "Your Heddle verification code",
        "Your code is 482913.\nIt expires in 10 minutes.\n.\n..a line that starts with dots\n",
    )
}

/// Plaintext SMTP to the fake on loopback, as a development relay would be.
fn settings_for(fake: &FakeSmtp) -> SmtpSettings {
    SmtpSettings {
        host: fake.host(),
        port: fake.port(),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: FROM.to_owned(),
        timeout: Duration::from_secs(10),
    }
}

fn mailer_for(fake: &FakeSmtp) -> SmtpMailer {
    SmtpMailer::new(settings_for(fake)).unwrap()
}

#[tokio::test]
async fn smtp_mailer_delivers_a_plain_text_mail_to_the_fake() {
    let fake = FakeSmtp::start().await.unwrap();
    mailer_for(&fake).send(&code_mail()).await.unwrap();

    let messages = fake.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.mail_from, "no-reply@heddle.example");
    assert_eq!(message.recipients, vec![RECIPIENT.to_owned()]);
    assert_eq!(message.authenticated_as, None);
    assert_eq!(message.header("To").as_deref(), Some(RECIPIENT));
    assert_eq!(
        message.header("From").as_deref(),
        Some("Heddle <no-reply@heddle.example>")
    );
    assert_eq!(
        message.header("Subject").as_deref(),
        Some("Your Heddle verification code")
    );
    assert_eq!(
        message.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let message_id = message.header("Message-ID").unwrap();
    assert!(
        message_id.starts_with('<') && message_id.ends_with("@heddle.example>"),
        "{message_id}"
    );
    assert!(message.header("Date").is_some());
    // Line breaks arrive as CRLF and lines starting with dots survive dot-stuffing intact.
    assert_eq!(
        message.body().trim_end(),
        "Your code is 482913.\r\nIt expires in 10 minutes.\r\n.\r\n..a line that starts with dots"
    );
}

#[tokio::test]
async fn smtp_mailer_authenticates_with_the_password_from_config() {
    let fake = FakeSmtp::start_with_credentials("mailer@heddle.example", "s3cret-pass")
        .await
        .unwrap();
    let config = MailConfig::Smtp {
        host: fake.host(),
        port: Some(fake.port()),
        tls: SmtpTls::None,
        username: Some("mailer@heddle.example".to_owned()),
        password_env: Some("HEDDLE_TEST_SMTP_PASSWORD".to_owned()),
        from: FROM.to_owned(),
        timeout_secs: 10,
    };
    let env_with = |value: &'static str| {
        move |name: &str| (name == "HEDDLE_TEST_SMTP_PASSWORD").then(|| value.to_owned())
    };

    let mailer = config.build_with_env(env_with("s3cret-pass")).unwrap();
    assert!(!format!("{mailer:?}").contains("s3cret-pass"));
    mailer.send(&code_mail()).await.unwrap();
    let messages = fake.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].authenticated_as.as_deref(),
        Some("mailer@heddle.example")
    );

    let wrong = config.build_with_env(env_with("not-the-password")).unwrap();
    let error = wrong.send(&code_mail()).await.unwrap_err();
    assert!(
        matches!(error, MailError::Rejected { code: 535, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("not-the-password"));
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn a_550_rejection_names_the_code_and_masks_the_echoed_recipient() {
    let fake = FakeSmtp::start().await.unwrap();
    fake.reject_next_rcpt(
        550,
        "5.1.1 <ivan@customers.example>: Recipient address rejected: User unknown",
    );
    let error = mailer_for(&fake).send(&code_mail()).await.unwrap_err();

    let MailError::Rejected { code, message, .. } = &error else {
        panic!("expected a rejection, got {error:?}");
    };
    assert_eq!(*code, 550);
    assert!(message.contains("5.1.1"), "{message}");
    assert!(message.contains("User unknown"), "{message}");
    let shown = error.to_string();
    assert!(shown.contains("550"), "{shown}");
    assert!(shown.contains("i***@customers.example"), "{shown}");
    assert!(!shown.contains(RECIPIENT), "{shown}");
    assert!(!format!("{error:?}").contains(RECIPIENT));
    assert!(!error.is_transient());
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn a_4xx_rejection_is_transient() {
    let fake = FakeSmtp::start().await.unwrap();
    fake.reject_next_rcpt(451, "4.3.0 Try again later");
    let error = mailer_for(&fake).send(&code_mail()).await.unwrap_err();
    assert!(
        matches!(error, MailError::Rejected { code: 451, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    // The rejection was one-shot: the retry goes through.
    mailer_for(&fake).send(&code_mail()).await.unwrap();
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn header_injection_is_refused_before_connecting() {
    let fake = FakeSmtp::start().await.unwrap();
    let mailer = mailer_for(&fake);

    let mut mail = code_mail();
    mail.subject = "Your code\r\nBcc: attacker@evil.example".to_owned();
    let error = mailer.send(&mail).await.unwrap_err();
    assert_eq!(error, MailError::HeaderInjection { field: "subject" });

    let mut mail = code_mail();
    mail.subject = "Your code\nBcc: attacker@evil.example".to_owned();
    assert_eq!(
        mailer.send(&mail).await.unwrap_err(),
        MailError::HeaderInjection { field: "subject" }
    );

    let mut mail = code_mail();
    mail.to = "ivan@customers.example\r\nBcc: attacker@evil.example".to_owned();
    let error = mailer.send(&mail).await.unwrap_err();
    assert_eq!(
        error,
        MailError::HeaderInjection {
            field: "recipient address"
        }
    );
    assert!(!error.to_string().contains("attacker"));

    assert_eq!(fake.connections(), 0, "nothing may reach the server");
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn an_injected_from_is_refused_at_construction() {
    let fake = FakeSmtp::start().await.unwrap();
    let mut settings = settings_for(&fake);
    settings.from = "no-reply@heddle.example\r\nBcc: attacker@evil.example".to_owned();
    assert_eq!(
        SmtpMailer::new(settings).unwrap_err(),
        MailError::HeaderInjection {
            field: "sender address"
        }
    );
}

#[test]
fn plaintext_to_a_non_loopback_host_is_refused_at_construction() {
    for host in [
        "smtp.example.com",
        "10.0.0.5",
        "mail.localhost",
        "::ffff:10.0.0.5",
    ] {
        let settings = SmtpSettings {
            tls: SmtpTls::None,
            port: 25,
            ..SmtpSettings::new(host, "no-reply@heddle.example")
        };
        let error = SmtpMailer::new(settings).unwrap_err();
        let MailError::InvalidSettings { reason } = &error else {
            panic!("{host}: expected invalid settings, got {error:?}");
        };
        assert!(reason.contains("loopback"), "{reason}");
        assert!(reason.contains("starttls"), "{reason}");
    }
    for host in ["localhost", "127.0.0.1", "::1", "[::1]"] {
        let settings = SmtpSettings {
            tls: SmtpTls::None,
            port: 25,
            ..SmtpSettings::new(host, "no-reply@heddle.example")
        };
        assert!(SmtpMailer::new(settings).is_ok(), "{host} is loopback");
    }
    // With TLS the same public host is fine.
    let mailer = SmtpMailer::new(SmtpSettings::new(
        "smtp.example.com",
        "no-reply@heddle.example",
    ))
    .unwrap();
    assert_eq!(mailer.server(), "smtp.example.com:587");
}

#[test]
fn half_configured_credentials_are_refused() {
    let mut settings = SmtpSettings::new("smtp.example.com", "no-reply@heddle.example");
    settings.username = Some("mailer".to_owned());
    assert!(matches!(
        SmtpMailer::new(settings.clone()).unwrap_err(),
        MailError::InvalidSettings { .. }
    ));
    settings.username = None;
    settings.password = Some(SecretString::from("pw-alone"));
    let error = SmtpMailer::new(settings).unwrap_err();
    assert!(matches!(error, MailError::InvalidSettings { .. }));
    assert!(!error.to_string().contains("pw-alone"));
}

#[tokio::test]
async fn an_invalid_address_error_does_not_contain_the_address() {
    let fake = FakeSmtp::start().await.unwrap();
    let smtp = mailer_for(&fake);
    let memory = MemoryMailer::new();
    let mailers: [&dyn Mailer; 3] = [&smtp, &memory, &LogMailer];
    for to in [
        "ivan.petrov@customers..example",
        "ivan.petrov at customers.example",
        "ivan.petrov@",
    ] {
        let mail = OutgoingMail::new(to, "Your code", "123456");
        for mailer in mailers {
            let error = mailer.send(&mail).await.unwrap_err();
            let MailError::InvalidAddress { role, masked, .. } = &error else {
                panic!("{to}: expected invalid address, got {error:?}");
            };
            assert_eq!(*role, AddressRole::Recipient);
            assert!(masked.starts_with("i***"), "{masked}");
            assert!(!error.to_string().contains("ivan.petrov"), "{error}");
            assert!(!format!("{error:?}").contains("ivan.petrov"), "{error:?}");
        }
    }
    assert_eq!(
        OutgoingMail::new("ivan.petrov@customers..example", "s", "b")
            .validate()
            .unwrap_err()
            .to_string(),
        "invalid recipient address `i***@customers..example`: the domain is not valid"
    );
    assert_eq!(fake.connections(), 0);
    assert!(memory.sent().is_empty());
}

#[tokio::test]
async fn starttls_is_required_when_configured_and_never_downgraded() {
    // The fake offers no STARTTLS; a mailer that requires it must refuse to go on in clear.
    let fake = FakeSmtp::start().await.unwrap();
    let settings = SmtpSettings {
        tls: SmtpTls::Starttls,
        ..settings_for(&fake)
    };
    let error = SmtpMailer::new(settings)
        .unwrap()
        .send(&code_mail())
        .await
        .unwrap_err();
    let MailError::Tls { reason, .. } = &error else {
        panic!("expected a tls error, got {error:?}");
    };
    assert!(reason.contains("STARTTLS"), "{reason}");
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn implicit_tls_against_a_plaintext_server_is_a_tls_failure() {
    let fake = FakeSmtp::start().await.unwrap();
    let settings = SmtpSettings {
        tls: SmtpTls::Tls,
        timeout: Duration::from_secs(5),
        ..settings_for(&fake)
    };
    let error = SmtpMailer::new(settings)
        .unwrap()
        .send(&code_mail())
        .await
        .unwrap_err();
    let MailError::Tls { reason, .. } = &error else {
        panic!("expected a tls error, got {error:?}");
    };
    assert!(!reason.is_empty());
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let fake = FakeSmtp::start().await.unwrap();
    fake.set_silent(true);
    let settings = SmtpSettings {
        timeout: Duration::from_millis(300),
        ..settings_for(&fake)
    };
    let error = SmtpMailer::new(settings)
        .unwrap()
        .send(&code_mail())
        .await
        .unwrap_err();
    assert!(
        matches!(error, MailError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(fake.connections(), 1);
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error() {
    let fake = FakeSmtp::start().await.unwrap();
    let settings = settings_for(&fake);
    drop(fake);
    // Give the listener a moment to close; then nothing listens on that port.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let error = SmtpMailer::new(settings)
        .unwrap()
        .send(&code_mail())
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Connection { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn memory_mailer_records_valid_mail_in_order() {
    let mailer = MemoryMailer::new();
    let first = code_mail();
    let second = OutgoingMail::new("ana@customers.example", "Second", "654321");
    mailer.send(&first).await.unwrap();
    mailer.send(&second).await.unwrap();
    let mut bad = code_mail();
    bad.subject = "x\r\ny".to_owned();
    assert!(mailer.send(&bad).await.is_err());

    assert_eq!(mailer.sent(), vec![first, second]);
    assert_eq!(format!("{mailer:?}"), "MemoryMailer { sent: 2 }");
}

#[test]
fn outgoing_mail_debug_hides_the_code_and_the_address() {
    let shown = format!("{:?}", code_mail());
    assert!(!shown.contains("482913"), "{shown}");
    assert!(!shown.contains(RECIPIENT), "{shown}");
    assert!(shown.contains("i***@customers.example"), "{shown}");
}

/// Collects what a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn log_mailer_logs_the_body_and_only_the_masked_recipient() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    LogMailer.send(&code_mail()).await.unwrap();

    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("INFO"), "{logged}");
    assert!(logged.contains("i***@customers.example"), "{logged}");
    assert!(logged.contains("Your code is 482913."), "{logged}");
    assert!(!logged.contains(RECIPIENT), "{logged}");
}

#[test]
fn mail_config_parses_from_toml_and_json() {
    let config: MailConfig = toml::from_str(
        r#"
        transport = "smtp"
        host = "smtp.example.com"
        port = 465
        tls = "tls"
        username = "heddle@example.com"
        password_env = "SMTP_PASSWORD"
        from = "Heddle <no-reply@example.com>"
        "#,
    )
    .unwrap();
    assert_eq!(
        config,
        MailConfig::Smtp {
            host: "smtp.example.com".to_owned(),
            port: Some(465),
            tls: SmtpTls::Tls,
            username: Some("heddle@example.com".to_owned()),
            password_env: Some("SMTP_PASSWORD".to_owned()),
            from: "Heddle <no-reply@example.com>".to_owned(),
            timeout_secs: 30,
        }
    );

    let minimal: MailConfig = serde_json::from_str(
        r#"{"transport": "smtp", "host": "smtp.example.com", "from": "no-reply@example.com"}"#,
    )
    .unwrap();
    let MailConfig::Smtp {
        port,
        tls,
        username,
        password_env,
        ..
    } = &minimal
    else {
        panic!("expected smtp, got {minimal:?}");
    };
    assert_eq!((*port, *tls), (None, SmtpTls::Starttls));
    assert_eq!((username, password_env), (&None, &None));

    // What the server would print back (`heddle config show`) parses to the same config.
    let shown = serde_json::to_string(&config).unwrap();
    assert!(shown.contains(r#""transport":"smtp""#), "{shown}");
    assert_eq!(serde_json::from_str::<MailConfig>(&shown).unwrap(), config);

    let log: MailConfig = serde_json::from_str(r#"{"transport": "log"}"#).unwrap();
    assert_eq!(log, MailConfig::Log);
    assert_eq!(MailConfig::default(), MailConfig::Log);
    assert_eq!(
        serde_json::to_string(&MailConfig::Log).unwrap(),
        r#"{"transport":"log"}"#
    );
}

#[test]
fn mail_config_refuses_unknown_fields_and_literal_passwords() {
    let with_password = toml::from_str::<MailConfig>(
        r#"
        transport = "smtp"
        host = "smtp.example.com"
        from = "no-reply@example.com"
        password = "hunter2"
        "#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        with_password.contains("unknown field `password`"),
        "{with_password}"
    );

    let typo = serde_json::from_str::<MailConfig>(
        r#"{"transport": "smtp", "host": "h.example", "from": "a@b.example", "tsl": "none"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(typo.contains("unknown field `tsl`"), "{typo}");

    let log_extra = serde_json::from_str::<MailConfig>(r#"{"transport": "log", "host": "x"}"#);
    assert!(log_extra.is_err(), "{log_extra:?}");

    let unknown_transport = serde_json::from_str::<MailConfig>(r#"{"transport": "sendmail"}"#);
    assert!(unknown_transport.is_err());
    let bad_tls = serde_json::from_str::<MailConfig>(
        r#"{"transport": "smtp", "host": "h.example", "from": "a@b.example", "tls": "opportunistic"}"#,
    );
    assert!(bad_tls.is_err());
}

#[test]
fn mail_config_build_reports_a_missing_password_variable_by_name() {
    let config = MailConfig::Smtp {
        host: "smtp.example.com".to_owned(),
        port: None,
        tls: SmtpTls::Starttls,
        username: Some("heddle".to_owned()),
        password_env: Some("HEDDLE_TEST_SMTP_PASSWORD_THAT_IS_NOT_SET".to_owned()),
        from: "no-reply@example.com".to_owned(),
        timeout_secs: 30,
    };
    let error = config.build().unwrap_err();
    let MailError::InvalidSettings { reason } = &error else {
        panic!("expected invalid settings, got {error:?}");
    };
    assert!(
        reason.contains("`HEDDLE_TEST_SMTP_PASSWORD_THAT_IS_NOT_SET`"),
        "{reason}"
    );
    let built = config.build_with_env(|_| Some("pw".to_owned())).unwrap();
    let shown = format!("{built:?}");
    assert!(shown.contains("smtp.example.com:587"), "{shown}");
    assert!(
        shown.contains("[redacted]") && !shown.contains("\"pw\""),
        "{shown}"
    );

    let log = MailConfig::Log.build().unwrap();
    assert_eq!(format!("{log:?}"), "LogMailer");
}

#[test]
fn a_password_variable_in_heddles_own_namespace_is_refused() {
    let config = MailConfig::Smtp {
        host: "127.0.0.1".to_owned(),
        port: Some(2525),
        tls: SmtpTls::None,
        username: Some("heddle".to_owned()),
        password_env: Some("HEDDLE_SMTP_PASSWORD".to_owned()),
        from: "support@example.com".to_owned(),
        timeout_secs: 5,
    };
    let error = config
        .build_with_env(|_| Some("hunter2-but-longer".to_owned()))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("SMTP_PASSWORD") && text.contains("Heddle's own"),
        "{text}"
    );
    assert!(!text.contains("hunter2"));
}
