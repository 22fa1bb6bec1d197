//! A small valid set to start from, and helpers to vary one file of it.

use heddle_agents::{ConfigError, ConfigSet, load_dir};

pub const MODEL: &str = "\
api_version: heddle/v1
kind: ModelBinding
name: m
spec:
  provider: scripted
  model: s
  script:
    - text: Done.
";

pub const AGENT: &str = "\
api_version: heddle/v1
kind: Agent
name: a
spec:
  kind: employee
  model: m
  system_prompt: Help.
  capabilities:
    - read_mine
";

pub const CAP: &str = "\
api_version: heddle/v1
kind: Capability
name: read_mine
spec:
  description: List the caller's open opportunities in one stage.
  classification: { effect: read, data: private, audience: employee }
  input_schema:
    type: object
    additionalProperties: false
    required: [stage]
    properties:
      stage:
        type: string
        enum: [Proposal, Negotiation]
  bound_inputs:
    owner: user_id
  backend:
    records.query:
      query:
        object: Opportunity
        filter:
          and:
            - { field: OwnerId, op: eq, value: \"{{owner}}\" }
            - { field: StageName, op: eq, value: \"{{stage}}\" }
";

pub fn base() -> Vec<(String, String)> {
    vec![
        ("model.yaml".to_owned(), MODEL.to_owned()),
        ("agent.yaml".to_owned(), AGENT.to_owned()),
        ("cap.yaml".to_owned(), CAP.to_owned()),
    ]
}

/// The base set with one more (or a replaced) file.
pub fn with(file: &str, text: &str) -> Vec<(String, String)> {
    let mut files: Vec<_> = base().into_iter().filter(|(f, _)| f != file).collect();
    files.push((file.to_owned(), text.to_owned()));
    files
}

pub fn load(files: &[(String, String)]) -> ConfigSet {
    match load_dir(files) {
        Ok(set) => set,
        Err(errors) => panic!("{}", render(&errors)),
    }
}

pub fn errors(files: &[(String, String)]) -> Vec<ConfigError> {
    match load_dir(files) {
        Ok(_) => panic!("loaded, but errors were expected"),
        Err(errors) => errors,
    }
}

pub fn render(errors: &[ConfigError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}

/// The one error on `field` in `file`, with the line it must be on.
pub fn expect_error(errors: &[ConfigError], file: &str, line: u64, field: &str, words: &str) {
    let found = errors
        .iter()
        .find(|e| e.file == file && e.field == field)
        .unwrap_or_else(|| panic!("no error on {file} {field}:\n{}", render(errors)));
    assert_eq!(found.line, Some(line), "{found}");
    assert!(found.message.contains(words), "{found} (want {words:?})");
}
