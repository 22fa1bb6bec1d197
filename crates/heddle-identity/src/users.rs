//! User accounts inside a tenant.

use heddle_crypto::SecretString;
use heddle_store::{NewUser, UserUpdate};
use heddle_types::{Action, Page, PageRequest, Resource, Role, TenantId, User, UserId};

use crate::{Actor, Identity, IdentityError, IdentityResult, validate};

#[derive(Debug)]
pub struct CreateUser {
    pub tenant_id: TenantId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// `None` creates an account that cannot log in with a password (e.g. SSO-only later).
    pub password: Option<SecretString>,
}

#[derive(Debug, Default)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<SecretString>,
}

impl Identity {
    pub async fn create_user(&self, actor: &Actor, request: CreateUser) -> IdentityResult<User> {
        self.authorize(
            actor,
            Action::ManageUsers,
            Resource::Tenant(request.tenant_id),
        )
        .await?;
        self.ensure_can_assign(actor, request.role)?;
        self.insert_user(request).await
    }

    /// Creates a user with no authorization check; callers have authorized already.
    pub(crate) async fn insert_user(&self, request: CreateUser) -> IdentityResult<User> {
        let email = validate::email(&request.email)?;
        let display_name = validate::display_name("display_name", &request.display_name)?;
        let password_hash = match &request.password {
            Some(password) => Some(self.hash_checked_password(password)?),
            None => None,
        };
        let user = self
            .inner
            .store
            .create_user(NewUser {
                id: UserId::new(),
                tenant_id: request.tenant_id,
                email,
                display_name,
                role: request.role,
                password_hash,
                created_at: self.now(),
            })
            .await?;
        Ok(user)
    }

    pub async fn get_user(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        id: UserId,
    ) -> IdentityResult<User> {
        let is_self = matches!(actor, Actor::Principal(p) if p.user_id() == Some(id));
        let action = if is_self {
            Action::ViewSelf
        } else {
            Action::ViewUsers
        };
        self.authorize(actor, action, Resource::User { id, tenant_id })
            .await?;
        Ok(self.inner.store.get_user(tenant_id, id).await?)
    }

    pub async fn list_users(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        page: PageRequest,
    ) -> IdentityResult<Page<User>> {
        self.authorize(actor, Action::ViewUsers, Resource::Tenant(tenant_id))
            .await?;
        Ok(self.inner.store.list_users(tenant_id, page).await?)
    }

    /// Changes a user. Refuses to leave a tenant without an enabled admin, and revokes the
    /// user's login tokens when they are disabled or their password changes.
    pub async fn update_user(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        id: UserId,
        request: UpdateUser,
    ) -> IdentityResult<User> {
        self.authorize(actor, Action::ManageUsers, Resource::User { id, tenant_id })
            .await?;
        if let Some(role) = request.role {
            self.ensure_can_assign(actor, role)?;
        }
        let current = self.inner.store.get_user(tenant_id, id).await?;
        let display_name = request
            .display_name
            .as_deref()
            .map(|name| validate::display_name("display_name", name))
            .transpose()?;
        let password_hash = request
            .password
            .as_ref()
            .map(|password| self.hash_checked_password(password))
            .transpose()?;
        let loses_admin = current.role == Role::Admin
            && !current.disabled
            && (request.role.is_some_and(|role| role != Role::Admin)
                || request.disabled == Some(true));
        if loses_admin && self.inner.store.count_active_admins(tenant_id).await? <= 1 {
            return Err(IdentityError::Refused(format!(
                "`{}` is the tenant's last enabled admin; make another user admin first",
                current.email
            )));
        }
        let revoke_tokens = request.disabled == Some(true) || password_hash.is_some();
        let now = self.now();
        let updated = self
            .inner
            .store
            .update_user(
                tenant_id,
                id,
                UserUpdate {
                    display_name,
                    role: request.role,
                    disabled: request.disabled,
                    password_hash,
                    updated_at: Some(now),
                },
            )
            .await?;
        if revoke_tokens {
            self.inner
                .store
                .revoke_user_access_tokens(tenant_id, id, now)
                .await?;
        }
        Ok(updated)
    }

    fn hash_checked_password(&self, password: &SecretString) -> IdentityResult<String> {
        heddle_crypto::check_password_strength(password)
            .map_err(|weak| IdentityError::invalid("password", weak.to_string()))?;
        Ok(self.inner.hasher.hash_password(password)?)
    }
}
