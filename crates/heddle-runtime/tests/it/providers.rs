//! Real provider adapters behind a model binding: the credential comes from the vault, bound
//! inputs never reach the model's tool schema, and provider failures and slow models end the
//! turn with a reason.

use heddle_runtime::RuntimeSettings;
use heddle_testkit::{FakeModelReply, FakeOpenAi};
use serde_json::json;

use crate::harness::{ANA, World, files};

const KEY: &str = "sk-test-runtime-0123456789";

fn openai_files(base_url: &str) -> Vec<(&'static str, String)> {
    let mut all = files("- text: unused\n", "");
    all[0].1 = format!(
        "api_version: heddle/v1\nkind: ModelBinding\nname: m\nspec:\n  provider: openai\n  model: gpt-4o-mini\n  base_url: {base_url}\n  credential: openai_key\n"
    );
    all
}

async fn world_with_private_providers() -> World {
    let mut settings = RuntimeSettings::default();
    settings.providers.allow_private_network = true;
    World::start_with(settings).await
}

async fn store_key(world: &World) {
    world.store_api_key_secret("openai_key", KEY).await;
}

#[tokio::test]
async fn an_openai_binding_uses_the_vault_key_and_never_shows_bound_inputs() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.push_reply(FakeModelReply::tool_call(
        "call_1",
        "list_my_accounts",
        json!({"industry": "Retail"}),
    ));
    fake.push_reply(FakeModelReply::text("Alpine is your retail account.").with_usage(120, 9));
    let world = world_with_private_providers().await;
    store_key(&world).await;
    world.apply(&openai_files(&fake.url())).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "My retail accounts?").await;
    assert_eq!(outcome.status, "completed", "{outcome:?}");
    assert_eq!(
        outcome.reply.as_deref(),
        Some("Alpine is your retail account.")
    );
    assert!(outcome.estimated_cost_usd > 0.0, "{outcome:?}");

    let bodies = fake.request_bodies();
    assert_eq!(bodies.len(), 2);
    let tools = bodies[0]["tools"].as_array().unwrap();
    let list = tools
        .iter()
        .find(|t| t["function"]["name"] == "list_my_accounts")
        .unwrap();
    let properties = &list["function"]["parameters"]["properties"];
    assert!(properties.get("industry").is_some());
    assert!(properties.get("owner").is_none(), "{list}");
    assert_eq!(bodies[0]["messages"][0]["role"], "system");
    // The tool result went back to the model, answering its call.
    let tool_message = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert_eq!(tool_message["tool_call_id"], "call_1");
    assert!(tool_message["content"].as_str().unwrap().contains("Alpine"));
    assert!(
        !tool_message["content"]
            .as_str()
            .unwrap()
            .contains("Borealis")
    );
}

#[tokio::test]
async fn a_missing_credential_or_a_private_address_fails_the_turn_with_the_reason() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let world = world_with_private_providers().await;
    world.apply(&openai_files(&fake.url())).await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let outcome = world.say(&ana, session.id, "hello").await;
    assert_eq!(outcome.status, "failed");
    assert!(
        outcome
            .reason
            .as_deref()
            .unwrap()
            .contains("`openai_key` is not a secret of `dev`"),
        "{outcome:?}"
    );

    // Loopback is where an SSRF aims: closed unless the operator opens it.
    let closed = World::start().await;
    store_key(&closed).await;
    closed.apply(&openai_files(&fake.url())).await;
    let ana = closed.person(ANA).await;
    let session = closed.session(&ana, "rep_assistant").await;
    let outcome = closed.say(&ana, session.id, "hello").await;
    assert_eq!(outcome.status, "failed", "{outcome:?}");
    assert!(fake.requests().is_empty());
    assert!(!outcome.reason.unwrap().contains(KEY));
}

#[tokio::test]
async fn a_slow_model_halts_at_the_turn_time_limit_and_a_broken_one_fails() {
    let world = World::start().await;
    world
        .apply(&files(
            "- delay_ms: 3000\n  text: too late\n",
            "  limits:\n    max_steps: 4\n    turn_timeout_seconds: 1\n",
        ))
        .await;
    let ana = world.person(ANA).await;
    let session = world.session(&ana, "rep_assistant").await;
    let slow = world.say(&ana, session.id, "hello").await;
    assert_eq!(slow.status, "halted", "{slow:?}");
    assert!(slow.reason.unwrap().contains("time limit of 1 s"));
    // The script has nothing left: the model call fails and so does the turn.
    let broken = world.say(&ana, session.id, "hello again").await;
    assert_eq!(broken.status, "failed", "{broken:?}");
    assert!(broken.reason.unwrap().contains("model call failed"));
}
