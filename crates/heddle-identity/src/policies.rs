//! A tenant's own Cedar policies: validated against the schema before they are stored.

use heddle_store::NewTenantPolicy;
use heddle_types::{Action, PolicyId, Resource, TenantId, TenantPolicy};
use serde_json::Value;

use crate::audit::{Operation, details};
use crate::{Actor, Caller, Identity, IdentityError, IdentityResult, validate};

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
        caller: &Caller,
        request: CreatePolicy,
    ) -> IdentityResult<TenantPolicy> {
        let id = PolicyId::new();
        let tenant_id = request.tenant_id;
        let operation = Operation::new(tenant_id, "policy.create").on("policy", id);
        let result = self
            .create_policy_checked(caller, &operation, id, request)
            .await;
        if result.is_ok() {
            self.inner.policy_cache.invalidate(tenant_id);
        }
        self.finish(caller, operation, result).await
    }

    async fn create_policy_checked(
        &self,
        caller: &Caller,
        operation: &Operation,
        id: PolicyId,
        request: CreatePolicy,
    ) -> IdentityResult<TenantPolicy> {
        self.authorize(
            &caller.actor,
            Action::ManagePolicies,
            Resource::Tenant(request.tenant_id),
        )
        .await?;
        let name = validate::display_name("name", &request.name)?;
        if request.description.chars().count() > 2000 {
            return Err(IdentityError::invalid(
                "description",
                "must be at most 2000 characters",
            ));
        }
        if request.cedar.len() > MAX_POLICY_BYTES {
            return Err(IdentityError::invalid("cedar", "must be at most 16 KiB"));
        }
        self.inner
            .authorizer
            .validate_custom_policy(&request.cedar)?;
        let created_by = match &caller.actor {
            Actor::Principal(principal) => principal.user_id(),
            Actor::LocalOperator => None,
        };
        // The full policy text goes into the event: a policy is configuration, and an
        // auditor needs to see exactly which rule was in force.
        let event = self.change_event(
            caller,
            operation,
            details([
                ("name", Value::from(name.clone())),
                ("cedar", Value::from(request.cedar.clone())),
            ]),
        );
        Ok(self
            .inner
            .store
            .create_policy(
                NewTenantPolicy {
                    id,
                    tenant_id: request.tenant_id,
                    name,
                    description: request.description,
                    cedar: request.cedar,
                    created_by,
                    created_at: self.now(),
                },
                event,
            )
            .await?)
    }

    pub async fn list_policies(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
    ) -> IdentityResult<Vec<TenantPolicy>> {
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ViewPolicies,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, Operation::new(tenant_id, "policy.list"), authorized)
            .await?;
        Ok(self.inner.store.list_policies(tenant_id).await?)
    }

    pub async fn get_policy(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: PolicyId,
    ) -> IdentityResult<TenantPolicy> {
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ViewPolicies,
                Resource::Tenant(tenant_id),
            )
            .await;
        let operation = Operation::new(tenant_id, "policy.read").on("policy", id);
        self.finish_read(caller, operation, authorized).await?;
        Ok(self.inner.store.get_policy(tenant_id, id).await?)
    }

    pub async fn delete_policy(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: PolicyId,
    ) -> IdentityResult<()> {
        let operation = Operation::new(tenant_id, "policy.delete").on("policy", id);
        let result = async {
            self.authorize(
                &caller.actor,
                Action::ManagePolicies,
                Resource::Tenant(tenant_id),
            )
            .await?;
            let event = self.change_event(caller, &operation, details([]));
            Ok(self.inner.store.delete_policy(tenant_id, id, event).await?)
        }
        .await;
        if result.is_ok() {
            self.inner.policy_cache.invalidate(tenant_id);
        }
        self.finish(caller, operation, result).await
    }
}
