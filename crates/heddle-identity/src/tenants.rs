//! Tenants: created by admins of the operator tenant, each with its own first admin.

use heddle_crypto::SecretString;
use heddle_store::NewTenant;
use heddle_types::{Action, Page, PageRequest, Resource, Role, Tenant, TenantId, User};

use crate::{Actor, CreateUser, Identity, IdentityError, IdentityResult, validate};

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
    pub async fn create_tenant(
        &self,
        actor: &Actor,
        request: CreateTenant,
    ) -> IdentityResult<CreatedTenant> {
        self.authorize_on_own_tenant(actor, Action::ManageTenants)
            .await?;
        let slug = validate::slug(&request.slug)?;
        let name = validate::display_name("name", &request.name)?;
        // Validate the admin before creating anything, so a bad email leaves no tenant behind.
        validate::email(&request.admin_email)?;
        validate::display_name("admin_display_name", &request.admin_display_name)?;
        let tenant = self
            .inner
            .store
            .create_tenant(NewTenant {
                id: TenantId::new(),
                slug,
                name,
                operator: false,
                created_at: self.now(),
            })
            .await?;
        let admin_password = heddle_crypto::generate_password()?;
        let admin = self
            .insert_user(CreateUser {
                tenant_id: tenant.id,
                email: request.admin_email,
                display_name: request.admin_display_name,
                role: Role::Admin,
                password: Some(admin_password.clone()),
            })
            .await?;
        Ok(CreatedTenant {
            tenant,
            admin,
            admin_password,
        })
    }

    pub async fn list_tenants(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> IdentityResult<Page<Tenant>> {
        self.authorize_on_own_tenant(actor, Action::ManageTenants)
            .await?;
        Ok(self.inner.store.list_tenants(page).await?)
    }

    pub async fn get_tenant(&self, actor: &Actor, id: TenantId) -> IdentityResult<Tenant> {
        self.authorize(actor, Action::ViewTenant, Resource::Tenant(id))
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
    async fn authorize_on_own_tenant(&self, actor: &Actor, action: Action) -> IdentityResult<()> {
        match actor {
            Actor::LocalOperator => Ok(()),
            Actor::Principal(principal) => {
                self.authorize(actor, action, Resource::Tenant(principal.tenant_id))
                    .await
            }
        }
    }
}
