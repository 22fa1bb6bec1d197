//! When a person must see a call before it runs: the capability's declared mode, its
//! approval condition over the arguments, what tenant policy adds and what the model asks
//! for. Pure. The policy sets the floor; the model may only raise it.

use heddle_records::query::{Condition, Filter, Op};
use serde::Serialize;
use serde_json::{Map, Value as JsonValue};

use crate::config::{CapabilitySpec, HitlMode};

/// Who must agree before a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Nobody: it runs.
    None,
    /// The person in the conversation confirms.
    Confirmation,
    /// A designated approver approves.
    Approval,
    /// The person confirms, then an approver approves.
    ConfirmationThenApproval,
}

impl Gate {
    fn from_parts(confirm: bool, approve: bool) -> Self {
        match (confirm, approve) {
            (false, false) => Self::None,
            (true, false) => Self::Confirmation,
            (false, true) => Self::Approval,
            (true, true) => Self::ConfirmationThenApproval,
        }
    }

    pub fn needs_confirmation(self) -> bool {
        matches!(self, Self::Confirmation | Self::ConfirmationThenApproval)
    }

    pub fn needs_approval(self) -> bool {
        matches!(self, Self::Approval | Self::ConfirmationThenApproval)
    }
}

/// What tenant policy requires of this call beyond the capability's own mode (Cedar
/// forbids on `run_without_confirmation` / `run_without_approval`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyFloor {
    pub confirmation: bool,
    pub approval: bool,
}

/// The gate a call must pass: the capability's mode (a conditional approval when its
/// condition matches the bound arguments), raised by tenant policy, raised again when the
/// model asks for an approval. Nothing here can lower what the capability declares.
pub fn required_gate(
    spec: &CapabilitySpec,
    arguments: &Map<String, JsonValue>,
    policy: PolicyFloor,
    model_asks_approval: bool,
) -> Gate {
    let (confirm, approve) = match spec.human_in_the_loop {
        HitlMode::None => (false, false),
        HitlMode::Confirmation => (true, false),
        HitlMode::Approval => (false, true),
        HitlMode::ConfirmationThenApproval => (true, true),
        HitlMode::ConditionalApproval => {
            // A conditional mode without its condition is refused at load; if one is met
            // here anyway, a person decides.
            let matches = spec
                .approval
                .as_ref()
                .and_then(|a| a.when.as_ref())
                .is_none_or(|when| arguments_match(when, arguments));
            (false, matches)
        }
    };
    Gate::from_parts(
        confirm || policy.confirmation,
        approve || policy.approval || model_asks_approval,
    )
}

/// The argument names a condition reads.
pub fn condition_fields(filter: &Filter) -> Vec<&str> {
    let mut out = Vec::new();
    collect_fields(filter, &mut out);
    out
}

fn collect_fields<'a>(filter: &'a Filter, out: &mut Vec<&'a str>) {
    match filter {
        Filter::And(all) | Filter::Or(all) => all.iter().for_each(|f| collect_fields(f, out)),
        Filter::Not(inner) => collect_fields(inner, out),
        Filter::Condition(condition) => out.push(&condition.field),
    }
}

/// Whether the arguments match an approval condition. A condition that cannot be decided (a
/// missing argument compared by order, mismatched types) counts as matching, and so does its
/// negation: in doubt, a person looks.
pub fn arguments_match(filter: &Filter, arguments: &Map<String, JsonValue>) -> bool {
    evaluate(filter, arguments).unwrap_or(true)
}

/// `None` when undecidable.
fn evaluate(filter: &Filter, arguments: &Map<String, JsonValue>) -> Option<bool> {
    match filter {
        Filter::And(all) => {
            let mut result = Some(true);
            for f in all {
                match evaluate(f, arguments) {
                    Some(false) => return Some(false),
                    None => result = None,
                    Some(true) => {}
                }
            }
            result
        }
        Filter::Or(all) => {
            let mut result = Some(false);
            for f in all {
                match evaluate(f, arguments) {
                    Some(true) => return Some(true),
                    None => result = None,
                    Some(false) => {}
                }
            }
            result
        }
        Filter::Not(inner) => evaluate(inner, arguments).map(|b| !b),
        Filter::Condition(condition) => condition_holds(condition, arguments),
    }
}

fn condition_holds(condition: &Condition, arguments: &Map<String, JsonValue>) -> Option<bool> {
    let value = arguments.get(&condition.field).unwrap_or(&JsonValue::Null);
    let target = &condition.value;
    match condition.op {
        Op::IsNull => Some(value.is_null() == target.as_bool().unwrap_or(true)),
        Op::Eq => equal(value, target),
        Op::Ne => equal(value, target).map(|b| !b),
        Op::In => {
            let options = target.as_array()?;
            let mut undecided = false;
            for option in options {
                match equal(value, option) {
                    Some(true) => return Some(true),
                    None => undecided = true,
                    Some(false) => {}
                }
            }
            (!undecided).then_some(false)
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ordering = order(value, target)?;
            Some(match condition.op {
                Op::Lt => ordering.is_lt(),
                Op::Le => ordering.is_le(),
                Op::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        Op::StartsWith => Some(value.as_str()?.starts_with(target.as_str()?)),
        Op::Contains => Some(value.as_str()?.contains(target.as_str()?)),
    }
}

fn equal(a: &JsonValue, b: &JsonValue) -> Option<bool> {
    match (a, b) {
        (JsonValue::Number(x), JsonValue::Number(y)) => Some(x.as_f64()? == y.as_f64()?),
        (JsonValue::String(x), JsonValue::String(y)) => Some(x == y),
        (JsonValue::Bool(x), JsonValue::Bool(y)) => Some(x == y),
        (JsonValue::Null, JsonValue::Null) => Some(true),
        (JsonValue::Null, _) | (_, JsonValue::Null) => Some(false),
        _ => None,
    }
}

fn order(a: &JsonValue, b: &JsonValue) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (JsonValue::Number(x), JsonValue::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (JsonValue::String(x), JsonValue::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;
    use crate::config::ApprovalSpec;

    fn filter(value: JsonValue) -> Filter {
        serde_json::from_value(value).unwrap()
    }

    fn args(value: JsonValue) -> Map<String, JsonValue> {
        value.as_object().unwrap().clone()
    }

    fn spec(mode: HitlMode, when: Option<JsonValue>) -> CapabilitySpec {
        let mut spec: CapabilitySpec = serde_json::from_value(json!({
            "description": "d",
            "classification": {"effect": "write", "data": "private", "audience": "employee"},
            "input_schema": {"type": "object"},
            "backend": {"records.update": {"object": "Opportunity", "record_id": "{{id}}",
                        "fields": {"Amount": "{{amount}}"}}}
        }))
        .unwrap();
        spec.human_in_the_loop = mode;
        spec.approval = when.map(|w| ApprovalSpec {
            when: Some(filter(w)),
            ..ApprovalSpec::default()
        });
        spec
    }

    #[test]
    fn conditions_compare_numbers_strings_and_lists() {
        let big = filter(json!({"field": "amount", "op": "gt", "value": 10000}));
        assert!(arguments_match(&big, &args(json!({"amount": 25000}))));
        assert!(!arguments_match(&big, &args(json!({"amount": 900.5}))));
        let sensitive = filter(json!({"or": [
            {"field": "field", "op": "in", "value": ["Amount", "OwnerId"]},
            {"field": "note", "op": "contains", "value": "refund"}
        ]}));
        assert!(arguments_match(
            &sensitive,
            &args(json!({"field": "OwnerId", "note": "x"}))
        ));
        assert!(arguments_match(
            &sensitive,
            &args(json!({"field": "Name", "note": "full refund"}))
        ));
        assert!(!arguments_match(
            &sensitive,
            &args(json!({"field": "Name", "note": "typo"}))
        ));
    }

    #[test]
    fn an_undecidable_condition_asks_a_person_even_under_not() {
        let big = filter(json!({"field": "amount", "op": "gt", "value": 10000}));
        // Missing, or a string where a number was expected.
        assert!(arguments_match(&big, &args(json!({}))));
        assert!(arguments_match(&big, &args(json!({"amount": "lots"}))));
        let negated = filter(json!({"not": {"field": "amount", "op": "le", "value": 10000}}));
        assert!(arguments_match(&negated, &args(json!({"amount": "lots"}))));
        assert!(!arguments_match(&negated, &args(json!({"amount": 5}))));
        // `and` with one false part is decided false; with an undecidable part and no false
        // one, a person looks.
        let both = filter(json!({"and": [
            {"field": "amount", "op": "gt", "value": 10000},
            {"field": "stage", "op": "eq", "value": "Closed Won"}
        ]}));
        assert!(!arguments_match(
            &both,
            &args(json!({"amount": "x", "stage": "Open"}))
        ));
        assert!(arguments_match(
            &both,
            &args(json!({"amount": "x", "stage": "Closed Won"}))
        ));
    }

    #[test]
    fn policy_and_model_raise_the_floor_and_never_lower_it() {
        let none = PolicyFloor::default();
        let a = args(json!({"amount": 50}));
        assert_eq!(
            required_gate(&spec(HitlMode::None, None), &a, none, false),
            Gate::None
        );
        assert_eq!(
            required_gate(&spec(HitlMode::Confirmation, None), &a, none, false),
            Gate::Confirmation
        );
        assert_eq!(
            required_gate(&spec(HitlMode::Confirmation, None), &a, none, true),
            Gate::ConfirmationThenApproval
        );
        let conditional = spec(
            HitlMode::ConditionalApproval,
            Some(json!({"field": "amount", "op": "gt", "value": 10000})),
        );
        assert_eq!(required_gate(&conditional, &a, none, false), Gate::None);
        assert_eq!(
            required_gate(&conditional, &args(json!({"amount": 20000})), none, false),
            Gate::Approval
        );
        let policy = PolicyFloor {
            confirmation: true,
            approval: false,
        };
        assert_eq!(
            required_gate(&conditional, &a, policy, false),
            Gate::Confirmation
        );
        assert_eq!(
            required_gate(&spec(HitlMode::Approval, None), &a, policy, false),
            Gate::ConfirmationThenApproval
        );
        // Every combination: the result always includes what the capability declares.
        for mode in [
            HitlMode::None,
            HitlMode::Confirmation,
            HitlMode::Approval,
            HitlMode::ConfirmationThenApproval,
        ] {
            let declared = required_gate(&spec(mode, None), &a, none, false);
            for (confirmation, approval, ask) in [
                (false, false, false),
                (true, false, false),
                (false, true, true),
                (true, true, false),
            ] {
                let raised = required_gate(
                    &spec(mode, None),
                    &a,
                    PolicyFloor {
                        confirmation,
                        approval,
                    },
                    ask,
                );
                assert!(!declared.needs_confirmation() || raised.needs_confirmation());
                assert!(!declared.needs_approval() || raised.needs_approval());
            }
        }
    }
}
