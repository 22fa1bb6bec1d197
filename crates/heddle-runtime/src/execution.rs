//! The durable execution record of one turn, as the API shows it.

use heddle_identity::Caller;
use heddle_store::Step;
use heddle_types::{Action, Environment, ExecutionId, SessionId, TenantId};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::conversation::TRANSCRIPT_KEY;
use crate::{Runtime, RuntimeResult};

/// One turn's execution: what ran, under which configuration version, and every step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionView {
    pub id: ExecutionId,
    pub session_id: SessionId,
    pub turn: i64,
    /// The agent, or for `channel: gateway` the route the request went through.
    pub agent: String,
    /// `conversation` (a turn of a conversation), `mcp` (a direct tool call of an MCP
    /// client) or `gateway` (one request through a route).
    pub channel: &'static str,
    pub environment: Environment,
    pub config_version: i64,
    pub status: &'static str,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub estimated_cost_usd: f64,
    pub steps: Vec<StepView>,
}

/// One recorded step. Message text appears only as the content-privacy setting allows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    pub seq: i64,
    pub kind: String,
    /// False for a step of a turn that had been superseded or abandoned: recorded, never
    /// entered into the conversation.
    pub applied: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(skip_serializing_if = "is_zero")]
    pub input_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub output_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cost_micros: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    pub detail: Value,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

impl From<Step> for StepView {
    fn from(step: Step) -> Self {
        let mut detail = step.payload;
        // The sealed conversation entry is the runtime's, not the reader's.
        if let Value::Object(map) = &mut detail {
            map.remove(TRANSCRIPT_KEY);
            map.remove(crate::trust::MASK_STATE_KEY);
        }
        Self {
            seq: step.seq,
            kind: step.kind,
            applied: step.applied,
            at: step.at,
            input_tokens: step.input_tokens,
            output_tokens: step.output_tokens,
            cost_micros: step.cost_micros,
            latency_ms: step.latency_ms,
            detail,
        }
    }
}

impl Runtime {
    /// One execution with its steps. Needs `view_executions`.
    pub async fn get_execution(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        execution_id: ExecutionId,
    ) -> RuntimeResult<ExecutionView> {
        self.authorize(caller, tenant_id, Action::ViewExecutions)
            .await?;
        let turn = self.store().get_execution(tenant_id, execution_id).await?;
        let session = self.store().get_session(tenant_id, turn.session_id).await?;
        let steps = self
            .store()
            .list_steps(tenant_id, turn.session_id, Some(turn.turn))
            .await?;
        // The turn's spending is the sum of its steps, which are already here.
        let (input_tokens, output_tokens, cost_micros) =
            steps.iter().fold((0i64, 0i64, 0i64), |(i, o, c), step| {
                (
                    i.saturating_add(step.input_tokens),
                    o.saturating_add(step.output_tokens),
                    c.saturating_add(step.cost_micros),
                )
            });
        Ok(ExecutionView {
            id: execution_id,
            session_id: turn.session_id,
            turn: turn.turn,
            agent: session.agent,
            channel: session.channel.as_str(),
            environment: session.environment,
            config_version: session.config_version,
            status: turn.status.as_str(),
            reason: turn.reason,
            started_at: turn.started_at,
            finished_at: turn.finished_at,
            input_tokens,
            output_tokens,
            estimated_cost_usd: cost_micros as f64 / 1_000_000.0,
            steps: steps.into_iter().map(StepView::from).collect(),
        })
    }
}
