//! API keys: credentials for applications, scoped to a role.

use heddle_crypto::{SecretString, TokenKind};
use heddle_store::NewApiKey;
use heddle_types::{Action, ApiKey, ApiKeyId, Page, PageRequest, Resource, Role, TenantId};
use time::OffsetDateTime;

use crate::{Actor, Identity, IdentityError, IdentityResult, validate};

#[derive(Debug)]
pub struct CreateApiKey {
    pub tenant_id: TenantId,
    pub name: String,
    pub role: Role,
    pub expires_at: Option<OffsetDateTime>,
}

/// A new key: `token` is shown exactly once, then only its hash exists.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub key: ApiKey,
    pub token: SecretString,
}

impl Identity {
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        request: CreateApiKey,
    ) -> IdentityResult<IssuedApiKey> {
        self.authorize(
            actor,
            Action::ManageApiKeys,
            Resource::Tenant(request.tenant_id),
        )
        .await?;
        self.ensure_can_assign(actor, request.role)?;
        let name = validate::display_name("name", &request.name)?;
        let now = self.now();
        if request.expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(IdentityError::invalid(
                "expires_at",
                "must be in the future",
            ));
        }
        let generated = heddle_crypto::generate_token(TokenKind::ApiKey)?;
        let created_by = match actor {
            Actor::Principal(principal) => principal.user_id(),
            Actor::LocalOperator => None,
        };
        let key = self
            .inner
            .store
            .create_api_key(NewApiKey {
                id: ApiKeyId::new(),
                tenant_id: request.tenant_id,
                name,
                prefix: generated.prefix.clone(),
                lookup: generated.lookup.clone(),
                secret_hash: generated.secret_hash.to_vec(),
                role: request.role,
                created_by,
                created_at: now,
                expires_at: request.expires_at,
            })
            .await?;
        Ok(IssuedApiKey {
            key,
            token: generated.token,
        })
    }

    pub async fn list_api_keys(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        page: PageRequest,
    ) -> IdentityResult<Page<ApiKey>> {
        self.authorize(actor, Action::ManageApiKeys, Resource::Tenant(tenant_id))
            .await?;
        Ok(self.inner.store.list_api_keys(tenant_id, page).await?)
    }

    pub async fn get_api_key(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        id: ApiKeyId,
    ) -> IdentityResult<ApiKey> {
        self.authorize(
            actor,
            Action::ManageApiKeys,
            Resource::ApiKey { id, tenant_id },
        )
        .await?;
        Ok(self.inner.store.get_api_key(tenant_id, id).await?)
    }

    /// Revokes a key at once; revoking twice keeps the first revocation time.
    pub async fn revoke_api_key(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        id: ApiKeyId,
    ) -> IdentityResult<ApiKey> {
        self.authorize(
            actor,
            Action::ManageApiKeys,
            Resource::ApiKey { id, tenant_id },
        )
        .await?;
        Ok(self
            .inner
            .store
            .revoke_api_key(tenant_id, id, self.now())
            .await?)
    }
}
