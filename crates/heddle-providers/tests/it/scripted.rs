//! The scripted provider: turns in order, expectations, exhaustion, script files.

use heddle_providers::{
    ChatRequest, Message, ModelProvider, ProviderError, Script, ScriptedProvider, ScriptedTurn,
    StopReason, TurnExpectation, Usage,
};
use serde_json::json;

fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest::new("scripted", 100, messages)
}

#[tokio::test]
async fn plays_turns_in_order_then_reports_exhaustion() {
    let provider = ScriptedProvider::new(Script::new(vec![
        ScriptedTurn::tool_call("accounts_by_city", json!({"city": "Berlin"})),
        ScriptedTurn::text("Acme GmbH is in Berlin.").expecting(TurnExpectation {
            last_tool_result_contains: Some("Acme".into()),
            ..TurnExpectation::default()
        }),
    ]));
    let mut messages = vec![Message::user("Berlin accounts?")];

    let first = provider.chat(&request(messages.clone())).await.unwrap();
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    assert_eq!(first.tool_calls.len(), 1);
    assert_eq!(first.tool_calls[0].id, "call_1_0");
    assert_eq!(first.tool_calls[0].name, "accounts_by_city");
    assert_eq!(first.tool_calls[0].arguments, json!({"city": "Berlin"}));
    assert!(first.usage.input_tokens > 0);

    messages.push(Message::Assistant {
        content: None,
        tool_calls: first.tool_calls.clone(),
    });
    messages.push(Message::tool_result(
        "call_1_0",
        r#"[{"name":"Acme GmbH"}]"#,
    ));
    let second = provider.chat(&request(messages.clone())).await.unwrap();
    assert_eq!(second.content, "Acme GmbH is in Berlin.");
    assert_eq!(second.stop_reason, StopReason::EndTurn);
    assert_eq!(provider.remaining(), 0);

    let err = provider.chat(&request(messages)).await.unwrap_err();
    assert_eq!(err, ProviderError::ScriptExhausted { turns: 2 });
    assert!(
        err.to_string().contains("all 2 turn(s) were played"),
        "{err}"
    );
    assert_eq!(provider.requests().len(), 3);
}

#[tokio::test]
async fn an_unmet_expectation_fails_the_turn_and_says_what_was_seen() {
    let provider = ScriptedProvider::new(Script::new(vec![ScriptedTurn::text("done").expecting(
        TurnExpectation {
            last_tool_result_contains: Some("Acme".into()),
            ..TurnExpectation::default()
        },
    )]));

    let err = provider
        .chat(&request(vec![
            Message::user("x"),
            Message::tool_result("c", "access denied"),
        ]))
        .await
        .unwrap_err();

    assert!(
        matches!(err, ProviderError::ScriptExpectation { turn: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("access denied"), "{err}");
    assert_eq!(
        provider.played(),
        0,
        "a failed expectation does not consume the turn"
    );
}

#[tokio::test]
async fn reads_yaml_and_json_scripts() {
    let yaml = r#"
- tool_calls:
    - id: call_peer
      name: records.get
      arguments: { id: "001PEER" }
- expect:
    last_tool_result_is_error: true
    last_tool_result_excludes: "Revenue"
  text: "I cannot access that account."
  usage: { input_tokens: 7, output_tokens: 3 }
"#;
    let script = Script::from_yaml(yaml, "redteam.yaml").unwrap();
    let provider = ScriptedProvider::new(script.clone());
    let first = provider
        .chat(&request(vec![Message::user("peer")]))
        .await
        .unwrap();
    assert_eq!(first.tool_calls[0].id, "call_peer");
    let second = provider
        .chat(&request(vec![
            Message::user("peer"),
            Message::Assistant {
                content: None,
                tool_calls: first.tool_calls,
            },
            Message::ToolResult {
                tool_call_id: "call_peer".into(),
                content: "denied by policy".into(),
                is_error: true,
            },
        ]))
        .await
        .unwrap();
    assert_eq!(second.content, "I cannot access that account.");
    assert_eq!(
        second.usage,
        Usage {
            input_tokens: 7,
            output_tokens: 3
        }
    );

    let json_text = serde_json::to_string(&script).unwrap();
    assert_eq!(Script::from_json(&json_text).unwrap(), script);
}

#[test]
fn script_errors_name_the_file_and_field() {
    let err = Script::from_yaml("- text: hi\n  tool_cals: []\n", "demo.yaml").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("demo.yaml:2"), "{text}");
    assert!(text.contains("tool_cals"), "{text}");
}
