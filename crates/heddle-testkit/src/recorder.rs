//! What a fake receiver remembers: every request, every event that arrived (duplicates
//! included), and the events it keeps after de-duplicating by `(tenant, seq)`, as a real
//! consumer of Heddle's at-least-once export would.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;
use uuid::Uuid;

/// How a fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiverMode {
    /// Accepts and answers as the real service does.
    #[default]
    Up,
    /// Stores nothing and answers 503 in the service's own error format.
    Unavailable,
    /// Stores nothing and answers 429 with `Retry-After: 1`.
    TooManyRequests,
    /// Stores the events, then answers 503, as if the acknowledgement was lost on the way
    /// back: the sender must retry and the receiver sees duplicates.
    LoseAck,
}

/// One HTTP request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// A header value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One Heddle audit event as it arrived at a fake.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    pub tenant_id: Uuid,
    pub seq: u64,
    /// The unit the service stores: the HEC event object, the Datadog log object, the
    /// Elasticsearch document, or the webhook's envelope.
    pub payload: Value,
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    mode: ReceiverMode,
    requests: Vec<RecordedRequest>,
    arrivals: Vec<ReceivedEvent>,
    kept: BTreeMap<(Uuid, u64), ReceivedEvent>,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn mode(&self) -> ReceiverMode {
        self.lock().mode
    }

    pub(crate) fn set_mode(&self, mode: ReceiverMode) {
        self.lock().mode = mode;
    }

    pub(crate) fn record_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        self.lock().requests.push(RecordedRequest {
            method: method.clone(),
            uri: uri.clone(),
            headers: headers.clone(),
            body: body.to_vec(),
        });
    }

    /// Records arrivals and keeps the first copy of each `(tenant, seq)`.
    pub(crate) fn record_events(&self, events: Vec<ReceivedEvent>) {
        let mut state = self.lock();
        for event in events {
            state
                .kept
                .entry((event.tenant_id, event.seq))
                .or_insert_with(|| event.clone());
            state.arrivals.push(event);
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// How many requests arrived, without copying them (a fake numbers its answers by it).
    pub(crate) fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    pub(crate) fn received(&self) -> Vec<ReceivedEvent> {
        self.lock().kept.values().cloned().collect()
    }

    pub(crate) fn received_seqs(&self) -> Vec<u64> {
        let mut seqs: Vec<u64> = self.lock().kept.keys().map(|(_, seq)| *seq).collect();
        seqs.sort_unstable();
        seqs
    }

    pub(crate) fn arrived_seqs(&self) -> Vec<u64> {
        self.lock().arrivals.iter().map(|event| event.seq).collect()
    }

    pub(crate) fn duplicate_arrivals(&self) -> usize {
        let state = self.lock();
        state.arrivals.len() - state.kept.len()
    }
}

/// Reads the `tenant_id` and `seq` of Heddle's event envelope.
pub(crate) fn tenant_and_seq(envelope: &Value) -> Option<(Uuid, u64)> {
    let tenant = envelope.get("tenant_id")?.as_str()?.parse().ok()?;
    let seq = envelope.get("seq")?.as_u64()?;
    Some((tenant, seq))
}

/// The delegating API every fake shares.
macro_rules! receiver_api {
    ($fake:ty) => {
        impl $fake {
            /// Base URL, `http://127.0.0.1:<port>`.
            pub fn url(&self) -> String {
                self.server.url()
            }

            pub fn addr(&self) -> std::net::SocketAddr {
                self.server.addr()
            }

            pub fn set_mode(&self, mode: $crate::ReceiverMode) {
                self.state.recorder.set_mode(mode);
            }

            pub fn mode(&self) -> $crate::ReceiverMode {
                self.state.recorder.mode()
            }

            /// Stops listening: connections are refused until [`Self::restart`].
            pub async fn stop(&self) {
                self.server.stop().await;
            }

            /// Listens again on the same port.
            pub async fn restart(&self) -> std::io::Result<()> {
                self.server.restart().await
            }

            /// Every request received, in order.
            pub fn requests(&self) -> Vec<$crate::RecordedRequest> {
                self.state.recorder.requests()
            }

            /// The events kept after de-duplicating by `(tenant, seq)`, ordered by both.
            pub fn received(&self) -> Vec<$crate::ReceivedEvent> {
                self.state.recorder.received()
            }

            /// Sequence numbers kept after de-duplication, ascending: each at most once.
            pub fn received_seqs(&self) -> Vec<u64> {
                self.state.recorder.received_seqs()
            }

            /// Sequence numbers of every arrival, duplicates included, in arrival order.
            pub fn arrived_seqs(&self) -> Vec<u64> {
                self.state.recorder.arrived_seqs()
            }

            /// How many arrivals were duplicates of an event already kept.
            pub fn duplicate_arrivals(&self) -> usize {
                self.state.recorder.duplicate_arrivals()
            }
        }
    };
}

pub(crate) use receiver_api;
