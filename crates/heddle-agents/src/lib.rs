//! Heddle's declarative agents, capability contracts and model bindings (issue 5, points 1–4).
//!
//! Pure: files come in as `(path, text)` pairs and nothing here touches the network, a
//! database or the clock.
//!
//! - [`config`]: the file types (`Agent`, `Capability`, `ModelBinding`, `Route`).
//! - [`load_dir`]: parse and check a directory's files into a [`ConfigSet`], or every
//!   problem as `file:line: field: message`; the set carries a content hash executions cite.
//! - [`schema`]: the JSON Schema subset, the model-visible tool schema and bound-input
//!   injection; [`template`]: `{{param}}` placeholders and query templates.
//! - [`lint`](mod@lint): the contract lint, as text or SARIF 2.1.0.
//! - [`validate`]: the model's tool-call arguments checked against the model-visible schema.

pub mod config;
pub mod hitl;
pub mod lint;
pub mod load;
pub mod locate;
pub mod mcp_server;
pub mod schema;
pub mod template;
pub mod validate;

use serde_json::{Map, Value as JsonValue};

pub use config::{
    API_VERSION, Agent, AgentKind, AgentSpec, Audience, Backend, BoundSource, Capability,
    CapabilitySpec, Classification, DataClass, Effect, HitlMode, IdentityMode, McpServer,
    ModelBinding, ModelBindingSpec, OutputCheckMode, Provider, Route, RouteSpec,
};
pub use lint::{Finding, Severity, lint, to_sarif, to_text};
pub use load::{ConfigError, ConfigSet, Loaded, load_dir};
pub use locate::FieldPath;
pub use schema::{BindError, BoundContext, ToolDefinition};
pub use template::TemplateError;
pub use validate::{ArgumentError, validate_arguments};

impl Capability {
    /// The input schema the model is given: bound parameters removed.
    pub fn model_schema(&self) -> JsonValue {
        schema::model_schema(&self.spec)
    }

    /// The tool as offered to a model.
    pub fn tool_definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.name.clone(),
            description: self.spec.description.clone(),
            parameters: self.model_schema(),
        }
    }

    /// Checks the model's arguments against the model-visible schema, before binding: a call
    /// that does not conform is not executed and its problems go back to the model. A bound
    /// parameter the model supplies is not in that schema, so it is refused here as an
    /// unknown argument (and again by [`Capability::bind_arguments`]).
    pub fn validate_arguments(&self, arguments: &JsonValue) -> Result<(), Vec<ArgumentError>> {
        let problems = validate_arguments(&self.model_schema(), arguments);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The model's arguments completed with bound values; refuses arguments that try to
    /// supply a bound parameter, and sessions lacking a bound value.
    pub fn bind_arguments(
        &self,
        arguments: JsonValue,
        context: &BoundContext,
    ) -> Result<Map<String, JsonValue>, BindError> {
        schema::bind_arguments(&self.spec.bound_inputs, arguments, context)
    }

    /// For a `records.query` capability, the query its bound arguments fill in; `None` for
    /// other backends.
    pub fn compile_query(
        &self,
        arguments: &Map<String, JsonValue>,
    ) -> Option<Result<heddle_records::query::RecordQuery, TemplateError>> {
        match &self.spec.backend {
            Backend::RecordsQuery(q) => Some(template::compile_query(&q.query, arguments)),
            _ => None,
        }
    }
}
