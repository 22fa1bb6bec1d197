//! Heddle's identity services: the *authenticate* and *authorize* steps of the governed path
//! for everything administrative — tenants, users, API keys, login tokens and tenant policies.
//!
//! HTTP handlers and CLI commands call one function here each. Invariants:
//! - every operation on behalf of a [`Principal`] is authorized by the Cedar policies in
//!   `heddle-policy` before it touches the store; a policy error denies (fail closed);
//! - secrets (passwords, API keys, access tokens) exist in clear only inside a
//!   [`heddle_crypto::SecretString`] for the length of one call; only their hashes are stored;
//! - a failed authentication says *that* it failed, never which part was wrong to the caller;
//! - every state change carries its audit event into the store's transaction, and every
//!   refusal or failure is appended to the audit log (see `audit.rs`);
//! - time comes from the injected [`heddle_types::Clock`].

mod api_keys;
mod audit;
mod authn;
mod authz;
mod bootstrap;
mod configs;
mod error;
mod policies;
mod secrets;
mod siem;
mod tenants;
mod throttle;
mod users;
pub mod validate;

use std::sync::Arc;

use heddle_audit_log::AuditLog;
use heddle_crypto::PasswordHasher;
use heddle_policy::Authorizer;
use heddle_store::SharedStore;
use heddle_types::{Clock, Principal};
use heddle_vault::Vault;
use time::Duration;

pub use api_keys::{CreateApiKey, IssuedApiKey};
pub use audit::Caller;
pub use authn::{AuthFailure, IssuedAccessToken};
pub use bootstrap::{BootstrapOutcome, DEFAULT_ADMIN_EMAIL, DemoAccount, OPERATOR_TENANT_SLUG};
pub use configs::AppliedConfig;
pub use error::IdentityError;
pub use policies::CreatePolicy;
pub use secrets::{
    CreateSecret, MAX_SECRET_FIELD_LEN, MAX_SECRET_NAME_LEN, MAX_SECRET_VALUE_BYTES, SecretValue,
    validate_secret_name,
};
pub use siem::CreateSiemSink;
pub use tenants::{CreateTenant, CreatedTenant};
pub use users::{CreateUser, UpdateUser};

pub type IdentityResult<T> = Result<T, IdentityError>;

/// Who asks for an operation.
#[derive(Debug, Clone)]
pub enum Actor {
    /// An authenticated caller of the API; every operation is authorized.
    Principal(Principal),
    /// The person running the `heddle` CLI with direct access to the database. Whoever can
    /// open the database can change it anyway, so the CLI is not asked for a role.
    LocalOperator,
}

/// Tunables with safe defaults.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub access_token_ttl: Duration,
    /// `last_used_at` is written at most this often per key, so authentication does not
    /// turn every read request into a database write.
    pub api_key_touch_interval: Duration,
    /// How long a process trusts its cached copy of a tenant's custom policies.
    pub policy_cache_ttl: std::time::Duration,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::hours(1),
            api_key_touch_interval: Duration::seconds(60),
            policy_cache_ttl: std::time::Duration::from_secs(2),
        }
    }
}

/// The identity service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: SharedStore,
    audit: AuditLog,
    vault: Vault,
    authorizer: Authorizer,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    settings: IdentitySettings,
    policy_cache: authz::PolicyCache,
    /// Whether a tenant is the operator tenant. Fixed at creation, so safe to cache forever;
    /// saves a query on every authenticated request.
    operator_tenants: std::sync::RwLock<std::collections::HashMap<heddle_types::TenantId, bool>>,
    /// A revoked or expired credential presented over and over is recorded once a minute,
    /// so it cannot be used to flood the audit log.
    refusal_throttle: throttle::RefusalThrottle,
}

impl Identity {
    pub fn new(
        store: SharedStore,
        audit: AuditLog,
        vault: Vault,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        settings: IdentitySettings,
    ) -> IdentityResult<Self> {
        let authorizer = Authorizer::new()?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                audit,
                vault,
                authorizer,
                hasher,
                clock,
                settings,
                policy_cache: authz::PolicyCache::default(),
                operator_tenants: std::sync::RwLock::default(),
                refusal_throttle: throttle::RefusalThrottle::new(std::time::Duration::from_secs(
                    60,
                )),
            }),
        })
    }

    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    pub fn audit_log(&self) -> &AuditLog {
        &self.inner.audit
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn authorizer(&self) -> &Authorizer {
        &self.inner.authorizer
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> time::OffsetDateTime {
        self.inner.clock.now()
    }
}
