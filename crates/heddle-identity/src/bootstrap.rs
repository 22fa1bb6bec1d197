//! First start: the operator tenant and its first admin, and optional demo accounts.

use heddle_crypto::SecretString;
use heddle_store::{Bootstrap, NewTenant, NewUser};
use heddle_types::{Role, TenantId, UserId};

use serde_json::Value;

use crate::audit::{Operation, details};
use crate::{Actor, Caller, CreateApiKey, CreateUser, Identity, IdentityError, IdentityResult};

pub const OPERATOR_TENANT_SLUG: &str = "default";
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@heddle.local";

#[derive(Debug)]
pub enum BootstrapOutcome {
    /// This call created the operator tenant and its admin; the password is shown once.
    Created {
        tenant_slug: String,
        admin_email: String,
        admin_password: SecretString,
    },
    /// The database already had a tenant; nothing was changed.
    AlreadyInitialized,
}

/// A demo login or key, printed once when the demo data is first created.
#[derive(Debug)]
pub struct DemoAccount {
    pub role: Role,
    pub email: String,
    pub password: SecretString,
    pub api_key: SecretString,
}

impl Identity {
    /// Creates the operator tenant `default` and an admin when the database is empty. Several
    /// processes may call this at once; exactly one creates them.
    pub async fn bootstrap(
        &self,
        admin_email: Option<&str>,
        admin_password: Option<SecretString>,
    ) -> IdentityResult<BootstrapOutcome> {
        let email = crate::validate::email(admin_email.unwrap_or(DEFAULT_ADMIN_EMAIL))?;
        let password = match admin_password {
            Some(password) => {
                heddle_crypto::check_password_strength(&password)
                    .map_err(|weak| IdentityError::invalid("password", weak.to_string()))?;
                password
            }
            None => heddle_crypto::generate_password()?,
        };
        let now = self.now();
        let tenant_id = TenantId::new();
        let admin_id = UserId::new();
        let caller = Caller::new(
            Actor::LocalOperator,
            heddle_types::RequestContext::default(),
        );
        let event = self.change_event(
            &caller,
            &Operation::new(tenant_id, "tenant.bootstrap").on("tenant", tenant_id),
            details([
                ("slug", Value::from(OPERATOR_TENANT_SLUG)),
                ("admin_email", Value::from(email.clone())),
                ("admin_id", Value::from(admin_id.to_string())),
            ]),
        );
        let created = self
            .inner
            .store
            .bootstrap_if_empty(
                Bootstrap {
                    tenant: NewTenant {
                        id: tenant_id,
                        slug: OPERATOR_TENANT_SLUG.to_owned(),
                        name: "Default".to_owned(),
                        operator: true,
                        created_at: now,
                    },
                    admin: NewUser {
                        id: admin_id,
                        tenant_id,
                        email: email.clone(),
                        display_name: "Administrator".to_owned(),
                        role: Role::Admin,
                        password_hash: Some(self.inner.hasher.hash_password(&password)?),
                        created_at: now,
                    },
                },
                event,
            )
            .await?;
        if created {
            self.inner.audit.nudge();
        }
        Ok(if created {
            BootstrapOutcome::Created {
                tenant_slug: OPERATOR_TENANT_SLUG.to_owned(),
                admin_email: email,
                admin_password: password,
            }
        } else {
            BootstrapOutcome::AlreadyInitialized
        })
    }

    /// Adds one user and one API key per non-admin role to the operator tenant, unless they
    /// exist. Returns only what this call created (so secrets are shown once).
    pub async fn seed_demo_accounts(&self) -> IdentityResult<Vec<DemoAccount>> {
        let tenant = self.tenant_by_slug(OPERATOR_TENANT_SLUG).await?;
        let mut created = Vec::new();
        let operator = Caller::local_operator();
        for role in Role::ALL.into_iter().filter(|role| *role != Role::Admin) {
            let email = format!("{}@demo.heddle.local", role.as_str().replace('_', "-"));
            // Already seeded on an earlier start: its secrets were shown then.
            if self
                .inner
                .store
                .find_user_credentials(tenant.id, &email)
                .await?
                .is_some()
            {
                continue;
            }
            let password = heddle_crypto::generate_password()?;
            let user = self
                .create_user(
                    &operator,
                    CreateUser {
                        tenant_id: tenant.id,
                        email: email.clone(),
                        display_name: format!("Demo {role}"),
                        role,
                        password: Some(password.clone()),
                    },
                )
                .await;
            match user {
                Ok(_) => {}
                Err(IdentityError::Conflict { .. }) => continue,
                Err(other) => return Err(other),
            }
            let key = self
                .create_api_key(
                    &operator,
                    CreateApiKey {
                        tenant_id: tenant.id,
                        name: format!("demo {role} key"),
                        role,
                        expires_at: None,
                        route: None,
                    },
                )
                .await?;
            created.push(DemoAccount {
                role,
                email,
                password,
                api_key: key.token,
            });
        }
        Ok(created)
    }
}
