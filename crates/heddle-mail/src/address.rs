//! Address checks shared by every mailer, and the masking that keeps full addresses out of
//! errors and logs.

use std::str::FromStr;

use lettre::Address;
use lettre::message::Mailbox;

use crate::error::{AddressRole, MailError};

/// The longest domain [`mask_address`] shows; beyond it the text is cut.
const MASKED_DOMAIN_MAX_CHARS: usize = 64;

/// `ivan@customers.example` → `i***@customers.example`. Keeps the first character of the
/// local part and the domain, so a person can tell which address was meant without the log
/// or error holding it. Control characters are escaped; works on any input, valid or not.
pub fn mask_address(address: &str) -> String {
    let address = address.trim();
    let first = address
        .chars()
        .next()
        .filter(|first| first.is_alphanumeric())
        .map_or_else(String::new, String::from);
    match address.rsplit_once('@') {
        Some((_, domain)) => {
            let domain: String = domain
                .chars()
                .take(MASKED_DOMAIN_MAX_CHARS)
                .flat_map(char::escape_default)
                .collect();
            format!("{first}***@{domain}")
        }
        None => format!("{first}***"),
    }
}

/// Refuses CR, LF and other control characters (tab aside) in a header value.
pub(crate) fn check_header_text(field: &'static str, value: &str) -> Result<(), MailError> {
    if value
        .chars()
        .any(|character| character.is_control() && character != '\t')
    {
        return Err(MailError::HeaderInjection { field });
    }
    Ok(())
}

/// A bare address (`user@domain`, no display name), as a recipient must be.
pub(crate) fn parse_recipient(address: &str) -> Result<Address, MailError> {
    check_header_text("recipient address", address)?;
    Address::from_str(address).map_err(|error| MailError::InvalidAddress {
        role: AddressRole::Recipient,
        masked: mask_address(address),
        reason: address_reason(&error),
    })
}

/// A sender mailbox: `no-reply@heddle.example` or `Heddle <no-reply@heddle.example>`.
pub(crate) fn parse_sender(mailbox: &str) -> Result<Mailbox, MailError> {
    check_header_text("sender address", mailbox)?;
    Mailbox::from_str(mailbox.trim()).map_err(|error| MailError::InvalidAddress {
        role: AddressRole::Sender,
        masked: mask_address(mailbox),
        reason: address_reason(&error),
    })
}

/// Our own words rather than the parser's, which are capitalised and vague.
fn address_reason(error: &lettre::address::AddressError) -> String {
    use lettre::address::AddressError;
    match error {
        AddressError::MissingParts => "expected `local-part@domain`",
        AddressError::Unbalanced => "unbalanced angle brackets",
        AddressError::InvalidUser => "the part before `@` is not valid",
        AddressError::InvalidDomain => "the domain is not valid",
        AddressError::InvalidInput => "not an email address",
        _ => "not an email address",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_local_part_and_keeps_domain() {
        assert_eq!(
            mask_address("ivan@customers.example"),
            "i***@customers.example"
        );
        assert_eq!(mask_address("no-at-sign"), "n***");
        assert_eq!(mask_address(""), "***");
        assert_eq!(mask_address("\r\nx@a.example"), "x***@a.example");
        assert_eq!(
            mask_address("<ivan@customers.example"),
            "***@customers.example"
        );
        assert_eq!(mask_address("a@b\r\nBcc: c"), "a***@b\\r\\nBcc: c");
    }

    #[test]
    fn header_text_refuses_line_breaks_but_allows_tabs() {
        assert!(check_header_text("subject", "code\tis here").is_ok());
        assert!(check_header_text("subject", "code\r\nBcc: x@y.example").is_err());
        assert!(check_header_text("subject", "code\nBcc").is_err());
        assert!(check_header_text("subject", "nul\0").is_err());
    }
}
