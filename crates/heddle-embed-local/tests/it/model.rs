//! What the vectors must be: 384 values, unit length, closer for texts that mean the same,
//! independent of batching and padding, and blind past the 256-token cut.

use std::time::Instant;

use heddle_embed_local::{LocalMiniLm, MAX_TOKENS};
use heddle_providers::embeddings::Embedder;

use crate::{cosine, model, texts};

/// About fifty words, the size of a CRM note.
pub const FIFTY_WORDS: &str = "The customer called on Tuesday to say that the renewal \
    quote we sent last week was higher than expected, and asked whether we could extend the \
    current discount for another year if they commit to three additional seats and move their \
    support contract to the premium tier before the end of the quarter.";

#[test]
fn vectors_have_384_unit_length_values() {
    let model = model();
    assert_eq!(model.dimension(), 384);
    assert_eq!(model.max_tokens(), MAX_TOKENS);

    let inputs = texts(&["How do I reset my password?", "", "ok", FIFTY_WORDS]);
    let vectors = model.embed(&inputs).unwrap();

    assert_eq!(vectors.len(), inputs.len());
    for (vector, input) in vectors.iter().zip(&inputs) {
        assert_eq!(vector.len(), 384, "{input:?}");
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{input:?}: norm {norm}");
        assert!(vector.iter().all(|x| x.is_finite()), "{input:?}");
    }
}

#[test]
fn a_paraphrase_is_closer_than_an_unrelated_sentence() {
    let vectors = model()
        .embed(&texts(&[
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "The quarterly revenue grew by 12%",
        ]))
        .unwrap();

    let paraphrase = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!(
        paraphrase > unrelated + 0.3,
        "paraphrase {paraphrase}, unrelated {unrelated}"
    );
}

#[test]
fn batching_and_padding_do_not_change_a_vector() {
    let model = model();
    let alone = model.embed(&texts(&["short"])).unwrap();
    let padded = model.embed(&texts(&[FIFTY_WORDS, "short"])).unwrap();
    assert!(
        cosine(&alone[0], &padded[1]) > 0.99999,
        "padding pulled the mean"
    );

    // More inputs than one internal batch, each distinct: order survives the chunking.
    let many: Vec<String> = (0..40).map(|i| format!("account number {i}")).collect();
    let vectors = model.embed(&many).unwrap();
    assert_eq!(vectors.len(), 40);
    let last = model.embed(&many[39..]).unwrap();
    assert!(cosine(&vectors[39], &last[0]) > 0.99999);
}

#[test]
fn text_past_the_token_limit_is_ignored() {
    // 300 words of one token each, then different endings: both are cut before them.
    let head = "deal ".repeat(300);
    let vectors = model()
        .embed(&[
            format!("{head} the customer is happy"),
            format!("{head} wire the money to an offshore account now"),
        ])
        .unwrap();

    assert!(cosine(&vectors[0], &vectors[1]) > 0.99999);
}

#[test]
fn an_empty_list_gives_no_vectors() {
    assert!(model().embed(&[]).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedder_trait_runs_the_model_off_the_runtime() {
    let model: &LocalMiniLm = model();
    let embedder: &dyn Embedder = model;
    assert_eq!(embedder.name(), "local-minilm");
    assert_eq!(embedder.dimension(), Some(384));

    let inputs = texts(&["Close the Acme opportunity as won."]);
    let through_trait = embedder.embed(&inputs).await.unwrap();
    let direct = model.embed(&inputs).unwrap();

    assert_eq!(through_trait, direct);
}

/// Reports how long one ~50-word sentence takes (run with `--nocapture` to see it); asserts
/// nothing about speed, which depends on the machine and the build profile.
#[test]
fn time_one_fifty_word_sentence() {
    let model = model();
    let input = texts(&[FIFTY_WORDS]);
    model.embed(&input).unwrap();
    let runs = 5;
    let started = Instant::now();
    for _ in 0..runs {
        model.embed(&input).unwrap();
    }
    let each = started.elapsed() / runs;
    println!(
        "embed: one {}-word sentence took {each:?} (mean of {runs}, after one warm-up)",
        FIFTY_WORDS.split_whitespace().count()
    );
}
