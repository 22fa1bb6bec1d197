//! A service agent on a customer channel: private capabilities wait for verification by a
//! one-time code, then run as that customer and see only their records.

use heddle_identity::Caller;
use heddle_runtime::RuntimeError;
use heddle_types::Role;

use crate::harness::{World, files};

const SUPPORT: &str = "api_version: heddle/v1
kind: Agent
name: support
spec:
  kind: service
  model: m
  system_prompt: Help customers with their cases.
  capabilities: [list_my_cases]
";

const CASES: &str = "api_version: heddle/v1
kind: Capability
name: list_my_cases
spec:
  description: List the verified customer's cases with one status.
  classification: { effect: read, data: private, audience: service }
  input_schema:
    type: object
    additionalProperties: false
    required: [status]
    properties:
      status: { type: string, enum: [New, Closed] }
  bound_inputs:
    customer: verified_customer_id
  backend:
    records.query:
      query:
        object: Case
        fields: [Subject, Status]
        filter:
          and:
            - { field: ContactId, op: eq, value: \"{{customer}}\" }
            - { field: Status, op: eq, value: \"{{status}}\" }
        limit: 20
";

fn support_files() -> Vec<(&'static str, String)> {
    let script = "- tool_calls:\n    - name: list_my_cases\n      arguments: { status: New }\n\
                  - expect: { last_tool_result_is_error: true }\n  text: Please verify your email first.\n\
                  - tool_calls:\n    - name: list_my_cases\n      arguments: { status: New }\n\
                  - expect: { last_tool_result_contains: Broken zipper, last_tool_result_excludes: Late delivery }\n  text: You have one open case.\n";
    let mut all = files(script, "");
    all.push(("support.yaml", SUPPORT.to_owned()));
    all.push(("cases.yaml", CASES.to_owned()));
    all
}

fn code_in(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn private_capabilities_wait_for_a_verified_customer_and_then_see_only_theirs() {
    let world = World::start().await;
    world.apply(&support_files()).await;
    let channel = world.api_key(Role::Operator).await;
    let session = world.session(&channel, "support").await;
    assert!(!session.customer_verified);

    let before = world
        .say(&channel, session.id, "What are my open cases?")
        .await;
    assert_eq!(
        before.reply.as_deref(),
        Some("Please verify your email first.")
    );

    // An address that is nobody's gets the same answer, and no mail.
    let stranger = world
        .runtime
        .start_verification(&channel, world.tenant, session.id, "eve@elsewhere.test")
        .await
        .unwrap();
    assert_eq!(stranger.status, "code_sent");
    assert!(world.mailer.sent().is_empty());

    let started = world
        .runtime
        .start_verification(&channel, world.tenant, session.id, "Ivy@Customer.test")
        .await
        .unwrap();
    assert_eq!(started.sent_to, "I***@Customer.test");
    let sent = world.mailer.sent();
    assert_eq!(sent.len(), 1);
    let code = code_in(&sent[0].text_body);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let error = world
        .runtime
        .confirm_verification(&channel, world.tenant, session.id, wrong)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("4 attempt(s) left"), "{error}");
    world
        .runtime
        .confirm_verification(&channel, world.tenant, session.id, &code)
        .await
        .unwrap();
    let view = world
        .runtime
        .get_session(&Caller::local_operator(), world.tenant, session.id)
        .await
        .unwrap();
    assert!(view.customer_verified);
    // The code is single-use.
    let again = world
        .runtime
        .confirm_verification(&channel, world.tenant, session.id, &code)
        .await
        .unwrap_err();
    assert!(matches!(again, RuntimeError::Refused(_)), "{again:?}");

    let after = world.say(&channel, session.id, "And now?").await;
    assert_eq!(after.status, "completed", "{after:?}");
    assert_eq!(after.reply.as_deref(), Some("You have one open case."));
}

#[tokio::test]
async fn wrong_codes_run_out_and_employee_sessions_do_not_verify() {
    let world = World::start().await;
    world.apply(&support_files()).await;
    let channel = world.api_key(Role::Operator).await;
    let session = world.session(&channel, "support").await;
    world
        .runtime
        .start_verification(&channel, world.tenant, session.id, "ivy@customer.test")
        .await
        .unwrap();
    let code = code_in(&world.mailer.sent()[0].text_body);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let error = world
            .runtime
            .confirm_verification(&channel, world.tenant, session.id, wrong)
            .await
            .unwrap_err();
        assert!(matches!(error, RuntimeError::Invalid { .. }), "{error:?}");
    }
    // Even the right code is refused now.
    let error = world
        .runtime
        .confirm_verification(&channel, world.tenant, session.id, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RuntimeError::TooManyAttempts(_)),
        "{error:?}"
    );
    let malformed = world
        .runtime
        .confirm_verification(&channel, world.tenant, session.id, "12 34")
        .await
        .unwrap_err();
    assert!(matches!(malformed, RuntimeError::Invalid { .. }));

    let ana = world.person(crate::harness::ANA).await;
    let employee = world.session(&ana, "rep_assistant").await;
    let refused = world
        .runtime
        .start_verification(&ana, world.tenant, employee.id, "ivy@customer.test")
        .await
        .unwrap_err();
    assert!(matches!(refused, RuntimeError::Refused(_)), "{refused:?}");
}

#[tokio::test]
async fn an_agent_declared_with_a_service_user_runs_in_system_mode_marked_in_the_audit_log() {
    let world = World::start().await;
    let mut all = files(
        "- tool_calls:\n    - name: count_new_cases\n      arguments: {}\n\
         - expect: { last_tool_result_contains: Late delivery }\n  text: Two cases are new.\n",
        "",
    );
    all.push((
        "board.yaml",
        format!(
            "api_version: heddle/v1
kind: Agent
name: status_board
spec:
  kind: service
  identity:
    mode: service_user
    service_user: \"{}\"
    justification: The public status page counts open cases across all customers.
  model: m
  system_prompt: Report how many cases are new.
  capabilities: [count_new_cases]
",
            crate::harness::user_id(4)
        ),
    ));
    all.push((
        "count.yaml",
        "api_version: heddle/v1
kind: Capability
name: count_new_cases
spec:
  description: List the subjects of all new cases.
  classification: { effect: read, data: public, audience: service }
  input_schema: { type: object, additionalProperties: false, properties: {} }
  backend:
    records.query:
      query:
        object: Case
        fields: [Subject]
        filter: { field: Status, op: eq, value: New }
        limit: 20
"
        .to_owned(),
    ));
    world.apply(&all).await;
    let channel = world.api_key(Role::Operator).await;
    let session = world.session(&channel, "status_board").await;
    let outcome = world.say(&channel, session.id, "How many new cases?").await;
    assert_eq!(outcome.status, "completed", "{outcome:?}");
    assert_eq!(outcome.reply.as_deref(), Some("Two cases are new."));
    world.identity.audit_log().flush().await.unwrap();
    let events = world
        .identity
        .store()
        .list_audit_events(
            world.tenant,
            &heddle_store::AuditFilter {
                action: Some("record.query".to_owned()),
                ..heddle_store::AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let event = String::from_utf8(events.last().unwrap().canonical.clone().unwrap()).unwrap();
    assert!(
        event.contains("\"identity_mode\":\"service_user\""),
        "{event}"
    );
    assert!(event.contains("public status page"), "{event}");
}
