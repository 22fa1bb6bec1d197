//! Guardrail violations across a tenant's executions: each is a `guardrail` step of its
//! execution (with its `execution.guardrail` audit event), listed newest first for security
//! teams and the console.

use heddle_identity::Caller;
use heddle_store::{StepCursor, StepKindQuery};
use heddle_types::{Action, Environment, ExecutionId, SessionId, TenantId};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{Runtime, RuntimeError, RuntimeResult};

/// Which violations to list.
#[derive(Debug, Clone, Default)]
pub struct ViolationFilter {
    pub environment: Option<Environment>,
    pub agent: Option<String>,
    pub session_id: Option<SessionId>,
    pub since: Option<OffsetDateTime>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// 1–500; 50 when unset.
    pub limit: Option<u32>,
}

/// One violation as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViolationView {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub session_id: SessionId,
    pub execution_id: ExecutionId,
    pub environment: Environment,
    pub agent: String,
    pub turn: i64,
    /// `input`, `output`, `tool_args` or `tool_result`.
    pub stage: Value,
    pub channel: Value,
    pub guardrail: Value,
    /// The family, category, entity kind or rule name.
    pub detail: Value,
    pub severity: Value,
    pub action: Value,
    /// Around the finding, personal data replaced by its kind.
    pub excerpt: Value,
    /// The guardrail could not run and its failure mode decided.
    pub failed: Value,
    /// False for a late step of an abandoned turn.
    pub applied: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViolationPage {
    pub items: Vec<ViolationView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Runtime {
    /// Violations of the tenant's guardrails, newest first. Needs `view_executions`.
    pub async fn list_violations(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        filter: ViolationFilter,
    ) -> RuntimeResult<ViolationPage> {
        self.authorize(caller, tenant_id, Action::ViewExecutions)
            .await?;
        let before = filter
            .after
            .as_deref()
            .map(StepCursor::from_token)
            .transpose()
            .map_err(|err| RuntimeError::invalid("after", err.to_string()))?;
        let limit = filter.limit.unwrap_or(50);
        if !(1..=StepKindQuery::MAX_LIMIT).contains(&limit) {
            return Err(RuntimeError::invalid(
                "limit",
                format!("must be 1 to {}", StepKindQuery::MAX_LIMIT),
            ));
        }
        let steps = self
            .store()
            .list_steps_of_kind(
                tenant_id,
                &StepKindQuery {
                    kind: "guardrail".to_owned(),
                    environment: filter.environment,
                    agent: filter.agent,
                    session_id: filter.session_id,
                    since: filter.since,
                    before,
                    limit,
                },
            )
            .await?;
        let next_cursor = (steps.len() == limit as usize)
            .then(|| steps.last().map(|s| s.cursor().to_token()))
            .flatten();
        let items = steps
            .into_iter()
            .map(|listed| {
                let field = |name: &str| {
                    listed
                        .step
                        .payload
                        .get(name)
                        .cloned()
                        .unwrap_or(Value::Null)
                };
                ViolationView {
                    at: listed.step.at,
                    session_id: listed.session_id,
                    execution_id: listed.execution_id,
                    environment: listed.environment,
                    agent: listed.agent.clone(),
                    turn: listed.step.turn,
                    stage: field("stage"),
                    channel: field("channel"),
                    guardrail: field("guardrail"),
                    detail: field("detail"),
                    severity: field("severity"),
                    action: field("action"),
                    excerpt: field("excerpt"),
                    failed: field("failed"),
                    applied: listed.step.applied,
                }
            })
            .collect();
        Ok(ViolationPage { items, next_cursor })
    }
}
