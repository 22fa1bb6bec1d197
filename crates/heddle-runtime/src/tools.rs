//! A proposed tool call checked against its capability's contract, then run through the
//! record source. The contract check is pure: the model's arguments, the agent, the
//! capability and what the session knows go in; a backend call or the reason for refusing
//! comes out. Refusals go back to the model as error results and are never executed.

use std::collections::{BTreeMap, BTreeSet};

use heddle_agents::config::{AgentKind, Backend, DataClass};
use heddle_agents::template::placeholder;
use heddle_agents::{Agent, BoundContext, Capability};
use heddle_providers::ToolCall;
use heddle_records::RecordId;
use heddle_records::query::RecordQuery;
use heddle_recordsource::{
    QueryResult, RecordActor, RecordError, RecordSource, RecordView, WriteMode,
};
use serde_json::{Map, Value as JsonValue, json};

/// The Cedar resource of a capability of `agent`: what `call_capability` and the review
/// actions are decided on.
pub(crate) fn capability_resource(
    tenant_id: heddle_types::TenantId,
    environment: heddle_types::Environment,
    agent: &str,
    capability: &Capability,
) -> heddle_types::Resource {
    let classification = capability.spec.classification;
    heddle_types::Resource::Capability(Box::new(heddle_types::CapabilityResource {
        tenant_id,
        environment,
        agent: agent.to_owned(),
        name: capability.name.clone(),
        effect: crate::turn::serde_label(&classification.effect),
        data: crate::turn::serde_label(&classification.data),
        audience: crate::turn::serde_label(&classification.audience),
    }))
}

/// Why a call was not run; `message` is what the model is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// `unknown_tool`, `schema`, `verification`, `binding`, `record_id`, `backend`, `policy`,
    /// `human_in_the_loop`, `identity`.
    pub(crate) stage: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(stage: &'static str, message: impl Into<String>) -> Self {
        Self {
            stage,
            message: message.into(),
        }
    }
}

/// What a call that passed its contract will do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BackendCall {
    Query(RecordQuery),
    Get {
        object: String,
        id: RecordId,
        fields: Vec<String>,
    },
    Create {
        object: String,
        fields: BTreeMap<String, JsonValue>,
    },
    Update {
        object: String,
        id: RecordId,
        fields: BTreeMap<String, JsonValue>,
    },
}

impl BackendCall {
    /// The object and record id the call is about, for checking the id's key prefix.
    pub(crate) fn record_target(&self) -> Option<(&str, &RecordId)> {
        match self {
            Self::Get { object, id, .. } | Self::Update { object, id, .. } => Some((object, id)),
            Self::Query(_) | Self::Create { .. } => None,
        }
    }
}

/// A call that passed its contract.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckedCall<'a> {
    pub(crate) capability: &'a Capability,
    /// The model's arguments with the bound ones injected.
    pub(crate) arguments: Map<String, JsonValue>,
    pub(crate) backend: BackendCall,
    /// The model asked for a person's approval, with this reason.
    pub(crate) approval_request: Option<String>,
}

/// The argument through which a model asks for approval of a call that changes data; offered
/// in the tool schema of such capabilities and taken out before the contract check. A model
/// can only raise the review a call gets this way.
pub(crate) const REQUEST_APPROVAL_ARG: &str = "request_approval_reason";
const MAX_APPROVAL_REASON_CHARS: usize = 500;

/// The tool schema a model receives, with [`REQUEST_APPROVAL_ARG`] for capabilities that
/// change data or have side effects.
pub(crate) fn offered_schema(capability: &Capability) -> JsonValue {
    let mut schema = capability.model_schema();
    if capability.spec.classification.effect != heddle_agents::Effect::Read
        && let Some(properties) = schema
            .get_mut("properties")
            .and_then(JsonValue::as_object_mut)
    {
        properties.insert(
            REQUEST_APPROVAL_ARG.to_owned(),
            json!({
                "type": "string",
                "maxLength": MAX_APPROVAL_REASON_CHARS,
                "description": "Optional. Ask for a person's approval before this runs, and say why."
            }),
        );
    }
    schema
}

/// Takes the approval request out of the arguments.
fn take_approval_request(arguments: &mut JsonValue) -> Result<Option<String>, Refusal> {
    let Some(map) = arguments.as_object_mut() else {
        return Ok(None);
    };
    match map.remove(REQUEST_APPROVAL_ARG) {
        None | Some(JsonValue::Null) => Ok(None),
        Some(JsonValue::String(reason)) if reason.chars().count() <= MAX_APPROVAL_REASON_CHARS => {
            Ok(Some(reason))
        }
        Some(_) => Err(Refusal::new(
            "schema",
            format!(
                "`{REQUEST_APPROVAL_ARG}` is a reason of at most {MAX_APPROVAL_REASON_CHARS} characters"
            ),
        )),
    }
}

/// The contract check, in order: a tool the agent has; arguments that fit the model-visible
/// schema; a verified customer where a service agent's capability is private; bound inputs
/// injected (never supplied by the model); the backend filled in, with well-formed ids.
pub(crate) fn check_contract<'a>(
    agent: &Agent,
    capability: Option<&'a Capability>,
    call: &ToolCall,
    context: &BoundContext,
) -> Result<CheckedCall<'a>, Refusal> {
    let capability = capability
        .filter(|_| agent.spec.capabilities.iter().any(|c| c == &call.name))
        .ok_or_else(|| {
            Refusal::new(
                "unknown_tool",
                format!(
                    "there is no tool `{}`; the tools are: {}",
                    truncate(&call.name, 64),
                    agent.spec.capabilities.join(", ")
                ),
            )
        })?;
    let mut model_arguments = call.arguments.clone();
    let approval_request = if capability.spec.classification.effect == heddle_agents::Effect::Read {
        None
    } else {
        take_approval_request(&mut model_arguments)?
    };
    capability
        .validate_arguments(&model_arguments)
        .map_err(|problems| {
            let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Refusal::new(
                "schema",
                format!(
                    "the arguments do not fit the tool's schema: {}",
                    listed.join("; ")
                ),
            )
        })?;
    if agent.spec.kind == AgentKind::Service
        && capability.spec.classification.data == DataClass::Private
        && context.verified_customer_id.is_none()
    {
        return Err(Refusal::new(
            "verification",
            "this tool needs a verified customer; ask the customer to verify their email \
             address first",
        ));
    }
    let arguments = capability
        .bind_arguments(model_arguments, context)
        .map_err(|err| Refusal::new("binding", err.to_string()))?;
    let backend = fill_backend(capability, &arguments)?;
    Ok(CheckedCall {
        capability,
        arguments,
        backend,
        approval_request,
    })
}

pub(crate) fn fill_backend(
    capability: &Capability,
    arguments: &Map<String, JsonValue>,
) -> Result<BackendCall, Refusal> {
    match &capability.spec.backend {
        Backend::RecordsQuery(_) => match capability.compile_query(arguments) {
            Some(Ok(query)) => Ok(BackendCall::Query(query)),
            Some(Err(err)) => Err(Refusal::new("backend", err.to_string())),
            None => Err(Refusal::new("backend", "the query template is missing")),
        },
        Backend::RecordsGet(get) => Ok(BackendCall::Get {
            object: get.object.clone(),
            id: record_id(&get.record_id, arguments)?,
            fields: get.fields.clone(),
        }),
        Backend::RecordsCreate(write) => Ok(BackendCall::Create {
            object: write.object.clone(),
            fields: write_fields(&write.fields, arguments)?,
        }),
        Backend::RecordsUpdate(write) => {
            let template = write.record_id.as_deref().ok_or_else(|| {
                Refusal::new("backend", "the update names no record id parameter")
            })?;
            Ok(BackendCall::Update {
                object: write.object.clone(),
                id: record_id(template, arguments)?,
                fields: write_fields(&write.fields, arguments)?,
            })
        }
        _ => Err(Refusal::new(
            "backend",
            format!(
                "the `{}` backend is not available in this runtime",
                capability.spec.backend.type_name()
            ),
        )),
    }
}

/// The record id a `{{param}}` (or a literal id) stands for; a malformed id is refused here,
/// before any lookup.
fn record_id(template: &str, arguments: &Map<String, JsonValue>) -> Result<RecordId, Refusal> {
    let raw = match placeholder(template) {
        Some(param) => arguments
            .get(param)
            .and_then(JsonValue::as_str)
            .ok_or_else(|| Refusal::new("record_id", format!("`{param}` must be a record id")))?,
        None => template,
    };
    RecordId::parse(raw).map_err(|err| Refusal::new("record_id", format!("not a record id: {err}")))
}

/// The allow-listed fields with their values; an optional parameter the model left out
/// writes nothing.
fn write_fields(
    allowed: &BTreeMap<String, String>,
    arguments: &Map<String, JsonValue>,
) -> Result<BTreeMap<String, JsonValue>, Refusal> {
    let mut fields = BTreeMap::new();
    for (field, template) in allowed {
        if field == "*" {
            return Err(Refusal::new(
                "backend",
                "this capability may write any field, which Heddle does not run",
            ));
        }
        match placeholder(template) {
            Some(param) => {
                if let Some(value) = arguments.get(param) {
                    fields.insert(field.clone(), value.clone());
                }
            }
            None => {
                fields.insert(field.clone(), JsonValue::String(template.clone()));
            }
        }
    }
    if fields.is_empty() {
        return Err(Refusal::new("backend", "the call would write no field"));
    }
    Ok(fields)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// What running a call produced: the text the model gets and facts for the record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolOutput {
    pub(crate) content: String,
    pub(crate) records: usize,
    /// Fields removed because the principal may not read them (never their values).
    pub(crate) withheld_fields: Vec<String>,
    pub(crate) dropped_fields: Vec<String>,
    /// Ids of records the call returned or changed.
    pub(crate) record_ids: Vec<String>,
}

fn record_json(view: &RecordView) -> JsonValue {
    json!({"id": view.id.as_str(), "object": view.object, "fields": view.fields})
}

/// Refuses a record id of another object than the one the backend reads or writes, before
/// any lookup by that id.
async fn check_record_target(
    source: &dyn RecordSource,
    actor: &RecordActor,
    backend: &BackendCall,
) -> Result<(), RecordError> {
    if let Some((object, id)) = backend.record_target() {
        let definition = source.describe_object(actor, object).await?;
        if id.key_prefix() != definition.key_prefix {
            return Err(RecordError::Invalid(format!(
                "`{id}` is not the id of a{} {object} record",
                if object.starts_with(['A', 'E', 'I', 'O', 'U']) {
                    "n"
                } else {
                    ""
                }
            )));
        }
    }
    Ok(())
}

/// Runs a checked call as `actor`. Unreadable fields are already stripped by the source.
pub(crate) async fn execute(
    source: &dyn RecordSource,
    actor: &RecordActor,
    backend: &BackendCall,
) -> Result<ToolOutput, RecordError> {
    check_record_target(source, actor, backend).await?;
    match backend {
        BackendCall::Query(query) => {
            let QueryResult {
                records,
                next_cursor,
            } = source.query(actor, query).await?;
            Ok(output(
                json!({
                    "records": records.iter().map(record_json).collect::<Vec<_>>(),
                    "more": next_cursor.is_some(),
                }),
                &records,
                Vec::new(),
            ))
        }
        BackendCall::Get { id, fields, .. } => {
            let mut view = source.get(actor, id).await?;
            if !fields.is_empty() {
                view.fields.retain(|name, _| fields.contains(name));
            }
            let records = [view];
            Ok(output(
                json!({"record": record_json(&records[0])}),
                &records,
                Vec::new(),
            ))
        }
        BackendCall::Create { object, fields } => {
            let outcome = source
                .create(actor, object, fields.clone(), WriteMode::Strict)
                .await?;
            let records = [outcome.record];
            Ok(output(
                json!({"created": record_json(&records[0])}),
                &records,
                outcome.dropped_fields,
            ))
        }
        BackendCall::Update { id, fields, .. } => {
            let outcome = source
                .update(actor, id, fields.clone(), WriteMode::Strict)
                .await?;
            let records = [outcome.record];
            Ok(output(
                json!({"updated": record_json(&records[0])}),
                &records,
                outcome.dropped_fields,
            ))
        }
    }
}

fn output(content: JsonValue, records: &[RecordView], dropped_fields: Vec<String>) -> ToolOutput {
    let withheld: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.removed_fields.iter().cloned())
        .collect();
    ToolOutput {
        content: content.to_string(),
        records: records.len(),
        withheld_fields: withheld.into_iter().collect(),
        dropped_fields,
        record_ids: records.iter().map(|r| r.id.to_string()).collect(),
    }
}

/// What the model is told when the record source refuses: enough to answer the person, no
/// more (an invisible record and a missing one read the same).
pub(crate) fn record_error_message(error: &RecordError) -> String {
    match error {
        RecordError::NotFound { .. } => {
            "not found, or not visible to the person you act for".to_owned()
        }
        RecordError::Identity(_) => "not allowed for the person you act for".to_owned(),
        other => other.to_string(),
    }
}

/// Runs a held call that a person let through: reads as [`execute`]; a write at most once
/// under `key`, so a retry after a crash (or a second runner) learns what the first did
/// instead of writing again.
pub(crate) async fn execute_once(
    records: &heddle_recordsource::EmbeddedRecords,
    actor: &RecordActor,
    backend: &BackendCall,
    key: &str,
) -> Result<ToolOutput, RecordError> {
    use heddle_recordsource::Applied;
    let applied = match backend {
        BackendCall::Query(_) | BackendCall::Get { .. } => {
            return execute(records, actor, backend).await;
        }
        BackendCall::Create { object, fields } => {
            records
                .create_once(actor, object, fields.clone(), WriteMode::Strict, key)
                .await?
        }
        BackendCall::Update { id, fields, .. } => {
            check_record_target(records, actor, backend).await?;
            records
                .update_once(actor, id, fields.clone(), WriteMode::Strict, key)
                .await?
        }
    };
    match applied {
        Applied::Now(outcome) => {
            let verb = if matches!(backend, BackendCall::Create { .. }) {
                "created"
            } else {
                "updated"
            };
            let records = [outcome.record];
            Ok(output(
                json!({ verb: record_json(&records[0]) }),
                &records,
                outcome.dropped_fields,
            ))
        }
        // A first attempt committed it; this one changes nothing.
        Applied::Before(result) => Ok(ToolOutput {
            content: json!({"applied_before": result}).to_string(),
            records: 1,
            withheld_fields: Vec::new(),
            dropped_fields: Vec::new(),
            record_ids: result
                .get("id")
                .and_then(JsonValue::as_str)
                .map(|id| vec![id.to_owned()])
                .unwrap_or_default(),
        }),
    }
}
