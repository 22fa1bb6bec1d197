//! Audit events for identity operations: one per state change (written by the store in the
//! change's own transaction) and one per refusal or failure (appended through the audit log).

use std::time::Instant;

use heddle_store::NewAuditEvent;
use heddle_types::{
    ActorKind, AuditActor, AuditEvent, AuditOutcome, AuditTarget, IdentityMode, PrincipalKind,
    RequestContext, TenantId,
};
use serde_json::{Map, Value};

use crate::{Actor, Identity, IdentityError, IdentityResult};

/// Who asks, and from where: what every audit event says about the request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub request: RequestContext,
    /// When the request started, for the events' `duration_ms`.
    pub started: Instant,
}

impl Caller {
    pub fn new(actor: Actor, request: RequestContext) -> Self {
        Self {
            actor,
            request,
            started: Instant::now(),
        }
    }

    /// The person running the `heddle` CLI.
    pub fn local_operator() -> Self {
        Self::new(Actor::LocalOperator, RequestContext::default())
    }

    pub fn audit_actor(&self) -> AuditActor {
        match &self.actor {
            Actor::Principal(principal) => AuditActor {
                kind: match principal.kind {
                    PrincipalKind::User => ActorKind::User,
                    PrincipalKind::ApiKey => ActorKind::ApiKey,
                },
                id: Some(principal.id.to_string()),
                display: Some(principal.display_name.clone()),
                identity_mode: IdentityMode::User,
            },
            Actor::LocalOperator => AuditActor {
                kind: ActorKind::LocalOperator,
                id: None,
                display: None,
                identity_mode: IdentityMode::System,
            },
        }
    }
}

/// What an operation is, for its audit event.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) tenant_id: TenantId,
    /// Dotted verb: `user.create`, `api_key.revoke` …
    pub(crate) action: &'static str,
    pub(crate) target: Option<AuditTarget>,
    /// The environment acted in, for environment-scoped resources such as secrets.
    pub(crate) environment: Option<&'static str>,
}

impl Operation {
    pub(crate) fn new(tenant_id: TenantId, action: &'static str) -> Self {
        Self {
            tenant_id,
            action,
            target: None,
            environment: None,
        }
    }

    pub(crate) fn on(mut self, kind: &str, id: impl ToString) -> Self {
        self.target = Some(AuditTarget {
            kind: kind.to_owned(),
            id: id.to_string(),
        });
        self
    }
}

pub(crate) fn details(
    pairs: impl IntoIterator<Item = (&'static str, Value)>,
) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

impl Identity {
    fn audit_event(
        &self,
        caller: &Caller,
        operation: &Operation,
        outcome: AuditOutcome,
        details: Map<String, Value>,
    ) -> AuditEvent {
        let mut event = self.event_as(
            caller.audit_actor(),
            &caller.request,
            operation,
            outcome,
            details,
        );
        event.duration_ms =
            Some(u64::try_from(caller.started.elapsed().as_millis()).unwrap_or(u64::MAX));
        event
    }

    /// An event whose actor is not (yet) an authenticated principal: a login or a
    /// credential being checked.
    pub(crate) fn event_as(
        &self,
        actor: AuditActor,
        request: &RequestContext,
        operation: &Operation,
        outcome: AuditOutcome,
        details: Map<String, Value>,
    ) -> AuditEvent {
        AuditEvent {
            tenant_id: operation.tenant_id,
            environment: operation.environment.map(str::to_owned),
            actor,
            action: operation.action.to_owned(),
            target: operation.target.clone(),
            outcome,
            request: request.clone(),
            duration_ms: None,
            occurred_at: self.now(),
            details,
        }
    }

    /// The event of a successful state change, for the store to write in its transaction.
    pub(crate) fn change_event(
        &self,
        caller: &Caller,
        operation: &Operation,
        details: Map<String, Value>,
    ) -> NewAuditEvent {
        heddle_audit_log::prepare_event(&self.audit_event(
            caller,
            operation,
            AuditOutcome::Success,
            details,
        ))
    }

    /// Records how an operation ended: a success only nudges the drainer (its event is
    /// already in the outbox); a refusal or failure is appended now. If that append fails
    /// the operation's own result still stands, and the failure is logged and counted.
    pub(crate) async fn finish<T>(
        &self,
        caller: &Caller,
        operation: Operation,
        result: IdentityResult<T>,
    ) -> IdentityResult<T> {
        let error = match &result {
            Ok(_) => {
                self.inner.audit.nudge();
                return result;
            }
            Err(error) => error,
        };
        let (outcome, reason) = refusal(error);
        let event = self.audit_event(
            caller,
            &operation,
            outcome,
            details([("reason", Value::from(reason))]),
        );
        self.record(&event).await;
        result
    }

    /// For reads: successful reads are not events; a refused read is.
    pub(crate) async fn finish_read(
        &self,
        caller: &Caller,
        operation: Operation,
        authorized: IdentityResult<()>,
    ) -> IdentityResult<()> {
        if authorized.is_ok() {
            return authorized;
        }
        self.finish(caller, operation, authorized).await
    }

    /// Appends an event that is not part of a state change (best effort for the caller:
    /// a failure is logged and counted, never turned into a different response).
    pub(crate) async fn record(&self, event: &AuditEvent) {
        if let Err(error) = self.inner.audit.record(event).await {
            tracing::error!(error = %error, action = %event.action, "audit event not recorded");
            metrics::counter!("heddle_audit_record_failures_total").increment(1);
        }
    }
}

/// How a failed operation is classified in the audit log, and a stable reason code.
pub(crate) fn refusal(error: &IdentityError) -> (AuditOutcome, String) {
    match error {
        IdentityError::Unauthenticated(reason) => (AuditOutcome::Denied, reason.to_string()),
        IdentityError::Forbidden { action } => {
            (AuditOutcome::Denied, format!("forbidden:{action}"))
        }
        IdentityError::NotFound { entity, .. } => {
            (AuditOutcome::Denied, format!("not_found:{entity}"))
        }
        IdentityError::Conflict { entity, field, .. } => {
            (AuditOutcome::Denied, format!("conflict:{entity}.{field}"))
        }
        IdentityError::Invalid { field, .. } => (AuditOutcome::Denied, format!("invalid:{field}")),
        IdentityError::Refused(_) => (AuditOutcome::Denied, "refused".to_owned()),
        IdentityError::PolicyRejected(_) => (AuditOutcome::Denied, "invalid_policy".to_owned()),
        IdentityError::Policy(_) => (AuditOutcome::Failure, "policy_engine".to_owned()),
        IdentityError::Crypto(_) => (AuditOutcome::Failure, "crypto".to_owned()),
        IdentityError::Store(_) | IdentityError::AuditUnavailable(_) => {
            (AuditOutcome::Failure, "storage".to_owned())
        }
    }
}

impl Identity {
    /// A tenant's audit events, for auditors (`view_audit_log`). Pending outbox rows are
    /// sequenced first, so a change the caller just made is visible.
    pub async fn list_audit_events(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        filter: &heddle_store::AuditFilter,
    ) -> IdentityResult<Vec<heddle_store::StoredAuditEvent>> {
        let authorized = self
            .authorize(
                &caller.actor,
                heddle_types::Action::ViewAuditLog,
                heddle_types::Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, Operation::new(tenant_id, "audit.list"), authorized)
            .await?;
        self.inner
            .audit
            .list(tenant_id, filter)
            .await
            .map_err(|error| IdentityError::AuditUnavailable(error.to_string()))
    }
}

/// The audit log's verification surface, for auditors (`view_audit_log`).
impl Identity {
    async fn authorize_audit_read(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        action: &'static str,
    ) -> IdentityResult<()> {
        let authorized = self
            .authorize(
                &caller.actor,
                heddle_types::Action::ViewAuditLog,
                heddle_types::Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, Operation::new(tenant_id, action), authorized)
            .await
    }

    /// Signs the current tree now (or returns the checkpoint that already covers it).
    pub async fn issue_audit_checkpoint(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
    ) -> IdentityResult<Option<heddle_audit::SignedCheckpoint>> {
        self.authorize_audit_read(caller, tenant_id, "audit.checkpoint")
            .await?;
        self.inner
            .audit
            .checkpoint(&self.inner.vault, tenant_id)
            .await
            .map_err(audit_unavailable)
    }

    pub async fn list_audit_checkpoints(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
    ) -> IdentityResult<Vec<heddle_store::StoredCheckpoint>> {
        self.authorize_audit_read(caller, tenant_id, "audit.checkpoints")
            .await?;
        Ok(self.inner.store.list_audit_checkpoints(tenant_id).await?)
    }

    pub async fn audit_public_keys(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
    ) -> IdentityResult<Vec<heddle_crypto::PublicKey>> {
        self.authorize_audit_read(caller, tenant_id, "audit.public_keys")
            .await?;
        let vault = &self.inner.vault;
        // Make the key on first request, so auditors can pin it before the first checkpoint.
        vault
            .checkpoint_signer(tenant_id)
            .await
            .map_err(|error| IdentityError::AuditUnavailable(error.to_string()))?;
        vault
            .checkpoint_public_keys(tenant_id)
            .await
            .map_err(|error| IdentityError::AuditUnavailable(error.to_string()))
    }

    pub async fn audit_inclusion_proof(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        seq: u64,
    ) -> IdentityResult<heddle_audit_log::InclusionProof> {
        self.authorize_audit_read(caller, tenant_id, "audit.proof")
            .await?;
        self.inner
            .audit
            .inclusion_proof(&self.inner.vault, tenant_id, seq)
            .await
            .map_err(audit_unavailable)
    }

    pub async fn audit_consistency_proof(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        from: u64,
        to: u64,
    ) -> IdentityResult<heddle_audit_log::ConsistencyProof> {
        self.authorize_audit_read(caller, tenant_id, "audit.proof")
            .await?;
        self.inner
            .audit
            .consistency_proof(tenant_id, from, to)
            .await
            .map_err(audit_unavailable)
    }

    /// The tenant's log as an `heddle-audit-export/1` file, up to a fresh checkpoint.
    pub async fn export_audit_log(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        since: u64,
    ) -> IdentityResult<(Vec<u8>, heddle_audit_log::ExportSummary)> {
        self.authorize_audit_read(caller, tenant_id, "audit.export")
            .await?;
        let result = self
            .inner
            .audit
            .export(&self.inner.vault, tenant_id, since, Vec::new())
            .await
            .map_err(audit_unavailable);
        if result.is_ok() {
            // Exporting is itself worth a record: who took a copy of the log, and from where.
            let event = self.audit_event(
                caller,
                &Operation::new(tenant_id, "audit.export"),
                AuditOutcome::Success,
                details([("since", Value::from(since))]),
            );
            self.record(&event).await;
        }
        result
    }
}

fn audit_unavailable(error: heddle_audit_log::AuditLogError) -> IdentityError {
    match error {
        heddle_audit_log::AuditLogError::NoSuchEvent { seq } => IdentityError::NotFound {
            entity: "audit event",
            id: seq.to_string(),
        },
        heddle_audit_log::AuditLogError::NoSuchCheckpoint { tree_size } => {
            IdentityError::NotFound {
                entity: "audit checkpoint",
                id: tree_size.to_string(),
            }
        }
        other => IdentityError::AuditUnavailable(other.to_string()),
    }
}

impl Identity {
    /// Manual retention: deletes the payloads of the tenant's events before `cutoff` and
    /// records who did it. Only the local operator (CLI) may; the API does not offer it.
    pub async fn purge_audit_log(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        cutoff: time::OffsetDateTime,
    ) -> IdentityResult<u64> {
        if !matches!(caller.actor, Actor::LocalOperator) {
            return Err(IdentityError::Refused(
                "manual audit purges run from the `heddle audit purge` command only".into(),
            ));
        }
        let purged = self
            .inner
            .audit
            .purge_before(tenant_id, cutoff)
            .await
            .map_err(audit_unavailable)?;
        let event = self.audit_event(
            caller,
            &Operation::new(tenant_id, "audit.purge"),
            AuditOutcome::Success,
            details([
                ("purged", Value::from(purged)),
                ("before", Value::from(heddle_audit::format_utc(cutoff))),
            ]),
        );
        self.record(&event).await;
        Ok(purged)
    }
}
