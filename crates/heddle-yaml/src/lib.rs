//! Heddle's one YAML seam: declarative files (the org, agents, capabilities, policies) are
//! deserialized here into plain serde types, and every problem is reported as
//! `file:line:column: field.path: message` so a person can go straight to it.
//!
//! The parser is `serde-saphyr`: pure Rust, `unsafe` forbidden, designed not to panic on
//! malformed input, and with parse budgets (depth, nodes, alias expansion) on by default, so a
//! hostile file cannot exhaust memory. The old `serde_yaml` is unmaintained.
//!
//! Choices made for configuration files, where a silent misreading is worse than an error:
//! - duplicate keys are an error, never "the last one wins";
//! - only YAML 1.2 booleans (`true`/`false`): `no` is the string "no", never `false`
//!   (the "Norway problem");
//! - unknown tags (`!foo`) are an error: Heddle gives tags no meaning, so one is a mistake;
//! - exactly one document per file.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_saphyr::{Budget, DuplicateKeyPolicy, MessageFormatter, Options, UserMessageFormatter};

/// Why a YAML text is not a `T`. Displays as `source:line:column: path: message`; the line and
/// column are 1-based and absent only when the parser could not place the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct YamlError {
    /// The file name (or other label) the caller gave for the text.
    pub source_name: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// The field path of the value that failed (`users[3].role`); empty at the document root.
    pub path: String,
    /// What is wrong, without the location.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source_name)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Deserializes one YAML document into `T`. `source` names the text in errors (usually the
/// file path as the user gave it).
pub fn from_str<T: DeserializeOwned>(text: &str, source: &str) -> Result<T, YamlError> {
    let mut track = serde_path_to_error::Track::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
    });
    result.map_err(|error| {
        let location = error.location();
        // serde_path_to_error prints the root as `.`; an empty path reads better there.
        let path = track.path().to_string();
        let path = if path == "." {
            String::new()
        } else {
            sanitize(&path)
        };
        YamlError {
            source_name: source.to_owned(),
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            path,
            message: sanitize(&UserMessageFormatter.format_message(error.without_snippet())),
        }
    })
}

/// Alias replays (events re-emitted for `*name`) allowed per file: generous for configuration,
/// which reuses small anchors, and far below what an alias bomb needs.
const MAX_REPLAYED_EVENTS: usize = 100_000;

fn options() -> Options {
    let mut options = Options::default();
    let mut budget = Budget::default();
    // Configs legitimately reuse one small anchor (`*rw`) many times, which the ratio
    // heuristic flags; the replay cap below is what stops alias bombs.
    budget.enforce_alias_anchor_ratio = false;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    options.strict_booleans = true;
    options.reject_unsupported_tags = true;
    // We render the location ourselves; a snippet would repeat the file's text (maybe secrets).
    options.with_snippet = false;
    options
}

/// Messages and paths may quote input; keep control characters (a newline, an escape sequence) from
/// shaping the terminal or log line they end up in.
fn sanitize(message: &str) -> String {
    message
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Team {
        name: String,
        #[serde(default)]
        members: Vec<Member>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Member {
        login: String,
        #[serde(default)]
        admin: bool,
        #[serde(default)]
        limits: BTreeMap<String, u32>,
    }

    fn err(text: &str) -> YamlError {
        from_str::<Team>(text, "team.yaml").unwrap_err()
    }

    #[test]
    fn parses_a_document() {
        let team: Team = from_str(
            "name: ops\nmembers:\n  - login: ana\n    admin: true\n  - login: ben\n",
            "team.yaml",
        )
        .unwrap();
        assert_eq!(team.name, "ops");
        assert_eq!(team.members.len(), 2);
        assert!(team.members[0].admin);
    }

    #[test]
    fn unknown_field_points_at_file_line_column_and_path() {
        let e = err("name: ops\nmembers:\n  - login: ana\n  - login: ben\n    admn: true\n");
        assert_eq!(e.source_name, "team.yaml");
        assert_eq!(e.line, Some(5));
        assert!(e.column.is_some());
        assert_eq!(e.path, "members[1].admn");
        assert!(e.message.contains("admn"), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with("team.yaml:5:"), "{shown}");
        assert!(shown.contains(": members[1].admn: "), "{shown}");
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let e = err("name: ops\nmembers:\n  - login: ana\n    limits:\n      calls: lots\n");
        assert_eq!(e.line, Some(5));
        assert_eq!(e.path, "members[0].limits.calls");
    }

    #[test]
    fn missing_field_is_reported() {
        let e = err("members: []\n");
        assert!(e.message.contains("name"), "{e}");
        assert!(e.to_string().starts_with("team.yaml:"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_location() {
        let e = err("name: ops\nmembers: [\n  - login: ana\n");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = err("name: ops\nname: dev\n");
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn yaml_1_1_booleans_are_not_booleans() {
        let e = err("name: ops\nmembers:\n  - login: ana\n    admin: yes\n");
        assert_eq!(e.path, "members[0].admin", "{e}");
        // And `no` stays a string where a string is expected.
        let team: Team = from_str("name: no\n", "team.yaml").unwrap();
        assert_eq!(team.name, "no");
    }

    #[test]
    fn unknown_tags_are_refused() {
        assert!(from_str::<Team>("name: !shell ops\n", "team.yaml").is_err());
    }

    #[test]
    fn several_documents_are_refused() {
        assert!(from_str::<Team>("name: a\n---\nname: b\n", "team.yaml").is_err());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = from_str::<serde_json::Value>(&text, "bomb.yaml").unwrap_err();
        assert!(e.message.contains("too large"), "{e}");
    }

    #[test]
    fn small_anchors_may_be_reused_many_times() {
        let mut text = String::from("name: ops\nmembers:\n");
        for i in 0..300 {
            let anchor = if i == 0 { "&limits " } else { "" };
            let limits = if i == 0 { "{ calls: 5 }" } else { "*limits" };
            text.push_str(&format!(
                "  - {{ login: u{i}, limits: {anchor}{limits} }}\n"
            ));
        }
        let team: Team = from_str(&text, "team.yaml").unwrap();
        assert_eq!(team.members.len(), 300);
        assert_eq!(team.members[299].limits["calls"], 5);
    }

    #[test]
    fn control_characters_in_messages_are_escaped() {
        let e = err("name: ops\n\"bad\\u001b[31mkey\": 1\n");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
        assert!(e.path.contains("\\u{1b}"), "{e}");
    }
}
