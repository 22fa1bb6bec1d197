//! Input rules shared by the API and the CLI. Pure functions; each error names the field.

use crate::IdentityError;

pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_NAME_LEN: usize = 200;

/// Lowercased, trimmed email with one `@`, a dotted domain and no whitespace or controls.
pub fn email(raw: &str) -> Result<String, IdentityError> {
    let value = raw.trim().to_lowercase();
    let invalid = |message: &str| Err(IdentityError::invalid("email", message));
    if value.is_empty() {
        return invalid("must not be empty");
    }
    if value.len() > MAX_EMAIL_LEN {
        return invalid("must be at most 254 bytes");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain spaces or control characters");
    }
    let Some((local, domain)) = value.split_once('@') else {
        return invalid("must look like `name@example.com`");
    };
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return invalid("must look like `name@example.com`");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return invalid("has a malformed domain");
    }
    Ok(value)
}

/// A human-readable name: 1–200 characters after trimming, no control characters.
pub fn display_name(field: &'static str, raw: &str) -> Result<String, IdentityError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(IdentityError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME_LEN {
        return Err(IdentityError::invalid(
            field,
            "must be at most 200 characters",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A gateway route's name, as configuration files write it: `[a-z][a-z0-9_]{0,63}`.
pub fn route_name(field: &'static str, raw: &str) -> Result<(), IdentityError> {
    let mut chars = raw.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && raw.len() <= 64;
    if well_formed {
        Ok(())
    } else {
        Err(IdentityError::invalid(
            field,
            "must be a route name: 1 to 64 of `a-z`, `0-9` and `_`, starting with a letter",
        ))
    }
}

/// Tenant slugs appear at login and in URLs: `[a-z0-9][a-z0-9-]{1,62}`, no trailing `-`.
pub fn slug(raw: &str) -> Result<String, IdentityError> {
    let value = raw.trim();
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_shape = (2..=63).contains(&value.len())
        && !value.starts_with('-')
        && !value.ends_with('-')
        && ok_chars;
    if ok_shape {
        Ok(value.to_owned())
    } else {
        Err(IdentityError::invalid(
            "slug",
            format!(
                "`{}` must be 2–63 lowercase letters, digits or `-`, not starting or ending with `-`",
                value.chars().take(80).collect::<String>()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(email("  Jane.Doe@Acme.IO ").unwrap(), "jane.doe@acme.io");
    }

    #[test]
    fn bad_emails_are_rejected() {
        for bad in [
            "",
            "jane",
            "jane@",
            "@acme.io",
            "jane@acme",
            "ja ne@acme.io",
            "a@b@c.io",
            "jane@.acme.io",
            "jane@acme..io",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
        assert!(email(&format!("{}@acme.io", "a".repeat(250))).is_err());
    }

    #[test]
    fn slugs_follow_their_shape() {
        assert_eq!(slug("acme-eu").unwrap(), "acme-eu");
        for bad in [
            "a",
            "-acme",
            "acme-",
            "Acme",
            "acme_eu",
            "ac me",
            &"a".repeat(64),
        ] {
            assert!(slug(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(display_name("name", "  Jane ").unwrap(), "Jane");
        assert!(display_name("name", "   ").is_err());
        assert!(display_name("name", &"x".repeat(201)).is_err());
        assert!(display_name("name", "a\u{0007}b").is_err());
    }
}
