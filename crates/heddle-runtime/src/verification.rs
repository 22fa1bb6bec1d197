//! Customer verification for service agents (seed 003): the customer gives their email, a
//! one-time code goes to that address, and the right code sets the session's verified
//! customer id — the Contact behind that customer — which private capabilities bind and run
//! as. The answer to "send me a code" is the same whether the address belongs to a customer
//! or not, so the flow cannot be used to find out who is one.

use heddle_agents::config::AgentKind;
use heddle_identity::Caller;
use heddle_mail::{OutgoingMail, mask_address};
use heddle_store::{ChallengeAttempt, NewVerificationChallenge, Session, StoreError};
use heddle_types::{SessionId, TenantId};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::events::{Subject, change, details, record_refusal};
use crate::{Runtime, RuntimeError, RuntimeResult};

/// Digits in a code.
const CODE_DIGITS: usize = 6;
/// Longest email address accepted (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationStarted {
    /// `code_sent`: if the address belongs to a customer, a code is on its way.
    pub status: &'static str,
    /// The address as shown back (`i***@customers.example`).
    pub sent_to: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationConfirmed {
    pub verified: bool,
}

impl Runtime {
    /// Sends a one-time code to `email` when it belongs to a customer of the tenant's record
    /// org. Only on service-agent sessions, by the principal who opened the session.
    pub async fn start_verification(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
        email: &str,
    ) -> RuntimeResult<VerificationStarted> {
        let subject = session_subject(tenant_id, session_id);
        let result = self
            .start_unrecorded(caller, tenant_id, session_id, email)
            .await;
        if let Err(error) = &result {
            record_refusal(
                self.identity(),
                caller,
                &subject,
                "verification.start",
                error,
            )
            .await;
        }
        result
    }

    async fn start_unrecorded(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
        email: &str,
    ) -> RuntimeResult<VerificationStarted> {
        let email = email.trim();
        validate_email(email)?;
        let session = self.service_session(caller, tenant_id, session_id).await?;
        if session.verified_customer_id.is_some() {
            return Err(RuntimeError::Refused(
                "this session already verified a customer; open a new session for another one"
                    .to_owned(),
            ));
        }
        let contact = self
            .inner
            .records
            .find_customer_contact(tenant_id, email)
            .await?;
        let settings = &self.settings().verification;
        let now = self.identity().now();
        let expires_at = now
            + time::Duration::try_from(settings.code_ttl).unwrap_or(time::Duration::minutes(10));
        let id = uuid::Uuid::now_v7();
        let code = new_code()?;
        let audit = change(
            self.identity(),
            caller,
            &session_subject(tenant_id, session_id),
            "verification.start",
            details([
                ("challenge", Value::from(id.to_string())),
                ("matched_customer", Value::from(contact.is_some())),
            ]),
        );
        self.store()
            .create_verification_challenge(
                NewVerificationChallenge {
                    id,
                    tenant_id,
                    session_id,
                    code_hash: code_hash(id, &code).to_vec(),
                    customer_id: contact.as_ref().map(ToString::to_string),
                    max_attempts: i32::try_from(settings.max_attempts).unwrap_or(5),
                    expires_at,
                    created_at: now,
                },
                audit,
            )
            .await?;
        self.identity().audit_log().nudge();
        if contact.is_some() {
            let minutes = settings.code_ttl.as_secs().div_ceil(60);
            let mail = OutgoingMail::new(
                email,
                format!("Your {} verification code", settings.sender_name),
                format!(
                    "Your verification code is {code}.\r\n\r\nIt is valid for {minutes} minutes. \
                     If you did not ask for it, ignore this message.\r\n"
                ),
            );
            self.inner.mailer.send(&mail).await.map_err(|err| {
                RuntimeError::Unavailable(format!("the code could not be sent: {err}"))
            })?;
        }
        Ok(VerificationStarted {
            status: "code_sent",
            sent_to: mask_address(email),
            expires_at,
        })
    }

    /// Checks a code; the right one verifies the session's customer. Wrong codes count
    /// against the challenge's attempts, across processes.
    pub async fn confirm_verification(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
        code: &str,
    ) -> RuntimeResult<VerificationConfirmed> {
        let subject = session_subject(tenant_id, session_id);
        let result = self
            .confirm_unrecorded(caller, tenant_id, session_id, code)
            .await;
        if let Err(error) = &result {
            record_refusal(
                self.identity(),
                caller,
                &subject,
                "verification.confirm",
                error,
            )
            .await;
        }
        result
    }

    async fn confirm_unrecorded(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
        code: &str,
    ) -> RuntimeResult<VerificationConfirmed> {
        let code = code.trim();
        if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RuntimeError::invalid(
                "code",
                format!("the code is {CODE_DIGITS} digits, as in the email"),
            ));
        }
        self.service_session(caller, tenant_id, session_id).await?;
        let challenge = self
            .store()
            .open_verification_challenge(tenant_id, session_id)
            .await?
            .ok_or_else(|| {
                RuntimeError::Refused(
                    "there is no code to check; request one with POST …/verification".to_owned(),
                )
            })?;
        let now = self.identity().now();
        if now >= challenge.expires_at {
            return Err(expired());
        }
        if challenge.attempts >= challenge.max_attempts {
            return Err(too_many());
        }
        let right =
            heddle_crypto::constant_time_eq(&code_hash(challenge.id, code), &challenge.code_hash)
                && challenge.customer_id.is_some();
        let attempt = if right {
            ChallengeAttempt::Succeeded
        } else {
            ChallengeAttempt::Failed
        };
        let audit = change(
            self.identity(),
            caller,
            &session_subject(tenant_id, session_id),
            "verification.attempt",
            details([
                ("challenge", Value::from(challenge.id.to_string())),
                ("verified", Value::from(right)),
            ]),
        );
        let counted = self
            .store()
            .attempt_verification_challenge(
                tenant_id,
                session_id,
                challenge.id,
                attempt,
                now,
                audit,
            )
            .await
            .map_err(|err| match err {
                StoreError::Conflict {
                    field: "attempts", ..
                } => too_many(),
                StoreError::Conflict {
                    field: "expires_at",
                    ..
                } => expired(),
                StoreError::Conflict { .. } => RuntimeError::Refused(
                    "this code is no longer valid; request a new one".to_owned(),
                ),
                other => other.into(),
            })?;
        self.identity().audit_log().nudge();
        if right {
            Ok(VerificationConfirmed { verified: true })
        } else {
            let left = counted.max_attempts - counted.attempts;
            Err(RuntimeError::invalid(
                "code",
                if left > 0 {
                    format!("that is not the code; {left} attempt(s) left")
                } else {
                    "that is not the code, and no attempts are left; request a new code".to_owned()
                },
            ))
        }
    }

    /// The caller's own session of a service agent.
    async fn service_session(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> RuntimeResult<Session> {
        let session = self.own_session(caller, tenant_id, session_id).await?;
        let (_, set) = self
            .inner
            .configs
            .load(
                self.store(),
                tenant_id,
                session.environment,
                Some(session.config_version),
            )
            .await?;
        match set.agent(&session.agent) {
            Some(agent) if agent.spec.kind == AgentKind::Service => Ok(session),
            _ => Err(RuntimeError::Refused(
                "customers verify on service-agent sessions only; employee agents act as the \
                 signed-in person"
                    .to_owned(),
            )),
        }
    }
}

fn session_subject(tenant_id: TenantId, session_id: SessionId) -> Subject<'static> {
    Subject {
        tenant_id,
        environment: None,
        kind: "session",
        id: session_id.to_string(),
    }
}

fn expired() -> RuntimeError {
    RuntimeError::Refused("the code expired; request a new one".to_owned())
}

fn too_many() -> RuntimeError {
    RuntimeError::TooManyAttempts(
        "too many wrong codes; request a new code and try again".to_owned(),
    )
}

fn validate_email(email: &str) -> RuntimeResult<()> {
    let valid = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if valid {
        Ok(())
    } else {
        Err(RuntimeError::invalid(
            "email",
            "give the email address the customer is known by, like name@example.com",
        ))
    }
}

/// A uniformly random code of [`CODE_DIGITS`] digits (rejection sampling, no modulo bias).
fn new_code() -> RuntimeResult<String> {
    const RANGE: u32 = 1_000_000;
    let limit = u32::MAX - u32::MAX % RANGE;
    loop {
        let mut bytes = [0u8; 4];
        heddle_crypto::fill_random(&mut bytes)
            .map_err(|err| RuntimeError::Unavailable(err.to_string()))?;
        let value = u32::from_le_bytes(bytes);
        if value < limit {
            return Ok(format!("{:06}", value % RANGE));
        }
    }
}

/// The stored form of a code: keyed by its challenge, so equal codes of two challenges do
/// not look alike.
fn code_hash(challenge: uuid::Uuid, code: &str) -> [u8; 32] {
    heddle_crypto::hmac_sha256(challenge.as_bytes(), code.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::BTreeSet<String> =
            (0..50).map(|_| new_code().unwrap()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.len() > 40, "{codes:?}");
    }

    #[test]
    fn a_code_hash_is_bound_to_its_challenge() {
        let a = uuid::Uuid::now_v7();
        let b = uuid::Uuid::now_v7();
        assert_eq!(code_hash(a, "123456"), code_hash(a, "123456"));
        assert_ne!(code_hash(a, "123456"), code_hash(b, "123456"));
        assert_ne!(code_hash(a, "123456"), code_hash(a, "123457"));
    }

    #[test]
    fn emails_are_checked_for_shape_only() {
        assert!(validate_email("ivy@customers.example").is_ok());
        for bad in [
            "",
            "ivy",
            "@x.example",
            "ivy@localhost",
            "a b@x.example",
            "a@b@c.example",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }
}
