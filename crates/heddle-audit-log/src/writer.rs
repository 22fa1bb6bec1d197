//! The group-commit writer, the outbox drainer and reads.

use std::sync::Arc;
use std::time::Duration;

use heddle_store::{AuditFilter, NewAuditEvent, SharedStore, StoreError, StoredAuditEvent};
use heddle_types::{AuditEvent, Clock, TenantId};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::{MerkleSequencer, prepare_event};

#[derive(Debug, Clone)]
pub struct AuditLogSettings {
    /// Most events one transaction carries.
    pub max_batch: usize,
    /// How many `record` calls may wait for the writer before callers feel back-pressure.
    pub queue_capacity: usize,
    /// How often the outbox is drained when nothing nudges the drainer.
    pub drain_interval: Duration,
}

impl Default for AuditLogSettings {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            queue_capacity: 10_000,
            drain_interval: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditLogError {
    #[error("the audit log is shut down")]
    Closed,
    #[error("no audit event with seq `{seq}` is covered by the log yet")]
    NoSuchEvent { seq: u64 },
    #[error("no audit checkpoint of tree size `{tree_size}`")]
    NoSuchCheckpoint { tree_size: u64 },
    #[error("stored audit data is inconsistent: {0}")]
    Corrupt(String),
    #[error("the vault cannot provide the signing key: {0}")]
    Vault(String),
    #[error("the export could not be written: {0}")]
    Export(String),
    /// The batch holding the event did not commit; the event is not recorded.
    #[error("the audit log could not store the event: {0}")]
    Store(String),
}

impl From<StoreError> for AuditLogError {
    fn from(err: StoreError) -> Self {
        Self::Store(err.to_string())
    }
}

struct Pending {
    event: NewAuditEvent,
    done: oneshot::Sender<Result<u64, AuditLogError>>,
}

/// Handle to the audit log. Cheap to clone; the background tasks stop when the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: SharedStore,
    clock: Arc<dyn Clock>,
    queue: mpsc::Sender<Pending>,
    outbox_nudge: Arc<Notify>,
    /// Dropping it tells the background tasks to stop.
    alive: watch::Sender<()>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("tenant_id", &self.event.tenant_id)
            .field("action", &self.event.action)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the writer and drainer tasks on the current tokio runtime.
    pub fn start(store: SharedStore, clock: Arc<dyn Clock>, settings: AuditLogSettings) -> Self {
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let outbox_nudge = Arc::new(Notify::new());
        let (alive, stopped) = watch::channel(());
        tokio::spawn(write_batches(
            store.clone(),
            receiver,
            settings.max_batch.max(1),
        ));
        tokio::spawn(drain_outbox(
            store.clone(),
            outbox_nudge.clone(),
            stopped,
            settings.drain_interval,
        ));
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                queue,
                outbox_nudge,
                alive,
            }),
        }
    }

    /// Appends one event that is not part of a state change and waits until it is durable.
    /// Returns its sequence number in the tenant's log.
    pub async fn record(&self, event: &AuditEvent) -> Result<u64, AuditLogError> {
        let (done, acknowledged) = oneshot::channel();
        self.inner
            .queue
            .send(Pending {
                event: prepare_event(event),
                done,
            })
            .await
            .map_err(|_| AuditLogError::Closed)?;
        acknowledged.await.map_err(|_| AuditLogError::Closed)?
    }

    /// Signs a checkpoint for every tenant whose log grew, every `interval`, until the log
    /// is dropped. Safe in every process: a size checkpointed elsewhere is reused.
    pub fn spawn_checkpointer(&self, vault: heddle_vault::Vault, interval: Duration) {
        self.spawn_periodic(interval, move |log| {
            let vault = vault.clone();
            async move {
                let tenants = match log.inner.store.audit_tenants().await {
                    Ok(tenants) => tenants,
                    Err(error) => {
                        tracing::warn!(error = %error, "listing audit tenants failed");
                        return;
                    }
                };
                for tenant_id in tenants {
                    if let Err(error) = log.checkpoint(&vault, tenant_id).await {
                        tracing::warn!(tenant = %tenant_id, error = %error, "audit checkpoint failed");
                    }
                }
            }
        });
    }

    /// Runs `round` every `interval` until the last handle to the log is dropped. The task
    /// holds only a weak reference between rounds, so it never keeps the log alive.
    pub(crate) fn spawn_periodic<F, Fut>(&self, interval: Duration, round: F)
    where
        F: Fn(AuditLog) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let log = Arc::downgrade(&self.inner);
        let mut alive = self.inner.alive.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    changed = alive.changed() => if changed.is_err() { break },
                }
                let Some(inner) = log.upgrade() else { break };
                round(AuditLog { inner }).await;
            }
        });
    }

    pub(crate) fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.inner.clock.now()
    }

    /// Tells the drainer that a state change just committed an event into the outbox.
    pub fn nudge(&self) {
        self.inner.outbox_nudge.notify_one();
    }

    /// Sequences everything waiting in the outbox now, so a read that follows sees it.
    pub async fn flush(&self) -> Result<u64, AuditLogError> {
        Ok(self
            .inner
            .store
            .drain_audit_outbox(&MerkleSequencer, u32::MAX)
            .await?)
    }

    /// Sequences one tenant's pending outbox rows now.
    pub async fn flush_tenant(&self, tenant_id: TenantId) -> Result<u64, AuditLogError> {
        Ok(self
            .inner
            .store
            .drain_audit_outbox_for(tenant_id, &MerkleSequencer)
            .await?)
    }

    /// A tenant's events after sequencing its outbox, in sequence order.
    pub async fn list(
        &self,
        tenant_id: TenantId,
        filter: &AuditFilter,
    ) -> Result<Vec<StoredAuditEvent>, AuditLogError> {
        self.flush_tenant(tenant_id).await?;
        Ok(self
            .inner
            .store
            .list_audit_events(tenant_id, filter)
            .await?)
    }
}

/// Takes everything queued (up to `max_batch`) and commits it as one transaction.
async fn write_batches(store: SharedStore, mut queue: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let (events, waiters): (Vec<NewAuditEvent>, Vec<_>) = batch
            .drain(..)
            .map(|pending| (pending.event, pending.done))
            .unzip();
        let size = events.len();
        metrics::histogram!("heddle_audit_batch_size").record(size as f64);
        match store.append_audit(events, &MerkleSequencer).await {
            Ok(seqs) => {
                metrics::counter!("heddle_audit_events_total").increment(size as u64);
                for (waiter, seq) in waiters.into_iter().zip(seqs) {
                    let _ = waiter.send(Ok(seq));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, batch = size, "audit batch failed to commit");
                metrics::counter!("heddle_audit_batch_failures_total").increment(1);
                let failure = AuditLogError::from(error);
                for waiter in waiters {
                    let _ = waiter.send(Err(failure.clone()));
                }
            }
        }
    }
}

/// Sequences outbox rows when nudged or every `interval`, until the log is dropped.
async fn drain_outbox(
    store: SharedStore,
    nudge: Arc<Notify>,
    mut alive: watch::Receiver<()>,
    interval: Duration,
) {
    loop {
        tokio::select! {
            () = nudge.notified() => {}
            () = tokio::time::sleep(interval) => {}
            changed = alive.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
        match store.drain_audit_outbox(&MerkleSequencer, 64).await {
            Ok(0) => {}
            Ok(count) => metrics::counter!("heddle_audit_events_total").increment(count),
            Err(error) => tracing::warn!(error = %error, "draining the audit outbox failed"),
        }
    }
}
