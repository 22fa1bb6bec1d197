//! Authorization of administrative actions: the base Cedar policies plus the tenant's own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use heddle_policy::TenantPolicySet;
use heddle_types::{Action, Principal, Resource, Role, TenantId};

use crate::{Actor, Identity, IdentityError, IdentityResult};

/// Compiled tenant policy sets, refreshed when the stored version changes or the entry is
/// older than the configured TTL. Other processes' changes are seen within that TTL.
#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    entries: RwLock<HashMap<TenantId, CachedPolicies>>,
}

#[derive(Debug, Clone)]
struct CachedPolicies {
    version: i64,
    loaded_at: Instant,
    set: Option<Arc<TenantPolicySet>>,
}

impl PolicyCache {
    fn fresh(&self, tenant_id: TenantId, ttl: std::time::Duration) -> Option<CachedPolicies> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&tenant_id)
            .filter(|entry| entry.loaded_at.elapsed() < ttl)
            .cloned()
    }

    fn version(&self, tenant_id: TenantId) -> Option<CachedPolicies> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(&tenant_id).cloned()
    }

    fn put(&self, tenant_id: TenantId, entry: CachedPolicies) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.insert(tenant_id, entry);
    }

    pub(crate) fn invalidate(&self, tenant_id: TenantId) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(&tenant_id);
    }
}

impl Identity {
    /// Allows the operation or returns [`IdentityError::Forbidden`]. The local operator (CLI)
    /// is always allowed.
    pub async fn authorize(
        &self,
        actor: &Actor,
        action: Action,
        resource: Resource,
    ) -> IdentityResult<()> {
        match actor {
            Actor::LocalOperator => Ok(()),
            Actor::Principal(principal) => {
                self.authorize_principal(principal, action, resource).await
            }
        }
    }

    /// A custom policy may let a non-admin manage users or keys; it must still not hand out a
    /// role the caller does not hold itself, or the policy would be a privilege escalation.
    pub(crate) fn ensure_can_assign(&self, actor: &Actor, role: Role) -> IdentityResult<()> {
        match actor {
            Actor::Principal(p) if p.role != Role::Admin && p.role != role => {
                Err(IdentityError::Refused(format!(
                    "a `{}` cannot assign the role `{role}`; only admins assign other roles",
                    p.role
                )))
            }
            _ => Ok(()),
        }
    }

    /// Same as [`Identity::authorize`] but answers yes/no, for listing what a role may do.
    pub async fn is_allowed(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource,
    ) -> IdentityResult<bool> {
        let tenant_policies = self.tenant_policies(principal.tenant_id).await?;
        let decision = self.inner.authorizer.authorize(
            principal,
            action,
            &resource,
            tenant_policies.as_deref(),
        );
        if !decision.errors.is_empty() {
            tracing::warn!(
                action = %action,
                errors = ?decision.errors,
                "policy evaluation reported errors; denying"
            );
        }
        Ok(decision.allowed && decision.errors.is_empty())
    }

    async fn authorize_principal(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource,
    ) -> IdentityResult<()> {
        if self.is_allowed(principal, action, resource).await? {
            Ok(())
        } else {
            Err(IdentityError::Forbidden { action })
        }
    }

    /// The tenant's compiled custom policies, or `None` when it has none.
    async fn tenant_policies(
        &self,
        tenant_id: TenantId,
    ) -> IdentityResult<Option<Arc<TenantPolicySet>>> {
        let cache = &self.inner.policy_cache;
        if let Some(entry) = cache.fresh(tenant_id, self.inner.settings.policy_cache_ttl) {
            return Ok(entry.set);
        }
        let version = self.inner.store.policy_version(tenant_id).await?;
        if let Some(entry) = cache.version(tenant_id).filter(|e| e.version == version) {
            cache.put(
                tenant_id,
                CachedPolicies {
                    loaded_at: Instant::now(),
                    ..entry.clone()
                },
            );
            return Ok(entry.set);
        }
        let policies = self.inner.store.list_policies(tenant_id).await?;
        let set = if policies.is_empty() {
            None
        } else {
            Some(Arc::new(
                self.inner.authorizer.compile_tenant_policies(&policies)?,
            ))
        };
        cache.put(
            tenant_id,
            CachedPolicies {
                version,
                loaded_at: Instant::now(),
                set: set.clone(),
            },
        );
        Ok(set)
    }
}
