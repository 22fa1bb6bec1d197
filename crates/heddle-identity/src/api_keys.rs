//! API keys: credentials for applications, scoped to a role.

use heddle_crypto::{SecretString, TokenKind};
use heddle_store::NewApiKey;
use heddle_types::{
    Action, ApiKey, ApiKeyId, Page, PageRequest, Resource, Role, RoutePin, TenantId,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::{Operation, details};
use crate::{Actor, Caller, Identity, IdentityError, IdentityResult, validate};

#[derive(Debug)]
pub struct CreateApiKey {
    pub tenant_id: TenantId,
    pub name: String,
    pub role: Role,
    pub expires_at: Option<OffsetDateTime>,
    /// Pins the key to one gateway route: it can then use that route only.
    pub route: Option<RoutePin>,
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
        caller: &Caller,
        request: CreateApiKey,
    ) -> IdentityResult<IssuedApiKey> {
        let id = ApiKeyId::new();
        let operation = Operation::new(request.tenant_id, "api_key.create").on("api_key", id);
        let result = self
            .create_api_key_checked(caller, &operation, id, request)
            .await;
        self.finish(caller, operation, result).await
    }

    async fn create_api_key_checked(
        &self,
        caller: &Caller,
        operation: &Operation,
        id: ApiKeyId,
        request: CreateApiKey,
    ) -> IdentityResult<IssuedApiKey> {
        self.authorize(
            &caller.actor,
            Action::ManageApiKeys,
            Resource::Tenant(request.tenant_id),
        )
        .await?;
        self.ensure_can_assign(&caller.actor, request.role)?;
        let name = validate::display_name("name", &request.name)?;
        if let Some(pin) = &request.route {
            validate::route_name("route", &pin.route)?;
        }
        let now = self.now();
        if request.expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(IdentityError::invalid(
                "expires_at",
                "must be in the future",
            ));
        }
        let generated = heddle_crypto::generate_token(TokenKind::ApiKey)?;
        let created_by = match &caller.actor {
            Actor::Principal(principal) => principal.user_id(),
            Actor::LocalOperator => None,
        };
        let event = self.change_event(
            caller,
            operation,
            details([
                ("name", Value::from(name.clone())),
                ("prefix", Value::from(generated.prefix.clone())),
                ("role", Value::from(request.role.as_str())),
                (
                    "route",
                    request.route.as_ref().map_or(Value::Null, |pin| {
                        Value::from(format!("{}/{}", pin.environment, pin.route))
                    }),
                ),
                (
                    "expires_at",
                    request
                        .expires_at
                        .and_then(|at| at.format(&Rfc3339).ok())
                        .map_or(Value::Null, Value::from),
                ),
            ]),
        );
        let key = self
            .inner
            .store
            .create_api_key(
                NewApiKey {
                    id,
                    tenant_id: request.tenant_id,
                    name,
                    prefix: generated.prefix.clone(),
                    lookup: generated.lookup.clone(),
                    secret_hash: generated.secret_hash.to_vec(),
                    role: request.role,
                    created_by,
                    created_at: now,
                    expires_at: request.expires_at,
                    route: request.route,
                },
                event,
            )
            .await?;
        Ok(IssuedApiKey {
            key,
            token: generated.token,
        })
    }

    pub async fn list_api_keys(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        page: PageRequest,
    ) -> IdentityResult<Page<ApiKey>> {
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ManageApiKeys,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(
            caller,
            Operation::new(tenant_id, "api_key.list"),
            authorized,
        )
        .await?;
        Ok(self.inner.store.list_api_keys(tenant_id, page).await?)
    }

    pub async fn get_api_key(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: ApiKeyId,
    ) -> IdentityResult<ApiKey> {
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ManageApiKeys,
                Resource::ApiKey { id, tenant_id },
            )
            .await;
        let operation = Operation::new(tenant_id, "api_key.read").on("api_key", id);
        self.finish_read(caller, operation, authorized).await?;
        Ok(self.inner.store.get_api_key(tenant_id, id).await?)
    }

    /// Revokes a key at once; revoking twice keeps the first revocation time.
    pub async fn revoke_api_key(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: ApiKeyId,
    ) -> IdentityResult<ApiKey> {
        let operation = Operation::new(tenant_id, "api_key.revoke").on("api_key", id);
        let result = async {
            self.authorize(
                &caller.actor,
                Action::ManageApiKeys,
                Resource::ApiKey { id, tenant_id },
            )
            .await?;
            let event = self.change_event(caller, &operation, details([]));
            Ok(self
                .inner
                .store
                .revoke_api_key(tenant_id, id, self.now(), event)
                .await?)
        }
        .await;
        self.finish(caller, operation, result).await
    }
}
