//! Heddle's trust layers. Pure: text in, findings and decisions out; no I/O, no clock, no
//! tokio. What needs a network (a moderation endpoint, an LLM judge, an embedder) is called by
//! the runtime, which hands the answers back here.
//!
//! - [`finding`]: the shared vocabulary — entity kinds, severities, guardrail actions, channels.
//! - [`validate`]: the checks that make a detection more than a shape — Luhn and real IIN
//!   ranges for payment cards, the SSA's area/group/serial rules for US SSNs and ITINs, and
//!   ISO 13616 country lengths with the mod-97 check for IBANs. A number that fails its
//!   checksum is not PII of that type, which is what keeps order numbers, record ids and
//!   amounts untouched.
//! - [`pii`]: personal data and secrets found with validation and context, names from the
//!   record store as a dictionary.
//! - [`mask`]: reversible, session-stable placeholders (`<EMAIL_1>`), unmasked by policy, in
//!   one piece or streamed.
//! - [`injection`]: prompt-injection families with severities, on direct and indirect input,
//!   and datamarking of indirect content.
//! - [`content`], [`output`], [`rules`], [`drift`]: the content filter, output checks, custom
//!   rules (regex, keywords, CEL, LLM judge) and drift over embeddings.
//! - [`config`] and [`pipeline`]: an agent's settings (preset, action, threshold, failure
//!   mode per guardrail) and the layers composed into one screening per stage.
//! - [`eval`]: scoring the detectors on labeled sets (`heddle trust eval`).
//!
//! Invariants: a guardrail that cannot run fails closed unless configured open; masking
//! never changes text outside the spans it replaces, and unmasking restores exactly what was
//! masked; secrets are never unmasked into anything by default.

pub mod config;
pub mod content;
pub mod drift;
pub mod eval;
pub mod finding;
pub mod injection;
pub mod mask;
pub mod output;
pub mod pii;
pub mod pipeline;
pub mod rules;
pub mod validate;

pub use content::{
    ContentCategory, ContentClassifier, ContentError, ContentFinding, ContentScores,
    moderation_request, parse_moderation_response,
};
pub use drift::{
    DriftBaseline, DriftCheck, DriftError, DriftVerdict, DriftWindow, cosine_distance,
};
pub use finding::{Channel, EntityKind, GuardAction, PiiFinding, Severity};
pub use injection::{
    InjectionDetector, InjectionFamily, InjectionFinding, InjectionScan, datamark,
};
pub use mask::{
    MaskError, MaskKey, MaskMap, Masked, StreamUnmasker, UnmaskPolicy, mask_json, mask_text,
    unmask_json, unmask_text,
};
pub use output::{RecordIdProblem, SchemaViolation, check_record_id, html_escape, validate_json};
pub use pii::{NameDictionary, PiiDetector};
pub use pipeline::{AgentTrust, Screening, TrustEngine, Violation};
pub use rules::{
    CompiledRules, JudgeRequest, RuleError, RuleHit, RuleInput, RuleKind, RuleOutcome, RuleSpec,
    RuleStage, judge_prompt, parse_judge_answer,
};
