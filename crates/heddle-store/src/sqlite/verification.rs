//! Customer verification challenges on SQLite. Writes run in `BEGIN IMMEDIATE` transactions;
//! the conditional update that counts an attempt is the cap's guard either way.

use async_trait::async_trait;
use heddle_types::{SessionId, TenantId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, from_micros, optional_from_micros, to_micros};
use crate::db_error::{conflict_or_database, not_found};
use crate::verification::{
    ChallengeAttempt, NewVerificationChallenge, VerificationChallenge, VerificationStore,
    attempt_refused, challenge_not_found,
};
use crate::{NewAuditEvent, StoreResult};

macro_rules! challenge_columns {
    () => {
        "id, tenant_id, session_id, code_hash, customer_id, attempts, max_attempts, \
         expires_at, created_at, consumed_at"
    };
}

fn challenge_from_row(row: &SqliteRow) -> StoreResult<VerificationChallenge> {
    Ok(VerificationChallenge {
        id: row.try_get("id")?,
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        session_id: SessionId::from_uuid(row.try_get("session_id")?),
        code_hash: row.try_get("code_hash")?,
        customer_id: row.try_get("customer_id")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        expires_at: from_micros(row.try_get("expires_at")?)?,
        created_at: from_micros(row.try_get("created_at")?)?,
        consumed_at: optional_from_micros(row.try_get("consumed_at")?)?,
    })
}

/// Checks that the session is the tenant's (the write lock is already held).
async fn lock_session(
    tx: &mut Transaction<'_, Sqlite>,
    tenant_id: TenantId,
    session_id: SessionId,
) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM sessions WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| not_found("session", session_id))?;
    Ok(())
}

#[async_trait]
impl VerificationStore for SqliteStore {
    async fn create_verification_challenge(
        &self,
        challenge: NewVerificationChallenge,
        audit: NewAuditEvent,
    ) -> StoreResult<VerificationChallenge> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        lock_session(&mut tx, challenge.tenant_id, challenge.session_id).await?;
        // Closes the earlier open challenge, which the partial index would otherwise refuse.
        sqlx::query(
            "UPDATE verification_challenges SET consumed_at = $3 \
             WHERE tenant_id = $1 AND session_id = $2 AND consumed_at IS NULL",
        )
        .bind(challenge.tenant_id.as_uuid())
        .bind(challenge.session_id.as_uuid())
        .bind(to_micros(challenge.created_at))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(concat!(
            "INSERT INTO verification_challenges (id, tenant_id, session_id, code_hash, \
             customer_id, attempts, max_attempts, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8) RETURNING ",
            challenge_columns!()
        ))
        .bind(challenge.id)
        .bind(challenge.tenant_id.as_uuid())
        .bind(challenge.session_id.as_uuid())
        .bind(&challenge.code_hash)
        .bind(&challenge.customer_id)
        .bind(challenge.max_attempts)
        .bind(to_micros(challenge.expires_at))
        .bind(to_micros(challenge.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| {
            conflict_or_database(
                err,
                "verification challenge",
                &challenge.id.to_string(),
                &[],
            )
        })?;
        let created = challenge_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn open_verification_challenge(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
    ) -> StoreResult<Option<VerificationChallenge>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            challenge_columns!(),
            " FROM verification_challenges \
             WHERE tenant_id = $1 AND session_id = $2 AND consumed_at IS NULL"
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(challenge_from_row).transpose()
    }

    async fn attempt_verification_challenge(
        &self,
        tenant_id: TenantId,
        session_id: SessionId,
        challenge_id: Uuid,
        attempt: ChallengeAttempt,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<VerificationChallenge> {
        let succeeded = attempt == ChallengeAttempt::Succeeded;
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        lock_session(&mut tx, tenant_id, session_id).await?;
        // Counts the attempt only while one is left, so racing attempts cannot pass the cap;
        // a success also closes the challenge, and needs a customer to verify.
        let row = sqlx::query(concat!(
            "UPDATE verification_challenges SET attempts = attempts + 1, \
             consumed_at = CASE WHEN $4 THEN $5 ELSE consumed_at END \
             WHERE tenant_id = $1 AND session_id = $2 AND id = $3 AND consumed_at IS NULL \
             AND attempts < max_attempts AND expires_at > $5 \
             AND (NOT $4 OR customer_id IS NOT NULL) RETURNING ",
            challenge_columns!()
        ))
        .bind(tenant_id.as_uuid())
        .bind(session_id.as_uuid())
        .bind(challenge_id)
        .bind(succeeded)
        .bind(to_micros(at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let current = sqlx::query(concat!(
                "SELECT ",
                challenge_columns!(),
                " FROM verification_challenges \
                 WHERE tenant_id = $1 AND session_id = $2 AND id = $3"
            ))
            .bind(tenant_id.as_uuid())
            .bind(session_id.as_uuid())
            .bind(challenge_id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Err(match current {
                None => challenge_not_found(session_id, challenge_id),
                Some(row) => attempt_refused(&challenge_from_row(&row)?, attempt, at),
            });
        };
        let counted = challenge_from_row(&row)?;
        if let (true, Some(customer_id)) = (succeeded, &counted.customer_id) {
            sqlx::query(
                "UPDATE sessions SET verified_customer_id = $3, updated_at = $4 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id.as_uuid())
            .bind(session_id.as_uuid())
            .bind(customer_id)
            .bind(to_micros(at))
            .execute(&mut *tx)
            .await?;
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(counted)
    }
}
