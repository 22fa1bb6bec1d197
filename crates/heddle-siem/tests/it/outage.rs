//! The scenario: the receiver is down for a while (connections refused, then 503,
//! then it stores a batch but the acknowledgement is lost), comes back, and ends up with
//! every event exactly once by sequence.

use heddle_outbound::OutboundClient;
use heddle_siem::SiemSink;
use heddle_testkit::{
    FakeDatadogIntake, FakeElasticsearch, FakeSplunkHec, FakeWebhookReceiver, ReceiverMode,
};
use serde_json::json;

use crate::{client, deliver_all, events, sink};

/// The receiver-side controls the scenario needs, for any fake.
trait Receiver {
    fn set_mode(&self, mode: ReceiverMode);
    async fn stop(&self);
    async fn restart(&self);
    fn received_seqs(&self) -> Vec<u64>;
}

macro_rules! receiver {
    ($fake:ty) => {
        impl Receiver for $fake {
            fn set_mode(&self, mode: ReceiverMode) {
                <$fake>::set_mode(self, mode);
            }
            async fn stop(&self) {
                <$fake>::stop(self).await;
            }
            async fn restart(&self) {
                <$fake>::restart(self).await.unwrap();
            }
            fn received_seqs(&self) -> Vec<u64> {
                <$fake>::received_seqs(self)
            }
        }
    };
}

receiver!(FakeWebhookReceiver);
receiver!(FakeSplunkHec);
receiver!(FakeDatadogIntake);
receiver!(FakeElasticsearch);

/// 1..=20 delivered while up; then down (refused) for two attempts, 503 for two more, one
/// lost acknowledgement, then up; 21..=60 must all arrive. Returns the failure count.
async fn down_for_a_while_then_back(receiver: &impl Receiver, sink: &SiemSink) -> usize {
    let client: OutboundClient = client();
    let all = events(1..=60);
    assert_eq!(
        deliver_all(sink, &client, &all[..20], 7, |_| async {}).await,
        0
    );

    receiver.stop().await;
    let failures = deliver_all(sink, &client, &all[20..], 7, |failures| async move {
        match failures {
            2 => {
                receiver.restart().await;
                receiver.set_mode(ReceiverMode::Unavailable);
            }
            4 => receiver.set_mode(ReceiverMode::LoseAck),
            5 => receiver.set_mode(ReceiverMode::Up),
            _ => {}
        }
    })
    .await;

    assert_eq!(receiver.received_seqs(), (1..=60).collect::<Vec<_>>());
    failures
}

#[tokio::test]
async fn webhook_receiver_gets_every_event_exactly_once_by_seq() {
    let fake = FakeWebhookReceiver::start("whsec_outage").await.unwrap();
    let sink = sink(json!({"kind": "webhook", "url": fake.endpoint(), "secret": "whsec_outage"}));

    let failures = down_for_a_while_then_back(&fake, &sink).await;

    assert_eq!(failures, 5);
    assert!(
        fake.duplicate_arrivals() > 0,
        "the lost ack must cause a re-delivery"
    );
}

#[tokio::test]
async fn splunk_receiver_gets_every_event_exactly_once_by_seq() {
    let fake = FakeSplunkHec::start("outage-token").await.unwrap();
    let sink = sink(json!({"kind": "splunk_hec", "url": fake.url(), "token": "outage-token"}));

    assert_eq!(down_for_a_while_then_back(&fake, &sink).await, 5);
    assert!(fake.duplicate_arrivals() > 0);
}

#[tokio::test]
async fn datadog_receiver_gets_every_event_exactly_once_by_seq() {
    let fake = FakeDatadogIntake::start("outage-key").await.unwrap();
    let sink =
        sink(json!({"kind": "datadog_logs", "intake_url": fake.url(), "api_key": "outage-key"}));

    assert_eq!(down_for_a_while_then_back(&fake, &sink).await, 5);
    assert!(fake.duplicate_arrivals() > 0);
}

#[tokio::test]
async fn elasticsearch_stores_every_event_exactly_once() {
    let fake = FakeElasticsearch::start_with_api_key("b3V0YWdl")
        .await
        .unwrap();
    let sink = sink(json!({
        "kind": "elasticsearch_bulk", "url": fake.url(), "auth": {"api_key": "b3V0YWdl"}
    }));

    assert_eq!(down_for_a_while_then_back(&fake, &sink).await, 5);
    // The cluster de-duplicated by `_id`: the re-sent batch hit 409s, counted as delivered.
    assert_eq!(fake.documents().len(), 60);
    assert_eq!(fake.duplicate_arrivals(), 0);
}
