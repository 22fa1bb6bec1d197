//! Retention: audit event payloads older than the tenant's window are deleted; their leaf
//! hashes, chain values and the signed checkpoints stay, so what remains still verifies.

use std::time::Duration;

use heddle_store::AuditFilter;
use heddle_types::TenantId;
use time::OffsetDateTime;

use crate::{AuditLog, AuditLogError};

impl AuditLog {
    /// Deletes payloads of the tenant's events that happened before `cutoff` (the prefix of
    /// the log up to the first event at or after it). Returns how many were deleted.
    pub async fn purge_before(
        &self,
        tenant_id: TenantId,
        cutoff: OffsetDateTime,
    ) -> Result<u64, AuditLogError> {
        self.flush_tenant(tenant_id).await?;
        let store = self.store();
        let Some(head) = store.audit_head(tenant_id).await? else {
            return Ok(0);
        };
        let first_kept = store
            .list_audit_events(
                tenant_id,
                &AuditFilter {
                    since: Some(cutoff),
                    limit: 1,
                    ..AuditFilter::default()
                },
            )
            .await?
            .first()
            .map_or(head.tree_size, |event| event.seq);
        let purged = store.purge_audit_events(tenant_id, first_kept).await?;
        if purged > 0 {
            metrics::counter!("heddle_audit_purged_total").increment(purged);
            tracing::info!(tenant = %tenant_id, purged, below_seq = first_kept, "audit retention purge");
        }
        Ok(purged)
    }

    /// Applies `keep` to every tenant's log every `interval`.
    pub fn spawn_retention(&self, keep: Duration, interval: Duration) {
        self.spawn_periodic(interval, move |log| async move {
            let cutoff = log.now() - keep;
            match log.store().audit_tenants().await {
                Ok(tenants) => {
                    for tenant_id in tenants {
                        if let Err(error) = log.purge_before(tenant_id, cutoff).await {
                            tracing::warn!(tenant = %tenant_id, error = %error, "audit retention failed");
                        }
                    }
                }
                Err(error) => tracing::warn!(error = %error, "listing audit tenants failed"),
            }
        });
    }
}
