//! Which of an upstream server's tools may be exposed at all.

/// Tool names or prefixes (`crm_*`) an admin allowed. Empty allows nothing: a new upstream
/// exposes no tool until someone lists what it may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    #[error(
        "allow-list entry `{0}` is not usable: give a tool name, or a prefix ending in `*` (`crm_*`); `*` alone, or `*` elsewhere, is not accepted"
    )]
    BadEntry(String),
}

impl AllowList {
    /// Parses entries; a lone `*` is refused on purpose, so allowing everything an upstream
    /// may add later is never one keystroke away.
    pub fn new<I, S>(entries: I) -> Result<Self, AllowListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = AllowList::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let (body, prefix) = match entry.strip_suffix('*') {
                Some(body) => (body, true),
                None => (entry, false),
            };
            if body.is_empty()
                || !body
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(AllowListError::BadEntry(entry.to_owned()));
            }
            if prefix {
                list.prefixes.push(body.to_owned());
            } else {
                list.exact.push(body.to_owned());
            }
        }
        Ok(list)
    }

    pub fn permits(&self, tool: &str) -> bool {
        self.exact.iter().any(|name| name == tool)
            || self.prefixes.iter().any(|prefix| tool.starts_with(prefix))
    }
}

#[cfg(test)]
#[allow(
    clippy::panic,
    reason = "a test fails loudly on a fixture that does not parse"
)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_and_prefixes() {
        let list = AllowList::new(["search", "crm_*"]).unwrap_or_default();
        assert!(list.permits("search"));
        assert!(!list.permits("search2"));
        assert!(list.permits("crm_get_account"));
        assert!(!list.permits("crmx"));
        assert!(!AllowList::default().permits("search"));
    }

    #[test]
    fn wildcards_that_allow_too_much_are_refused() {
        for entry in ["*", "", "a*b", "crm *", "**"] {
            assert!(AllowList::new([entry]).is_err(), "{entry:?}");
        }
    }
}
