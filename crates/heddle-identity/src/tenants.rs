//! Tenants: created by admins of the operator tenant, each with its own first admin.

use heddle_crypto::SecretString;
use heddle_store::{NewTenant, NewUser};
use heddle_types::{Action, Page, PageRequest, Resource, Role, Tenant, TenantId, User, UserId};

use crate::{Actor, Identity, IdentityError, IdentityResult, validate};

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
        let admin_email = validate::email(&request.admin_email)?;
        let admin_display_name =
            validate::display_name("admin_display_name", &request.admin_display_name)?;
        let admin_password = heddle_crypto::generate_password()?;
        let now = self.now();
        let tenant_id = TenantId::new();
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
                NewUser {
                    id: UserId::new(),
                    tenant_id,
                    email: admin_email,
                    display_name: admin_display_name,
                    role: Role::Admin,
                    password_hash: Some(self.inner.hasher.hash_password(&admin_password)?),
                    created_at: now,
                },
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
