//! Tenants: created by admins of the operator tenant, each with its own first admin.

use heddle_crypto::SecretString;
use heddle_store::NewTenant;
use heddle_types::{Action, Page, PageRequest, Resource, Role, Tenant, TenantId, User, UserId};
use serde_json::Value;

use crate::audit::{Operation, details};
use crate::{Actor, Caller, CreateUser, Identity, IdentityError, IdentityResult, validate};

#[derive(Debug)]
pub struct CreateTenant {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub admin_display_name: String,
}

/// A new tenant with its first admin and that admin's one-time password.
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub admin: User,
    pub admin_password: SecretString,
}

impl Identity {
    /// Creates a tenant and its first admin in one transaction. The event goes into the
    /// **new** tenant's log (its history starts with its creation); a refusal is recorded in
    /// the caller's tenant, where the attempt was made.
    pub async fn create_tenant(
        &self,
        caller: &Caller,
        request: CreateTenant,
    ) -> IdentityResult<CreatedTenant> {
        let tenant_id = TenantId::new();
        let caller_tenant = match &caller.actor {
            Actor::Principal(principal) => principal.tenant_id,
            Actor::LocalOperator => tenant_id,
        };
        let refusal_operation =
            Operation::new(caller_tenant, "tenant.create").on("tenant", tenant_id);
        let result = self.create_tenant_checked(caller, tenant_id, request).await;
        self.finish(caller, refusal_operation, result).await
    }

    async fn create_tenant_checked(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        request: CreateTenant,
    ) -> IdentityResult<CreatedTenant> {
        self.authorize_on_own_tenant(caller, Action::ManageTenants)
            .await?;
        let slug = validate::slug(&request.slug)?;
        let name = validate::display_name("name", &request.name)?;
        let admin_password = heddle_crypto::generate_password()?;
        let admin = self.validated_new_user(
            UserId::new(),
            CreateUser {
                tenant_id,
                email: request.admin_email,
                display_name: request.admin_display_name,
                role: Role::Admin,
                password: Some(admin_password.clone()),
            },
        )?;
        let now = self.now();
        let operation = Operation::new(tenant_id, "tenant.create").on("tenant", tenant_id);
        let event = self.change_event(
            caller,
            &operation,
            details([
                ("slug", Value::from(slug.clone())),
                ("name", Value::from(name.clone())),
                ("admin_email", Value::from(admin.email.clone())),
                ("admin_id", Value::from(admin.id.to_string())),
            ]),
        );
        // One transaction: a crash or a conflict never leaves a tenant without its admin.
        let (tenant, admin) = self
            .inner
            .store
            .create_tenant_with_admin(
                NewTenant {
                    id: tenant_id,
                    slug,
                    name,
                    operator: false,
                    created_at: now,
                },
                admin,
                event,
            )
            .await?;
        Ok(CreatedTenant {
            tenant,
            admin,
            admin_password,
        })
    }

    pub async fn list_tenants(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> IdentityResult<Page<Tenant>> {
        let authorized = self
            .authorize_on_own_tenant(caller, Action::ManageTenants)
            .await;
        if let Actor::Principal(principal) = &caller.actor {
            let operation = Operation::new(principal.tenant_id, "tenant.list");
            self.finish_read(caller, operation, authorized).await?;
        }
        Ok(self.inner.store.list_tenants(page).await?)
    }

    pub async fn get_tenant(&self, caller: &Caller, id: TenantId) -> IdentityResult<Tenant> {
        let authorized = self
            .authorize(&caller.actor, Action::ViewTenant, Resource::Tenant(id))
            .await;
        self.finish_read(caller, Operation::new(id, "tenant.read"), authorized)
            .await?;
        Ok(self.inner.store.get_tenant(id).await?)
    }

    /// The CLI names tenants by slug.
    pub async fn tenant_by_slug(&self, slug: &str) -> IdentityResult<Tenant> {
        self.inner
            .store
            .find_tenant_by_slug(slug)
            .await?
            .ok_or_else(|| IdentityError::NotFound {
                entity: "tenant",
                id: slug.to_owned(),
            })
    }

    /// Platform-level actions are checked against the caller's own tenant, which must be the
    /// operator tenant (the policy requires `principal.tenant.operator`).
    async fn authorize_on_own_tenant(&self, caller: &Caller, action: Action) -> IdentityResult<()> {
        match &caller.actor {
            Actor::LocalOperator => Ok(()),
            Actor::Principal(principal) => {
                self.authorize(&caller.actor, action, Resource::Tenant(principal.tenant_id))
                    .await
            }
        }
    }
}
