//! SIEM sinks: creation with its audit event, cursor that only moves forward, leases, status.

use heddle_store::{NewSiemSink, SiemDeliveryUpdate, StoreError};
use heddle_types::TenantId;
use uuid::Uuid;

use crate::fixtures::{at, event, tenant};
use crate::harness::TestDb;

conformance_tests!(
    sinks_are_created_listed_and_deleted_with_events,
    duplicate_sink_names_conflict_within_a_tenant,
    delivery_moves_the_cursor_forward_only,
    a_lease_is_held_by_one_process_at_a_time,
    failures_pause_or_schedule_and_resume_clears,
);

fn new_sink(tenant_id: TenantId, name: &str) -> NewSiemSink {
    NewSiemSink {
        id: Uuid::now_v7(),
        tenant_id,
        name: name.to_owned(),
        kind: "webhook".to_owned(),
        summary: "webhook → siem.example.com".to_owned(),
        sealed_config: vec![7; 90],
        data_key_version: 1,
        cursor: 0,
        created_at: at(1),
    }
}

fn delivered(cursor: u64, seconds: i64) -> SiemDeliveryUpdate {
    SiemDeliveryUpdate {
        cursor,
        attempts: 0,
        last_error: None,
        at: at(seconds),
        delivered: true,
        next_attempt_at: None,
        paused: false,
    }
}

async fn sinks_are_created_listed_and_deleted_with_events(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let outbox = store.audit_outbox_len().await.unwrap();
    let created = store
        .create_siem_sink(new_sink(acme.id, "soc"), event(acme.id, "siem_sink.create"))
        .await
        .unwrap();
    assert_eq!(created.cursor, 0);
    assert!(!created.paused);
    assert_eq!(store.audit_outbox_len().await.unwrap(), outbox + 1);
    assert_eq!(
        store.list_siem_sinks(acme.id).await.unwrap(),
        vec![created.clone()]
    );
    assert!(store.list_siem_sinks(other.id).await.unwrap().is_empty());
    assert!(matches!(
        store.get_siem_sink(other.id, created.id).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    store
        .delete_siem_sink(acme.id, created.id, event(acme.id, "siem_sink.delete"))
        .await
        .unwrap();
    assert!(store.list_siem_sinks(acme.id).await.unwrap().is_empty());
    assert_eq!(store.audit_outbox_len().await.unwrap(), outbox + 2);
    let missing = store
        .delete_siem_sink(acme.id, created.id, event(acme.id, "siem_sink.delete"))
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }));
    assert_eq!(
        store.audit_outbox_len().await.unwrap(),
        outbox + 2,
        "no event for a failed change"
    );
}

async fn duplicate_sink_names_conflict_within_a_tenant(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    store
        .create_siem_sink(new_sink(acme.id, "soc"), event(acme.id, "c"))
        .await
        .unwrap();
    let err = store
        .create_siem_sink(new_sink(acme.id, "soc"), event(acme.id, "c"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    store
        .create_siem_sink(new_sink(other.id, "soc"), event(other.id, "c"))
        .await
        .unwrap();
}

async fn delivery_moves_the_cursor_forward_only(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let sink = store
        .create_siem_sink(new_sink(acme.id, "soc"), event(acme.id, "c"))
        .await
        .unwrap();
    store
        .record_siem_delivery(sink.id, delivered(10, 5))
        .await
        .unwrap();
    // A late, slower round reporting an older cursor does not move it back.
    store
        .record_siem_delivery(sink.id, delivered(4, 6))
        .await
        .unwrap();
    let current = store.get_siem_sink(acme.id, sink.id).await.unwrap();
    assert_eq!(current.cursor, 10);
    assert_eq!(current.last_delivered_at, Some(at(6)));
    assert!(
        db.execute_raw("UPDATE siem_sinks SET cursor = 0")
            .await
            .is_err(),
        "the database refuses moving a cursor back"
    );
}

async fn a_lease_is_held_by_one_process_at_a_time(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let sink = store
        .create_siem_sink(new_sink(acme.id, "soc"), event(acme.id, "c"))
        .await
        .unwrap();
    let second = db.another_store().await;
    assert!(
        store
            .lease_siem_sink(sink.id, at(10), at(70))
            .await
            .unwrap()
    );
    assert!(
        !second
            .lease_siem_sink(sink.id, at(11), at(71))
            .await
            .unwrap()
    );
    // An expired lease can be taken over (the holder died).
    assert!(
        second
            .lease_siem_sink(sink.id, at(71), at(131))
            .await
            .unwrap()
    );
    // Recording the outcome releases it.
    second
        .record_siem_delivery(sink.id, delivered(1, 72))
        .await
        .unwrap();
    assert!(
        store
            .lease_siem_sink(sink.id, at(73), at(133))
            .await
            .unwrap()
    );
}

async fn failures_pause_or_schedule_and_resume_clears(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let sink = store
        .create_siem_sink(new_sink(acme.id, "soc"), event(acme.id, "c"))
        .await
        .unwrap();
    assert_eq!(store.due_siem_sinks(at(2)).await.unwrap().len(), 1);
    let retry = SiemDeliveryUpdate {
        cursor: 0,
        attempts: 1,
        last_error: Some("503 from receiver".into()),
        at: at(3),
        delivered: false,
        next_attempt_at: Some(at(10)),
        paused: false,
    };
    store.record_siem_delivery(sink.id, retry).await.unwrap();
    assert!(
        store.due_siem_sinks(at(5)).await.unwrap().is_empty(),
        "not due before the backoff"
    );
    assert_eq!(store.due_siem_sinks(at(10)).await.unwrap().len(), 1);
    let fatal = SiemDeliveryUpdate {
        cursor: 0,
        attempts: 2,
        last_error: Some("401 from receiver".into()),
        at: at(11),
        delivered: false,
        next_attempt_at: None,
        paused: true,
    };
    store.record_siem_delivery(sink.id, fatal).await.unwrap();
    assert!(
        store.due_siem_sinks(at(1000)).await.unwrap().is_empty(),
        "paused sinks wait"
    );
    let paused = store.get_siem_sink(acme.id, sink.id).await.unwrap();
    assert_eq!(paused.last_error.as_deref(), Some("401 from receiver"));
    assert_eq!(paused.last_error_at, Some(at(11)));
    let resumed = store
        .resume_siem_sink(acme.id, sink.id, event(acme.id, "siem_sink.resume"))
        .await
        .unwrap();
    assert!(!resumed.paused);
    assert_eq!(resumed.attempts, 0);
    assert_eq!(store.due_siem_sinks(at(1001)).await.unwrap().len(), 1);
}

conformance_tests!(draining_one_tenant_leaves_the_others_pending);

async fn draining_one_tenant_leaves_the_others_pending(db: TestDb) {
    let store = &*db.store;
    let acme = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let sequencer = crate::sequencer::TestSequencer;
    store
        .drain_audit_outbox(&sequencer, u32::MAX)
        .await
        .unwrap();
    store
        .create_siem_sink(new_sink(acme.id, "a"), event(acme.id, "c"))
        .await
        .unwrap();
    store
        .create_siem_sink(new_sink(other.id, "b"), event(other.id, "c"))
        .await
        .unwrap();
    assert_eq!(store.audit_outbox_len().await.unwrap(), 2);
    assert_eq!(
        store
            .drain_audit_outbox_for(acme.id, &sequencer)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.audit_outbox_len().await.unwrap(),
        1,
        "the other tenant still waits"
    );
    assert_eq!(
        store
            .drain_audit_outbox_for(acme.id, &sequencer)
            .await
            .unwrap(),
        0
    );
}
