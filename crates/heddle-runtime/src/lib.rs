//! Heddle's governed runtime: an agent's turn walks the governed path of DESIGN.md — the model
//! proposes, Heddle validates, authorizes, executes as the principal and records every step.
//!
//! - [`Runtime::create_session`] opens a conversation with a declared agent of the
//!   environment's current configuration version; the session keeps that version for life.
//! - [`Runtime::post_message`] runs one turn: model ↔ capabilities until the model answers or
//!   a limit or budget halts it. One turn per session runs at a time (409 otherwise, across
//!   processes); a turn that outlived its deadline is abandoned by the next message, and
//!   whatever it produces afterwards is recorded but never enters the conversation.
//! - Every user message, model request and response (tokens, cost, latency), tool call with
//!   the model's rationale, policy decision, tool result, failure and status change is a
//!   stored step with its audit event ([`Runtime::get_execution`]).
//! - [`Runtime::call_tool`] runs one direct call of an application (an MCP client) on the
//!   same governed path, with no model: [`Runtime::list_tools`] offers what the principal
//!   may call, and a held call is followed with [`Runtime::direct_action`].
//! - Service agents verify their customer by a one-time code ([`Runtime::start_verification`],
//!   [`Runtime::confirm_verification`]); private capabilities refuse to run before that and
//!   then run as that customer.
//!
//! Invariants:
//! - nothing the model emits is trusted: an unknown tool, arguments outside the schema, a
//!   bound parameter it tries to supply, a malformed record id — each goes back to the model
//!   as an error result and is never executed;
//! - every call is authorized in Cedar (`call_capability` on the capability, its agent and
//!   environment) before it runs, and runs through the `RecordSource` as the principal, so
//!   sharing, CRUD and field-level security decide what it reads and writes;
//! - a capability whose gate needs a person (its mode, raised by tenant policy or by the
//!   model, never lowered) is held as a pending action bound to the hash of its arguments; it
//!   runs once after confirmation or approval, under a lease and an idempotency key;
//! - the trust layers (`heddle_trust`) screen the person's message, every tool result and the
//!   answer; personal data reaches a model only as session-stable placeholders, tool-call
//!   arguments get the values back only where policy lets the capability receive them, and a
//!   blocked text never enters the conversation;
//! - message text is stored only sealed under the session's own vault key (the conversation
//!   needs it back); steps and audit events show it only as the content-privacy setting says
//!   (a digest by default).

mod budget;
mod configs;
mod conversation;
mod direct;
mod error;
mod events;
mod execution;
mod hitl;
mod notify;
mod providers;
mod runtime;
mod sessions;
mod tools;
mod trust;
mod turn;
mod upstream;
mod verification;
mod violations;

pub use budget::{BudgetExceeded, BudgetWindow};
pub use direct::{
    DirectActionResult, DirectActionView, DirectCall, DirectOutcome, DirectTarget, DirectTool,
    MAX_ARGUMENT_BYTES,
};
pub use error::RuntimeError;
pub use execution::{ExecutionView, StepView};
pub use heddle_mcp_upstream::UpstreamReach;
pub use hitl::{ActionOutcome, ActionView, PendingRequest};
pub use notify::ApprovalWebhook;
pub use providers::ProviderSettings;
pub use runtime::{Runtime, RuntimeSettings, VerificationSettings};
pub use sessions::{CreateSession, SessionView, TurnView};
pub use turn::TurnOutcome;
pub use upstream::{UpstreamCall, UpstreamToolsView};
pub use verification::{VerificationConfirmed, VerificationStarted};
pub use violations::{ViolationFilter, ViolationPage, ViolationView};

pub type RuntimeResult<T> = Result<T, RuntimeError>;
