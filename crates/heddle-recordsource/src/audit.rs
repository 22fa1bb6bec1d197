//! Audit events for record operations. They name the object, the record and the fields
//! touched, the org user and the mode — never a field value.

use heddle_identity::{Caller, Identity};
use heddle_store::NewAuditEvent;
use heddle_types::{AuditEvent, AuditOutcome, AuditTarget, IdentityMode, TenantId};
use serde_json::{Map, Value};

use crate::{AccessMode, RecordActor, RecordError};

/// One record operation, for its audit event.
#[derive(Debug, Clone)]
pub(crate) struct RecordOp {
    /// `record.create`, `record.query`, `record_org.apply` …
    pub(crate) action: &'static str,
    pub(crate) target: Option<AuditTarget>,
    pub(crate) details: Map<String, Value>,
}

impl RecordOp {
    pub(crate) fn new(action: &'static str) -> Self {
        Self {
            action,
            target: None,
            details: Map::new(),
        }
    }

    pub(crate) fn on(mut self, kind: &str, id: impl ToString) -> Self {
        self.target = Some(AuditTarget {
            kind: kind.to_owned(),
            id: id.to_string(),
        });
        self
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

pub(crate) fn event(
    identity: &Identity,
    actor: &RecordActor,
    op: &RecordOp,
    outcome: AuditOutcome,
) -> AuditEvent {
    let mut who = actor.caller.audit_actor();
    let mut details = op.details.clone();
    details.insert("org_user".to_owned(), Value::from(actor.user_id.0.clone()));
    if let AccessMode::System { justification } = &actor.mode {
        who.identity_mode = IdentityMode::ServiceUser;
        details.insert(
            "justification".to_owned(),
            Value::from(justification.clone()),
        );
    }
    AuditEvent {
        tenant_id: actor.tenant_id,
        environment: None,
        actor: who,
        action: op.action.to_owned(),
        target: op.target.clone(),
        outcome,
        request: actor.caller.request.clone(),
        duration_ms: Some(
            u64::try_from(actor.caller.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ),
        occurred_at: identity.now(),
        details,
    }
}

/// The event of a successful change, for the store to write in its transaction.
pub(crate) fn change_event(
    identity: &Identity,
    actor: &RecordActor,
    op: &RecordOp,
) -> NewAuditEvent {
    heddle_audit_log::prepare_event(&event(identity, actor, op, AuditOutcome::Success))
}

/// Appends an event outside any change (a refusal, a system-mode read). Best effort for the
/// caller: a failure is logged and counted, never turned into a different response.
pub(crate) async fn record(identity: &Identity, event: &AuditEvent) {
    if let Err(error) = identity.audit_log().record(event).await {
        tracing::error!(error = %error, action = %event.action, "audit event not recorded");
        metrics::counter!("heddle_audit_record_failures_total").increment(1);
    }
}

/// Records how an operation ended: successes of changes only nudge the drainer (their event
/// is in the outbox); refusals and failures are appended now; system-mode reads are appended
/// as successes, since bypassing sharing must always leave a trace.
pub(crate) async fn finish<T>(
    identity: &Identity,
    actor: &RecordActor,
    op: RecordOp,
    changed: bool,
    result: Result<T, RecordError>,
) -> Result<T, RecordError> {
    match &result {
        Ok(_) if changed => identity.audit_log().nudge(),
        Ok(_) if matches!(actor.mode, AccessMode::System { .. }) => {
            record(
                identity,
                &event(identity, actor, &op, AuditOutcome::Success),
            )
            .await;
        }
        Ok(_) => {}
        Err(error) => {
            let op = op.with("reason", error.reason());
            record(identity, &event(identity, actor, &op, error.outcome())).await;
        }
    }
    result
}

/// An administrative event on a whole tenant (applying the record org, an import), caused by
/// a caller acting as themselves rather than as an org user.
pub(crate) fn tenant_event(
    identity: &Identity,
    caller: &Caller,
    tenant_id: TenantId,
    action: &'static str,
    outcome: AuditOutcome,
    details: Map<String, Value>,
) -> AuditEvent {
    AuditEvent {
        tenant_id,
        environment: None,
        actor: caller.audit_actor(),
        action: action.to_owned(),
        target: Some(AuditTarget {
            kind: "tenant".to_owned(),
            id: tenant_id.to_string(),
        }),
        outcome,
        request: caller.request.clone(),
        duration_ms: Some(u64::try_from(caller.started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        occurred_at: identity.now(),
        details,
    }
}

/// Records how a tenant-level operation ended: a success only nudges the drainer (its event is
/// in the outbox); a refusal or failure is appended with its reason.
pub(crate) async fn finish_tenant_op<T>(
    identity: &Identity,
    caller: &Caller,
    tenant_id: TenantId,
    action: &'static str,
    mut details: Map<String, Value>,
    result: Result<T, RecordError>,
) -> Result<T, RecordError> {
    match &result {
        Ok(_) => identity.audit_log().nudge(),
        Err(error) => {
            details.insert("reason".to_owned(), Value::from(error.reason()));
            let event = tenant_event(
                identity,
                caller,
                tenant_id,
                action,
                error.outcome(),
                details,
            );
            record(identity, &event).await;
        }
    }
    result
}
