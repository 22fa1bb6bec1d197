//! Authentication: turning a bearer credential or a password into a [`Principal`].

use std::fmt;

use heddle_crypto::{SecretString, TokenKind};
use heddle_store::NewAccessToken;
use heddle_types::{AccessTokenId, Principal, TenantId};
use time::OffsetDateTime;

use crate::{Identity, IdentityError, IdentityResult, validate};

/// Why authentication failed. Recorded in logs and metrics; the HTTP response only says 401.
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

impl Identity {
    /// Resolves an `Authorization: Bearer …` credential: an API key (`hdl_…`) or an access
    /// token from login (`hdt_…`).
    pub async fn authenticate_bearer(&self, credential: &str) -> IdentityResult<Principal> {
        if credential.starts_with(TokenKind::ApiKey.prefix()) {
            self.authenticate_api_key(credential).await
        } else if credential.starts_with(TokenKind::AccessToken.prefix()) {
            self.authenticate_access_token(credential).await
        } else {
            fail(AuthFailure::MalformedCredential)
        }
    }

    async fn authenticate_api_key(&self, credential: &str) -> IdentityResult<Principal> {
        let Ok(parsed) = heddle_crypto::parse_token(TokenKind::ApiKey, credential) else {
            return fail(AuthFailure::MalformedCredential);
        };
        let Some((key, stored_hash)) = self
            .inner
            .store
            .find_api_key_by_lookup(parsed.lookup())
            .await?
        else {
            return fail(AuthFailure::UnknownCredential);
        };
        if !heddle_crypto::token_matches(credential, &stored_hash) {
            return fail(AuthFailure::UnknownCredential);
        }
        let now = self.now();
        if key.revoked_at.is_some() {
            return fail(AuthFailure::Revoked);
        }
        if key.expires_at.is_some_and(|expiry| now >= expiry) {
            return fail(AuthFailure::Expired);
        }
        let touch_due = key
            .last_used_at
            .is_none_or(|last| now - last >= self.inner.settings.api_key_touch_interval);
        if touch_due {
            self.inner.store.touch_api_key(key.id, now).await?;
        }
        let operator = self.tenant_is_operator(key.tenant_id).await?;
        Ok(Principal::for_api_key(&key, operator))
    }

    async fn authenticate_access_token(&self, credential: &str) -> IdentityResult<Principal> {
        let Ok(parsed) = heddle_crypto::parse_token(TokenKind::AccessToken, credential) else {
            return fail(AuthFailure::MalformedCredential);
        };
        let Some((token, stored_hash)) = self
            .inner
            .store
            .find_access_token_by_lookup(parsed.lookup())
            .await?
        else {
            return fail(AuthFailure::UnknownCredential);
        };
        if !heddle_crypto::token_matches(credential, &stored_hash) {
            return fail(AuthFailure::UnknownCredential);
        }
        if token.revoked_at.is_some() {
            return fail(AuthFailure::Revoked);
        }
        if self.now() >= token.expires_at {
            return fail(AuthFailure::Expired);
        }
        let user = self
            .inner
            .store
            .get_user(token.tenant_id, token.user_id)
            .await?;
        if user.disabled {
            return fail(AuthFailure::DisabledAccount);
        }
        let operator = self.tenant_is_operator(user.tenant_id).await?;
        Ok(Principal::for_user(&user, operator))
    }

    /// Password login into a tenant (by slug). Unknown tenant, unknown email and wrong
    /// password all take the same time and give the same answer.
    pub async fn login(
        &self,
        tenant_slug: &str,
        email: &str,
        password: &SecretString,
    ) -> IdentityResult<IssuedAccessToken> {
        let hasher = &self.inner.hasher;
        let credentials = match (
            self.inner.store.find_tenant_by_slug(tenant_slug).await?,
            validate::email(email),
        ) {
            (Some(tenant), Ok(email)) => self
                .inner
                .store
                .find_user_credentials(tenant.id, &email)
                .await?
                .map(|found| (tenant, found)),
            _ => None,
        };
        let Some((tenant, (user, Some(phc)))) = credentials else {
            hasher.verify_dummy(password);
            return fail(AuthFailure::BadPassword);
        };
        if !hasher.verify_password(password, &phc)? {
            return fail(AuthFailure::BadPassword);
        }
        if user.disabled {
            return fail(AuthFailure::DisabledAccount);
        }
        let generated = heddle_crypto::generate_token(TokenKind::AccessToken)?;
        let now = self.now();
        let expires_at = now + self.inner.settings.access_token_ttl;
        let stored = self
            .inner
            .store
            .create_access_token(NewAccessToken {
                id: AccessTokenId::new(),
                tenant_id: tenant.id,
                user_id: user.id,
                lookup: generated.lookup.clone(),
                secret_hash: generated.secret_hash.to_vec(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(IssuedAccessToken {
            id: stored.id,
            token: generated.token,
            expires_at,
            principal: Principal::for_user(&user, tenant.operator),
        })
    }

    /// Revokes the access token presented (logout). API keys are revoked through the keys API.
    pub async fn logout(&self, credential: &str) -> IdentityResult<()> {
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
                self.inner
                    .store
                    .revoke_access_token(token.id, self.now())
                    .await?;
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
