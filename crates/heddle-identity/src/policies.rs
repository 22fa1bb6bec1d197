//! A tenant's own Cedar policies: validated against the schema before they are stored.

use heddle_store::NewTenantPolicy;
use heddle_types::{Action, PolicyId, Resource, TenantId, TenantPolicy};

use crate::{Actor, Identity, IdentityResult, validate};

#[derive(Debug)]
pub struct CreatePolicy {
    pub tenant_id: TenantId,
    pub name: String,
    pub description: String,
    pub cedar: String,
}

/// Cedar text is bounded so a policy cannot be used to exhaust memory or the evaluator.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;

impl Identity {
    pub async fn create_policy(
        &self,
        actor: &Actor,
        request: CreatePolicy,
    ) -> IdentityResult<TenantPolicy> {
        self.authorize(
            actor,
            Action::ManagePolicies,
            Resource::Tenant(request.tenant_id),
        )
        .await?;
        let name = validate::display_name("name", &request.name)?;
        if request.description.chars().count() > 2000 {
            return Err(crate::IdentityError::invalid(
                "description",
                "must be at most 2000 characters",
            ));
        }
        if request.cedar.len() > MAX_POLICY_BYTES {
            return Err(crate::IdentityError::invalid(
                "cedar",
                "must be at most 16 KiB",
            ));
        }
        self.inner
            .authorizer
            .validate_custom_policy(&request.cedar)?;
        let created_by = match actor {
            Actor::Principal(principal) => principal.user_id(),
            Actor::LocalOperator => None,
        };
        let policy = self
            .inner
            .store
            .create_policy(NewTenantPolicy {
                id: PolicyId::new(),
                tenant_id: request.tenant_id,
                name,
                description: request.description,
                cedar: request.cedar,
                created_by,
                created_at: self.now(),
            })
            .await?;
        self.inner.policy_cache.invalidate(request.tenant_id);
        Ok(policy)
    }

    pub async fn list_policies(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
    ) -> IdentityResult<Vec<TenantPolicy>> {
        self.authorize(actor, Action::ViewPolicies, Resource::Tenant(tenant_id))
            .await?;
        Ok(self.inner.store.list_policies(tenant_id).await?)
    }

    pub async fn get_policy(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        id: PolicyId,
    ) -> IdentityResult<TenantPolicy> {
        self.authorize(actor, Action::ViewPolicies, Resource::Tenant(tenant_id))
            .await?;
        Ok(self.inner.store.get_policy(tenant_id, id).await?)
    }

    pub async fn delete_policy(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        id: PolicyId,
    ) -> IdentityResult<()> {
        self.authorize(actor, Action::ManagePolicies, Resource::Tenant(tenant_id))
            .await?;
        self.inner.store.delete_policy(tenant_id, id).await?;
        self.inner.policy_cache.invalidate(tenant_id);
        Ok(())
    }
}
