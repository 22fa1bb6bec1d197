//! Validation of identifiers that carry their own structure. Each function takes the
//! candidate as found in text (separators allowed where the format allows them) and says
//! whether it is a well-formed, checksum-valid value of that kind.

/// A payment card network, by its issuer identification number (IIN) range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardNetwork {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Maestro,
}

/// The digits of `text` when it is only digits and the separators cards are written with
/// (spaces and dashes), else `None`.
fn digits_of(text: &str, separators: &[char]) -> Option<Vec<u8>> {
    let mut digits = Vec::with_capacity(text.len());
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            digits.push(d as u8);
        } else if !separators.contains(&c) {
            return None;
        }
    }
    Some(digits)
}

/// The Luhn (mod 10) check over a sequence of digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn prefix_number(digits: &[u8], len: usize) -> Option<u32> {
    digits
        .get(..len)
        .map(|head| head.iter().fold(0u32, |n, &d| n * 10 + u32::from(d)))
}

/// The network whose IIN ranges and lengths `digits` fit.
pub fn card_network(digits: &[u8]) -> Option<CardNetwork> {
    let len = digits.len();
    let p = |n| prefix_number(digits, n).unwrap_or(0);
    let in_range = |n, lo, hi| (lo..=hi).contains(&p(n));
    if digits.first() == Some(&4) && matches!(len, 13 | 16 | 19) {
        return Some(CardNetwork::Visa);
    }
    if len == 16 && (in_range(2, 51, 55) || in_range(4, 2221, 2720)) {
        return Some(CardNetwork::Mastercard);
    }
    if len == 15 && matches!(p(2), 34 | 37) {
        return Some(CardNetwork::Amex);
    }
    if (16..=19).contains(&len) && (p(4) == 6011 || in_range(3, 644, 649) || p(2) == 65) {
        return Some(CardNetwork::Discover);
    }
    if (16..=19).contains(&len) && in_range(4, 3528, 3589) {
        return Some(CardNetwork::Jcb);
    }
    if (14..=19).contains(&len) && (in_range(3, 300, 305) || p(2) == 36 || in_range(2, 38, 39)) {
        return Some(CardNetwork::DinersClub);
    }
    if (16..=19).contains(&len) && p(2) == 62 {
        return Some(CardNetwork::UnionPay);
    }
    if (12..=19).contains(&len)
        && (matches!(p(4), 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761..=6763))
    {
        return Some(CardNetwork::Maestro);
    }
    None
}

/// A payment card number: digits with optional spaces or dashes, a known network's IIN
/// range and length, and a valid Luhn check digit.
pub fn card_number(text: &str) -> Option<CardNetwork> {
    let digits = digits_of(text, &[' ', '-'])?;
    let network = card_network(&digits)?;
    luhn_valid(&digits).then_some(network)
}

/// Which kind of US taxpayer number a `AAA-GG-SSSS` value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaxpayerNumber {
    Ssn,
    Itin,
}

/// A US SSN or ITIN written `AAA-GG-SSSS` (or as nine digits, or with spaces). SSN: area
/// 001–899 but not 666, group 01–99, serial 0001–9999. ITIN: area 9xx with group 50–65,
/// 70–88, 90–92 or 94–99.
pub fn taxpayer_number(text: &str) -> Option<TaxpayerNumber> {
    let digits = digits_of(text, &['-', ' '])?;
    if digits.len() != 9 {
        return None;
    }
    // Separators, when present, must be in the usual places.
    if text.chars().any(|c| !c.is_ascii_digit()) {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 11 || !matches!((chars[3], chars[6]), ('-', '-') | (' ', ' ')) {
            return None;
        }
    }
    let area = prefix_number(&digits, 3)?;
    let group = digits[3] as u32 * 10 + digits[4] as u32;
    let serial = digits[5..].iter().fold(0u32, |n, &d| n * 10 + u32::from(d));
    if area >= 900 {
        let itin_group = matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99);
        return itin_group.then_some(TaxpayerNumber::Itin);
    }
    (area != 0 && area != 666 && group != 0 && serial != 0).then_some(TaxpayerNumber::Ssn)
}

/// ISO 13616 IBAN lengths by country (the registry's countries in common use).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// An IBAN, with or without the spaces it is usually printed with: a registered country,
/// that country's length, and the ISO 7064 mod-97 check equal to 1.
pub fn iban(text: &str) -> bool {
    let compact: Vec<char> = text.chars().filter(|c| *c != ' ').collect();
    if compact.len() < 15 || !compact.iter().all(char::is_ascii_alphanumeric) {
        return false;
    }
    let country: String = compact[..2].iter().collect();
    let Some(&(_, length)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
        return false;
    };
    if compact.len() != length || !compact[2..4].iter().all(char::is_ascii_digit) {
        return false;
    }
    // Move the first four characters to the end, letters to numbers (A = 10), mod 97.
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let mut remainder: u32 = 0;
    for c in rearranged {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        // Lowercase letters are not valid in an IBAN.
        if c.is_ascii_lowercase() {
            return false;
        }
        remainder = if value < 10 {
            (remainder * 10 + value) % 97
        } else {
            (remainder * 100 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn documented_test_cards_are_recognised_and_broken_ones_are_not() {
        for (number, network) in [
            ("4111 1111 1111 1111", CardNetwork::Visa),
            ("5555-5555-5555-4444", CardNetwork::Mastercard),
            ("2223003122003222", CardNetwork::Mastercard),
            ("378282246310005", CardNetwork::Amex),
            ("6011111111111117", CardNetwork::Discover),
            ("3530111333300000", CardNetwork::Jcb),
            ("36227206271667", CardNetwork::DinersClub),
            ("6200000000000005", CardNetwork::UnionPay),
        ] {
            assert_eq!(card_number(number), Some(network), "{number}");
        }
        for not_a_card in [
            "4111 1111 1111 1112", // Luhn fails
            "1234567812345670",    // Luhn passes, no network starts with 1
            "4111-1111-1111-111a", // not digits
            "411111111111",        // too short for Visa
            "9999999999999995",    // no network
        ] {
            assert_eq!(card_number(not_a_card), None, "{not_a_card}");
        }
    }

    #[test]
    fn taxpayer_numbers_follow_the_ssa_rules() {
        assert_eq!(taxpayer_number("123-45-6789"), Some(TaxpayerNumber::Ssn));
        assert_eq!(taxpayer_number("123456789"), Some(TaxpayerNumber::Ssn));
        assert_eq!(taxpayer_number("912-70-1234"), Some(TaxpayerNumber::Itin));
        for invalid in [
            "000-12-3456", // area 000
            "666-12-3456", // area 666
            "123-00-4567", // group 00
            "123-45-0000", // serial 0000
            "912-40-1234", // 9xx outside the ITIN groups
            "123-456-789", // separators in the wrong places
            "12-345-6789",
            "123-45-678", // eight digits
        ] {
            assert_eq!(taxpayer_number(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn ibans_need_their_country_length_and_checksum() {
        for valid in [
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "NO9386011117947",
        ] {
            assert!(iban(valid), "{valid}");
        }
        for invalid in [
            "GB82WEST12345698765433", // checksum
            "DE8937040044053201300",  // German length is 22
            "XX89370400440532013000", // no such country
            "gb82west12345698765432", // lowercase
            "DE89 3704 0044 0532 0130 0!",
        ] {
            assert!(!iban(invalid), "{invalid}");
        }
    }

    proptest! {
        /// Changing any single digit of a valid card number breaks its Luhn check.
        #[test]
        fn one_changed_digit_breaks_luhn(position in 0usize..16, delta in 1u8..10) {
            let mut digits: Vec<u8> = "4111111111111111".bytes().map(|b| b - b'0').collect();
            digits[position] = (digits[position] + delta) % 10;
            prop_assert!(!luhn_valid(&digits));
        }

        /// Any string of digits that the Luhn check accepts keeps being accepted with its
        /// check digit, and rejected with any other.
        #[test]
        fn exactly_one_check_digit_completes_a_prefix(prefix in proptest::collection::vec(0u8..10, 11..18)) {
            let valid: Vec<u8> = (0..10u8)
                .filter(|d| {
                    let mut all = prefix.clone();
                    all.push(*d);
                    luhn_valid(&all)
                })
                .collect();
            prop_assert_eq!(valid.len(), 1);
        }
    }
}
