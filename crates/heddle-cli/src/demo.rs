//! `heddle demo`: a short scripted tour of the governed runtime against the demo company,
//! offline. It prepares the data dir exactly as `serve --demo` does, applies the demo agents
//! of `examples/demo-agents/` to `dev`, runs three scenes through the real runtime with the
//! scripted model, prints every recorded step, and says where to look afterwards. Everything
//! it does is stored like any other session, so `heddle serve --demo` shows it.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{Context, bail};
use heddle_crypto::ExposeSecret;
use heddle_identity::{Actor, Caller, CreateApiKey, Identity, OPERATOR_TENANT_SLUG, UpdateUser};
use heddle_mail::MemoryMailer;
use heddle_recordsource::{EmbeddedRecords, RecordSettings};
use heddle_runtime::{
    CreateSession, ExecutionView, Runtime, RuntimeSettings, SessionView, StepView, TurnOutcome,
};
use heddle_server::config::Config;
use heddle_types::{
    ApiKey, Environment, ExecutionId, PageRequest, Principal, RequestContext, Role, SessionId,
    Tenant,
};
use serde_json::Value;

/// The demo agents, built into the binary like the demo org (path relative to
/// `examples/demo-agents/`, as `heddle apply -f` names them, and text).
const DEMO_AGENT_FILES: [(&str, &str); 7] = [
    (
        "agent-sales.yaml",
        include_str!("../../../examples/demo-agents/agent-sales.yaml"),
    ),
    (
        "agent-support.yaml",
        include_str!("../../../examples/demo-agents/agent-support.yaml"),
    ),
    (
        "cap-get-account.yaml",
        include_str!("../../../examples/demo-agents/cap-get-account.yaml"),
    ),
    (
        "cap-list-my-cases.yaml",
        include_str!("../../../examples/demo-agents/cap-list-my-cases.yaml"),
    ),
    (
        "cap-list-my-open-opportunities.yaml",
        include_str!("../../../examples/demo-agents/cap-list-my-open-opportunities.yaml"),
    ),
    (
        "model-sales-script.yaml",
        include_str!("../../../examples/demo-agents/model-sales-script.yaml"),
    ),
    (
        "model-support-script.yaml",
        include_str!("../../../examples/demo-agents/model-support-script.yaml"),
    ),
];

const ENVIRONMENT: Environment = Environment::Dev;
const SALES_AGENT: &str = "demo_sales_assistant";
const SUPPORT_AGENT: &str = "demo_support_agent";
const REP: &str = "rep.ana@northwind.example";
const CUSTOMER: &str = "customer.ivy@customers.example";
/// The service channel's application key (created once, then reused).
const WIDGET_KEY_NAME: &str = "Northwind support widget";

/// Width the conversation is wrapped at.
const WRAP: usize = 96;

/// One turn of the tour, kept for the summary.
struct Shown {
    label: &'static str,
    session_id: SessionId,
    execution_id: ExecutionId,
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let identity = crate::admin::open_identity(&config).await?;
    crate::serve::prepare(&identity, &config, true).await?;
    let tenant = crate::admin::tenant(&identity, OPERATOR_TENANT_SLUG).await?;
    let operator = Caller::local_operator();

    let set = heddle_agents::load_dir(&DEMO_AGENT_FILES).map_err(|errors| {
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the built-in demo agents do not load:\n  {}",
            listed.join("\n  ")
        )
    })?;
    let applied = identity
        .apply_config(&operator, tenant.id, ENVIRONMENT, &set)
        .await
        .context("applying the demo agents")?;

    let rep = person(&identity, &tenant, REP).await?;
    let widget = widget_key(&identity, &tenant).await?;
    let mailer = Arc::new(MemoryMailer::new());
    let records = EmbeddedRecords::new(identity.clone(), RecordSettings::default());
    let mut settings = RuntimeSettings::default();
    settings.verification.sender_name = "Northwind support".to_owned();
    let runtime = Runtime::new(identity.clone(), records, mailer.clone(), settings);

    println!();
    println!("Heddle demo: Northwind Outfitters, offline, with a scripted model (no network).");
    println!(
        "  data:   {} (tenant `{}`)",
        crate::redact_url(&config.effective_database_url()),
        tenant.slug
    );
    println!(
        "  agents: examples/demo-agents as {ENVIRONMENT} version {}{} (sha256:{})",
        applied.version,
        if applied.unchanged { ", unchanged" } else { "" },
        short(&applied.content_hash, 12)
    );
    let mut shown = Vec::new();

    // 1 and 2: one session of the sales assistant, two turns.
    heading("1. A sales rep asks about her pipeline (employee agent, user mode)");
    print_wrapped(
        "",
        &format!(
            "{REP} (Ana Lima, sales rep; Heddle role operator) opens a session with \
             `{SALES_AGENT}`. Every tool call runs as her: the record org's sharing, CRUD and \
             field-level security decide what the model gets."
        ),
    );
    let session = runtime
        .create_session(&rep, tenant.id, new_session(SALES_AGENT))
        .await
        .context("opening Ana's session")?;
    println!("session {}", session.id);
    let turn = say(
        &runtime,
        &rep,
        &tenant,
        &session,
        "Ana",
        "Which of my deals are in Negotiation?",
    )
    .await?;
    shown.push(Shown {
        label: "1. Ana's pipeline",
        session_id: session.id,
        execution_id: turn.execution_id,
    });

    heading("2. The same rep's model reaches for a peer's account");
    print_wrapped(
        "",
        "Canyon Rentals (001Hn0000000002IAA) belongs to Ben Okafor, another rep. Reps do not see \
         each other's accounts, and no sales rep sees AnnualRevenue. The model asks for it with \
         the id it was given; Heddle checks the id against the contract, allows the call, and \
         runs the read as Ana.",
    );
    let turn = say(
        &runtime,
        &rep,
        &tenant,
        &session,
        "Ana",
        "Ben is out this week. Compare my Highland Ski & Board (001Hn0000000001IAA) with his \
         account Canyon Rentals (001Hn0000000002IAA).",
    )
    .await?;
    shown.push(Shown {
        label: "2. Ben's account",
        session_id: session.id,
        execution_id: turn.execution_id,
    });

    // 3: the support widget, a customer, verification by one-time code.
    heading("3. A customer on the support widget (service agent, verified customer)");
    print_wrapped(
        "",
        &format!(
            "The support widget is an application: API key `{WIDGET_KEY_NAME}` (role \
             operator). Ivy Chen, a buyer at Highland Ski & Board, talks to `{SUPPORT_AGENT}`; \
             its `list_my_cases` is private, so it runs only for a verified customer, and then \
             as that customer."
        ),
    );
    let session = runtime
        .create_session(&widget, tenant.id, new_session(SUPPORT_AGENT))
        .await
        .context("opening the support session")?;
    println!("session {}", session.id);
    let turn = say(
        &runtime,
        &widget,
        &tenant,
        &session,
        "Ivy",
        "Hi, this is Ivy Chen from Highland Ski & Board. What is happening with my escalated \
         cases?",
    )
    .await?;
    shown.push(Shown {
        label: "3. Ivy, not verified",
        session_id: session.id,
        execution_id: turn.execution_id,
    });

    println!();
    println!("Ivy enters her email in the widget; Heddle sends a one-time code to it.");
    let started = runtime
        .start_verification(&widget, tenant.id, session.id, CUSTOMER)
        .await
        .context("starting the verification")?;
    println!(
        "  start_verification({CUSTOMER}) -> {} to {}",
        started.status, started.sent_to
    );
    let code = mailer
        .sent()
        .last()
        .and_then(|mail| six_digits(&mail.text_body))
        .context("the demo mailer received no code")?;
    print_wrapped(
        "  ",
        &format!(
            "code {code}, read from the demo's in-memory mailer (in production it goes to the \
             customer by SMTP: `[mail] transport = \"smtp\"` in heddle.toml)"
        ),
    );
    let confirmed = runtime
        .confirm_verification(&widget, tenant.id, session.id, &code)
        .await
        .context("confirming the code")?;
    print_wrapped(
        "  ",
        &format!(
            "confirm_verification({code}) -> verified: {} (the session now carries Ivy's \
             contact id; the model never sees or supplies it)",
            confirmed.verified
        ),
    );
    let turn = say(
        &runtime,
        &widget,
        &tenant,
        &session,
        "Ivy",
        "Done, I entered the code.",
    )
    .await?;
    shown.push(Shown {
        label: "3. Ivy, verified",
        session_id: session.id,
        execution_id: turn.execution_id,
    });

    identity.audit_log().flush().await?;
    where_to_look(&config, &shown);
    Ok(())
}

fn new_session(agent: &str) -> CreateSession {
    CreateSession {
        agent: agent.to_owned(),
        environment: ENVIRONMENT,
        record_id: None,
    }
}

/// A demo person as a caller, made an operator first when an older `serve --demo` gave them
/// a role that may not run agents.
async fn person(identity: &Identity, tenant: &Tenant, email: &str) -> anyhow::Result<Caller> {
    let (mut user, _) = identity
        .store()
        .find_user_credentials(tenant.id, email)
        .await?
        .with_context(|| format!("the demo login `{email}` is missing"))?;
    if !matches!(user.role, Role::Admin | Role::Builder | Role::Operator) {
        user = identity
            .update_user(
                &Caller::local_operator(),
                tenant.id,
                user.id,
                UpdateUser {
                    role: Some(Role::Operator),
                    ..UpdateUser::default()
                },
            )
            .await?;
        println!("Made {email} an operator so that they may run agents.");
    }
    Ok(Caller::new(
        Actor::Principal(Principal::for_user(&user, tenant.operator)),
        RequestContext::default(),
    ))
}

/// The support widget's API key: the active one of that name, or a new one (its secret is
/// printed once, like every other demo secret).
async fn widget_key(identity: &Identity, tenant: &Tenant) -> anyhow::Result<Caller> {
    let operator = Caller::local_operator();
    let now = identity.now();
    let mut page = PageRequest::first(heddle_types::MAX_PAGE_LIMIT);
    let found: Option<ApiKey> = loop {
        let batch = identity.list_api_keys(&operator, tenant.id, page).await?;
        let found = batch.items.into_iter().find(|key| {
            key.name == WIDGET_KEY_NAME && key.role == Role::Operator && key.is_active(now)
        });
        match (found, batch.next_cursor) {
            (None, Some(cursor)) => page.after = Some(cursor),
            (found, _) => break found,
        }
    };
    let key = match found {
        Some(key) => key,
        None => {
            let issued = identity
                .create_api_key(
                    &operator,
                    CreateApiKey {
                        tenant_id: tenant.id,
                        name: WIDGET_KEY_NAME.to_owned(),
                        role: Role::Operator,
                        expires_at: None,
                        route: None,
                    },
                )
                .await?;
            println!(
                "Created API key `{WIDGET_KEY_NAME}` (operator) for the support channel; key \
                 (shown once): {}",
                issued.token.expose_secret()
            );
            issued.key
        }
    };
    Ok(Caller::new(
        Actor::Principal(Principal::for_api_key(&key, tenant.operator)),
        RequestContext::default(),
    ))
}

/// Posts one message, prints the conversation and the execution's steps, and fails when the
/// turn did not complete (the script went off course: its reason says where).
async fn say(
    runtime: &Runtime,
    caller: &Caller,
    tenant: &Tenant,
    session: &SessionView,
    who: &str,
    text: &str,
) -> anyhow::Result<TurnOutcome> {
    println!();
    print_wrapped(&format!("{who} > "), text);
    let outcome = runtime
        .post_message(caller, tenant.id, session.id, text.to_owned())
        .await
        .with_context(|| format!("posting {who}'s message"))?;
    match &outcome.reply {
        Some(reply) => print_wrapped("assistant > ", reply),
        None => println!("assistant > (no answer)"),
    }
    let execution = runtime
        .get_execution(&Caller::local_operator(), tenant.id, outcome.execution_id)
        .await
        .context("reading the execution back")?;
    print_execution(&execution);
    if outcome.status != "completed" {
        bail!(
            "turn {} ended `{}`: {}",
            outcome.turn,
            outcome.status,
            outcome.reason.as_deref().unwrap_or("no reason given")
        );
    }
    Ok(outcome)
}

fn print_execution(execution: &ExecutionView) {
    println!(
        "  execution {} (turn {}, {}, {} tokens in / {} out, {} v{})",
        execution.id,
        execution.turn,
        execution.status,
        execution.input_tokens,
        execution.output_tokens,
        execution.environment,
        execution.config_version
    );
    for step in &execution.steps {
        let applied = if step.applied { "" } else { " (not applied)" };
        println!(
            "  {:>4}  {:<16} {}{applied}",
            step.seq,
            step.kind,
            describe(step)
        );
    }
}

/// One line for a step: what the runtime recorded, in short.
fn describe(step: &StepView) -> String {
    let d = &step.detail;
    let text = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
    match step.kind.as_str() {
        "status" => match d["reason"].as_str() {
            Some(reason) => format!("{}: {reason}", text("status")),
            None if d["agent"].is_string() => format!(
                "{} ({} v{}, {})",
                text("status"),
                text("agent"),
                d["config_version"],
                short(&text("config_hash"), 19)
            ),
            None => text("status"),
        },
        "user_message" => format!("recorded as {}", digest(&d["content"])),
        "model_request" => {
            let tools: Vec<&str> = d["tools"]
                .as_array()
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "{}: {} message(s), tools [{}]",
                text("model"),
                d["messages"],
                tools.join(", ")
            )
        }
        "model_response" => {
            let calls: Vec<&str> = d["tool_calls"]
                .as_array()
                .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
                .unwrap_or_default();
            let what = if calls.is_empty() {
                "answers".to_owned()
            } else {
                format!("proposes {}", calls.join(", "))
            };
            format!(
                "{what} ({} in / {} out tokens)",
                step.input_tokens, step.output_tokens
            )
        }
        "tool_call" => format!(
            "{} (arguments {})",
            text("capability"),
            digest(&d["arguments"])
        ),
        "policy_decision" => {
            if d["allowed"].as_bool() == Some(true) {
                format!("{} {}: allowed", text("action"), text("capability"))
            } else {
                format!("DENIED at `{}`: {}", text("stage"), text("reason"))
            }
        }
        "tool_result" => {
            if d["ok"].as_bool() == Some(true) {
                let ids: Vec<&str> = d["record_ids"]
                    .as_array()
                    .map(|i| i.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut line = format!("ok, {} record(s)", d["records"]);
                if !ids.is_empty() {
                    let _ = write!(line, ": {}", ids.join(", "));
                }
                if let Some(withheld) = d["withheld_fields"].as_array() {
                    let names: Vec<&str> = withheld.iter().filter_map(Value::as_str).collect();
                    let _ = write!(
                        line,
                        "; withheld by field-level security: {}",
                        names.join(", ")
                    );
                }
                line
            } else {
                format!("error at `{}`: {}", text("stage"), text("error"))
            }
        }
        "failure" => format!("at `{}`: {}", text("stage"), text("error")),
        _ => d.to_string(),
    }
}

/// Content as the default privacy setting records it: a digest and a length, not the text.
fn digest(content: &Value) -> String {
    match (content["sha256"].as_str(), content["chars"].as_u64()) {
        (Some(hash), Some(chars)) => format!("sha256:{}…, {chars} chars", short(hash, 8)),
        _ => "-".to_owned(),
    }
}

fn short(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn six_digits(body: &str) -> Option<String> {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .map(str::to_owned)
}

fn heading(title: &str) {
    println!();
    println!("== {title}");
}

/// `prefix` then `text`, wrapped at [`WRAP`] columns with continuation lines indented.
fn print_wrapped(prefix: &str, text: &str) {
    let indent = " ".repeat(prefix.chars().count());
    let mut line = prefix.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WRAP {
            println!("{line}");
            line = indent.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    println!("{line}");
}

fn where_to_look(config: &Config, shown: &[Shown]) {
    // The flags that point another command at the same data, when they are not the defaults.
    let data = if config.database_url.is_none() && config.data_dir != Config::default().data_dir {
        format!(" --data-dir {}", config.data_dir.display())
    } else {
        String::new()
    };
    let base = format!("http://{}", config.listen);
    heading("Where to look");
    print_wrapped(
        "",
        "Every step above is stored with its audit event. Start the server on the same data:",
    );
    println!();
    println!("  heddle serve --demo{data}");
    println!();
    print_wrapped(
        "",
        "and read each turn's execution, or a session with its turns, as any person of the \
         tenant (here the admin, whose password was printed when the database was created):",
    );
    println!();
    println!("  TOKEN=$(curl -s {base}/v1/auth/login -H 'content-type: application/json' \\");
    println!(
        "    -d '{{\"email\":\"{}\",\"password\":\"<printed>\"}}' | jq -r .access_token)",
        config.bootstrap.admin_email
    );
    for turn in shown {
        println!(
            "  curl -s {base}/v1/executions/{} -H \"authorization: Bearer $TOKEN\" | jq   # {}",
            turn.execution_id, turn.label
        );
    }
    let mut sessions: Vec<SessionId> = shown.iter().map(|t| t.session_id).collect();
    sessions.dedup();
    for session in sessions {
        println!("  curl -s {base}/v1/sessions/{session} -H \"authorization: Bearer $TOKEN\" | jq");
    }
    println!();
    print_wrapped(
        "",
        "The audit log holds the same story as events (session.create, execution.tool_call, \
         execution.policy_decision with outcome denied, verification.attempt, ...); export it \
         up to a fresh signed checkpoint and verify it offline:",
    );
    println!();
    println!("  heddle audit export{data} --output audit.jsonl");
    println!(
        "  heddle audit verify audit.jsonl --public-key \"$(curl -s {base}/v1/audit/public-keys \\"
    );
    println!("      -H \"authorization: Bearer $TOKEN\" | jq -r '.[0].public_key')\"");
    println!();
    print_wrapped(
        "",
        "The demo's agents, capabilities and scripted models are in examples/demo-agents/ \
         (`heddle lint examples/demo-agents`). Run `heddle demo` again for new sessions.",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of examples/demo-agents is built in, and the set lints clean.
    #[test]
    fn the_built_in_files_are_the_directory_and_lint_clean() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo-agents");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        let built_in: Vec<&str> = DEMO_AGENT_FILES.iter().map(|(name, _)| *name).collect();
        assert_eq!(on_disk, built_in);
        let set = heddle_agents::load_dir(&DEMO_AGENT_FILES).unwrap();
        assert!(heddle_agents::lint(&set).is_empty());
        assert!(set.agent(SALES_AGENT).is_some() && set.agent(SUPPORT_AGENT).is_some());
    }

    #[test]
    fn the_code_is_the_six_digit_word() {
        assert_eq!(
            six_digits("Your verification code is 042917.\r\n\r\nIt is valid for 10 minutes."),
            Some("042917".to_owned())
        );
        assert_eq!(six_digits("valid for 10 minutes"), None);
    }
}
