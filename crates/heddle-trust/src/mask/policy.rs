//! Which kinds an unmasking may restore.

use crate::finding::EntityKind;

/// Which kinds of placeholder an unmasking restores; the others stay as placeholders.
///
/// Secrets ([`EntityKind::is_secret`]) are never restored unless [`allow_secrets`] is set, even
/// when their kind is listed: a model has no use for a live credential, and a final answer or
/// approval screen should not show one back. The switch exists for one case: a tool call that
/// writes a credential the principal supplied into a vault field (`store_api_key(key=<API_KEY_1>)`)
/// must receive the real value. It is off in every constructor.
///
/// [`allow_secrets`]: UnmaskPolicy::allow_secrets
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnmaskPolicy {
    /// Bit `i` set: `EntityKind::ALL[i]` may be restored.
    kinds: u32,
    secrets: bool,
}

const fn bit(kind: EntityKind) -> u32 {
    let mut i = 0;
    while i < EntityKind::ALL.len() {
        if EntityKind::ALL[i] as u8 == kind as u8 {
            return 1 << i;
        }
        i += 1;
    }
    0
}

impl UnmaskPolicy {
    /// Every kind except secrets: the final answer to a principal who may see the values, and
    /// tool-call arguments executed inside the tenant.
    pub const fn all_but_secrets() -> Self {
        UnmaskPolicy {
            kinds: (1 << EntityKind::ALL.len()) - 1,
            secrets: false,
        }
    }

    /// Nothing: arguments bound for an external sink, an approver who may not see values.
    pub const fn none() -> Self {
        UnmaskPolicy {
            kinds: 0,
            secrets: false,
        }
    }

    /// Only the listed kinds (secrets among them still need [`UnmaskPolicy::allow_secrets`]).
    pub fn only(kinds: &[EntityKind]) -> Self {
        UnmaskPolicy {
            kinds: kinds.iter().fold(0, |acc, kind| acc | bit(*kind)),
            secrets: false,
        }
    }

    /// Lets the listed secret kinds be restored too. Off by default; see the type's docs.
    #[must_use]
    pub const fn allow_secrets(mut self, allow: bool) -> Self {
        self.secrets = allow;
        self
    }

    /// Whether placeholders of `kind` are restored.
    pub const fn allows(&self, kind: EntityKind) -> bool {
        self.kinds & bit(kind) != 0 && (self.secrets || !kind.is_secret())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;

    #[test]
    fn secrets_need_the_switch() {
        let all = UnmaskPolicy::all_but_secrets();
        for kind in EntityKind::ALL {
            assert_eq!(all.allows(kind), !kind.is_secret(), "{kind}");
            assert!(all.allow_secrets(true).allows(kind), "{kind}");
            assert!(!UnmaskPolicy::none().allow_secrets(true).allows(kind));
        }
        let only = UnmaskPolicy::only(&[EntityKind::Email, EntityKind::ApiKey]);
        assert!(only.allows(EntityKind::Email));
        assert!(!only.allows(EntityKind::Phone));
        assert!(!only.allows(EntityKind::ApiKey));
        assert!(only.allow_secrets(true).allows(EntityKind::ApiKey));
        assert!(!only.allow_secrets(true).allows(EntityKind::Secret));
    }
}
