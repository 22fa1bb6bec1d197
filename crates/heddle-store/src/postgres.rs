//! PostgreSQL storage, for several stateless `heddle serve` processes sharing one database.
//!
//! Uniqueness and foreign keys are enforced by the database, so concurrent writers in
//! separate processes cannot break them. Migrations run under sqlx's advisory lock, so
//! processes starting at the same time apply them exactly once. Every state change writes its
//! audit event into the outbox inside its own transaction.
//!
//! # A least-privilege application role
//!
//! The audit tables' triggers refuse rewrites and deletes, but a table's owner or a superuser
//! can disable triggers. In production, run `heddle migrate` as the schema owner and let
//! `heddle serve` connect as a role with only these grants (replace `public` with the schema
//! Heddle lives in):
//!
#![doc = concat!("```sql\n", include_str!("postgres/app_role.sql"), "```")]

mod audit;
mod config_snapshots;
mod drift;
mod gateway;
mod mcp_pins;
mod pending_actions;
mod record_orgs;
mod record_query;
mod record_visibility;
mod record_writes;
mod records;
mod secrets;
mod sessions;
mod siem;
mod vault;
mod verification;

use std::str::FromStr;

use async_trait::async_trait;
use heddle_types::{
    AccessToken, AccessTokenId, ApiKey, ApiKeyId, Page, PageRequest, PolicyId, Role, Tenant,
    TenantId, TenantPolicy, User, UserId,
};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{PgExecutor, Row};
use time::OffsetDateTime;

use self::audit::insert_outbox_event;
use crate::db_error::{UniqueColumn, conflict_or_database, is_foreign_key_violation, not_found};
use crate::paging::{fetch_limit, into_page};
use crate::route_pin;
use crate::{
    AccessTokenStore, ApiKeyStore, Bootstrap, HealthStore, NewAccessToken, NewApiKey,
    NewAuditEvent, NewTenant, NewTenantPolicy, NewUser, PolicyStore, StoreError, StoreResult,
    TenantStore, UserStore, UserUpdate,
};

/// Re-exported so callers can build options (e.g. a `search_path`) without depending on sqlx.
pub use sqlx::postgres::PgConnectOptions;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process; several processes share the server's `max_connections`.
const MAX_CONNECTIONS: u32 = 10;

/// The PostgreSQL implementation of every store trait. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with_options(PgConnectOptions::from_str(url)?).await
    }

    /// Like [`PgStore::connect`] with options built by the caller; tests use it to put each
    /// test in its own schema through `search_path`.
    pub async fn connect_with_options(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations; a no-op when the schema is current. Takes sqlx's advisory
    /// lock, so concurrent callers (several processes starting at once) are safe.
    /// [`PgStore::connect`] already calls it; `heddle migrate` calls it explicitly.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection, waiting for checked-out ones to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The error for an insert that hit a foreign key: the tenant is missing, or else the
    /// user the row points at is not in that tenant.
    async fn missing_parent(&self, tenant_id: TenantId, user_id: Option<UserId>) -> StoreError {
        let tenant_exists =
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)")
                .bind(tenant_id.as_uuid())
                .fetch_one(&self.pool)
                .await;
        match (tenant_exists, user_id) {
            (Err(err), _) => StoreError::Database(err),
            (Ok(true), Some(user_id)) => not_found("user", user_id),
            (Ok(_), _) => not_found("tenant", tenant_id),
        }
    }
}

fn parse_role(name: &str) -> StoreResult<Role> {
    name.parse()
        .map_err(|err: heddle_types::RoleParseError| StoreError::Corrupt(err.to_string()))
}

macro_rules! tenant_columns {
    () => {
        "id, slug, name, operator, created_at"
    };
}

macro_rules! user_columns {
    () => {
        "id, tenant_id, email, display_name, role, disabled, created_at, updated_at"
    };
}

macro_rules! api_key_columns {
    () => {
        "id, tenant_id, name, prefix, role, created_by, created_at, expires_at, revoked_at, \
         last_used_at, route_environment, route_name"
    };
}

macro_rules! access_token_columns {
    () => {
        "id, tenant_id, user_id, created_at, expires_at, revoked_at"
    };
}

macro_rules! policy_columns {
    () => {
        "id, tenant_id, name, description, cedar, created_by, created_at"
    };
}

fn tenant_from_row(row: &PgRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: TenantId::from_uuid(row.try_get("id")?),
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        operator: row.try_get("operator")?,
        created_at: row.try_get("created_at")?,
    })
}

fn user_from_row(row: &PgRow) -> StoreResult<User> {
    Ok(User {
        id: UserId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: parse_role(row.try_get("role")?)?,
        disabled: row.try_get("disabled")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn api_key_from_row(row: &PgRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        role: parse_role(row.try_get("role")?)?,
        created_by: row
            .try_get::<Option<uuid::Uuid>, _>("created_by")?
            .map(UserId::from_uuid),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        route: route_pin(
            row.try_get("route_environment")?,
            row.try_get("route_name")?,
        )?,
    })
}

fn access_token_from_row(row: &PgRow) -> StoreResult<AccessToken> {
    Ok(AccessToken {
        id: AccessTokenId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        user_id: UserId::from_uuid(row.try_get("user_id")?),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn policy_from_row(row: &PgRow) -> StoreResult<TenantPolicy> {
    Ok(TenantPolicy {
        id: PolicyId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        cedar: row.try_get("cedar")?,
        created_by: row
            .try_get::<Option<uuid::Uuid>, _>("created_by")?
            .map(UserId::from_uuid),
        created_at: row.try_get("created_at")?,
    })
}

async fn insert_tenant<'e>(
    executor: impl PgExecutor<'e>,
    tenant: &NewTenant,
) -> StoreResult<Tenant> {
    let row = sqlx::query(concat!(
        "INSERT INTO tenants (id, slug, name, operator, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING ",
        tenant_columns!()
    ))
    .bind(tenant.id.as_uuid())
    .bind(&tenant.slug)
    .bind(&tenant.name)
    .bind(tenant.operator)
    .bind(tenant.created_at)
    .fetch_one(executor)
    .await
    .map_err(|err| {
        conflict_or_database(
            err,
            "tenant",
            &tenant.id.to_string(),
            &[UniqueColumn {
                column: "slug",
                value: &tenant.slug,
            }],
        )
    })?;
    tenant_from_row(&row)
}

/// Inserts a user with the email lowercased. A foreign-key failure can only mean the tenant
/// is missing.
async fn insert_user<'e>(executor: impl PgExecutor<'e>, user: &NewUser) -> StoreResult<User> {
    let email = user.email.to_lowercase();
    let row = sqlx::query(concat!(
        "INSERT INTO users (id, tenant_id, email, display_name, role, disabled, password_hash, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, false, $6, $7, $7) RETURNING ",
        user_columns!()
    ))
    .bind(user.id.as_uuid())
    .bind(user.tenant_id.as_uuid())
    .bind(&email)
    .bind(&user.display_name)
    .bind(user.role.as_str())
    .bind(user.password_hash.as_deref())
    .bind(user.created_at)
    .fetch_one(executor)
    .await
    .map_err(|err| {
        if is_foreign_key_violation(&err) {
            not_found("tenant", user.tenant_id)
        } else {
            conflict_or_database(
                err,
                "user",
                &user.id.to_string(),
                &[UniqueColumn {
                    column: "email",
                    value: &email,
                }],
            )
        }
    })?;
    user_from_row(&row)
}

#[async_trait]
impl HealthStore for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn engine(&self) -> &'static str {
        "postgres"
    }
}

#[async_trait]
impl TenantStore for PgStore {
    async fn create_tenant(&self, tenant: NewTenant, audit: NewAuditEvent) -> StoreResult<Tenant> {
        let mut tx = self.pool.begin().await?;
        let tenant = insert_tenant(&mut *tx, &tenant).await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(tenant)
    }

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Tenant> {
        let row = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("tenant", id))?;
        tenant_from_row(&row)
    }

    async fn find_tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(tenant_from_row)
        .transpose()
    }

    async fn list_tenants(&self, page: PageRequest) -> StoreResult<Page<Tenant>> {
        let rows = match page.after {
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    tenant_columns!(),
                    " FROM tenants ORDER BY id LIMIT $1"
                ))
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await?
            }
            Some(after) => {
                sqlx::query(concat!(
                    "SELECT ",
                    tenant_columns!(),
                    " FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after)
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await?
            }
        };
        let items = rows
            .iter()
            .map(tenant_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(into_page(items, page, |tenant: &Tenant| {
            *tenant.id.as_uuid()
        }))
    }

    /// The admin is created in the bootstrap tenant, whatever `admin.tenant_id` says.
    ///
    /// The transaction locks the `tenants` table against writers (readers carry on) before
    /// looking for a tenant, so concurrent callers in any number of processes queue up and
    /// all but the first find the table non-empty.
    async fn create_tenant_with_admin(
        &self,
        tenant: NewTenant,
        admin: NewUser,
        audit: NewAuditEvent,
    ) -> StoreResult<(Tenant, User)> {
        let mut tx = self.pool.begin().await?;
        let tenant = insert_tenant(&mut *tx, &tenant).await?;
        let admin = NewUser {
            tenant_id: tenant.id,
            ..admin
        };
        let admin = insert_user(&mut *tx, &admin).await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok((tenant, admin))
    }

    async fn bootstrap_if_empty(
        &self,
        bootstrap: Bootstrap,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let any_tenant = sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM tenants)")
            .fetch_one(&mut *tx)
            .await?;
        if any_tenant {
            tx.rollback().await?;
            return Ok(false);
        }
        let tenant = insert_tenant(&mut *tx, &bootstrap.tenant).await?;
        let admin = NewUser {
            tenant_id: tenant.id,
            ..bootstrap.admin
        };
        insert_user(&mut *tx, &admin).await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, user: NewUser, audit: NewAuditEvent) -> StoreResult<User> {
        let mut tx = self.pool.begin().await?;
        let user = insert_user(&mut *tx, &user).await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn get_user(&self, tenant_id: TenantId, id: UserId) -> StoreResult<User> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("user", id))?;
        user_from_row(&row)
    }

    async fn find_user_credentials(
        &self,
        tenant_id: TenantId,
        email: &str,
    ) -> StoreResult<Option<(User, Option<String>)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE tenant_id = $1 AND email = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(email.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    async fn list_users(&self, tenant_id: TenantId, page: PageRequest) -> StoreResult<Page<User>> {
        let rows = match page.after {
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE tenant_id = $1 ORDER BY id LIMIT $2"
                ))
                .bind(tenant_id.as_uuid())
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await?
            }
            Some(after) => {
                sqlx::query(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(tenant_id.as_uuid())
                .bind(after)
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await?
            }
        };
        let items = rows.iter().map(user_from_row).collect::<StoreResult<_>>()?;
        Ok(into_page(items, page, |user: &User| *user.id.as_uuid()))
    }

    /// Tokens count as live when neither revoked nor expired at `update.updated_at` (the
    /// event's time when the update carries none); they are revoked at that time.
    async fn update_user(
        &self,
        tenant_id: TenantId,
        id: UserId,
        update: UserUpdate,
        audit: NewAuditEvent,
    ) -> StoreResult<User> {
        let revoke_tokens = update.disabled == Some(true) || update.password_hash.is_some();
        let now = update.updated_at.unwrap_or(audit.occurred_at);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE users SET display_name = COALESCE($1, display_name), \
             role = COALESCE($2, role), disabled = COALESCE($3, disabled), \
             password_hash = COALESCE($4, password_hash), updated_at = COALESCE($5, updated_at) \
             WHERE tenant_id = $6 AND id = $7 RETURNING ",
            user_columns!()
        ))
        .bind(update.display_name)
        .bind(update.role.map(Role::as_str))
        .bind(update.disabled)
        .bind(update.password_hash)
        .bind(update.updated_at)
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(not_found("user", id));
        };
        let user = user_from_row(&row)?;
        if revoke_tokens {
            sqlx::query(
                "UPDATE access_tokens SET revoked_at = $1 \
                 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(tenant_id.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn count_active_admins(&self, tenant_id: TenantId) -> StoreResult<u64> {
        let count = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND role = 'admin' AND NOT disabled",
        )
        .bind(tenant_id.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("negative count `{count}`")))
    }
}

#[async_trait]
impl ApiKeyStore for PgStore {
    /// A missing tenant, or a `created_by` user not in that tenant, is [`StoreError::NotFound`].
    async fn create_api_key(&self, key: NewApiKey, audit: NewAuditEvent) -> StoreResult<ApiKey> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, lookup, secret_hash, role, \
             created_by, created_at, expires_at, route_environment, route_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ",
            api_key_columns!()
        ))
        .bind(key.id.as_uuid())
        .bind(key.tenant_id.as_uuid())
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.lookup)
        .bind(&key.secret_hash)
        .bind(key.role.as_str())
        .bind(key.created_by.as_ref().map(UserId::as_uuid))
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.route.as_ref().map(|pin| pin.environment.as_str()))
        .bind(key.route.as_ref().map(|pin| pin.route.as_str()))
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(err) => {
                // The failed statement aborted the transaction; look up the cause outside it.
                tx.rollback().await?;
                return Err(if is_foreign_key_violation(&err) {
                    self.missing_parent(key.tenant_id, key.created_by).await
                } else {
                    conflict_or_database(
                        err,
                        "api key",
                        &key.id.to_string(),
                        &[
                            UniqueColumn {
                                column: "prefix",
                                value: &key.prefix,
                            },
                            UniqueColumn {
                                column: "lookup",
                                value: &key.lookup,
                            },
                        ],
                    )
                });
            }
        };
        let created = api_key_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn find_api_key_by_lookup(&self, lookup: &str) -> StoreResult<Option<(ApiKey, Vec<u8>)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            api_key_columns!(),
            ", secret_hash FROM api_keys WHERE lookup = $1"
        ))
        .bind(lookup)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((api_key_from_row(&row)?, row.try_get("secret_hash")?)))
            .transpose()
    }

    async fn get_api_key(&self, tenant_id: TenantId, id: ApiKeyId) -> StoreResult<ApiKey> {
        let row = sqlx::query(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("api key", id))?;
        api_key_from_row(&row)
    }

    async fn list_api_keys(
        &self,
        tenant_id: TenantId,
        page: PageRequest,
    ) -> StoreResult<Page<ApiKey>> {
        let rows = match page.after {
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys WHERE tenant_id = $1 ORDER BY id LIMIT $2"
                ))
                .bind(tenant_id.as_uuid())
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await?
            }
            Some(after) => {
                sqlx::query(concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(tenant_id.as_uuid())
                .bind(after)
                .bind(fetch_limit(page))
                .fetch_all(&self.pool)
                .await?
            }
        };
        let items = rows
            .iter()
            .map(api_key_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(into_page(items, page, |key: &ApiKey| *key.id.as_uuid()))
    }

    /// The event is written on every successful call, also when the key was already revoked.
    async fn revoke_api_key(
        &self,
        tenant_id: TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<ApiKey> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE tenant_id = $2 AND id = $3 RETURNING ",
            api_key_columns!()
        ))
        .bind(at)
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(not_found("api key", id));
        };
        let key = api_key_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// [`StoreError::NotFound`] when the key does not exist; an older `at` is a no-op.
    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> StoreResult<()> {
        let updated = sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(at)
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() > 0 {
            return Ok(());
        }
        let exists =
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1)")
                .bind(id.as_uuid())
                .fetch_one(&self.pool)
                .await?;
        if exists {
            Ok(())
        } else {
            Err(not_found("api key", id))
        }
    }
}

#[async_trait]
impl AccessTokenStore for PgStore {
    /// A missing tenant, or a user not in that tenant, is [`StoreError::NotFound`].
    async fn create_access_token(
        &self,
        token: NewAccessToken,
        audit: NewAuditEvent,
    ) -> StoreResult<AccessToken> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO access_tokens (id, tenant_id, user_id, lookup, secret_hash, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            access_token_columns!()
        ))
        .bind(token.id.as_uuid())
        .bind(token.tenant_id.as_uuid())
        .bind(token.user_id.as_uuid())
        .bind(&token.lookup)
        .bind(&token.secret_hash)
        .bind(token.created_at)
        .bind(token.expires_at)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(err) => {
                // The failed statement aborted the transaction; look up the cause outside it.
                tx.rollback().await?;
                return Err(if is_foreign_key_violation(&err) {
                    self.missing_parent(token.tenant_id, Some(token.user_id))
                        .await
                } else {
                    conflict_or_database(
                        err,
                        "access token",
                        &token.id.to_string(),
                        &[UniqueColumn {
                            column: "lookup",
                            value: &token.lookup,
                        }],
                    )
                });
            }
        };
        let created = access_token_from_row(&row)?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn find_access_token_by_lookup(
        &self,
        lookup: &str,
    ) -> StoreResult<Option<(AccessToken, Vec<u8>)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            access_token_columns!(),
            ", secret_hash FROM access_tokens WHERE lookup = $1"
        ))
        .bind(lookup)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((access_token_from_row(&row)?, row.try_get("secret_hash")?)))
            .transpose()
    }

    /// Keeps the first revocation time; [`StoreError::NotFound`] when the token does not exist.
    /// The event is written on every successful call.
    async fn revoke_access_token(
        &self,
        id: AccessTokenId,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(at)
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(not_found("access token", id));
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl PolicyStore for PgStore {
    /// Inserts the policy and bumps the tenant's policy version in one transaction.
    async fn create_policy(
        &self,
        policy: NewTenantPolicy,
        audit: NewAuditEvent,
    ) -> StoreResult<TenantPolicy> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO tenant_policies (id, tenant_id, name, description, cedar, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            policy_columns!()
        ))
        .bind(policy.id.as_uuid())
        .bind(policy.tenant_id.as_uuid())
        .bind(&policy.name)
        .bind(&policy.description)
        .bind(&policy.cedar)
        .bind(policy.created_by.as_ref().map(UserId::as_uuid))
        .bind(policy.created_at)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(err) => {
                tx.rollback().await?;
                return Err(if is_foreign_key_violation(&err) {
                    self.missing_parent(policy.tenant_id, policy.created_by)
                        .await
                } else {
                    conflict_or_database(
                        err,
                        "policy",
                        &policy.id.to_string(),
                        &[UniqueColumn {
                            column: "name",
                            value: &policy.name,
                        }],
                    )
                });
            }
        };
        let created = policy_from_row(&row)?;
        sqlx::query("UPDATE tenants SET policy_version = policy_version + 1 WHERE id = $1")
            .bind(policy.tenant_id.as_uuid())
            .execute(&mut *tx)
            .await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_policy(&self, tenant_id: TenantId, id: PolicyId) -> StoreResult<TenantPolicy> {
        let row = sqlx::query(concat!(
            "SELECT ",
            policy_columns!(),
            " FROM tenant_policies WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("policy", id))?;
        policy_from_row(&row)
    }

    async fn list_policies(&self, tenant_id: TenantId) -> StoreResult<Vec<TenantPolicy>> {
        sqlx::query(concat!(
            "SELECT ",
            policy_columns!(),
            " FROM tenant_policies WHERE tenant_id = $1 ORDER BY created_at, id"
        ))
        .bind(tenant_id.as_uuid())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(policy_from_row)
        .collect()
    }

    /// Deletes the policy and bumps the tenant's policy version in one transaction.
    async fn delete_policy(
        &self,
        tenant_id: TenantId,
        id: PolicyId,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM tenant_policies WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(not_found("policy", id));
        }
        sqlx::query("UPDATE tenants SET policy_version = policy_version + 1 WHERE id = $1")
            .bind(tenant_id.as_uuid())
            .execute(&mut *tx)
            .await?;
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A counter that only grows; [`StoreError::NotFound`] for an unknown tenant.
    async fn policy_version(&self, tenant_id: TenantId) -> StoreResult<i64> {
        sqlx::query_scalar::<_, i64>("SELECT policy_version FROM tenants WHERE id = $1")
            .bind(tenant_id.as_uuid())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("tenant", tenant_id))
    }
}
