//! A configured sink and its delivery loop: encode each event once, split the batch into
//! requests within the sink's limits, send them in order, stop at the first failure and
//! report how many leading events got through.

mod datadog;
mod elasticsearch;
mod splunk;
mod webhook;

use std::ops::Range;
use std::sync::Arc;

use heddle_outbound::{OutboundClient, OutboundRequest, OutboundResponse};
use heddle_types::{Clock, SystemClock};

use crate::config::RequestLimits;
use crate::error::scrub;
use crate::{DeliveryError, DeliveryFailure, SiemEvent, SinkConfig, SinkConfigError};

/// A validated sink, ready to deliver.
#[derive(Debug, Clone)]
pub struct SiemSink {
    kind: SinkKind,
    limits: RequestLimits,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone)]
enum SinkKind {
    Webhook(webhook::WebhookSink),
    SplunkHec(splunk::SplunkSink),
    DatadogLogs(datadog::DatadogSink),
    ElasticsearchBulk(elasticsearch::ElasticsearchSink),
}

impl SiemSink {
    /// Validates `config`; webhook signatures use the system clock.
    pub fn new(config: SinkConfig) -> Result<Self, SinkConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Validates `config`; webhook signature timestamps come from `clock`.
    pub fn with_clock(config: SinkConfig, clock: Arc<dyn Clock>) -> Result<Self, SinkConfigError> {
        let (kind, limits) = match config {
            SinkConfig::Webhook(config) => {
                let (sink, limits) = webhook::WebhookSink::new(config)?;
                (SinkKind::Webhook(sink), limits)
            }
            SinkConfig::SplunkHec(config) => {
                let (sink, limits) = splunk::SplunkSink::new(config)?;
                (SinkKind::SplunkHec(sink), limits)
            }
            SinkConfig::DatadogLogs(config) => {
                let (sink, limits) = datadog::DatadogSink::new(config)?;
                (SinkKind::DatadogLogs(sink), limits)
            }
            SinkConfig::ElasticsearchBulk(config) => {
                let (sink, limits) = elasticsearch::ElasticsearchSink::new(config)?;
                (SinkKind::ElasticsearchBulk(sink), limits)
            }
        };
        Ok(Self {
            kind,
            limits,
            clock,
        })
    }

    /// The configuration's `kind` tag.
    pub fn kind(&self) -> &'static str {
        match &self.kind {
            SinkKind::Webhook(_) => "webhook",
            SinkKind::SplunkHec(_) => "splunk_hec",
            SinkKind::DatadogLogs(_) => "datadog_logs",
            SinkKind::ElasticsearchBulk(_) => "elasticsearch_bulk",
        }
    }

    /// Events per request. Batches may be larger (they are split), but a worker that reads
    /// this many events at a time sends one request per batch.
    pub fn max_events_per_request(&self) -> usize {
        self.limits.max_events
    }

    /// Delivers `batch` in order, split into as many requests as the sink's limits need.
    ///
    /// `Ok` means every event was accepted. An error says whether retrying can help and how
    /// many leading events were accepted before it ([`DeliveryError::delivered_prefix`]).
    /// Delivery is at least once: events may arrive more than once (a lost acknowledgement,
    /// a retried split batch); every payload carries `tenant_id` and `seq` for
    /// de-duplication, and Elasticsearch de-duplicates by itself through `_id`.
    pub async fn deliver(
        &self,
        client: &OutboundClient,
        batch: &[SiemEvent],
    ) -> Result<(), DeliveryError> {
        if batch.is_empty() {
            return Ok(());
        }
        let entries = batch
            .iter()
            .map(|event| self.encode(event))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|failure| DeliveryError::new(failure, 0))?;
        let framing = self.framing();
        let sizes: Vec<usize> = entries.iter().map(Vec::len).collect();
        for range in plan_requests(&sizes, self.limits, framing) {
            let body = framing.assemble(&entries[range.clone()]);
            let events = &batch[range.clone()];
            if let Err((failure, accepted)) = self.send(client, events, body).await {
                return Err(DeliveryError::new(failure, range.start + accepted));
            }
        }
        Ok(())
    }

    fn encode(&self, event: &SiemEvent) -> Result<Vec<u8>, DeliveryFailure> {
        let encoded = match &self.kind {
            SinkKind::Webhook(_) => serde_json::to_vec(&event.envelope()),
            SinkKind::SplunkHec(sink) => sink.encode(event),
            SinkKind::DatadogLogs(sink) => sink.encode(event),
            SinkKind::ElasticsearchBulk(sink) => sink.encode(event),
        };
        encoded.map_err(|err| DeliveryFailure::Encode {
            seq: event.seq,
            reason: err.to_string(),
        })
    }

    fn framing(&self) -> Framing {
        match &self.kind {
            SinkKind::Webhook(_) => Framing::JSON_OBJECT_EVENTS,
            SinkKind::SplunkHec(_) => Framing::CONCATENATED,
            SinkKind::DatadogLogs(_) => Framing::JSON_ARRAY,
            SinkKind::ElasticsearchBulk(_) => Framing::NDJSON,
        }
    }

    /// One request. On failure: the failure and how many leading events of `events` the
    /// receiver accepted anyway.
    async fn send(
        &self,
        client: &OutboundClient,
        events: &[SiemEvent],
        body: Vec<u8>,
    ) -> Result<(), (DeliveryFailure, usize)> {
        match &self.kind {
            SinkKind::Webhook(sink) => {
                let now = self.clock.now();
                sink.send(client, events, body, now)
                    .await
                    .map_err(|f| (f, 0))
            }
            SinkKind::SplunkHec(sink) => sink.send(client, body).await.map_err(|f| (f, 0)),
            SinkKind::DatadogLogs(sink) => sink.send(client, body).await.map_err(|f| (f, 0)),
            SinkKind::ElasticsearchBulk(sink) => sink.send(client, events, body).await,
        }
    }
}

/// How entries are joined into one request body.
#[derive(Debug, Clone, Copy)]
struct Framing {
    prefix: &'static [u8],
    separator: &'static [u8],
    suffix: &'static [u8],
}

impl Framing {
    /// `{"events":[e1,e2]}`
    const JSON_OBJECT_EVENTS: Framing = Framing {
        prefix: b"{\"events\":[",
        separator: b",",
        suffix: b"]}",
    };
    /// `[e1,e2]`
    const JSON_ARRAY: Framing = Framing {
        prefix: b"[",
        separator: b",",
        suffix: b"]",
    };
    /// `e1\ne2` (Splunk HEC batches are JSON objects one after another).
    const CONCATENATED: Framing = Framing {
        prefix: b"",
        separator: b"\n",
        suffix: b"",
    };
    /// Entries already end with `\n` (the bulk API needs the final newline).
    const NDJSON: Framing = Framing {
        prefix: b"",
        separator: b"",
        suffix: b"",
    };

    fn overhead(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    fn assemble(&self, entries: &[Vec<u8>]) -> Vec<u8> {
        let len = self.overhead()
            + entries.iter().map(Vec::len).sum::<usize>()
            + self.separator.len() * entries.len().saturating_sub(1);
        let mut body = Vec::with_capacity(len);
        body.extend_from_slice(self.prefix);
        for (position, entry) in entries.iter().enumerate() {
            if position > 0 {
                body.extend_from_slice(self.separator);
            }
            body.extend_from_slice(entry);
        }
        body.extend_from_slice(self.suffix);
        body
    }
}

/// Splits entries (by size) into consecutive ranges within `limits`. An entry too large for
/// any request goes alone: the receiver decides (Datadog, for one, truncates logs over 1 MB).
fn plan_requests(sizes: &[usize], limits: RequestLimits, framing: Framing) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = framing.overhead();
    for (position, size) in sizes.iter().enumerate() {
        let count = position - start;
        let added = size
            + if count > 0 {
                framing.separator.len()
            } else {
                0
            };
        if count > 0 && (count == limits.max_events || bytes + added > limits.max_bytes) {
            ranges.push(start..position);
            start = position;
            bytes = framing.overhead() + size;
        } else {
            bytes += added;
        }
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

/// Classifies a refused request by status: 408, 429 and 5xx are worth retrying.
fn rejected(response: &OutboundResponse, detail: String) -> DeliveryFailure {
    DeliveryFailure::Rejected {
        origin: response.origin().to_owned(),
        status: response.status().as_u16(),
        detail,
        retryable: heddle_outbound::is_transient_status(response.status()),
        retry_after: response.retry_after(),
    }
}

/// Sends and maps transport failures.
async fn send_request(
    client: &OutboundClient,
    request: OutboundRequest,
) -> Result<OutboundResponse, DeliveryFailure> {
    client
        .send(request)
        .await
        .map_err(DeliveryFailure::Transport)
}

/// The receiver's body as error detail, scrubbed of `secrets`.
fn body_detail(response: &OutboundResponse, secrets: &[&str]) -> String {
    scrub(&response.text_lossy(), secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_events: usize, max_bytes: usize) -> RequestLimits {
        RequestLimits {
            max_events,
            max_bytes,
        }
    }

    #[test]
    fn plans_respect_the_entry_count() {
        let sizes = vec![10; 2500];
        let ranges = plan_requests(&sizes, limits(1000, 1 << 30), Framing::JSON_ARRAY);
        assert_eq!(ranges, vec![0..1000, 1000..2000, 2000..2500]);
    }

    #[test]
    fn plans_respect_the_byte_budget_including_framing() {
        // `[` + 3 × 10 + 2 separators + `]` = 34 bytes fit in 34, not in 33.
        let sizes = vec![10; 6];
        assert_eq!(
            plan_requests(&sizes, limits(100, 34), Framing::JSON_ARRAY),
            vec![0..3, 3..6]
        );
        assert_eq!(
            plan_requests(&sizes, limits(100, 33), Framing::JSON_ARRAY),
            vec![0..2, 2..4, 4..6]
        );
        for range in plan_requests(&sizes, limits(100, 33), Framing::JSON_ARRAY) {
            let entries: Vec<Vec<u8>> = range.map(|_| vec![b'x'; 10]).collect();
            assert!(Framing::JSON_ARRAY.assemble(&entries).len() <= 33);
        }
    }

    #[test]
    fn an_oversized_entry_goes_alone() {
        let sizes = vec![5, 100, 5, 5];
        assert_eq!(
            plan_requests(&sizes, limits(10, 20), Framing::CONCATENATED),
            vec![0..1, 1..2, 2..4]
        );
    }

    #[test]
    fn framings_assemble_as_documented() {
        let entries = vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()];
        assert_eq!(
            Framing::JSON_OBJECT_EVENTS.assemble(&entries),
            b"{\"events\":[{\"a\":1},{\"b\":2}]}"
        );
        assert_eq!(
            Framing::JSON_ARRAY.assemble(&entries),
            b"[{\"a\":1},{\"b\":2}]"
        );
        assert_eq!(
            Framing::CONCATENATED.assemble(&entries),
            b"{\"a\":1}\n{\"b\":2}"
        );
    }
}
