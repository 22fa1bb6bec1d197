//! The official `openai` Python SDK against the endpoint (`tests/python/openai_sdk.py`):
//! plain and streamed completions with tool calls, personal data in every message shape,
//! a guardrail block and a budget refusal as SDK exceptions, models and embeddings.
//!
//! Skipped with a printed reason when `python3 -c "import openai"` fails, unless
//! `HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1` (CI installs the SDK and sets it), which makes a
//! missing SDK a failure.

use heddle_testkit::{FakeModelReply, StreamShape};

use crate::gateway::{Gateway, pinned_key, placeholder_answer};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_sdk.py");

/// Whether the SDK is importable; panics when it must be.
async fn sdk_available() -> bool {
    let probe = tokio::process::Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .await;
    let available = probe.as_ref().is_ok_and(|out| out.status.success());
    if !available {
        let why = match &probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(err) => err.to_string(),
        };
        assert!(
            std::env::var("HEDDLE_TEST_REQUIRE_PYTHON_SDKS").as_deref() != Ok("1"),
            "HEDDLE_TEST_REQUIRE_PYTHON_SDKS=1 but the openai Python SDK is not importable: {why}"
        );
        println!(
            "skipped: the openai Python SDK is not installed ({why}); \
             python3 -m pip install openai==3.57.0"
        );
    }
    available
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_sdk_works_against_the_endpoint() {
    if !sdk_available().await {
        return;
    }
    let gateway = Gateway::start().await;
    let tiny = pinned_key(&gateway.server, "tiny").await;
    // Every placeholder of a streamed answer is cut across chunks.
    gateway.fake.set_stream_shape(StreamShape {
        text_piece_chars: 1,
        argument_piece_chars: 1,
    });
    // The upstream's answers, in the order the script calls: plain, streamed, the stream
    // helper, then the answer a guardrail blocks mid-stream.
    for _ in 0..3 {
        gateway.fake.push_reply(placeholder_answer());
    }
    gateway.fake.push_reply(FakeModelReply::text(
        "I will kill you and your whole family tonight.",
    ));
    let output = tokio::process::Command::new("python3")
        .arg(SCRIPT)
        .env("HEDDLE_BASE_URL", &gateway.server.base)
        .env("HEDDLE_KEY", &gateway.key)
        .env("HEDDLE_TINY_KEY", &tiny)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the SDK script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all SDK checks passed"), "{stdout}");
    // Four completions and one embeddings request reached the upstream (the injection and
    // the budget refusal did not), and none carried a raw value.
    assert_eq!(gateway.fake.requests().len(), 5);
    assert_eq!(gateway.fake.pending_replies(), 0);
    gateway.assert_no_raw_value_reached_the_upstream();
}
