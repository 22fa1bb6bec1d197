//! Audit events of the runtime: one per state change (written by the store in the change's
//! transaction) and one per refusal. They name the session, turn, agent and capability, and
//! carry message text only as the content-privacy setting allows.

use heddle_identity::{Caller, Identity};
use heddle_store::NewAuditEvent;
use heddle_types::{AuditEvent, AuditOutcome, AuditTarget, Environment, TenantId};
use serde_json::{Map, Value};

/// What an event is about.
#[derive(Debug, Clone)]
pub(crate) struct Subject<'a> {
    pub(crate) tenant_id: TenantId,
    pub(crate) environment: Option<Environment>,
    /// `session`, `execution` …
    pub(crate) kind: &'a str,
    pub(crate) id: String,
}

pub(crate) fn event(
    identity: &Identity,
    caller: &Caller,
    subject: &Subject<'_>,
    action: &str,
    outcome: AuditOutcome,
    details: Map<String, Value>,
) -> AuditEvent {
    AuditEvent {
        tenant_id: subject.tenant_id,
        environment: subject.environment.map(|e| e.as_str().to_owned()),
        actor: caller.audit_actor(),
        action: action.to_owned(),
        target: Some(AuditTarget {
            kind: subject.kind.to_owned(),
            id: subject.id.clone(),
        }),
        outcome,
        request: caller.request.clone(),
        duration_ms: Some(u64::try_from(caller.started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        occurred_at: identity.now(),
        details,
    }
}

/// A successful change's event, for the store's transaction.
pub(crate) fn change(
    identity: &Identity,
    caller: &Caller,
    subject: &Subject<'_>,
    action: &str,
    details: Map<String, Value>,
) -> NewAuditEvent {
    heddle_audit_log::prepare_event(&event(
        identity,
        caller,
        subject,
        action,
        AuditOutcome::Success,
        details,
    ))
}

/// Appends an event outside any change (a refusal). A failure to record is logged and
/// counted; the caller's response does not change.
pub(crate) async fn record(identity: &Identity, event: &AuditEvent) {
    if let Err(error) = identity.audit_log().record(event).await {
        tracing::error!(error = %error, action = %event.action, "audit event not recorded");
        metrics::counter!("heddle_audit_record_failures_total").increment(1);
    }
}

/// `details` from pairs.
pub(crate) fn details<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// Records a refused or failed operation outside any change.
pub(crate) async fn record_refusal(
    identity: &Identity,
    caller: &Caller,
    subject: &Subject<'_>,
    action: &str,
    error: &crate::RuntimeError,
) {
    let outcome = match error {
        crate::RuntimeError::Identity(heddle_identity::IdentityError::Forbidden { .. }) => {
            AuditOutcome::Denied
        }
        _ => AuditOutcome::Failure,
    };
    let reason = details([("reason", Value::from(error.reason()))]);
    record(
        identity,
        &event(identity, caller, subject, action, outcome, reason),
    )
    .await;
}
