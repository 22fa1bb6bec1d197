//! How an agent's trust layers are configured: a preset, overridden per guardrail. Every
//! guardrail resolves to an action, a severity threshold and a failure mode; nothing is left
//! implicit, and a guardrail that cannot run fails closed unless its config says `open`.
//!
//! ```yaml
//! trust:
//!   preset: standard            # strict | standard | permissive
//!   injection: { action: block, threshold: high, failure_mode: closed }
//!   content:   { action: block, threshold: high, moderation: moderation-binding }
//!   pii:       { action: redact, kinds: [EMAIL, PHONE], unmask_answer: true }
//!   rules:
//!     - { name: no-refund-promises, stage: output, type: keywords, words: [guaranteed refund],
//!         action: block, severity: high }
//!   drift: { embedder: local, threshold: 0.35, window: 20, min_baseline: 50, action: warn }
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::finding::{EntityKind, GuardAction, Severity};
use crate::rules::RuleSpec;

/// A named starting point; the per-guardrail settings override it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// For agents that read untrusted content or act for customers: medium findings block.
    Strict,
    /// High and critical findings block, medium ones are flagged.
    #[default]
    Standard,
    /// Findings are recorded and warned about; only PII masking changes text.
    Permissive,
}

/// What happens when a guardrail cannot run (a rule errors, an endpoint is down, the mask map
/// is full): `closed` treats it as a block, `open` records a warning and goes on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    #[default]
    Closed,
    Open,
}

impl FailureMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureMode::Closed => "closed",
            FailureMode::Open => "open",
        }
    }
}

/// Overrides for one guardrail; unset fields come from the preset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<GuardAction>,
    /// Findings below this severity are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<FailureMode>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<GuardAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<FailureMode>,
    /// The kinds to mask; all by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<EntityKind>>,
    /// Whether the final answer shows the person the values behind placeholders (never
    /// secrets). Default true: the values came from the person or from records they may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmask_answer: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<GuardAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<FailureMode>,
    /// A model binding of an OpenAI-compatible moderation endpoint, asked first; the local
    /// classifier answers when it is unset or unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<String>,
}

// `serde(flatten)` does not combine with `deny_unknown_fields`, so the two guardrails with
// extra settings spell the common four out and convert.
macro_rules! guardrail_overrides {
    ($ty:ty) => {
        impl $ty {
            pub fn guardrail(&self) -> GuardrailOverrides {
                GuardrailOverrides {
                    enabled: self.enabled,
                    action: self.action,
                    threshold: self.threshold,
                    failure_mode: self.failure_mode,
                }
            }
        }
    };
}
guardrail_overrides!(PiiOverrides);
guardrail_overrides!(ContentOverrides);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// `local` (the MiniLM model at the server's configured path) or an embeddings model
    /// binding's name.
    pub embedder: String,
    /// Cosine distance between the recent answers' centroid and the baseline that alerts.
    #[serde(default = "default_drift_threshold")]
    pub threshold: f32,
    /// How many recent answers the comparison averages.
    #[serde(default = "default_drift_window")]
    pub window: u32,
    /// Answers collected into the baseline before any comparison.
    #[serde(default = "default_drift_min_baseline")]
    pub min_baseline: u32,
    #[serde(default = "default_drift_action")]
    pub action: GuardAction,
    /// When the embedder cannot be reached: `closed` blocks the answer, `open` warns.
    #[serde(default)]
    pub failure_mode: FailureMode,
}

fn default_drift_threshold() -> f32 {
    0.35
}
fn default_drift_window() -> u32 {
    20
}
fn default_drift_min_baseline() -> u32 {
    50
}
fn default_drift_action() -> GuardAction {
    GuardAction::Warn
}

/// The `trust:` block of an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSpec {
    #[serde(default)]
    pub preset: Preset,
    #[serde(default)]
    pub pii: PiiOverrides,
    #[serde(default)]
    pub injection: GuardrailOverrides,
    #[serde(default)]
    pub content: ContentOverrides,
    /// Output checks: the structured parts of an answer and tool arguments against their
    /// schemas, record-id formats.
    #[serde(default)]
    pub output: GuardrailOverrides,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftSpec>,
}

/// One guardrail, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Guardrail {
    pub enabled: bool,
    pub action: GuardAction,
    pub threshold: Severity,
    pub failure_mode: FailureMode,
}

impl Guardrail {
    /// The action for a finding of `severity`: `None` below the threshold or when disabled.
    pub fn action_for(&self, severity: Severity) -> Option<GuardAction> {
        (self.enabled && severity >= self.threshold).then_some(self.action)
    }

    /// The action when the guardrail could not run.
    pub fn action_on_failure(&self) -> Option<GuardAction> {
        self.enabled.then_some(match self.failure_mode {
            FailureMode::Closed => GuardAction::Block,
            FailureMode::Open => GuardAction::Warn,
        })
    }

    fn apply(mut self, overrides: &GuardrailOverrides) -> Self {
        if let Some(enabled) = overrides.enabled {
            self.enabled = enabled;
        }
        if let Some(action) = overrides.action {
            self.action = action;
        }
        if let Some(threshold) = overrides.threshold {
            self.threshold = threshold;
        }
        if let Some(mode) = overrides.failure_mode {
            self.failure_mode = mode;
        }
        self
    }
}

/// An agent's trust settings with every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedTrust {
    pub preset: Preset,
    pub pii: Guardrail,
    pub pii_kinds: BTreeSet<EntityKind>,
    pub unmask_answer: bool,
    pub injection: Guardrail,
    pub content: Guardrail,
    pub moderation: Option<String>,
    pub output: Guardrail,
    pub drift: Option<DriftSpec>,
}

impl TrustSpec {
    pub fn resolve(&self) -> ResolvedTrust {
        let on = |action, threshold| Guardrail {
            enabled: true,
            action,
            threshold,
            failure_mode: FailureMode::Closed,
        };
        let (injection, content, output) = match self.preset {
            Preset::Strict => (
                on(GuardAction::Block, Severity::Medium),
                on(GuardAction::Block, Severity::Medium),
                on(GuardAction::Block, Severity::Low),
            ),
            Preset::Standard => (
                on(GuardAction::Block, Severity::High),
                on(GuardAction::Block, Severity::High),
                on(GuardAction::Block, Severity::Medium),
            ),
            Preset::Permissive => (
                on(GuardAction::Warn, Severity::High),
                on(GuardAction::Warn, Severity::High),
                on(GuardAction::Warn, Severity::Medium),
            ),
        };
        // Masking is on in every preset: keeping personal data from providers is the default
        // promise, and turning it off has to be written down.
        let pii = on(GuardAction::Redact, Severity::Low).apply(&self.pii.guardrail());
        ResolvedTrust {
            preset: self.preset,
            pii,
            pii_kinds: self.pii.kinds.as_ref().map_or_else(
                || EntityKind::ALL.into_iter().collect(),
                |k| k.iter().copied().collect(),
            ),
            unmask_answer: self.pii.unmask_answer.unwrap_or(true),
            injection: injection.apply(&self.injection),
            content: content.apply(&self.content.guardrail()),
            moderation: self.content.moderation.clone(),
            output: output.apply(&self.output),
            drift: self.drift.clone(),
        }
    }

    /// Problems a person must fix before the config loads; empty when it is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.pii.kinds.as_ref().is_some_and(Vec::is_empty) {
            problems.push(
                "trust.pii.kinds is empty; leave it out to mask every kind, or set \
                 `enabled: false` to turn masking off"
                    .to_owned(),
            );
        }
        if let Some(drift) = &self.drift {
            if !(drift.threshold > 0.0 && drift.threshold <= 2.0) {
                problems.push("trust.drift.threshold must be a cosine distance in (0, 2]".into());
            }
            if drift.window == 0 || drift.window > 1000 {
                problems.push("trust.drift.window must be between 1 and 1000".into());
            }
            if drift.embedder.trim().is_empty() {
                problems.push("trust.drift.embedder must be `local` or a model binding".into());
            }
        }
        problems
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;

    #[test]
    fn presets_differ_in_thresholds_and_actions_and_all_fail_closed() {
        let strict = TrustSpec {
            preset: Preset::Strict,
            ..TrustSpec::default()
        }
        .resolve();
        let standard = TrustSpec::default().resolve();
        let permissive = TrustSpec {
            preset: Preset::Permissive,
            ..TrustSpec::default()
        }
        .resolve();
        assert_eq!(
            strict.injection.action_for(Severity::Medium),
            Some(GuardAction::Block)
        );
        assert_eq!(standard.injection.action_for(Severity::Medium), None);
        assert_eq!(
            standard.injection.action_for(Severity::Critical),
            Some(GuardAction::Block)
        );
        assert_eq!(
            permissive.injection.action_for(Severity::Critical),
            Some(GuardAction::Warn)
        );
        for resolved in [strict, standard, permissive] {
            assert_eq!(resolved.pii.action, GuardAction::Redact);
            assert_eq!(
                resolved.injection.action_on_failure(),
                Some(GuardAction::Block)
            );
            assert_eq!(resolved.content.failure_mode, FailureMode::Closed);
            assert_eq!(resolved.pii_kinds.len(), EntityKind::ALL.len());
        }
    }

    #[test]
    fn overrides_win_over_the_preset() {
        let spec: TrustSpec = serde_json::from_value(serde_json::json!({
            "preset": "permissive",
            "injection": {"action": "block", "threshold": "medium", "failure_mode": "open"},
            "pii": {"kinds": ["EMAIL"], "unmask_answer": false},
            "content": {"enabled": false, "moderation": "mod"}
        }))
        .unwrap();
        let resolved = spec.resolve();
        assert_eq!(
            resolved.injection.action_for(Severity::Medium),
            Some(GuardAction::Block)
        );
        assert_eq!(
            resolved.injection.action_on_failure(),
            Some(GuardAction::Warn)
        );
        assert_eq!(
            resolved.pii_kinds.iter().copied().collect::<Vec<_>>(),
            [EntityKind::Email]
        );
        assert!(!resolved.unmask_answer);
        assert_eq!(resolved.content.action_for(Severity::Critical), None);
        assert_eq!(resolved.content.action_on_failure(), None);
        assert_eq!(resolved.moderation.as_deref(), Some("mod"));
    }

    #[test]
    fn unknown_fields_and_empty_kind_lists_are_refused() {
        let typo = serde_json::from_value::<TrustSpec>(serde_json::json!({
            "injection": {"actoin": "warn"}
        }));
        assert!(typo.is_err());
        let empty: TrustSpec =
            serde_json::from_value(serde_json::json!({"pii": {"kinds": []}})).unwrap();
        assert_eq!(empty.problems().len(), 1);
    }
}
