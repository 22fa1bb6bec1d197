//! What Heddle's MCP gateway lets through from an upstream MCP server, decided without I/O.
//!
//! An upstream server describes its tools itself, and a description is read by the model
//! that calls the tool — so a server that changes a description after it was reviewed can
//! slip instructions to every agent using it ("tool poisoning", a "rug pull"). The gateway
//! therefore **pins** each tool's definition when an admin approves it, and re-exposes a
//! tool only while what the server lists still matches its pin:
//!
//! - [`ToolDefinition`] is the part of an MCP `Tool` that can change what a model or a
//!   caller does with it (name, title, description, input and output schema, annotations),
//!   with a SHA-256 [`ToolDefinition::fingerprint`] of its canonical JSON;
//! - [`AllowList`] says which of the server's tools may be exposed at all;
//! - [`reconcile`] compares a fresh `tools/list` with the pins and the allow-list: each tool
//!   is exposed, withheld as new, withheld as changed (with the fields that changed), or
//!   not allowed; pinned tools the server no longer lists are reported as removed.
//!
//! Nothing here trusts the upstream: a definition that is not a JSON object with a string
//! name is refused, and a pin is honoured only for the exact fingerprint it recorded.

mod allow;
mod definition;
mod reconcile;

pub use allow::{AllowList, AllowListError};
pub use definition::{DefinitionError, PINNED_FIELDS, ToolDefinition};
pub use reconcile::{Pin, Reconciled, Withheld, WithheldReason, reconcile};
