//! Credentials: provider-shaped API keys (by their documented prefixes), JWTs, PEM private
//! keys, passwords in connection strings, and values assigned to secret-named keys in
//! configs, logs and JSON.

use aho_corasick::AhoCorasick;
use regex::Regex;

use super::text::{gate, gated_lines, is_word, next_char, prev_char, re};
use super::{Cand, Cands};
use crate::finding::EntityKind;

#[derive(Debug)]
pub(crate) struct SecretPatterns {
    api_key: Regex,
    key_value: Regex,
    /// A word every `key_value` key contains.
    key_gate: Option<AhoCorasick>,
    bearer: Regex,
    url_credentials: Regex,
    pem: Regex,
}

impl SecretPatterns {
    pub(crate) fn new() -> Self {
        SecretPatterns {
            api_key: re(concat!(
                r"sk-ant-[A-Za-z0-9_-]{20,}",
                r"|sk-proj-[A-Za-z0-9_-]{20,}",
                r"|sk-(?:svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
                r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}",
                r"|gh[pousr]_[A-Za-z0-9]{30,}",
                r"|github_pat_[A-Za-z0-9_]{30,}",
                r"|xox[abposr]-[A-Za-z0-9-]{10,}",
                r"|xapp-[0-9]-[A-Za-z0-9-]{20,}",
                r"|glpat-[A-Za-z0-9_-]{20,}",
                r"|AIza[A-Za-z0-9_-]{30,}",
                r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
                r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
                r"|hf_[A-Za-z0-9]{30,}",
                r"|npm_[A-Za-z0-9]{36}",
                r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",
                r"|dop_v1_[a-f0-9]{64}",
                r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            )),
            key_value: re(concat!(
                r#"(?i)([A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth[_-]?key|credential)s?[A-Za-z0-9_.-]*)"#,
                r#"["']?[ \t]*[:=][ \t]*["'`]?([^\s"'`]+)"#,
            )),
            key_gate: gate(&["pass", "pwd", "secret", "token", "key", "credential"]),
            bearer: re(r"\b(?:Bearer|Token)[ \t]+([A-Za-z0-9._~+/=-]{20,})"),
            url_credentials: re(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:([^\s/@]+)@[A-Za-z0-9.-]+"),
            pem: re(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
        }
    }

    /// `lower` is `text` with ASCII letters lowercased.
    pub(crate) fn scan(&self, text: &str, lower: &str, out: &mut Cands) {
        for m in self.api_key.find_iter(text) {
            let (start, end) = (m.start(), m.end());
            if prev_char(text, start).is_some_and(|c| is_word(c) || c == '-')
                || next_char(text, end).is_some_and(is_word)
            {
                continue;
            }
            out.push(Cand::new(EntityKind::ApiKey, start, end));
        }
        if memchr::memchr2(b'=', b':', text.as_bytes()).is_some() {
            // An assignment never spans a line: search only lines naming a secret.
            let lines = match &self.key_gate {
                Some(gate) => gated_lines(lower, gate),
                None => vec![(0, text.len())],
            };
            for (ls, le) in lines {
                if memchr::memchr2(b'=', b':', &text.as_bytes()[ls..le]).is_some() {
                    self.key_values(text, ls, le, out);
                }
            }
        }
        for caps in self.bearer.captures_iter(text) {
            if let Some(token) = caps.get(1)
                && mixed(token.as_str())
            {
                out.push(Cand::new(EntityKind::Secret, token.start(), token.end()));
            }
        }
        if memchr::memmem::find(text.as_bytes(), b"://").is_some() {
            for caps in self.url_credentials.captures_iter(text) {
                if let Some(password) = caps.get(1) {
                    out.push(Cand::new(
                        EntityKind::Secret,
                        password.start(),
                        password.end(),
                    ));
                }
            }
        }
        if memchr::memmem::find(text.as_bytes(), b"-----BEGIN").is_some() {
            for m in self.pem.find_iter(text) {
                out.push(Cand::new(EntityKind::Secret, m.start(), m.end()));
            }
        }
    }

    /// `key_value` matches within `text[ls..le]`.
    fn key_values(&self, text: &str, ls: usize, le: usize, out: &mut Cands) {
        for caps in self.key_value.captures_iter(&text[ls..le]) {
            let (Some(key), Some(value)) = (caps.get(1), caps.get(2)) else {
                continue;
            };
            let (key_start, value_start) = (ls + key.start(), ls + value.start());
            if prev_char(text, key_start).is_some_and(is_word) {
                continue;
            }
            // `scheme://` is a URL, not an assignment.
            if text.get(value_start.saturating_sub(1)..value_start) == Some(":")
                && value.as_str().starts_with("//")
            {
                continue;
            }
            let trimmed = value
                .as_str()
                .trim_end_matches(['.', ',', ';', ')', ']', '}']);
            if plausible_secret(key.as_str(), trimmed) {
                out.push(Cand::new(
                    EntityKind::Secret,
                    value_start,
                    value_start + trimmed.len(),
                ));
            }
        }
    }
}

/// Letters and digits both present: what generated credentials look like.
fn mixed(value: &str) -> bool {
    value.bytes().any(|b| b.is_ascii_digit()) && value.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Whether `value`, assigned to `key`, looks like a real credential rather than a placeholder,
/// a flag or a word.
fn plausible_secret(key: &str, value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    const PLACEHOLDERS: [&str; 12] = [
        "null",
        "none",
        "true",
        "false",
        "undefined",
        "redacted",
        "changeme",
        "password",
        "secret",
        "example",
        "required",
        "optional",
    ];
    if value.len() < 6
        || PLACEHOLDERS.iter().any(|p| lower == *p)
        || value.starts_with(['$', '<', '{', '%', '*'])
        || value.bytes().all(|b| b == value.as_bytes()[0])
        || value.contains("://")
    {
        return false;
    }
    let key = key.to_ascii_lowercase();
    let password_key = ["password", "passwd", "passphrase", "pwd"]
        .iter()
        .any(|k| key.contains(k));
    if password_key {
        return mixed(value) || value.len() >= 10;
    }
    // token/secret/key values are generated: long and mixed, or long hex/base64.
    value.len() >= 16 && (mixed(value) || value.len() >= 24)
}
