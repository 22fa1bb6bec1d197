//! The trust layers composed: one call screens a text for one stage and returns what fired,
//! what the strongest action is, and which spans to mask. The detectors are built once per
//! process ([`TrustEngine`]); an agent's settings and rules once per configuration version
//! ([`AgentTrust`]).

use serde::Serialize;
use serde_json::Value as JsonValue;

use crate::config::{FailureMode, ResolvedTrust, TrustSpec};
use crate::content::{ContentClassifier, ContentScores};
use crate::finding::{Channel, GuardAction, PiiFinding, Severity};
use crate::injection::InjectionDetector;
use crate::pii::{NameDictionary, PiiDetector};
use crate::rules::{CompiledRules, JudgeRequest, RuleInput, RuleStage};

/// Longest excerpt a violation keeps, in characters.
const EXCERPT_CHARS: usize = 80;

/// The detectors, compiled once and shared.
#[derive(Debug, Default)]
pub struct TrustEngine {
    pub pii: PiiDetector,
    pub injection: InjectionDetector,
    pub content: ContentClassifier,
}

impl TrustEngine {
    pub fn new() -> Self {
        Self::default()
    }
}

/// One agent's trust layers: its resolved settings and its compiled custom rules.
#[derive(Debug)]
pub struct AgentTrust {
    pub settings: ResolvedTrust,
    pub rules: CompiledRules,
}

impl AgentTrust {
    /// Every problem of the spec at once, each naming where it is.
    pub fn compile(spec: &TrustSpec) -> Result<Self, Vec<String>> {
        let mut problems = spec.problems();
        let rules = match CompiledRules::compile(&spec.rules) {
            Ok(rules) => Some(rules),
            Err(errors) => {
                problems.extend(errors.iter().map(|e| format!("trust.rules: {e}")));
                None
            }
        };
        match rules {
            Some(rules) if problems.is_empty() => Ok(Self {
                settings: spec.resolve(),
                rules,
            }),
            _ => Err(problems),
        }
    }
}

/// Which guardrail fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailKind {
    Pii,
    Injection,
    Content,
    Output,
    Rule,
    Drift,
}

impl GuardrailKind {
    pub const fn as_str(&self) -> &'static str {
        match self {
            GuardrailKind::Pii => "pii",
            GuardrailKind::Injection => "injection",
            GuardrailKind::Content => "content",
            GuardrailKind::Output => "output",
            GuardrailKind::Rule => "rule",
            GuardrailKind::Drift => "drift",
        }
    }
}

/// One guardrail that fired (or could not run), as recorded in the audit log and the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub guardrail: GuardrailKind,
    /// The family, category, entity kind or rule name.
    pub detail: String,
    pub severity: Severity,
    pub action: GuardAction,
    /// A short piece of the text around the finding, personal data replaced by its kind.
    pub excerpt: String,
    /// True when the guardrail could not run and its failure mode decided.
    pub failed: bool,
}

/// What screening one text produced.
#[derive(Debug, Default)]
pub struct Screening {
    pub violations: Vec<Violation>,
    /// Spans to mask before the text goes on (empty unless PII masking is on).
    pub mask: Vec<PiiFinding>,
    /// LLM-judge rules the caller must ask a model, then report through
    /// [`Screening::judged`].
    pub judges: Vec<JudgeRequest>,
}

impl Screening {
    /// The strongest action among the violations.
    pub fn action(&self) -> Option<GuardAction> {
        self.violations.iter().map(|v| v.action).max()
    }

    pub fn blocked(&self) -> bool {
        self.action() == Some(GuardAction::Block)
    }

    /// A judge's answer: `Some(true)` means the rubric was met (the rule fires), `None` that
    /// the judge failed or answered out of format (the rule's failure mode decides).
    pub fn judged(&mut self, judge: &JudgeRequest, verdict: Option<bool>) {
        let (action, failed) = match verdict {
            Some(true) => (Some(judge.action), false),
            Some(false) => (None, false),
            None => (Some(failure_action(judge.failure_mode)), true),
        };
        if let Some(action) = action {
            self.violations.push(Violation {
                guardrail: GuardrailKind::Rule,
                detail: judge.rule.clone(),
                severity: judge.severity,
                action,
                excerpt: String::new(),
                failed,
            });
        }
    }
}

/// One text to screen and what it is.
#[derive(Debug)]
pub struct ScreenInput<'a> {
    pub text: &'a str,
    pub stage: RuleStage,
    pub channel: Channel,
    pub names: &'a NameDictionary,
    pub principal: &'a JsonValue,
    pub capability: Option<&'a JsonValue>,
    pub agent: &'a str,
    /// Content scores from a moderation endpoint, asked by the caller; `None` runs the
    /// local classifier.
    pub content_scores: Option<&'a ContentScores>,
}

impl TrustEngine {
    /// Runs every layer that applies to the stage: injection on what comes in (the person's
    /// message, tool results), content on messages and answers, custom rules everywhere, PII
    /// last so its spans are what gets masked.
    pub fn screen(&self, trust: &AgentTrust, input: &ScreenInput<'_>) -> Screening {
        let settings = &trust.settings;
        let mut screening = Screening::default();
        let text = input.text;
        let inbound = matches!(input.stage, RuleStage::Input | RuleStage::ToolResult);

        if inbound && settings.injection.enabled {
            let scan = self.injection.scan(text, input.channel);
            // One violation per family: its strongest finding.
            let mut strongest: Vec<&crate::injection::InjectionFinding> = Vec::new();
            for finding in &scan.findings {
                match strongest.iter_mut().find(|f| f.family == finding.family) {
                    Some(slot) if slot.severity < finding.severity => *slot = finding,
                    Some(_) => {}
                    None => strongest.push(finding),
                }
            }
            for finding in strongest {
                if let Some(action) = settings.injection.action_for(finding.severity) {
                    screening.violations.push(Violation {
                        guardrail: GuardrailKind::Injection,
                        detail: finding.family.as_str().to_owned(),
                        severity: finding.severity,
                        action,
                        excerpt: self.excerpt(text, finding.start, finding.end, input.names),
                        failed: false,
                    });
                }
            }
        }

        if matches!(input.stage, RuleStage::Input | RuleStage::Output) && settings.content.enabled {
            // A moderation endpoint's answer when the caller has one, the local classifier
            // otherwise (and as the fallback when the endpoint failed).
            let local;
            let scores = match input.content_scores {
                Some(scores) => scores,
                None => {
                    local = self.content.classify(text);
                    &local
                }
            };
            for finding in &scores.findings {
                if let Some(action) = settings.content.action_for(finding.severity) {
                    let excerpt = match (finding.start, finding.end) {
                        (Some(start), Some(end)) => self.excerpt(text, start, end, input.names),
                        _ => String::new(),
                    };
                    screening.violations.push(Violation {
                        guardrail: GuardrailKind::Content,
                        detail: finding.category.as_str().to_owned(),
                        severity: finding.severity,
                        action,
                        excerpt,
                        failed: false,
                    });
                }
            }
        }

        let outcome = trust.rules.evaluate(&RuleInput {
            stage: input.stage,
            text,
            principal: input.principal,
            capability: input.capability,
            agent: input.agent,
        });
        for hit in &outcome.hits {
            let excerpt = match (hit.start, hit.end) {
                (Some(start), Some(end)) => self.excerpt(text, start, end, input.names),
                _ => String::new(),
            };
            screening.violations.push(Violation {
                guardrail: GuardrailKind::Rule,
                detail: hit.rule.clone(),
                severity: hit.severity,
                action: hit.action,
                excerpt,
                failed: false,
            });
        }
        for (rule, _message) in &outcome.errors {
            // A rule that cannot be evaluated is decided by its failure mode: closed by
            // default.
            screening.violations.push(Violation {
                guardrail: GuardrailKind::Rule,
                detail: rule.clone(),
                severity: Severity::High,
                action: failure_action(trust.rules.failure_mode(rule)),
                excerpt: String::new(),
                failed: true,
            });
        }
        screening.judges = outcome.judges;

        if inbound && settings.pii.enabled {
            let findings: Vec<PiiFinding> = self
                .pii
                .detect(text, input.names)
                .into_iter()
                .filter(|f| settings.pii_kinds.contains(&f.kind))
                .collect();
            match settings.pii.action {
                GuardAction::Redact => screening.mask = findings,
                action => {
                    let mut kinds: Vec<_> = findings.iter().map(|f| f.kind).collect();
                    kinds.sort();
                    kinds.dedup();
                    for kind in kinds {
                        screening.violations.push(Violation {
                            guardrail: GuardrailKind::Pii,
                            detail: kind.as_str().to_owned(),
                            severity: Severity::Medium,
                            action,
                            excerpt: format!("<{kind}>"),
                            failed: false,
                        });
                    }
                }
            }
        }
        screening
    }

    /// Up to [`EXCERPT_CHARS`] characters around `start..end`, personal data replaced by its
    /// kind and control or invisible characters shown as `�`, so an excerpt is safe to store
    /// and to show.
    pub fn excerpt(&self, text: &str, start: usize, end: usize, names: &NameDictionary) -> String {
        let start = floor_char_boundary(text, start.min(text.len()));
        let end = floor_char_boundary(text, end.clamp(start, text.len()));
        let pad = EXCERPT_CHARS.saturating_sub(text[start..end].chars().count()) / 2;
        let from = text[..start]
            .char_indices()
            .rev()
            .nth(pad.saturating_sub(1))
            .map_or(0, |(i, _)| i);
        let to = text[end..]
            .char_indices()
            .nth(pad)
            .map_or(text.len(), |(i, _)| end + i);
        let window = &text[from..to];
        let mut out = String::with_capacity(window.len());
        let mut last = 0;
        for finding in self.pii.detect(window, names) {
            out.push_str(&clean(&window[last..finding.start]));
            out.push('<');
            out.push_str(finding.kind.as_str());
            out.push('>');
            last = finding.end;
        }
        out.push_str(&clean(&window[last..]));
        let mut excerpt: String = out.chars().take(EXCERPT_CHARS * 2).collect();
        if from > 0 {
            excerpt.insert(0, '…');
        }
        if to < text.len() {
            excerpt.push('…');
        }
        excerpt
    }
}

fn failure_action(mode: FailureMode) -> GuardAction {
    match mode {
        FailureMode::Closed => GuardAction::Block,
        FailureMode::Open => GuardAction::Warn,
    }
}

fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' || is_invisible(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{E0000}'..='\u{E007F}')
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}
