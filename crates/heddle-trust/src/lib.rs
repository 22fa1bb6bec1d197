//! Heddle's trust layers (issue 7). Pure: text in, findings and decisions out; no I/O, no
//! clock, no tokio. What needs a network (a moderation endpoint, an embedder, an LLM judge) is
//! called by the runtime, which hands the answers back here.
//!
//! - [`finding`]: the shared vocabulary — entity kinds, severities, guardrail actions, channels.
//! - [`validate`]: the checks that make a detection more than a shape — Luhn and real IIN
//!   ranges for payment cards, the SSA's area/group/serial rules for US SSNs and ITINs, and
//!   ISO 13616 country lengths with the mod-97 check for IBANs. A number that fails its
//!   checksum is not PII of that type, which is what keeps order numbers, record ids and
//!   amounts untouched.

pub mod finding;
pub mod validate;

pub use finding::{Channel, EntityKind, GuardAction, PiiFinding, Severity};
