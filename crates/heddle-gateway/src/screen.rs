//! The route's trust layers over one text, with the I/O a screening may ask for: the
//! moderation endpoint and LLM judges (both see a masked copy only), each recorded as a step.

use std::collections::BTreeSet;

use heddle_agents::ConfigSet;
use heddle_runtime::Runtime;
use heddle_trust::pipeline::{AgentTrust, ScreenInput, Screening, Violation};
use heddle_trust::rules::RuleStage;
use heddle_trust::{Channel, EntityKind, GuardAction, TrustEngine};
use heddle_types::{Environment, TenantId};
use serde_json::Value;
use time::OffsetDateTime;

use crate::GatewayError;
use crate::budget::usd_to_micros;
use crate::mask::RequestMask;
use crate::record::{Draft, details};

/// Violations with where they were found.
pub type Violations = Vec<(RuleStage, Channel, Violation)>;

/// Screens texts of one request under one route's trust settings.
#[derive(Debug)]
pub struct Screener<'a> {
    pub runtime: &'a Runtime,
    pub trust: &'a AgentTrust,
    /// Whether the layers that call out (moderation endpoint, LLM judges) run; off for the
    /// checks in the middle of a stream, whose final check runs them.
    pub remote: bool,
    pub set: &'a ConfigSet,
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// What custom rules see as the agent: `route:<name>`.
    pub owner: &'a str,
    /// What custom rules see of the principal: kind, id and role.
    pub principal: &'a Value,
}

impl Screener<'_> {
    pub fn engine(&self) -> &TrustEngine {
        self.runtime.trust_engine()
    }

    fn all_kinds() -> BTreeSet<EntityKind> {
        EntityKind::ALL.into_iter().collect()
    }

    /// Screens `text`; moderation and judge calls are appended to `drafts`.
    pub async fn screen(
        &self,
        text: &str,
        stage: RuleStage,
        channel: Channel,
        mask: &mut RequestMask,
        drafts: &mut Vec<Draft>,
        now: OffsetDateTime,
    ) -> Result<Screening, GatewayError> {
        let settings = &self.trust.settings;
        let moderated = match (&settings.moderation, stage) {
            (Some(binding), RuleStage::Input | RuleStage::Output)
                if settings.content.enabled && self.remote =>
            {
                let masked = masked_copy(self.engine(), mask, text)?;
                let answer = self
                    .runtime
                    .moderate(self.tenant_id, self.environment, self.set, binding, &masked)
                    .await;
                let mut payload = details([
                    ("binding", Value::from(binding.clone())),
                    (
                        "source",
                        Value::from(if answer.is_ok() {
                            "endpoint"
                        } else {
                            "local_fallback"
                        }),
                    ),
                ]);
                if let Err(error) = &answer {
                    payload.insert("error".into(), Value::from(error.clone()));
                }
                drafts.push(Draft::new("guardrail_moderation", payload, now));
                answer.ok()
            }
            _ => None,
        };
        let names = mask.names().clone();
        let mut screening = self.engine().screen(
            self.trust,
            &ScreenInput {
                text,
                stage,
                channel,
                names: &names,
                principal: self.principal,
                capability: None,
                agent: self.owner,
                content_scores: moderated.as_ref(),
            },
        );
        let judges = std::mem::take(&mut screening.judges);
        if !self.remote {
            return Ok(screening);
        }
        for judge in judges {
            let masked = masked_copy(self.engine(), mask, text)?;
            let (verdict, response) = self
                .runtime
                .ask_judge(self.tenant_id, self.environment, self.set, &judge, &masked)
                .await;
            let mut draft = Draft::new(
                "guardrail_judge",
                details([
                    ("rule", Value::from(judge.rule.clone())),
                    (
                        "verdict",
                        verdict.map_or(Value::from("no_answer"), |v| {
                            Value::from(if v { "yes" } else { "no" })
                        }),
                    ),
                ]),
                now,
            );
            if let Some(response) = response {
                draft.input_tokens = i64::try_from(response.usage.input_tokens).unwrap_or(i64::MAX);
                draft.output_tokens =
                    i64::try_from(response.usage.output_tokens).unwrap_or(i64::MAX);
                draft.cost_micros = response.estimated_cost_usd.map_or(0, usd_to_micros);
                draft.latency = Some(response.latency);
            }
            drafts.push(draft);
            screening.judged(&judge, verdict);
        }
        Ok(screening)
    }
}

/// A copy of `text` with every kind of personal data masked, for anything that leaves
/// (moderation, a judge); the request's map grows as it would.
fn masked_copy(
    engine: &TrustEngine,
    mask: &mut RequestMask,
    text: &str,
) -> Result<String, GatewayError> {
    mask.mask_detected(engine, &Screener::all_kinds(), text)
        .map_err(|err| masking_failed(&err))
}

pub fn masking_failed(err: &heddle_trust::mask::MaskError) -> GatewayError {
    GatewayError::Blocked {
        message: format!("the request could not be masked ({err}); nothing was sent upstream"),
        guardrails: vec!["pii".into()],
    }
}

/// Why a text was blocked: the guardrails that blocked, never the text.
pub fn block_reason(what: &str, violations: &Violations) -> (String, Vec<String>) {
    let mut fired: Vec<String> = Vec::new();
    let mut guardrails: Vec<String> = Vec::new();
    for (_, _, violation) in violations {
        if violation.action != GuardAction::Block {
            continue;
        }
        let line = format!(
            "{} ({}, {})",
            violation.guardrail.as_str(),
            violation.detail,
            violation.severity
        );
        if !fired.contains(&line) {
            fired.push(line);
        }
        let name = violation.guardrail.as_str().to_owned();
        if !guardrails.contains(&name) {
            guardrails.push(name);
        }
    }
    (
        format!(
            "{what} was blocked by Heddle's trust layers: {}",
            fired.join(", ")
        ),
        guardrails,
    )
}
