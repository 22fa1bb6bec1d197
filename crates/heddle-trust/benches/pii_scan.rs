//! Throughput of `PiiDetector::detect` on a realistic ~2 KB CRM text (an email thread with a
//! signature, a case note, a JSON record and a log line), built here rather than read from
//! the evaluation set.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heddle_trust::{NameDictionary, PiiDetector};

fn crm_text() -> String {
    let mut text = String::new();
    text.push_str(
        "Please summarize the thread below and draft a reply.\n\
         From: Harriet Vance <harriet.vance@lumenfield.example>\n\
         To: Owen Castillo <owen.castillo@brightline.example>\n\
         Date: 2025-04-11T09:30:00Z\n\
         Subject: Invoice 88123 and card update\n\n\
         Hi Owen,\n\n\
         We were billed twice on order SO-771203 for $1,249.00. Please refund one charge to the \
         card ending 4242 and use the new card 4111 1111 1111 1111 from now on. Our new bank \
         account is DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX). You can reach me on \
         +44 20 7946 0958 ext. 12 or (415) 555-0132.\n\n\
         Kind regards,\nHarriet Vance\nFinance Manager | Lumenfield Ltd\n\
         4821 Juniper Crossing Suite 210, Millbrook, OR 97035\n\n",
    );
    text.push_str(
        "Case 40917733 (High) - Harriet Vance from Lumenfield Ltd reports a login problem from \
         203.0.113.42 after the 6.2.1 release. Trace 9f1c2e3d4b5a69788796a5b4c3d2e1f0, \
         record 0035g00000AbCdEQAZ. Customer verified with SSN 219-09-9999 and DOB 03/14/1981. \
         Follow up by Friday; the renewal closes 2025-06-30 at EUR 12,400.00.\n\n",
    );
    text.push_str(
        "{\"attributes\": {\"type\": \"Contact\"}, \"Id\": \"0035g00000XyZaBQAZ\", \
         \"FirstName\": \"Owen\", \"LastName\": \"Castillo\", \"Email\": \"owen.castillo@brightline.example\", \
         \"Phone\": \"+1-503-555-0147\", \"MailingStreet\": \"77 Alder Row\", \
         \"CreatedDate\": \"2024-09-02T13:45:10Z\"}\n",
    );
    text.push_str(
        "2025-04-11T09:31:02Z WARN [sync] outbound call failed: Authorization: Bearer \
         ghp_Q8w3Lm0Zt7Yp2Rk5Vx9Nc4Hb6Js1Df8Ga0Ee status=401 db_password=Tr0ub4dor&3x \
         client_ip=2001:db8:85a3::8a2e:370:7334 user=ops@brightline.example\n\
         Notes: the customer prefers email; no callback before 10:00 CET. Pipeline review \
         moved to Thursday, all other opportunities unchanged this quarter.\n",
    );
    text.push_str(
        "| Name | Email | Phone | Account |\n|---|---|---|---|\n\
         | Mireille Aubert | m.aubert@cobalt.example | +33 6 12 34 56 78 | Cobalt SAS |\n\
         | Tobias Lindgren | tobias.lindgren@north.example | 070-123 45 67 | North AB |\n\
         Shipping address on file: 221 Kestrel Avenue Apt. 4, Fairview, TX 75069. Gift voucher \
         4000 1234 5678 9011 was rejected; BUILD_SHA=4b825dc642cb6eb9a060e54bf8d69288fbee4904.\n",
    );
    text
}

fn bench(c: &mut Criterion) {
    let detector = PiiDetector::new();
    let names = NameDictionary::empty();
    let text = crm_text();
    let mut group = c.benchmark_group("pii_scan");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("crm_2kb", |b| {
        b.iter(|| detector.detect(black_box(&text), &names));
    });
    let dictionary =
        NameDictionary::from_names(["Harriet Vance", "Owen Castillo", "Priya Natarajan"]);
    group.bench_function("crm_2kb_with_dictionary", |b| {
        b.iter(|| detector.detect(black_box(&text), &dictionary));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
