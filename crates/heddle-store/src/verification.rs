//! Customer verification challenges: a one-time code sent to a customer's contact address,
//! whose HMAC the store keeps, so a service-agent session can prove which customer it serves.
//!
//! - At most one open (unconsumed) challenge per session, enforced by a partial unique index;
//!   creating a new one closes the earlier one in the same transaction.
//! - Attempts are counted by a conditional `UPDATE … WHERE attempts < max_attempts`, so
//!   concurrent guesses can never exceed the cap, in one process or several.
//! - A challenge whose address matched no customer is stored like any other (with no
//!   customer id), so callers can answer the same way and not reveal which addresses exist.

use std::fmt;

use async_trait::async_trait;
use heddle_types::{SessionId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{NewAuditEvent, StoreError, StoreResult};

#[derive(Clone, PartialEq, Eq)]
pub struct NewVerificationChallenge {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    /// HMAC of the code, 32 bytes, computed by the caller.
    pub code_hash: Vec<u8>,
    /// The customer the address matched; `None` when it matched nobody.
    pub customer_id: Option<String>,
    pub max_attempts: i32,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[derive(Clone, PartialEq, Eq)]
pub struct VerificationChallenge {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub code_hash: Vec<u8>,
    pub customer_id: Option<String>,
    /// Attempts counted so far, never more than `max_attempts`.
    pub attempts: i32,
    pub max_attempts: i32,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// When it succeeded or was replaced by a newer challenge; `None` while open.
    pub consumed_at: Option<OffsetDateTime>,
}

impl fmt::Debug for NewVerificationChallenge {
    /// The code hash stays out of logs: with the HMAC key it would give the code away.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewVerificationChallenge")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("session_id", &self.session_id)
            .field("code_hash_len", &self.code_hash.len())
            .field("customer_id", &self.customer_id)
            .field("max_attempts", &self.max_attempts)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl fmt::Debug for VerificationChallenge {
    /// The code hash stays out of logs: with the HMAC key it would give the code away.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationChallenge")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("session_id", &self.session_id)
            .field("code_hash_len", &self.code_hash.len())
            .field("customer_id", &self.customer_id)
            .field("attempts", &self.attempts)
            .field("max_attempts", &self.max_attempts)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .field("consumed_at", &self.consumed_at)
            .finish()
    }
}

/// The outcome of comparing a submitted code with the challenge's hash (done by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeAttempt {
    Failed,
    Succeeded,
}

#[async_trait]
pub trait VerificationStore: Send + Sync + std::fmt::Debug {
    /// Stores a new challenge; any earlier unconsumed challenge of the session is closed
    /// (`consumed_at` = the new one's `created_at`) in the same transaction.
    /// [`StoreError::NotFound`] when the session is not the tenant's.
    async fn create_verification_challenge(
        &self,
        challenge: NewVerificationChallenge,
        audit: NewAuditEvent,
    ) -> StoreResult<VerificationChallenge>;

    /// The session's open (unconsumed) challenge, if any. Expired ones are returned too: the
    /// caller checks expiry with its clock.
    async fn open_verification_challenge(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> StoreResult<Option<VerificationChallenge>>;

    /// Counts one attempt on the open challenge, atomically, and returns it updated. On
    /// [`ChallengeAttempt::Succeeded`] also marks it consumed and sets the session's verified
    /// customer to the challenge's, in the same transaction as `audit`.
    ///
    /// [`StoreError::Conflict`] (entity `verification`) when the attempt cannot count: field
    /// `attempts` when none are left (also for the losers of a concurrent race), `consumed_at`
    /// when the challenge is closed, `expires_at` when `at` is past its expiry, `customer_id`
    /// when it succeeded on a challenge that matched no customer. [`StoreError::NotFound`]
    /// when no such challenge belongs to the tenant's session.
    async fn attempt_verification_challenge(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        challenge_id: Uuid,
        attempt: ChallengeAttempt,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<VerificationChallenge>;
}

/// Why the conditional update counted no attempt on a challenge that exists. Evaluated under
/// the session's lock, so the state cannot have changed since the update looked at it.
pub(crate) fn attempt_refused(
    challenge: &VerificationChallenge,
    attempt: ChallengeAttempt,
    at: OffsetDateTime,
) -> StoreError {
    let conflict = |field: &'static str, why: &str| StoreError::Conflict {
        entity: "verification",
        field,
        value: format!("challenge {} {why}", challenge.id),
    };
    if challenge.consumed_at.is_some() {
        conflict("consumed_at", "is closed")
    } else if challenge.attempts < challenge.max_attempts && at >= challenge.expires_at {
        conflict("expires_at", "has expired")
    } else if challenge.attempts < challenge.max_attempts
        && attempt == ChallengeAttempt::Succeeded
        && challenge.customer_id.is_none()
    {
        conflict("customer_id", "matched no customer")
    } else {
        conflict("attempts", "has no attempts left")
    }
}

pub(crate) fn challenge_not_found(session_id: SessionId, challenge_id: Uuid) -> StoreError {
    StoreError::NotFound {
        entity: "verification challenge",
        id: format!("{session_id}/{challenge_id}"),
    }
}
