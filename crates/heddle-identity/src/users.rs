//! User accounts inside a tenant.

use heddle_crypto::SecretString;
use heddle_store::{NewUser, UserUpdate};
use heddle_types::{Action, Page, PageRequest, Resource, Role, TenantId, User, UserId};
use serde_json::Value;

use crate::audit::{Operation, details};
use crate::{Actor, Caller, Identity, IdentityError, IdentityResult, validate};

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
    pub async fn create_user(&self, caller: &Caller, request: CreateUser) -> IdentityResult<User> {
        let id = UserId::new();
        let operation = Operation::new(request.tenant_id, "user.create").on("user", id);
        let result = self
            .create_user_checked(caller, &operation, id, request)
            .await;
        self.finish(caller, operation, result).await
    }

    async fn create_user_checked(
        &self,
        caller: &Caller,
        operation: &Operation,
        id: UserId,
        request: CreateUser,
    ) -> IdentityResult<User> {
        self.authorize(
            &caller.actor,
            Action::ManageUsers,
            Resource::Tenant(request.tenant_id),
        )
        .await?;
        self.ensure_can_assign(&caller.actor, request.role)?;
        let user = self.validated_new_user(id, request)?;
        let event = self.change_event(
            caller,
            operation,
            details([
                ("email", Value::from(user.email.clone())),
                ("role", Value::from(user.role.as_str())),
            ]),
        );
        Ok(self.inner.store.create_user(user, event).await?)
    }

    /// Validates a new user's fields and hashes the password.
    pub(crate) fn validated_new_user(
        &self,
        id: UserId,
        request: CreateUser,
    ) -> IdentityResult<NewUser> {
        let email = validate::email(&request.email)?;
        let display_name = validate::display_name("display_name", &request.display_name)?;
        let password_hash = match &request.password {
            Some(password) => Some(self.hash_checked_password(password)?),
            None => None,
        };
        Ok(NewUser {
            id,
            tenant_id: request.tenant_id,
            email,
            display_name,
            role: request.role,
            password_hash,
            created_at: self.now(),
        })
    }

    pub async fn get_user(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: UserId,
    ) -> IdentityResult<User> {
        let is_self = matches!(&caller.actor, Actor::Principal(p) if p.user_id() == Some(id));
        let action = if is_self {
            Action::ViewSelf
        } else {
            Action::ViewUsers
        };
        let operation = Operation::new(tenant_id, "user.read").on("user", id);
        let authorized = self
            .authorize(&caller.actor, action, Resource::User { id, tenant_id })
            .await;
        self.finish_read(caller, operation, authorized).await?;
        Ok(self.inner.store.get_user(tenant_id, id).await?)
    }

    pub async fn list_users(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        page: PageRequest,
    ) -> IdentityResult<Page<User>> {
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ViewUsers,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, Operation::new(tenant_id, "user.list"), authorized)
            .await?;
        Ok(self.inner.store.list_users(tenant_id, page).await?)
    }

    /// Changes a user. Refuses to leave a tenant without an enabled admin; the store revokes
    /// the user's login tokens in the same transaction when they are disabled or their
    /// password changes.
    pub async fn update_user(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: UserId,
        request: UpdateUser,
    ) -> IdentityResult<User> {
        let operation = Operation::new(tenant_id, "user.update").on("user", id);
        let result = self
            .update_user_checked(caller, &operation, tenant_id, id, request)
            .await;
        self.finish(caller, operation, result).await
    }

    async fn update_user_checked(
        &self,
        caller: &Caller,
        operation: &Operation,
        tenant_id: TenantId,
        id: UserId,
        request: UpdateUser,
    ) -> IdentityResult<User> {
        self.authorize(
            &caller.actor,
            Action::ManageUsers,
            Resource::User { id, tenant_id },
        )
        .await?;
        if let Some(role) = request.role {
            self.ensure_can_assign(&caller.actor, role)?;
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
        // The event says what changed, never the password itself.
        let mut changed = Vec::new();
        if let Some(name) = &display_name {
            changed.push(("display_name", Value::from(name.clone())));
        }
        if let Some(role) = request.role {
            changed.push(("role", Value::from(role.as_str())));
        }
        if let Some(disabled) = request.disabled {
            changed.push(("disabled", Value::from(disabled)));
        }
        if password_hash.is_some() {
            changed.push(("password_changed", Value::from(true)));
        }
        let event = self.change_event(caller, operation, details(changed));
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
                    updated_at: Some(self.now()),
                },
                event,
            )
            .await?;
        Ok(updated)
    }

    fn hash_checked_password(&self, password: &SecretString) -> IdentityResult<String> {
        heddle_crypto::check_password_strength(password)
            .map_err(|weak| IdentityError::invalid("password", weak.to_string()))?;
        Ok(self.inner.hasher.hash_password(password)?)
    }
}
