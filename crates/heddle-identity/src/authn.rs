//! Authentication: turning a bearer credential or a password into a [`Principal`].

use std::fmt;

use heddle_crypto::{SecretString, TokenKind};
use heddle_store::NewAccessToken;
use heddle_types::{
    AccessTokenId, ActorKind, AuditActor, AuditOutcome, IdentityMode, Principal, RequestContext,
    TenantId,
};
use serde_json::Value;
use time::OffsetDateTime;

use crate::audit::{Operation, details};
use crate::{Caller, Identity, IdentityError, IdentityResult, validate};

/// Why authentication failed. Recorded in logs, metrics and the audit log; the HTTP response
/// only says 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingCredential,
    MalformedCredential,
    UnknownCredential,
    Expired,
    Revoked,
    DisabledAccount,
    BadPassword,
}

impl AuthFailure {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthFailure::MissingCredential => "missing_credential",
            AuthFailure::MalformedCredential => "malformed_credential",
            AuthFailure::UnknownCredential => "unknown_credential",
            AuthFailure::Expired => "expired",
            AuthFailure::Revoked => "revoked",
            AuthFailure::DisabledAccount => "disabled_account",
            AuthFailure::BadPassword => "bad_password",
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn fail<T>(reason: AuthFailure) -> IdentityResult<T> {
    Err(IdentityError::Unauthenticated(reason))
}

/// A login's result: the token is shown to the caller once and never stored in clear.
#[derive(Debug)]
pub struct IssuedAccessToken {
    pub id: AccessTokenId,
    pub token: SecretString,
    pub expires_at: OffsetDateTime,
    pub principal: Principal,
}

/// A credential that was found but refused: which tenant's log records it, and as whom.
struct KnownRefusal {
    tenant_id: TenantId,
    actor: AuditActor,
    action: &'static str,
    reason: AuthFailure,
}

impl Identity {
    /// Resolves an `Authorization: Bearer …` credential: an API key (`hdl_…`) or an access
    /// token from login (`hdt_…`). A credential that exists but is revoked, expired or
    /// belongs to a disabled account is recorded in its tenant's audit log; garbage and
    /// unknown credentials belong to no tenant and are only counted.
    pub async fn authenticate_bearer(
        &self,
        credential: &str,
        request: &RequestContext,
    ) -> IdentityResult<Principal> {
        let outcome = if credential.starts_with(TokenKind::ApiKey.prefix()) {
            self.authenticate_api_key(credential).await?
        } else if credential.starts_with(TokenKind::AccessToken.prefix()) {
            self.authenticate_access_token(credential).await?
        } else {
            Err(None)
        };
        match outcome {
            Ok(principal) => Ok(principal),
            Err(Some(refusal)) => {
                let credential_id = refusal.actor.id.clone().unwrap_or_default();
                if !self.inner.refusal_throttle.should_record(&credential_id) {
                    metrics::counter!("heddle_audit_refusals_suppressed_total").increment(1);
                    return fail(refusal.reason);
                }
                let operation = Operation::new(refusal.tenant_id, refusal.action);
                let event = self.event_as(
                    refusal.actor,
                    request,
                    &operation,
                    AuditOutcome::Denied,
                    details([("reason", Value::from(refusal.reason.as_str()))]),
                );
                self.record(&event).await;
                fail(refusal.reason)
            }
            Err(None) => fail(AuthFailure::UnknownCredential),
        }
    }

    /// `Ok(Err(None))`: no such credential; `Ok(Err(Some(_)))`: found and refused.
    async fn authenticate_api_key(
        &self,
        credential: &str,
    ) -> IdentityResult<Result<Principal, Option<KnownRefusal>>> {
        let Ok(parsed) = heddle_crypto::parse_token(TokenKind::ApiKey, credential) else {
            return Ok(Err(None));
        };
        let Some((key, stored_hash)) = self
            .inner
            .store
            .find_api_key_by_lookup(parsed.lookup())
            .await?
        else {
            return Ok(Err(None));
        };
        if !heddle_crypto::token_matches(credential, &stored_hash) {
            return Ok(Err(None));
        }
        let now = self.now();
        let refused = |reason| {
            Ok(Err(Some(KnownRefusal {
                tenant_id: key.tenant_id,
                actor: AuditActor {
                    kind: ActorKind::ApiKey,
                    id: Some(key.id.to_string()),
                    display: Some(key.name.clone()),
                    identity_mode: IdentityMode::User,
                },
                action: "auth.api_key",
                reason,
            })))
        };
        if key.revoked_at.is_some() {
            return refused(AuthFailure::Revoked);
        }
        if key.expires_at.is_some_and(|expiry| now >= expiry) {
            return refused(AuthFailure::Expired);
        }
        let touch_due = key
            .last_used_at
            .is_none_or(|last| now - last >= self.inner.settings.api_key_touch_interval);
        if touch_due {
            self.inner.store.touch_api_key(key.id, now).await?;
        }
        let operator = self.tenant_is_operator(key.tenant_id).await?;
        Ok(Ok(Principal::for_api_key(&key, operator)))
    }

    async fn authenticate_access_token(
        &self,
        credential: &str,
    ) -> IdentityResult<Result<Principal, Option<KnownRefusal>>> {
        let Ok(parsed) = heddle_crypto::parse_token(TokenKind::AccessToken, credential) else {
            return Ok(Err(None));
        };
        let Some((token, stored_hash)) = self
            .inner
            .store
            .find_access_token_by_lookup(parsed.lookup())
            .await?
        else {
            return Ok(Err(None));
        };
        if !heddle_crypto::token_matches(credential, &stored_hash) {
            return Ok(Err(None));
        }
        let user = self
            .inner
            .store
            .get_user(token.tenant_id, token.user_id)
            .await?;
        let refused = |reason| {
            Ok(Err(Some(KnownRefusal {
                tenant_id: user.tenant_id,
                actor: AuditActor {
                    kind: ActorKind::User,
                    id: Some(user.id.to_string()),
                    display: Some(user.email.clone()),
                    identity_mode: IdentityMode::User,
                },
                action: "auth.access_token",
                reason,
            })))
        };
        if token.revoked_at.is_some() {
            return refused(AuthFailure::Revoked);
        }
        if self.now() >= token.expires_at {
            return refused(AuthFailure::Expired);
        }
        if user.disabled {
            return refused(AuthFailure::DisabledAccount);
        }
        let operator = self.tenant_is_operator(user.tenant_id).await?;
        Ok(Ok(Principal::for_user(&user, operator)))
    }

    /// Password login into a tenant (by slug). Unknown tenant, unknown email and wrong
    /// password all take the same time and give the same answer. Success and failure in a
    /// known tenant are audit events there.
    pub async fn login(
        &self,
        tenant_slug: &str,
        email: &str,
        password: &SecretString,
        request: &RequestContext,
    ) -> IdentityResult<IssuedAccessToken> {
        let hasher = &self.inner.hasher;
        let Some(tenant) = self.inner.store.find_tenant_by_slug(tenant_slug).await? else {
            hasher.verify_dummy(password);
            return fail(AuthFailure::BadPassword);
        };
        let attempted = email.trim().to_lowercase();
        let found = match validate::email(email) {
            Ok(email) => {
                self.inner
                    .store
                    .find_user_credentials(tenant.id, &email)
                    .await?
            }
            Err(_) => None,
        };
        let attempt_actor = |id: Option<String>| AuditActor {
            kind: ActorKind::User,
            id,
            display: Some(attempted.chars().take(254).collect()),
            identity_mode: IdentityMode::User,
        };
        let refusal = match &found {
            None | Some((_, None)) => {
                hasher.verify_dummy(password);
                Some((None, AuthFailure::BadPassword))
            }
            Some((user, Some(phc))) => {
                let user_id = Some(user.id.to_string());
                if !hasher.verify_password(password, phc)? {
                    Some((user_id, AuthFailure::BadPassword))
                } else if user.disabled {
                    Some((user_id, AuthFailure::DisabledAccount))
                } else {
                    None
                }
            }
        };
        let user = match (refusal, found) {
            (None, Some((user, _))) => user,
            (refusal, _) => {
                let (user_id, reason) = refusal.unwrap_or((None, AuthFailure::BadPassword));
                let event = self.event_as(
                    attempt_actor(user_id),
                    request,
                    &Operation::new(tenant.id, "auth.login"),
                    AuditOutcome::Denied,
                    details([("reason", Value::from(reason.as_str()))]),
                );
                self.record(&event).await;
                return fail(reason);
            }
        };
        let principal = Principal::for_user(&user, tenant.operator);
        let generated = heddle_crypto::generate_token(TokenKind::AccessToken)?;
        let now = self.now();
        let expires_at = now + self.inner.settings.access_token_ttl;
        let id = AccessTokenId::new();
        let signed_in = Caller::new(crate::Actor::Principal(principal.clone()), request.clone());
        let event = self.change_event(
            &signed_in,
            &Operation::new(tenant.id, "auth.login").on("access_token", id),
            details([]),
        );
        self.inner
            .store
            .create_access_token(
                NewAccessToken {
                    id,
                    tenant_id: tenant.id,
                    user_id: user.id,
                    lookup: generated.lookup.clone(),
                    secret_hash: generated.secret_hash.to_vec(),
                    created_at: now,
                    expires_at,
                },
                event,
            )
            .await?;
        self.inner.audit.nudge();
        Ok(IssuedAccessToken {
            id,
            token: generated.token,
            expires_at,
            principal,
        })
    }

    /// Revokes the access token presented (logout). API keys are revoked through the keys API.
    pub async fn logout(&self, credential: &str, caller: &Caller) -> IdentityResult<()> {
        let Ok(parsed) = heddle_crypto::parse_token(TokenKind::AccessToken, credential) else {
            return fail(AuthFailure::MalformedCredential);
        };
        let found = self
            .inner
            .store
            .find_access_token_by_lookup(parsed.lookup())
            .await?;
        match found {
            Some((token, hash)) if heddle_crypto::token_matches(credential, &hash) => {
                let operation =
                    Operation::new(token.tenant_id, "auth.logout").on("access_token", token.id);
                let event = self.change_event(caller, &operation, details([]));
                self.inner
                    .store
                    .revoke_access_token(token.id, self.now(), event)
                    .await?;
                self.inner.audit.nudge();
                Ok(())
            }
            _ => fail(AuthFailure::UnknownCredential),
        }
    }

    async fn tenant_is_operator(&self, tenant_id: TenantId) -> IdentityResult<bool> {
        let cache = &self.inner.operator_tenants;
        if let Some(known) = cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&tenant_id)
        {
            return Ok(*known);
        }
        let operator = self.inner.store.get_tenant(tenant_id).await?.operator;
        cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(tenant_id, operator);
        Ok(operator)
    }
}
