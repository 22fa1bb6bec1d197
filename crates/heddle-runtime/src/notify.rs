//! Notifying approvers: when an action starts waiting for approval, a signed webhook tells
//! the team's tool (chat, ticketing) with a link to decide it. Signed like the SIEM webhooks
//! (`X-Heddle-Signature: t=…,v1=HMAC-SHA256(secret, "<t>.<body>")`), sent through the one
//! outbound client (no private addresses unless allowed), retried a few times, and every
//! outcome audited. It carries what an approver needs to find the request, never arguments.

use std::time::Duration;

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{IpNet, OutboundClient, OutboundPolicy, OutboundRequest};
use heddle_store::PendingAction;
use heddle_types::AuditOutcome;
use serde_json::{Value, json};

use crate::Runtime;
use crate::events::{Subject, details, event, record};

/// Where approval requests are announced.
#[derive(Clone)]
pub struct ApprovalWebhook {
    pub url: String,
    /// Shared with the receiver to check signatures.
    pub secret: SecretString,
    /// Where people decide: the link is `<console_url>/approvals/<id>`.
    pub console_url: Option<String>,
    /// Private networks the receiver may be on (an internal chat bridge), e.g. `10.0.0.7/32`.
    pub allow_private_addresses: Vec<IpNet>,
}

impl std::fmt::Debug for ApprovalWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalWebhook")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("console_url", &self.console_url)
            .finish_non_exhaustive()
    }
}

const ATTEMPTS: u32 = 3;

/// The body of an `approval.requested` notification.
pub(crate) fn notification(action: &PendingAction, console_url: Option<&str>) -> Value {
    json!({
        "type": "approval.requested",
        "id": action.id.to_string(),
        "tenant_id": action.tenant_id.to_string(),
        "environment": action.environment.as_str(),
        "agent": action.agent,
        "capability": action.capability,
        "requested_by": format!("{}:{}", action.requested_by_kind, action.requested_by_id),
        "approver_role": action.approver_role,
        "reason": action.reason,
        "arguments_hash": action.arguments_hash,
        "expires_at": action
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "link": console_url.map(|base| format!("{}/approvals/{}", base.trim_end_matches('/'), action.id)),
    })
}

impl Runtime {
    /// Announces an action that now waits for approval, in the background.
    pub(crate) fn notify_approvers(&self, action: &PendingAction) {
        let Some(hook) = self.settings().approval_webhook.clone() else {
            return;
        };
        let runtime = self.clone();
        let body = notification(action, hook.console_url.as_deref());
        let subject_id = action.id.to_string();
        let tenant_id = action.tenant_id;
        let environment = action.environment;
        tokio::spawn(async move {
            let outcome = deliver(&hook, &body).await;
            let subject = Subject {
                tenant_id,
                environment: Some(environment),
                kind: "pending_action",
                id: subject_id,
            };
            let caller = heddle_identity::Caller::local_operator();
            let (result, detail) = match &outcome {
                Ok(attempts) => (AuditOutcome::Success, json!({"attempts": attempts})),
                Err(reason) => (AuditOutcome::Failure, json!({"reason": reason})),
            };
            if let Err(reason) = &outcome {
                tracing::warn!(reason = %reason, "approval notification not delivered");
            }
            let identity = runtime.identity();
            record(
                identity,
                &event(
                    identity,
                    &caller,
                    &subject,
                    "action.notify",
                    result,
                    details([("delivery", detail)]),
                ),
            )
            .await;
        });
    }
}

/// Posts the notification, retrying 5xx, 429 and transport errors; how many attempts it
/// took, or why it gave up.
async fn deliver(hook: &ApprovalWebhook, body: &Value) -> Result<u32, String> {
    let client = OutboundClient::new(OutboundPolicy {
        allow_private_addresses: hook.allow_private_addresses.clone(),
        ..OutboundPolicy::default()
    })
    .map_err(|err| err.to_string())?;
    let raw = serde_json::to_vec(body).map_err(|err| err.to_string())?;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature =
            heddle_siem::sign_webhook(hook.secret.expose_secret().as_bytes(), now, &raw);
        let request = OutboundRequest::post(&hook.url)
            .and_then(|r| {
                r.header_str(
                    heddle_outbound::HeaderName::from_static("x-heddle-signature"),
                    &signature,
                )
            })
            .and_then(|r| {
                r.header_str(
                    heddle_outbound::HeaderName::from_static("x-heddle-delivery"),
                    &uuid::Uuid::now_v7().to_string(),
                )
            })
            .map(|r| r.body("application/json", raw.clone()))
            .map_err(|err| err.to_string())?;
        match client.send(request).await {
            Ok(response) if response.status().is_success() => return Ok(attempt),
            Ok(response)
                if response.status().is_server_error() || response.status().as_u16() == 429 =>
            {
                last = format!("the receiver answered {}", response.status());
            }
            Ok(response) => return Err(format!("the receiver answered {}", response.status())),
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
    Err(format!("gave up after {ATTEMPTS} attempts: {last}"))
}
