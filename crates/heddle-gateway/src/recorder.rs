//! The gateway's group commit: every request's record writes (its open before the upstream
//! call, its close after) go through one writer task, which commits whatever has queued up
//! as one transaction (`GatewayStore::write_gateway_records`). Many requests share one fsync
//! and the database sees one writer instead of every request contending for its write lock
//! (SQLite answers contention by sleeping in its busy handler, which is what dominated the
//! gateway's added latency before).
//!
//! An open is awaited by default ([`RecordTiming::BeforeUpstream`]): nothing reaches the
//! upstream before its record, with the budget hold, is durable. Under
//! [`RecordTiming::Batched`] an open without a hold is queued like a close — unless the last
//! batch failed to commit, in which case it is awaited again, so a broken database stops
//! requests instead of letting unrecorded ones through. A close is always queued and the
//! answer goes out without waiting for it; it is durable within one batch. If the process
//! dies in between, the execution stays running until the sweep
//! (`Gateway::sweep_interrupted`) closes it as interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use heddle_audit_log::AuditLog;
use heddle_store::{GatewayWrite, GatewayWritten, SharedStore};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction carries.
const MAX_BATCH: usize = 256;
/// Writes waiting for the writer before requests feel back-pressure.
const QUEUE_CAPACITY: usize = 10_000;

type Acknowledgement = oneshot::Sender<Result<GatewayWritten, String>>;

/// A write to commit, or (`write: None`) a marker acknowledged once everything queued
/// before it is committed.
struct Job {
    write: Option<GatewayWrite>,
    done: Option<Acknowledgement>,
}

/// When a request's opening record must be durable (`[gateway] record`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordTiming {
    /// Before anything is sent upstream (the default).
    #[default]
    BeforeUpstream,
    /// With the next batch, while the request goes upstream (holds still wait).
    Batched,
}

/// Handle to the writer task; cheap to clone. The task ends when the last handle is dropped,
/// after committing what was queued.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    queue: mpsc::Sender<Job>,
    /// False after a batch of which no write committed, until one does.
    healthy: Arc<AtomicBool>,
}

impl Recorder {
    /// Starts the writer on the current tokio runtime.
    pub(crate) fn start(store: SharedStore, audit_log: AuditLog) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let healthy = Arc::new(AtomicBool::new(true));
        tokio::spawn(write_batches(store, audit_log, jobs, Arc::clone(&healthy)));
        Self { queue, healthy }
    }

    /// Whether the last batch committed anything (a queued write can be trusted to land).
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Commits `write` and waits until it is durable. The error is the store's, as text.
    pub(crate) async fn write(&self, write: GatewayWrite) -> Result<GatewayWritten, String> {
        let (done, acknowledged) = oneshot::channel();
        self.queue
            .send(Job {
                write: Some(write),
                done: Some(done),
            })
            .await
            .map_err(|_| CLOSED.to_owned())?;
        acknowledged.await.map_err(|_| CLOSED.to_owned())?
    }

    /// Queues `write` without waiting for it; a failure is logged and counted.
    pub(crate) async fn submit(&self, write: GatewayWrite) {
        let job = Job {
            write: Some(write),
            done: None,
        };
        if self.queue.send(job).await.is_err() {
            tracing::error!("gateway record not written: {CLOSED}");
            metrics::counter!("heddle_gateway_record_failures_total").increment(1);
        }
    }

    /// Waits until everything queued before the call is committed (or failed).
    pub(crate) async fn flush(&self) {
        let (done, acknowledged) = oneshot::channel();
        let marker = Job {
            write: None,
            done: Some(done),
        };
        if self.queue.send(marker).await.is_ok() {
            let _ = acknowledged.await;
        }
    }
}

const CLOSED: &str = "the gateway's record writer has stopped";

async fn write_batches(
    store: SharedStore,
    audit_log: AuditLog,
    mut jobs: mpsc::Receiver<Job>,
    healthy: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut writes = Vec::with_capacity(batch.len());
        let mut waiters = Vec::with_capacity(batch.len());
        let mut markers = Vec::new();
        for job in batch.drain(..) {
            match job.write {
                Some(write) => {
                    writes.push(write);
                    waiters.push(job.done);
                }
                None => markers.extend(job.done),
            }
        }
        if !writes.is_empty() {
            metrics::histogram!("heddle_gateway_record_batch_size").record(writes.len() as f64);
            let results = match store.write_gateway_records(writes).await {
                Ok(results) => results
                    .into_iter()
                    .map(|r| r.map_err(|e| e.to_string()))
                    .collect(),
                Err(error) => {
                    tracing::error!(error = %error, batch = waiters.len(), "gateway record batch failed to commit");
                    let message = error.to_string();
                    vec![Err(message); waiters.len()]
                }
            };
            healthy.store(results.iter().any(Result::is_ok), Ordering::Relaxed);
            for (waiter, result) in waiters.into_iter().zip(results) {
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(result);
                    }
                    None => {
                        if let Err(error) = result {
                            tracing::error!(error = %error, "gateway record not written");
                            metrics::counter!("heddle_gateway_record_failures_total").increment(1);
                        }
                    }
                }
            }
            audit_log.nudge();
        }
        for marker in markers {
            let _ = marker.send(Ok(GatewayWritten::Closed));
        }
    }
}
