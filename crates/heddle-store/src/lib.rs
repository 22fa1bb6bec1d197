//! Storage for Heddle: one trait per storage domain, each implemented for embedded SQLite
//! ([`sqlite::SqliteStore`]) and for PostgreSQL ([`postgres::PgStore`]).
//!
//! Invariants: every SQL statement lives in this crate and binds its inputs (no SQL is built
//! with `format!` from input); both engines pass the same conformance suite (`tests/it`);
//! timestamps come from the caller's clock, never from the database; uniqueness is enforced
//! by the database so concurrent writers in several processes cannot break it; every
//! state-changing method takes the [`NewAuditEvent`] describing the change and writes it to
//! the audit outbox in the same transaction — no change without its event, no event for a
//! change that rolled back.

mod audit;
mod audit_batch;
mod config_snapshots;
mod db_error;
mod drift;
mod error;
mod gateway;
mod mcp_pins;
mod paging;
mod pending_actions;
pub mod postgres;
mod record_orgs;
mod records;
mod secrets;
mod sessions;
mod siem;
pub mod sqlite;
mod vault;
mod verification;

use std::sync::Arc;

use async_trait::async_trait;
use heddle_types::{
    AccessToken, AccessTokenId, ApiKey, ApiKeyId, Page, PageRequest, PolicyId, Role, Tenant,
    TenantId, TenantPolicy, User, UserId,
};
use time::OffsetDateTime;

pub use audit::{
    AuditFilter, AuditHead, AuditSequencer, AuditStore, NewAuditEvent, SequencedLeaf,
    StoredAuditEvent, StoredCheckpoint,
};
pub use config_snapshots::{
    ConfigSnapshot, ConfigSnapshotStore, ConfigSnapshotSummary, NewConfigSnapshot,
};
pub use drift::{DriftState, DriftStore};
pub use error::StoreError;
pub use gateway::{
    AuditedStep, BudgetHold, BudgetSettlement, BudgetSpent, CloseGatewayExecution, GatewayStore,
    GatewayWrite, GatewayWritten, HoldOutcome, OpenGatewayExecution, StaleGatewayExecution,
};
pub use mcp_pins::{McpPinStore, McpToolPin};
pub use pending_actions::{
    Decision, HitlMode, NewPendingAction, OnStale, PendingAction, PendingActionStore,
    PendingFilter, PendingStatus,
};
pub use record_orgs::{RecordOrgStore, StoredRecordOrg};
pub use records::{QueryPage, RecordQueryError, RecordStore, RecordWriteError, VisibleRecord};
pub use secrets::{NewSecret, SealedSecret, SecretFilter, SecretRotation, SecretStore};
pub use sessions::{
    ABANDONED_REASON, BeganTurn, InvalidStepCursor, ListedStep, NewSession, NewStep, Session,
    SessionChannel, SessionFilter, SessionStore, Step, StepCursor, StepKindQuery, Turn, TurnStatus,
    UsageScope, UsageTotals,
};
pub use siem::{NewSiemSink, SiemDeliveryUpdate, SiemStore, StoredSiemSink};
pub use vault::{StoredDataKey, StoredSigningKey, VaultStore};
pub use verification::{
    ChallengeAttempt, NewVerificationChallenge, VerificationChallenge, VerificationStore,
};

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Heddle stores, behind one handle the server and CLI share.
pub trait Store:
    TenantStore
    + UserStore
    + ApiKeyStore
    + AccessTokenStore
    + PolicyStore
    + AuditStore
    + VaultStore
    + SiemStore
    + SecretStore
    + RecordStore
    + RecordOrgStore
    + ConfigSnapshotStore
    + SessionStore
    + VerificationStore
    + PendingActionStore
    + DriftStore
    + McpPinStore
    + GatewayStore
    + HealthStore
{
}

impl<T> Store for T where
    T: TenantStore
        + UserStore
        + ApiKeyStore
        + AccessTokenStore
        + PolicyStore
        + AuditStore
        + VaultStore
        + SiemStore
        + SecretStore
        + RecordStore
        + RecordOrgStore
        + ConfigSnapshotStore
        + SessionStore
        + VerificationStore
        + PendingActionStore
        + DriftStore
        + McpPinStore
        + GatewayStore
        + HealthStore
{
}

pub type SharedStore = Arc<dyn Store>;

/// Open the store a database URL names (`sqlite://…` or `postgres://…`) and apply migrations.
pub async fn connect(url: &str) -> StoreResult<SharedStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl {
            scheme: url.split(':').next().unwrap_or_default().to_owned(),
        })
    }
}

#[async_trait]
pub trait HealthStore: Send + Sync + std::fmt::Debug {
    /// A round trip to the database; used by `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Which engine this is (`sqlite` or `postgres`), for logs and `/readyz`.
    fn engine(&self) -> &'static str;
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub operator: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// Stored lowercased; unique per tenant.
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Argon2id PHC string; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A partial update; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
    pub updated_at: Option<OffsetDateTime>,
}

/// What the bootstrap creates when the database has no tenant yet.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub tenant: NewTenant,
    pub admin: NewUser,
}

#[async_trait]
pub trait TenantStore: Send + Sync + std::fmt::Debug {
    /// Fails with [`StoreError::Conflict`] when the slug is taken.
    async fn create_tenant(&self, tenant: NewTenant, audit: NewAuditEvent) -> StoreResult<Tenant>;
    async fn get_tenant(&self, id: TenantId) -> StoreResult<Tenant>;
    async fn find_tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>>;
    async fn list_tenants(&self, page: PageRequest) -> StoreResult<Page<Tenant>>;
    /// Creates a tenant and its first admin in one transaction: either both exist afterwards
    /// or neither does. `admin.tenant_id` is replaced by the new tenant's id.
    async fn create_tenant_with_admin(
        &self,
        tenant: NewTenant,
        admin: NewUser,
        audit: NewAuditEvent,
    ) -> StoreResult<(Tenant, User)>;
    /// Atomically creates the operator tenant and its first admin if, and only if, no tenant
    /// exists yet. Returns `true` when it created them. Safe to race from several processes:
    /// exactly one wins.
    async fn bootstrap_if_empty(
        &self,
        bootstrap: Bootstrap,
        audit: NewAuditEvent,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// Fails with [`StoreError::Conflict`] when the email is taken in that tenant, and with
    /// [`StoreError::NotFound`] when the tenant does not exist.
    async fn create_user(&self, user: NewUser, audit: NewAuditEvent) -> StoreResult<User>;
    async fn get_user(&self, tenant_id: TenantId, id: UserId) -> StoreResult<User>;
    /// The user and their password hash, for login. Email match is case-insensitive.
    async fn find_user_credentials(
        &self,
        tenant_id: TenantId,
        email: &str,
    ) -> StoreResult<Option<(User, Option<String>)>>;
    async fn list_users(&self, tenant_id: TenantId, page: PageRequest) -> StoreResult<Page<User>>;
    /// Disabling a user or setting a password also revokes the user's live access tokens,
    /// in the same transaction.
    async fn update_user(
        &self,
        tenant_id: TenantId,
        id: UserId,
        update: UserUpdate,
        audit: NewAuditEvent,
    ) -> StoreResult<User>;
    /// Number of enabled admins in a tenant (so the last one cannot be demoted or disabled).
    async fn count_active_admins(&self, tenant_id: TenantId) -> StoreResult<u64>;
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    /// Public prefix `hdl_<lookup>`; unique.
    pub prefix: String,
    /// The lookup part, unique; indexed for authentication.
    pub lookup: String,
    /// SHA-256 of the whole key.
    pub secret_hash: Vec<u8>,
    pub role: Role,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    /// The one gateway route the key may use, if it is pinned to one.
    pub route: Option<heddle_types::RoutePin>,
}

/// A key's route pin from its two columns: both set or both absent.
pub(crate) fn route_pin(
    environment: Option<String>,
    route: Option<String>,
) -> StoreResult<Option<heddle_types::RoutePin>> {
    match (environment, route) {
        (None, None) => Ok(None),
        (Some(environment), Some(route)) => Ok(Some(heddle_types::RoutePin {
            environment: config_snapshots::parse_environment(&environment)?,
            route,
        })),
        _ => Err(StoreError::Corrupt(
            "an api key's route pin has one of its two columns".to_owned(),
        )),
    }
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync + std::fmt::Debug {
    async fn create_api_key(&self, key: NewApiKey, audit: NewAuditEvent) -> StoreResult<ApiKey>;
    /// The key and its stored hash, by lookup id, whatever its state (the caller checks).
    async fn find_api_key_by_lookup(&self, lookup: &str) -> StoreResult<Option<(ApiKey, Vec<u8>)>>;
    async fn get_api_key(&self, tenant_id: TenantId, id: ApiKeyId) -> StoreResult<ApiKey>;
    async fn list_api_keys(
        &self,
        tenant_id: TenantId,
        page: PageRequest,
    ) -> StoreResult<Page<ApiKey>>;
    /// Sets `revoked_at` once; revoking a revoked key keeps the first time and succeeds.
    async fn revoke_api_key(
        &self,
        tenant_id: TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<ApiKey>;
    /// Records use; only ever moves `last_used_at` forward.
    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> StoreResult<()>;
}

#[derive(Debug, Clone)]
pub struct NewAccessToken {
    pub id: AccessTokenId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub lookup: String,
    pub secret_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait AccessTokenStore: Send + Sync + std::fmt::Debug {
    async fn create_access_token(
        &self,
        token: NewAccessToken,
        audit: NewAuditEvent,
    ) -> StoreResult<AccessToken>;
    async fn find_access_token_by_lookup(
        &self,
        lookup: &str,
    ) -> StoreResult<Option<(AccessToken, Vec<u8>)>>;
    async fn revoke_access_token(
        &self,
        id: AccessTokenId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<()>;
}

#[derive(Debug, Clone)]
pub struct NewTenantPolicy {
    pub id: PolicyId,
    pub tenant_id: TenantId,
    /// Unique per tenant.
    pub name: String,
    pub description: String,
    pub cedar: String,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait PolicyStore: Send + Sync + std::fmt::Debug {
    async fn create_policy(
        &self,
        policy: NewTenantPolicy,
        audit: NewAuditEvent,
    ) -> StoreResult<TenantPolicy>;
    async fn get_policy(&self, tenant_id: TenantId, id: PolicyId) -> StoreResult<TenantPolicy>;
    /// All of a tenant's policies, oldest first (a tenant has few).
    async fn list_policies(&self, tenant_id: TenantId) -> StoreResult<Vec<TenantPolicy>>;
    async fn delete_policy(
        &self,
        tenant_id: TenantId,
        id: PolicyId,
        audit: NewAuditEvent,
    ) -> StoreResult<()>;
    /// Changes whenever the tenant's policy set changes, so processes can cache compiled sets.
    async fn policy_version(&self, tenant_id: TenantId) -> StoreResult<i64>;
}
