//! Forwarding the audit log to SIEM sinks: at-least-once, in sequence order, with the seq in
//! every payload so receivers de-duplicate; retries with backoff; errors visible on the sink.
//!
//! One delivery round per due sink: lease the sink (so processes do not deliver the same
//! batch twice at once), open its sealed configuration, send batches from its cursor, and
//! record how far it got. A retryable failure schedules the next attempt after a jittered
//! backoff; a permanent one (bad credentials, bad URL, blocked address) pauses the sink until
//! someone resumes it.

use std::time::Duration;

use heddle_outbound::{OutboundClient, OutboundPolicy};
use heddle_siem::{SiemEvent, SiemSink, SinkConfig};
use heddle_store::{AuditFilter, SiemDeliveryUpdate, StoredSiemSink};
use heddle_vault::{Sealed, TENANT_SCOPE, Vault};

use crate::{AuditLog, AuditLogError};

/// The vault purpose sink configurations are sealed under (context: the sink id).
pub const SINK_CONFIG_PURPOSE: &str = "siem-sink";

#[derive(Debug, Clone)]
pub struct SiemSettings {
    /// How often due sinks are looked for.
    pub interval: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How long one process holds a sink for a round.
    pub lease: Duration,
    /// Batches per sink per round, so one busy sink does not starve the others.
    pub max_batches_per_round: usize,
    pub outbound: OutboundPolicy,
}

impl Default for SiemSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            retry_base: heddle_siem::BACKOFF_BASE,
            retry_cap: heddle_siem::BACKOFF_CAP,
            lease: Duration::from_secs(60),
            max_batches_per_round: 20,
            outbound: OutboundPolicy::default(),
        }
    }
}

impl AuditLog {
    /// Runs delivery rounds every `settings.interval` until the log is dropped.
    pub fn spawn_siem_delivery(
        &self,
        vault: Vault,
        settings: SiemSettings,
    ) -> Result<(), AuditLogError> {
        let client = OutboundClient::new(settings.outbound.clone())
            .map_err(|err| AuditLogError::Export(format!("outbound client: {err}")))?;
        self.spawn_periodic(settings.interval, move |log| {
            let (vault, client, settings) = (vault.clone(), client.clone(), settings.clone());
            async move {
                if let Err(error) = log.deliver_due_sinks(&vault, &client, &settings).await {
                    tracing::warn!(error = %error, "SIEM delivery round failed");
                }
            }
        });
        Ok(())
    }

    /// One round over every due sink. Returns how many events were delivered.
    pub async fn deliver_due_sinks(
        &self,
        vault: &Vault,
        client: &OutboundClient,
        settings: &SiemSettings,
    ) -> Result<u64, AuditLogError> {
        self.flush().await?;
        let now = self.now();
        let mut delivered = 0;
        for sink in self.store().due_siem_sinks(now).await? {
            let lease_until = now + settings.lease;
            if !self
                .store()
                .lease_siem_sink(sink.id, now, lease_until)
                .await?
            {
                continue;
            }
            let update = self.deliver_sink(vault, client, settings, &sink).await;
            delivered += update.cursor.saturating_sub(sink.cursor);
            self.store().record_siem_delivery(sink.id, update).await?;
        }
        Ok(delivered)
    }

    async fn deliver_sink(
        &self,
        vault: &Vault,
        client: &OutboundClient,
        settings: &SiemSettings,
        sink: &StoredSiemSink,
    ) -> SiemDeliveryUpdate {
        let now = self.now();
        let mut update = SiemDeliveryUpdate {
            cursor: sink.cursor,
            attempts: sink.attempts,
            last_error: None,
            at: now,
            delivered: false,
            next_attempt_at: None,
            paused: false,
        };
        let transport = match open_sink(vault, sink).await {
            Ok(transport) => transport,
            Err(message) => {
                update.last_error = Some(message);
                update.paused = true;
                return update;
            }
        };
        for _ in 0..settings.max_batches_per_round {
            let batch = match self
                .batch_after(sink, update.cursor, transport.max_events_per_request())
                .await
            {
                Ok(batch) => batch,
                Err(error) => {
                    update.last_error = Some(format!("reading the audit log: {error}"));
                    update.next_attempt_at = Some(now + settings.retry_base);
                    return update;
                }
            };
            let Some(last) = batch.last().map(|event| event.seq) else {
                break;
            };
            match transport.deliver(client, &batch).await {
                Ok(()) => {
                    update.cursor = last + 1;
                    update.attempts = 0;
                    update.delivered = true;
                    metrics::counter!("heddle_siem_events_delivered_total", "kind" => sink.kind.clone())
                        .increment(batch.len() as u64);
                }
                Err(error) => {
                    // Events the receiver acknowledged before failing are done.
                    if let Some(accepted) = batch.get(error.delivered_prefix().wrapping_sub(1)) {
                        update.cursor = accepted.seq + 1;
                    }
                    update.attempts = sink.attempts.saturating_add(1);
                    update.last_error = Some(error.to_string());
                    metrics::counter!("heddle_siem_delivery_failures_total", "kind" => sink.kind.clone())
                        .increment(1);
                    if error.is_retryable() {
                        let wait = heddle_siem::backoff_with(
                            update.attempts,
                            settings.retry_base,
                            settings.retry_cap,
                        )
                        .max(error.retry_after().unwrap_or_default());
                        update.next_attempt_at = Some(now + wait);
                    } else {
                        update.paused = true;
                    }
                    return update;
                }
            }
        }
        update
    }

    async fn batch_after(
        &self,
        sink: &StoredSiemSink,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<SiemEvent>, AuditLogError> {
        let events = self
            .store()
            .list_audit_events(
                sink.tenant_id,
                &AuditFilter {
                    after_seq: cursor.checked_sub(1),
                    limit: u32::try_from(limit).unwrap_or(u32::MAX).max(1),
                    ..AuditFilter::default()
                },
            )
            .await?;
        Ok(events
            .into_iter()
            .filter_map(|stored| {
                let event = serde_json::from_slice(stored.canonical.as_deref()?).ok()?;
                Some(SiemEvent {
                    tenant_id: *stored.tenant_id.as_uuid(),
                    seq: stored.seq,
                    event,
                    leaf_hash_hex: heddle_crypto::hex_encode(&stored.leaf_hash),
                })
            })
            .collect())
    }
}

/// Opens a sink's sealed configuration and builds its transport. The error is for the
/// sink's status, so it names the problem without any of the configuration's secrets.
async fn open_sink(vault: &Vault, sink: &StoredSiemSink) -> Result<SiemSink, String> {
    let sealed = Sealed {
        data_key_version: sink.data_key_version,
        ciphertext: sink.sealed_config.clone(),
    };
    let plaintext = vault
        .open(
            sink.tenant_id,
            TENANT_SCOPE,
            SINK_CONFIG_PURPOSE,
            &sink.id.to_string(),
            &sealed,
        )
        .await
        .map_err(|err| format!("the sink configuration cannot be opened: {err}"))?;
    let config: SinkConfig =
        serde_json::from_slice(heddle_crypto::ExposeSecret::expose_secret(&plaintext))
            .map_err(|_| "the stored sink configuration is unreadable".to_owned())?;
    SiemSink::new(config).map_err(|err| format!("the sink configuration is invalid: {err}"))
}
