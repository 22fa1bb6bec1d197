//! Unit tests of the detectors with hand-written examples (not taken from the evaluation
//! set), hard negatives for each, and properties over random text.

use proptest::prelude::*;

use super::{NameDictionary, PiiDetector};
use crate::finding::{EntityKind, PiiFinding};

fn detector() -> &'static PiiDetector {
    static DETECTOR: std::sync::OnceLock<PiiDetector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(PiiDetector::new)
}

fn found(text: &str) -> Vec<(EntityKind, String)> {
    detector()
        .detect(text, &NameDictionary::empty())
        .iter()
        .map(|f| (f.kind, f.value(text).to_owned()))
        .collect()
}

fn has(text: &str, kind: EntityKind, value: &str) -> bool {
    found(text).iter().any(|(k, v)| *k == kind && v == value)
}

fn none_of(text: &str, kind: EntityKind) -> bool {
    found(text).iter().all(|(k, _)| *k != kind)
}

#[test]
fn detector_is_send_sync_and_default() {
    fn check<T: Send + Sync + Default>() {}
    check::<PiiDetector>();
}

#[test]
fn emails_and_url_credentials() {
    assert!(has(
        "write to kim.ng+crm@mail.example.org.",
        EntityKind::Email,
        "kim.ng+crm@mail.example.org"
    ));
    let url = "DATABASE_URL=postgres://svc_app:Qz7-rainy-Lamp@db.internal.example:5432/crm";
    assert!(has(url, EntityKind::Secret, "Qz7-rainy-Lamp"));
    assert!(none_of(url, EntityKind::Email));
    assert!(none_of("handle @channel in the chat", EntityKind::Email));
}

#[test]
fn phones_in_many_formats_and_not_other_numbers() {
    for phone in [
        "+44 20 7946 0958",
        "+1 (415) 555-0132 ext. 77",
        "(503) 555-0199",
        "503.555.0199 x12",
        "1-503-555-0199",
        "+4915112345678",
        "06 12 34 56 78",
        "(11) 98765-4321",
        "+49 (0)30 1234 5678",
    ] {
        let text = format!("Call me on {phone} today.");
        assert!(
            has(&text, EntityKind::Phone, phone),
            "{phone}: {:?}",
            found(&text)
        );
    }
    for not_phone in [
        "Invoice 2024-01-15 is due",
        "order 4471-2209183-5521093 shipped",
        "ZIP 97035-1234",
        "version 10.0.19045.3803",
        "timestamp 1717171717",
        "ref 000-12-3456 internal",
        "amount 1,234,567.89",
    ] {
        assert!(
            none_of(not_phone, EntityKind::Phone),
            "{not_phone}: {:?}",
            found(not_phone)
        );
    }
}

#[test]
fn cards_need_luhn_and_a_network() {
    assert!(has(
        "Visa 4012 8888 8888 1881 exp 04/28",
        EntityKind::CreditCard,
        "4012 8888 8888 1881"
    ));
    assert!(has(
        "amex 3714-496353-98431",
        EntityKind::CreditCard,
        "3714-496353-98431"
    ));
    assert!(has(
        "card=5105105105105100 ok",
        EntityKind::CreditCard,
        "5105105105105100"
    ));
    for not_card in [
        "serial 4012 8888 8888 1882",
        "tracking 9400 1000 0000 0000 0000 00",
        "PO-5105105105105100",
    ] {
        assert!(none_of(not_card, EntityKind::CreditCard), "{not_card}");
    }
}

#[test]
fn ssns_follow_the_rules_and_bare_ones_need_a_label() {
    assert!(has(
        "SSN 219-09-9999 on file",
        EntityKind::UsSsn,
        "219-09-9999"
    ));
    assert!(has(
        "social security number: 219099999.",
        EntityKind::UsSsn,
        "219099999"
    ));
    assert!(has(
        r#"{"ssn": "219099999"}"#,
        EntityKind::UsSsn,
        "219099999"
    ));
    for not_ssn in [
        "part 666-10-2000",
        "lot 219-00-9999",
        "routing_number 219099999",
        "PO 219099999",
    ] {
        assert!(none_of(not_ssn, EntityKind::UsSsn), "{not_ssn}");
    }
}

#[test]
fn ibans_compact_or_grouped_with_valid_checksums() {
    assert!(has(
        "pay to GB29 NWBK 6016 1331 9268 19 now",
        EntityKind::Iban,
        "GB29 NWBK 6016 1331 9268 19"
    ));
    assert!(has(
        "IBAN: DE89370400440532013000.",
        EntityKind::Iban,
        "DE89370400440532013000"
    ));
    assert!(none_of(
        "IBAN GB29 NWBK 6016 1331 9268 18",
        EntityKind::Iban
    ));
    assert!(none_of("BIC NWBKGB2L", EntityKind::Iban));
}

#[test]
fn ip_addresses_but_not_versions() {
    assert!(has(
        "login from 203.0.113.9 failed",
        EntityKind::IpAddress,
        "203.0.113.9"
    ));
    assert!(has(
        "client_ip=2001:db8::42:1 user",
        EntityKind::IpAddress,
        "2001:db8::42:1"
    ));
    assert!(has(
        "from ::ffff:198.51.100.7",
        EntityKind::IpAddress,
        "::ffff:198.51.100.7"
    ));
    for not_ip in [
        "version 1.2.3.4",
        "upgraded to v4.1.0.2",
        "Chrome/120.0.6099.109",
        "at 10:42:17 UTC",
        "1.2.3.4.5",
    ] {
        assert!(none_of(not_ip, EntityKind::IpAddress), "{not_ip}");
    }
}

#[test]
fn api_keys_by_prefix_and_secrets_by_context() {
    for key in [
        "sk-ant-api03-Zx9_kq2Lr8Vt4Wm1Np7Qs3Bd6Fh0Jc5Yg",
        "AKIAZ7Q4M2X9L3P8W1RT",
        "ghp_4fT9kQ2mZ8xL1vB7nR3cW6yH0jD5sA2eG9uP",
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
        "glpat-Xy12Zw34Vu56Ts78Rq90",
        "AIzaSyD-9tSrke72PouQMnMX7Qr1aBcDeFgHiJk",
        "sk_live_51Hx0aBcDeFgHiJkLmNoPq",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    ] {
        let text = format!("the key {key} leaked");
        assert!(
            has(&text, EntityKind::ApiKey, key),
            "{key}: {:?}",
            found(&text)
        );
    }
    assert!(has(
        "DB_PASSWORD=Winter42!blue",
        EntityKind::Secret,
        "Winter42!blue"
    ));
    assert!(has(
        "client_secret: 9f8e7d6c5b4a39281706f5e4d3c2b1a0 ",
        EntityKind::Secret,
        "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    ));
    assert!(has(
        r#"{"password": "hunter2hunter2"}"#,
        EntityKind::Secret,
        "hunter2hunter2"
    ));
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----";
    assert!(has(&format!("key:\n{pem}\n"), EntityKind::Secret, pem));
    for not_secret in [
        "Failed password for root from host",
        "password: null",
        "token=${API_TOKEN}",
        "client_id=3MVG9abcdefghijklmnop",
        "commit=9b2f4c1a7d3e5f60718293a4b5c6d7e8f9012345",
        "payment pi_3NqXyZ2eZvKYlo2C settled",
    ] {
        let all = found(not_secret);
        assert!(
            all.iter().all(|(k, _)| !k.is_secret()),
            "{not_secret}: {all:?}"
        );
    }
}

#[test]
fn dates_of_birth_only_in_birth_context() {
    assert!(has(
        "DOB: 1979-02-28",
        EntityKind::DateOfBirth,
        "1979-02-28"
    ));
    assert!(has(
        "Lena Park, born March 3, 1990\nRenewal on 2025-01-01",
        EntityKind::DateOfBirth,
        "March 3, 1990"
    ));
    assert!(has(
        "Geburtsdatum: 4. März 1971.",
        EntityKind::DateOfBirth,
        "4. März 1971"
    ));
    assert!(has(
        "生年月日：1985年7月9日。",
        EntityKind::DateOfBirth,
        "1985年7月9日"
    ));
    let business = "Lena Park, born March 3, 1990\nRenewal on 2025-01-01";
    assert!(none_of(
        "Contract signed 2024-05-06, renewal 06/05/2025",
        EntityKind::DateOfBirth
    ));
    assert!(!has(business, EntityKind::DateOfBirth, "2025-01-01"));
    assert!(none_of(
        "Mr Dobson signed on 2024-05-06",
        EntityKind::DateOfBirth
    ));
}

#[test]
fn street_addresses_us_uk_and_labelled() {
    assert!(has(
        "Ship to 4821 Juniper Crossing Suite 210, Millbrook, OR 97035 please",
        EntityKind::StreetAddress,
        "4821 Juniper Crossing Suite 210, Millbrook, OR 97035"
    ));
    assert!(has(
        "moved to:\n12 Orchard Lane\nAshford\nKY 40202\n",
        EntityKind::StreetAddress,
        "12 Orchard Lane\nAshford\nKY 40202"
    ));
    assert!(has(
        "Adresse : 14 rue des Lilas, 69003 Lyon. Merci",
        EntityKind::StreetAddress,
        "14 rue des Lilas, 69003 Lyon"
    ));
    assert!(has(
        r#"{"MailingStreet": "77 Alder Row"}"#,
        EntityKind::StreetAddress,
        "77 Alder Row"
    ));
    assert!(none_of(
        "We shipped 12 Large Boxes today",
        EntityKind::StreetAddress
    ));
    assert!(none_of("IP address: 10.1.2.3", EntityKind::StreetAddress));
}

#[test]
fn street_addresses_of_continental_europe_japan_and_prose() {
    for (text, address) in [
        (
            "Sabine Roth\nHauptstraße 5, 10115 Berlin\n",
            "Hauptstraße 5, 10115 Berlin",
        ),
        (
            "Phone: 0171 2345678\nHeinz-Heydrich-Gasse 7-4, 34607 Waren",
            "Heinz-Heydrich-Gasse 7-4, 34607 Waren",
        ),
        (
            "Tel 01 23 45 67 89\n8, avenue de Denis, 09519 Thibault",
            "8, avenue de Denis, 09519 Thibault",
        ),
        (
            "🏠 Strada Baldassare, 8 Piano 6, 28028 Caprino",
            "Strada Baldassare, 8 Piano 6, 28028 Caprino",
        ),
        (
            "<br>Acceso Luís Flores 286 Piso 3 , 33284 Santa Cruz de Tenerife<br>",
            "Acceso Luís Flores 286 Piso 3 , 33284 Santa Cruz de Tenerife",
        ),
        (
            "Adres: Isebaan 91, 9040NA Hattem.",
            "Isebaan 91, 9040NA Hattem",
        ),
        (
            "6310 Johnathan Viaduct Suite 665, New Darlene, FL 85876",
            "6310 Johnathan Viaduct Suite 665, New Darlene, FL 85876",
        ),
        (
            "14 Andrews Mountain, North Deanborough W05 0BF",
            "14 Andrews Mountain, North Deanborough W05 0BF",
        ),
        (
            "Also I moved, new address is 22 Elm Court, Leeds LS1 4AB.",
            "22 Elm Court, Leeds LS1 4AB",
        ),
        (
            "Solicitou atualização do endereço para Sítio Ramos, 36883-598 Casa Grande",
            "Sítio Ramos, 36883-598 Casa Grande",
        ),
        (
            "🏠三重県立川市池之端33丁目23番20号",
            "三重県立川市池之端33丁目23番20号",
        ),
    ] {
        assert!(
            has(text, EntityKind::StreetAddress, address),
            "{text:?}: {:?}",
            found(text)
        );
    }
    for text in [
        "Invoice 2023, 10000 Units shipped to the warehouse in the first quarter of the year",
        "Q3 2025, 1200 Tickets closed",
        "Release 4, 2024 Roadmap",
        "the address is on file",
        "Via 3 channels we reached 1200 customers",
    ] {
        assert!(
            none_of(text, EntityKind::StreetAddress),
            "{text:?}: {:?}",
            found(text)
        );
    }
}

#[test]
fn european_phone_formats() {
    for (text, phone) in [
        ("Rückruf unter 030/96397515 bitte", "030/96397515"),
        ("Tél. 07.28.42.90.30", "07.28.42.90.30"),
        ("| 91 805 90 17 |", "91 805 90 17"),
        ("Llámame al 612 34 56 78", "612 34 56 78"),
    ] {
        assert!(
            has(text, EntityKind::Phone, phone),
            "{text:?}: {:?}",
            found(text)
        );
    }
    for text in [
        "am 12.03.2024 um 10",
        "Paket 03/14/1981",
        "Version 0.12.13.14",
    ] {
        assert!(
            none_of(text, EntityKind::Phone),
            "{text:?}: {:?}",
            found(text)
        );
    }
}

#[test]
fn person_names_from_context() {
    let email = "From: Ingrid Solberg <ingrid.solberg@fjord.example>\nSubject: hi\n\nHi Tomasz,\n\nAll good.\n\nBest regards,\nIngrid Solberg\nCFO | Fjord AS";
    assert!(has(email, EntityKind::Person, "Ingrid Solberg"));
    assert!(has(email, EntityKind::Person, "Tomasz"));
    let transcript = "Agent: Thanks for calling, this is Marisol. How can I help?\nCaller: Hi, this is Dov Brenner.\nMarisol: Sure.";
    assert!(has(transcript, EntityKind::Person, "Marisol"));
    assert!(has(transcript, EntityKind::Person, "Dov Brenner"));
    assert_eq!(
        found(transcript)
            .iter()
            .filter(|(_, v)| v == "Marisol")
            .count(),
        2
    );
    assert!(has(
        r#"{"FirstName": "Ayo", "LastName": "Bello"}"#,
        EntityKind::Person,
        "Bello"
    ));
    assert!(has(
        "Case 1234567 (High) - Priya Natarajan from Lumen Ltd reports",
        EntityKind::Person,
        "Priya Natarajan"
    ));
    assert!(has(
        "ケース：株式会社Xの山本 太郎様より",
        EntityKind::Person,
        "山本 太郎"
    ));
    // Organisations and record names are not people.
    assert!(none_of(
        r#"{"Name": "Harbor Freight Systems LLC"}"#,
        EntityKind::Person
    ));
    assert!(none_of(
        "Quarterly Business Review with Summit Analytics Group",
        EntityKind::Person
    ));
}

#[test]
fn dictionary_names_and_their_parts() {
    let dictionary = NameDictionary::from_names(["Aurelio Quintana", "Bo"]);
    // "Aurelio Quintana", "Aurelio", "Quintana" and the full name "Bo" (too short only as a part).
    assert_eq!(dictionary.len(), 4);
    assert!(!dictionary.is_empty() && NameDictionary::empty().is_empty());
    let text = "ask Aurelio about it; quintana is lowercase; AurelioX is not a word";
    let hits: Vec<String> = detector()
        .detect(text, &dictionary)
        .iter()
        .map(|f| f.value(text).to_owned())
        .collect();
    assert_eq!(hits, vec!["Aurelio".to_owned()]);
}

#[test]
fn lone_given_names_speaker_labels_lists_and_dash_sign_offs() {
    use EntityKind::Person;
    // A given name from the lexicon standing alone.
    assert!(has(
        "Escalated. Next step: Gregory to call the bank.",
        Person,
        "Gregory"
    ));
    assert!(has("Closed by Wojciech.", Person, "Wojciech"));
    // Chat speaker labels with a stamp and a role.
    let chat = "[2021-02-03T04:05:06Z] Ottilie (agent): hello\n[guest] Bartholomew: hi";
    assert!(has(chat, Person, "Ottilie"));
    // Attendee lists take unknown names too.
    let notes = "sync - attendees: Quilla, Berend, Zoltan\n- Quilla to draft";
    for n in ["Quilla", "Berend", "Zoltan"] {
        assert!(has(notes, Person, n), "{n}");
    }
    // A one-word sign-off after a dash at the end of a line.
    assert!(has("Pedido 1234 pago. — Yolotl", Person, "Yolotl"));
    // Full names after new labels.
    assert!(has(
        "Beneficiary: Orla Finnegan\nIBAN: x",
        Person,
        "Orla Finnegan"
    ));
    assert!(has(
        "Legal name ...... Perpetua Ames\n",
        Person,
        "Perpetua Ames"
    ));
    assert!(has("AGENT (Orla Finnegan): hi", Person, "Orla Finnegan"));
    // The given name of a spaced CJK name is propagated.
    assert!(has("👤佐藤 健太\n健太 prefers email", Person, "健太"));
    // Hard negatives: titles, ambiguous given names, months, words after a dash mid-line.
    assert!(!has("Thanks Mr. Okafor, noted.", Person, "Mr"));
    assert!(none_of("Dr. and Ms. are titles.", Person));
    assert!(none_of("Will this ship in May? Mark it urgent.", Person));
    assert!(none_of(
        "Release notes — Summary of changes\nTotal — 42",
        Person
    ));
    assert!(none_of("Jan 2024 invoice, due 5 Jan.", Person));
    assert!(none_of(
        "Status: open\nPriority: high\nRegion: emea",
        Person
    ));
}

#[test]
fn versions_reference_suffixes_and_empty_url_users() {
    // Four-part versions after a key or a release note are not addresses.
    for text in [
        "SERVICE_VERSION=12.4.0.77",
        "image tag: 31.2.9.4",
        "bug 77 fixed in 42.1.3.190",
        "please upgrade to 19.0.2.7 soon",
    ] {
        assert!(none_of(text, EntityKind::IpAddress), "{text}");
    }
    assert!(has(
        "upstream 192.168.7.20 is down",
        EntityKind::IpAddress,
        "192.168.7.20"
    ));
    assert!(has(
        "gateway: 172.16.4.1",
        EntityKind::IpAddress,
        "172.16.4.1"
    ));
    // A phone-shaped reference with a letter suffix is not a phone.
    assert!(none_of(
        "ticket ref 415-555-0142-B closed",
        EntityKind::Phone
    ));
    assert!(has(
        "call 415-555-0142 today",
        EntityKind::Phone,
        "415-555-0142"
    ));
    // An empty URL user still guards a password.
    assert!(has(
        "CACHE=redis://:Zk81xQpLm20aTr@cache.local:6379/1",
        EntityKind::Secret,
        "Zk81xQpLm20aTr"
    ));
    assert!(none_of(
        "see https://example.org:8443/path",
        EntityKind::Secret
    ));
}

#[test]
fn birth_cues_stay_on_their_line() {
    use EntityKind::DateOfBirth;
    // A question on one line, the answer on the next.
    assert!(has(
        "Agent: your date of birth?\nBo: 1981-03-04",
        DateOfBirth,
        "1981-03-04"
    ));
    assert!(has("Date of birth:\n12/05/1979", DateOfBirth, "12/05/1979"));
    // A cue inside a finished clause does not reach a date on the next line.
    assert!(none_of(
        "got a birthday voucher (promo)\nfollow-up 2024-06-10",
        DateOfBirth
    ));
}

fn check_invariants(text: &str, findings: &[PiiFinding]) -> Result<(), TestCaseError> {
    for f in findings {
        prop_assert!(f.start < f.end && f.end <= text.len());
        prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
    for pair in findings.windows(2) {
        prop_assert!(
            pair[0].end <= pair[1].start,
            "overlap or disorder: {:?}",
            pair
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_text_gives_sorted_disjoint_findings_on_char_boundaries(text in "\\PC{0,300}") {
        let findings = detector().detect(&text, &NameDictionary::from_names(["Ana Li", "Ω Zed"]));
        check_invariants(&text, &findings)?;
    }

    #[test]
    fn pii_like_fragments_with_unicode_glue_stay_well_formed(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("+1 (415) 555-0132".to_owned()),
                Just("4111 1111 1111 1111".to_owned()),
                Just("Hi Zoë,".to_owned()),
                Just("é@x.io".to_owned()),
                Just("DOB: 1990-01-02".to_owned()),
                Just("🎉".to_owned()),
                Just("住所：東京都1-2".to_owned()),
                Just("password=Zz9".to_owned()),
                "[a-zA-Z0-9 .,:@\\n-]{0,12}",
            ],
            0..12,
        )
    ) {
        let text = parts.concat();
        let findings = detector().detect(&text, &NameDictionary::empty());
        check_invariants(&text, &findings)?;
    }

    #[test]
    fn ascii_name_tokenizer_finds_what_the_regex_finds(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("Ana"), Just("Li"), Just("ABc"), Just("McD"), Just("O'Neil"), Just("X-"),
                Just(" "), Just("  "), Just("-"), Just("'"), Just("van"), Just("de"),
                Just("della"), Just("al"), Just("x"), Just("Q"), Just("\n"), Just("1"),
                Just(","), Just("Ze"),
            ],
            0..30,
        )
    ) {
        let text = parts.concat();
        let expected: Vec<(usize, usize)> = detector()
            .names
            .name_pattern()
            .find_iter(&text)
            .map(|m| (m.start(), m.end()))
            .collect();
        let mut got = Vec::new();
        let mut at = 0;
        while let Some((s, e)) = super::names::next_ascii_name(text.as_bytes(), at) {
            got.push((s, e));
            at = e;
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn street_starts_find_what_a_street_scan_finds(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("12"), Just("1234567"), Just("4b"), Just(" "), Just("Main"), Just("Street"),
                Just("St"), Just("Flat 3, "), Just("Suite 2"), Just("Unit "), Just("Apt 4"),
                Just(", "), Just("\n"), Just("Springfield"), Just("OR 97035"), Just("SW1A 1AA"),
                Just("x"), Just("A"), Just("Oak"),
            ],
            0..30,
        )
    ) {
        let text = parts.concat();
        let detector = detector();
        let anchored = detector.address.street_pattern();
        let full = crate::pii::text::re(
            anchored.as_str().strip_prefix('^').unwrap_or(anchored.as_str()),
        );
        let expected: Vec<(usize, usize)> =
            full.find_iter(&text).map(|m| (m.start(), m.end())).collect();
        let mut got = Vec::new();
        let mut at = 0;
        for p in detector.address.street_starts(text.as_bytes()) {
            if p < at {
                continue;
            }
            if let Some(m) = anchored.find(&text[p..]) {
                got.push((p, p + m.end()));
                at = p + m.end();
            }
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn gated_address_labels_are_the_labels_a_full_scan_finds(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("Address"), Just("ADDRESS"), Just("home addreſs"), Just("Adresse"),
                Just("DIRECCIÓN"), Just("Endereço"), Just("hq"), Just("HQ"), Just("住所"),
                Just("주소 "), Just(":"), Just("："), Just(" "), Just("\t"), Just("\n"),
                Just("12 Oak St"), Just("ip address"), Just("x"), Just("K"),
            ],
            0..24,
        )
    ) {
        let text = parts.concat();
        let detector = detector();
        let expected: Vec<(usize, usize)> = detector
            .address
            .label_pattern()
            .find_iter(&text)
            .map(|m| (m.start(), m.end()))
            .collect();
        let got = detector.address.labels(&text, &text.to_ascii_lowercase());
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn find_byte_is_position(
        bytes in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'7'), Just(b'Q'), Just(b' '), Just(0xC3u8)],
            0..80,
        ),
        from in 0usize..90,
    ) {
        let expected = bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
            .map(|i| from + i);
        prop_assert_eq!(crate::pii::text::find_byte(&bytes, from, |b| b.is_ascii_digit()), expected);
    }

    #[test]
    fn first_date_from_finds_the_first_date_a_full_scan_finds(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("2024-01-02"), Just("03/14/1981"), Just("1 de mayo de 2020"),
                Just("March 3rd, 1990"), Just("1990年1月2日"), Just(" "), Just("x"),
                Just("\n"), Just("7"), Just(":"), Just("DOB "), Just("12."), Just("mai"),
            ],
            0..30,
        ),
    ) {
        let text = parts.concat();
        let dates = &detector().dates;
        let next_ok = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == ':');
        let all: Vec<(usize, usize)> = dates
            .date_pattern()
            .find_iter(&text)
            .filter(|m| {
                !crate::pii::text::prev_char(&text, m.start())
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                    && next_ok(crate::pii::text::next_char(&text, m.end()))
            })
            .map(|m| (m.start(), m.end()))
            .collect();
        // Searches start where a birth keyword ends.
        for (i, _) in text.match_indices("DOB ") {
            let from = i + 3;
            let expected = all
                .iter()
                .copied()
                .find(|&(s, _)| s >= from)
                .filter(|&(s, _)| s <= from + 80);
            prop_assert_eq!(dates.first_date_from(&text, from, 80), expected);
        }
    }
}
