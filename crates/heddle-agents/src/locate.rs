//! Field paths and finding the line a field is on.
//!
//! `heddle-yaml` places parse errors itself; checks that run after parsing (cross-references,
//! lint) only have the typed value, so they name the field by path and this module finds its
//! line in the source text. It reads block-style YAML by indentation — the style config files
//! are written in — and for anything it cannot follow (flow style `{ a: 1 }`, a key it does not
//! find) it answers with the deepest enclosing field it did find, never a wrong deeper one.

use std::fmt;

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Where a value sits in a document: `spec.input_schema.properties.account_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a key.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    /// This path extended by a sequence index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// A meaningful piece of a line: `- name: x` is a dash at its indent and `name: x` two
/// columns further, both on the same line.
struct Piece<'a> {
    line: u64,
    indent: usize,
    dash: bool,
    text: &'a str,
}

fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = u64::try_from(n).unwrap_or(u64::MAX).saturating_add(1);
        let mut indent = raw.len() - raw.trim_start_matches(' ').len();
        let mut rest = &raw[indent..];
        if rest.is_empty() || rest.starts_with('#') || rest == "---" {
            continue;
        }
        while let Some(after) =
            rest.strip_prefix("- ")
                .or(if rest == "-" { Some("") } else { None })
        {
            out.push(Piece {
                line,
                indent,
                dash: true,
                text: "",
            });
            let spaces = after.len() - after.trim_start_matches(' ').len();
            indent += 2 + spaces;
            rest = after.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
        }
        if !rest.is_empty() {
            out.push(Piece {
                line,
                indent,
                dash: false,
                text: rest,
            });
        }
    }
    out
}

fn is_key(text: &str, key: &str) -> bool {
    for quoted in [key.to_owned(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(rest) = text.strip_prefix(quoted.as_str()) {
            let rest = rest.trim_start_matches(' ');
            if rest == ":" || rest.starts_with(": ") || rest.starts_with(":\t") {
                return true;
            }
        }
    }
    false
}

/// The 1-based line of the field at `path` in `text`, or of its deepest ancestor found; 1 when
/// nothing is found (the document itself).
pub fn locate(text: &str, path: &FieldPath) -> u64 {
    let pieces = pieces(text);
    let mut best = pieces.first().map_or(1, |p| p.line);
    let (mut lo, mut hi) = (0usize, pieces.len());
    for seg in &path.0 {
        let Some(level) = pieces.get(lo).filter(|_| lo < hi).map(|p| p.indent) else {
            return best;
        };
        let found = match seg {
            Seg::Key(key) => (lo..hi).find(|&j| {
                pieces
                    .get(j)
                    .is_some_and(|p| p.indent == level && !p.dash && is_key(p.text, key))
            }),
            Seg::Index(i) => (lo..hi)
                .filter(|&j| pieces.get(j).is_some_and(|p| p.indent == level && p.dash))
                .nth(*i),
        };
        let Some(j) = found else {
            return best;
        };
        let Some(piece) = pieces.get(j) else {
            return best;
        };
        best = piece.line;
        let dash = piece.dash;
        let end = (j + 1..hi)
            .find(|&k| {
                pieces
                    .get(k)
                    .is_some_and(|p| p.indent < level || (p.indent == level && (dash || !p.dash)))
            })
            .unwrap_or(hi);
        lo = j + 1;
        hi = end;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
kind: Capability   # 1
name: x
spec:
  input_schema:
    type: object
    properties:
      a:
        type: string
      b: { type: integer }
    required:
    - a
    - b
  list:
    - name: first
      value: 1
    - name: second
      value: 2
";

    fn p(segs: &[&str]) -> FieldPath {
        let mut path = FieldPath::root();
        for s in segs {
            path = match s.parse::<usize>() {
                Ok(i) => path.index(i),
                Err(_) => path.key(s),
            };
        }
        path
    }

    #[test]
    fn finds_nested_keys_and_items() {
        assert_eq!(locate(DOC, &p(&["kind"])), 1);
        assert_eq!(
            locate(
                DOC,
                &p(&["spec", "input_schema", "properties", "a", "type"])
            ),
            8
        );
        assert_eq!(
            locate(DOC, &p(&["spec", "input_schema", "properties", "b"])),
            9
        );
        assert_eq!(
            locate(DOC, &p(&["spec", "input_schema", "required", "1"])),
            12
        );
        assert_eq!(locate(DOC, &p(&["spec", "list", "1"])), 16);
        assert_eq!(locate(DOC, &p(&["spec", "list", "1", "value"])), 17);
        assert_eq!(locate(DOC, &p(&["spec", "list", "0", "value"])), 15);
    }

    #[test]
    fn falls_back_to_the_deepest_ancestor() {
        assert_eq!(
            locate(
                DOC,
                &p(&["spec", "input_schema", "properties", "b", "type"])
            ),
            9
        );
        assert_eq!(locate(DOC, &p(&["spec", "nope"])), 3);
        assert_eq!(
            p(&["spec", "list", "1", "value"]).to_string(),
            "spec.list[1].value"
        );
    }
}
