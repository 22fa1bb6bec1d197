//! The per-call pipeline of the gateway, for one configured upstream server:
//! fresh listing → reconcile against pins and the allow-list → argument constraints →
//! `tool_args` rules, injection and personal data on the arguments → the upstream call →
//! injection, `tool_result` rules and personal data on the result → the result redacted
//! when the trust block says so (see [`crate::pii`]). Every refusal happens before the
//! upstream sees the call, except the result's screening, which withholds what came back.
//!
//! Cedar authorization of the caller, audit events and pin storage are the caller's (the
//! service layer); this module decides only what the configuration and the pins say.

use std::time::Duration;

use heddle_agents::McpServer;
use heddle_mcp_pins::{AllowList, Pin, Reconciled, ToolDefinition, reconcile};
use heddle_trust::pipeline::{AgentTrust, ScreenInput, Screening, TrustEngine};
use heddle_trust::rules::RuleStage;
use heddle_trust::{Channel, NameDictionary};
use rmcp::model::CallToolResult;
use serde_json::{Map, Value, json};

use crate::connect::{Upstream, UpstreamError};
use crate::pii::{PiiPolicy, PiiReport};

/// One configured upstream, compiled once per configuration version.
#[derive(Debug)]
pub struct UpstreamServer {
    pub name: String,
    pub config: McpServer,
    allow: AllowList,
    trust: AgentTrust,
    pii: PiiPolicy,
}

/// Why a call did not reach the upstream, or why its result was withheld. Messages name
/// the tool, fields and guardrails, never argument or result values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`{0}` is not a tool of this server Heddle exposes")]
    NotExposed(String),
    #[error("the arguments break the configured constraints: {0}")]
    Constraints(String),
    #[error("the arguments were blocked by the trust layers ({0})")]
    ArgumentsBlocked(String),
    #[error("the result was withheld by the trust layers ({0})")]
    ResultWithheld(String),
}

/// Why an approval was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("the server does not list `{0}` now")]
    NotListed(String),
    #[error("`{0}` is not in the server's allow-list")]
    NotAllowed(String),
    #[error("the server lists `{0}` more than once; neither copy can be approved")]
    Duplicate(String),
    #[error(
        "`{tool}` is listed with fingerprint {current}, not the one approved; review the current definition and approve its fingerprint"
    )]
    StaleFingerprint { tool: String, current: String },
}

/// What the pipeline did with one call, for the caller's audit event.
#[derive(Debug)]
pub enum CallOutcome {
    /// Forwarded; the upstream's result passed screening (it may itself be an error result)
    /// and is redacted when the trust block says so.
    Forwarded {
        result: CallToolResult,
        screening: Screening,
        pii: PiiReport,
    },
    /// Refused before the upstream was called, or the result withheld.
    Refused {
        refusal: Refusal,
        screening: Option<Screening>,
        pii: PiiReport,
    },
}

impl UpstreamServer {
    /// Compiles the allow-list and the trust block (both were checked when the
    /// configuration was applied; a failure here is reported, never ignored).
    pub fn new(config: McpServer) -> Result<Self, String> {
        let allow = AllowList::new(&config.spec.allow).map_err(|e| e.to_string())?;
        // Personal data is this pipeline's own step (counted, then acted on as `pii` says),
        // so the composed screen leaves it out instead of finding it twice.
        let mut screened = config.spec.trust.clone();
        screened.pii.enabled = Some(false);
        let trust = AgentTrust::compile(&screened).map_err(|p| p.join("; "))?;
        let pii = PiiPolicy::of(&config.spec.trust);
        Ok(UpstreamServer {
            name: config.name.clone(),
            config,
            allow,
            trust,
            pii,
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.spec.timeout_seconds())
    }

    pub fn allow(&self) -> &AllowList {
        &self.allow
    }

    /// The live listing against the pins.
    pub fn reconcile(&self, listed: &[Value], pins: &[Pin]) -> Reconciled {
        reconcile(listed, pins, &self.allow)
    }

    /// The pin an approval of `tool` at `fingerprint` creates — only if the server lists that
    /// tool now, once, allowed, with exactly that fingerprint. The caller lists the tools
    /// immediately before, so what is approved is what the admin saw.
    pub fn approve(
        &self,
        listed: &[Value],
        tool: &str,
        fingerprint: &str,
    ) -> Result<Pin, ApprovalError> {
        if !self.allow.permits(tool) {
            return Err(ApprovalError::NotAllowed(tool.to_owned()));
        }
        let mut matching = listed
            .iter()
            .filter_map(|entry| ToolDefinition::from_wire(entry).ok())
            .filter(|definition| definition.name() == tool);
        let Some(definition) = matching.next() else {
            return Err(ApprovalError::NotListed(tool.to_owned()));
        };
        if matching.next().is_some() {
            return Err(ApprovalError::Duplicate(tool.to_owned()));
        }
        let current = definition.fingerprint();
        if current != fingerprint {
            return Err(ApprovalError::StaleFingerprint {
                tool: tool.to_owned(),
                current,
            });
        }
        Ok(Pin::approve(&definition))
    }

    /// The checks before the upstream is called: exposed now, constraints, `tool_args`
    /// rules, injection and personal data (counted into `pii`) on the arguments.
    pub fn check_call(
        &self,
        engine: &TrustEngine,
        reconciled: &Reconciled,
        tool: &str,
        arguments: &Value,
        pii: &mut PiiReport,
    ) -> Result<Screening, (Refusal, Option<Screening>)> {
        if !reconciled.exposed.iter().any(|d| d.name() == tool) {
            return Err((Refusal::NotExposed(tool.to_owned()), None));
        }
        let violations = self.config.spec.check_arguments(tool, arguments);
        if !violations.is_empty() {
            let text = violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err((Refusal::Constraints(text), None));
        }
        let text = strings_of(arguments);
        let capability = json!({"name": tool, "server": self.name});
        // `tool_args` rules.
        let mut screening = self.screen(engine, &text, RuleStage::ToolArgs, &capability);
        // Injection on the arguments: a caller may pass text it was itself steered by, and
        // an upstream may hand it to a model of its own.
        let names = NameDictionary::default();
        let scan = engine.injection.scan(&text, Channel::ToolResult);
        for finding in &scan.findings {
            if let Some(action) = self.trust.settings.injection.action_for(finding.severity) {
                screening
                    .violations
                    .push(heddle_trust::pipeline::Violation {
                        guardrail: heddle_trust::pipeline::GuardrailKind::Injection,
                        detail: finding.family.as_str().to_owned(),
                        severity: finding.severity,
                        action,
                        excerpt: engine.excerpt(&text, finding.start, finding.end, &names),
                        failed: false,
                    });
            }
        }
        // Personal data on its way to an outside service: refused under `block`, reported
        // under `flag`/`warn`, counted always; never masked (see `crate::pii`).
        pii.arguments = self.pii.count(engine, arguments);
        screening
            .violations
            .extend(self.pii.violations(&pii.arguments));
        if screening.blocked() {
            let reason = guardrails(&screening);
            return Err((Refusal::ArgumentsBlocked(reason), Some(screening)));
        }
        Ok(screening)
    }

    /// The result screened as indirect input — an injection, a `tool_result` rule or (under
    /// `block`) personal data that blocks withholds it — then redacted when the trust block
    /// writes `pii: { action: redact }`. What the caller gets back, with the findings.
    pub fn screen_result(
        &self,
        engine: &TrustEngine,
        tool: &str,
        result: CallToolResult,
        pii: &mut PiiReport,
    ) -> Result<(CallToolResult, Screening), (Refusal, Screening)> {
        let wire = serde_json::to_value(&result).unwrap_or(Value::Null);
        if wire.is_null() {
            // Fail closed: a result that cannot be read cannot be screened.
            return Err((
                Refusal::ResultWithheld("unreadable result".to_owned()),
                Screening::default(),
            ));
        }
        let text = strings_of(&wire);
        let capability = json!({"name": tool, "server": self.name});
        let mut screening = self.screen(engine, &text, RuleStage::ToolResult, &capability);
        pii.result = self.pii.count(engine, &PiiPolicy::result_text(&result));
        screening
            .violations
            .extend(self.pii.violations(&pii.result));
        if screening.blocked() {
            let reason = guardrails(&screening);
            return Err((Refusal::ResultWithheld(reason), screening));
        }
        if !self.pii.redacts_results() {
            return Ok((result, screening));
        }
        match self.pii.redact(engine, &result) {
            Ok(redacted) => {
                pii.redacted = redacted != result;
                Ok((redacted, screening))
            }
            // Fail closed: what could not be masked is not sent.
            Err(error) => Err((
                Refusal::ResultWithheld(format!("pii: it could not be redacted ({error})")),
                screening,
            )),
        }
    }

    /// The whole pipeline for one call: a fresh listing (so a definition changed since
    /// approval is withheld at once), the checks, the call, the result's screening.
    pub async fn call(
        &self,
        engine: &TrustEngine,
        upstream: &Upstream,
        pins: &[Pin],
        tool: &str,
        arguments: Value,
    ) -> Result<CallOutcome, UpstreamError> {
        let listed = upstream.list_tools().await?;
        let reconciled = self.reconcile(&listed, pins);
        let mut pii = self.pii.report();
        if let Err((refusal, screening)) =
            self.check_call(engine, &reconciled, tool, &arguments, &mut pii)
        {
            return Ok(CallOutcome::Refused {
                refusal,
                screening,
                pii,
            });
        }
        let arguments = match arguments {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let result = upstream.call_tool(tool, arguments).await?;
        Ok(match self.screen_result(engine, tool, result, &mut pii) {
            Ok((result, screening)) => CallOutcome::Forwarded {
                result,
                screening,
                pii,
            },
            Err((refusal, screening)) => CallOutcome::Refused {
                refusal,
                screening: Some(screening),
                pii,
            },
        })
    }

    fn screen(
        &self,
        engine: &TrustEngine,
        text: &str,
        stage: RuleStage,
        capability: &Value,
    ) -> Screening {
        let names = NameDictionary::default();
        let principal = Value::Null;
        engine.screen(
            &self.trust,
            &ScreenInput {
                text,
                stage,
                channel: Channel::ToolResult,
                names: &names,
                principal: &principal,
                capability: Some(capability),
                agent: &self.name,
                content_scores: None,
            },
        )
    }
}

/// The guardrails that blocked, for a refusal message (no excerpts: they quote the text).
fn guardrails(screening: &Screening) -> String {
    let mut names: Vec<String> = screening
        .violations
        .iter()
        .filter(|v| v.action == heddle_trust::GuardAction::Block)
        .map(|v| format!("{}:{}", v.guardrail.as_str(), v.detail))
        .collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

/// Every string in a JSON value (keys too), one per line: what the detectors read, so
/// escapes in a serialized form cannot hide anything from them.
pub fn strings_of(value: &Value) -> String {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.clone());
                    walk(v, out);
                }
            }
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(_) | Value::Null => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out.join("\n")
}
