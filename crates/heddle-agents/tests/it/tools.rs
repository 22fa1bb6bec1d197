//! The model-visible schema and bound-input injection.

use serde_json::json;

use heddle_agents::{BindError, BoundContext, BoundSource};

use crate::support::{CAP, base, load, with};

#[test]
fn bound_inputs_are_hidden_from_the_model() {
    // Declaring the bound parameter (to type it) does not show it to the model either.
    let text = CAP
        .replace("required: [stage]", "required: [stage, owner]")
        .replace(
            "    properties:\n",
            "    properties:\n      owner: { type: string, maxLength: 18 }\n",
        );
    for files in [base(), with("cap.yaml", &text)] {
        let set = load(&files);
        let cap = set.capability("read_mine").unwrap();
        let schema = cap.model_schema();
        assert!(schema["properties"].get("owner").is_none(), "{schema}");
        assert!(schema["properties"].get("stage").is_some());
        assert_eq!(schema["required"], json!(["stage"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        let tool = cap.tool_definition();
        assert_eq!(tool.name, "read_mine");
        assert_eq!(tool.parameters, schema);
        assert!(!tool.description.is_empty());
    }
}

#[test]
fn bound_values_are_injected_and_never_taken_from_the_model() {
    let set = load(&base());
    let cap = set.capability("read_mine").unwrap();
    let ctx = BoundContext {
        user_id: Some("005000000000001AAA".to_owned()),
        ..BoundContext::default()
    };
    let args = cap
        .bind_arguments(json!({"stage": "Proposal"}), &ctx)
        .unwrap();
    assert_eq!(args["owner"], json!("005000000000001AAA"));
    assert_eq!(args["stage"], json!("Proposal"));

    // The model trying to pick the owner is refused, not silently overwritten.
    let err = cap
        .bind_arguments(
            json!({"stage": "Proposal", "owner": "005000000000002AAA"}),
            &ctx,
        )
        .unwrap_err();
    assert_eq!(err, BindError::BoundParameterSupplied("owner".to_owned()));
    assert_eq!(
        cap.bind_arguments(json!(["x"]), &ctx).unwrap_err(),
        BindError::NotAnObject
    );

    // A session without the value cannot run the capability.
    let err = cap
        .bind_arguments(json!({"stage": "Proposal"}), &BoundContext::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            BindError::MissingContext {
                from: BoundSource::UserId,
                ..
            }
        ),
        "{err}"
    );

    // And the query is filled with the bound owner.
    let query = cap.compile_query(&args).unwrap().unwrap();
    assert_eq!(query.object, "Opportunity");
    let shown = serde_json::to_string(&query.filter).unwrap();
    assert!(
        shown.contains("005000000000001AAA") && shown.contains("Proposal"),
        "{shown}"
    );
}
