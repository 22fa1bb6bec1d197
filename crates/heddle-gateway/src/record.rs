//! The execution record of one gateway request: steps drafted as the request goes, written
//! with their audit events (`execution.<kind>`) in its two writes — the open before the
//! upstream call, the close after it (see `recorder`).

use std::time::Duration;

use heddle_identity::{Caller, Identity};
use heddle_store::{AuditedStep, NewStep, TurnStatus};
use heddle_types::{
    AuditEvent, AuditOutcome, AuditTarget, Environment, ExecutionId, SessionId, TenantId,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::screen::Violations;

/// One step before it is stored.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: &'static str,
    pub payload: Map<String, Value>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency: Option<Duration>,
    pub at: OffsetDateTime,
}

impl Draft {
    pub fn new(kind: &'static str, payload: Map<String, Value>, at: OffsetDateTime) -> Self {
        Self {
            kind,
            payload,
            input_tokens: 0,
            output_tokens: 0,
            cost_micros: 0,
            latency: None,
            at,
        }
    }

    /// The step as the store writes it.
    fn into_step(self) -> NewStep {
        NewStep {
            kind: self.kind.to_owned(),
            payload: Value::Object(self.payload),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_micros: self.cost_micros,
            latency_ms: self
                .latency
                .map(|l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX)),
            at: self.at,
        }
    }
}

/// `details` from pairs.
pub fn details<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// Who and what a request's record is about.
#[derive(Debug, Clone)]
pub struct Execution {
    pub tenant_id: TenantId,
    pub environment: Environment,
    pub route: String,
    pub session_id: SessionId,
    pub execution_id: ExecutionId,
}

impl Execution {
    fn target(&self) -> AuditTarget {
        AuditTarget {
            kind: "execution".to_owned(),
            id: self.execution_id.to_string(),
        }
    }

    /// An audit event about this execution (or, with another `target`, about its session).
    pub fn event(
        &self,
        identity: &Identity,
        caller: &Caller,
        action: &str,
        outcome: AuditOutcome,
        details: Map<String, Value>,
        target: AuditTarget,
    ) -> AuditEvent {
        AuditEvent {
            tenant_id: self.tenant_id,
            environment: Some(self.environment.as_str().to_owned()),
            actor: caller.audit_actor(),
            action: action.to_owned(),
            target: Some(target),
            outcome,
            request: caller.request.clone(),
            duration_ms: Some(
                u64::try_from(caller.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ),
            occurred_at: identity.now(),
            details,
        }
    }

    /// The close Heddle itself writes for an execution whose own close never came (its
    /// process stopped): a `status` step and the turn failed as interrupted, by the system.
    pub fn interrupted(
        &self,
        identity: &Identity,
        reason: &str,
    ) -> heddle_store::CloseGatewayExecution {
        let now = identity.now();
        let system = |action: &str, details: Map<String, Value>| {
            heddle_audit_log::prepare_event(&AuditEvent {
                tenant_id: self.tenant_id,
                environment: Some(self.environment.as_str().to_owned()),
                actor: heddle_types::AuditActor {
                    kind: heddle_types::ActorKind::System,
                    id: None,
                    display: None,
                    identity_mode: heddle_types::IdentityMode::System,
                },
                action: action.to_owned(),
                target: Some(self.target()),
                outcome: AuditOutcome::Failure,
                request: heddle_types::RequestContext::default(),
                duration_ms: None,
                occurred_at: now,
                details,
            })
        };
        let status = Draft::new(
            "status",
            details([
                ("status", Value::from(TurnStatus::Failed.as_str())),
                ("reason", Value::from(reason)),
            ]),
            now,
        );
        let status_details = self.step_details(&status);
        heddle_store::CloseGatewayExecution {
            tenant_id: self.tenant_id,
            session_id: self.session_id,
            environment: self.environment,
            route: self.route.clone(),
            steps: vec![AuditedStep {
                step: status.into_step(),
                audit: system("execution.status", status_details),
            }],
            status: TurnStatus::Failed,
            reason: Some(reason.to_owned()),
            at: now,
            audit: system(
                "turn.failed",
                details([
                    ("session", Value::from(self.session_id.to_string())),
                    ("turn", Value::from(1)),
                    ("reason", Value::from(reason)),
                ]),
            ),
            settle: None,
        }
    }

    /// A draft as the store writes it, with its audit event: the payload, the session, the
    /// turn and the usage; a guardrail that blocked is a `denied` event.
    pub fn audited(&self, identity: &Identity, caller: &Caller, draft: Draft) -> AuditedStep {
        let denied =
            draft.kind == "guardrail" && draft.payload.get("action") == Some(&Value::from("block"));
        let event = self.event(
            identity,
            caller,
            &format!("execution.{}", draft.kind),
            if denied {
                AuditOutcome::Denied
            } else {
                AuditOutcome::Success
            },
            self.step_details(&draft),
            self.target(),
        );
        AuditedStep {
            step: draft.into_step(),
            audit: heddle_audit_log::prepare_event(&event),
        }
    }

    /// A step's audit details: its payload with the session, turn and route, and its usage
    /// when it has any.
    fn step_details(&self, draft: &Draft) -> Map<String, Value> {
        let mut audit_details = draft.payload.clone();
        audit_details.insert("session".into(), Value::from(self.session_id.to_string()));
        audit_details.insert("turn".into(), Value::from(1));
        audit_details.insert("route".into(), Value::from(self.route.clone()));
        if draft.input_tokens != 0 || draft.output_tokens != 0 || draft.cost_micros != 0 {
            audit_details.insert(
                "usage".into(),
                json!({
                    "input_tokens": draft.input_tokens,
                    "output_tokens": draft.output_tokens,
                    "cost_micros": draft.cost_micros,
                }),
            );
        }
        audit_details
    }

    /// A state change of the execution (`turn.begin`, `turn.completed` …) as the store's
    /// transaction writes it.
    pub fn change(
        &self,
        identity: &Identity,
        caller: &Caller,
        action: &str,
        details: Map<String, Value>,
    ) -> heddle_store::NewAuditEvent {
        heddle_audit_log::prepare_event(&self.event(
            identity,
            caller,
            action,
            AuditOutcome::Success,
            details,
            self.target(),
        ))
    }
}

/// Every violation of a screening as a `guardrail` step, in order.
pub fn violation_drafts(violations: &Violations, at: OffsetDateTime) -> Vec<Draft> {
    violations
        .iter()
        .map(|(stage, channel, violation)| {
            Draft::new(
                "guardrail",
                details([
                    ("stage", serde_json::to_value(stage).unwrap_or_default()),
                    ("channel", Value::from(channel.as_str())),
                    ("guardrail", Value::from(violation.guardrail.as_str())),
                    ("detail", Value::from(violation.detail.clone())),
                    ("severity", Value::from(violation.severity.as_str())),
                    ("action", Value::from(violation.action.as_str())),
                    ("excerpt", Value::from(violation.excerpt.clone())),
                    ("failed", Value::from(violation.failed)),
                ]),
                at,
            )
        })
        .collect()
}
