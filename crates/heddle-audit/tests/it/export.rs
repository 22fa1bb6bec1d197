//! The verifier catches every tampering case, names the first bad record, and accepts
//! genuine exports, including purged payloads and partial exports.

use std::sync::OnceLock;

use heddle_audit::{
    CheckpointError, FailureReason, Frontier, KeySource, Location, VerifyFailure, VerifyOptions,
    VerifyReport, chain_next, leaf_hash, sign_checkpoint, verify_export, verify_export_with,
};
use heddle_crypto::{PublicKey, SigningKey, hex_encode};

use crate::support::{ExportSpec, TestLog};

const EVENTS: u64 = 1000;
const CHECKPOINTS: [u64; 5] = [1, 250, 600, 777, 1000];

fn log() -> &'static TestLog {
    static LOG: OnceLock<TestLog> = OnceLock::new();
    LOG.get_or_init(|| TestLog::new(EVENTS))
}

fn full_spec() -> ExportSpec {
    ExportSpec {
        checkpoints: CHECKPOINTS.to_vec(),
        consistency: true,
        latest: true,
        ..ExportSpec::default()
    }
}

fn lines(export: &[u8]) -> Vec<String> {
    String::from_utf8(export.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn join(lines: &[String]) -> Vec<u8> {
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn line_of_seq(lines: &[String], seq: u64) -> usize {
    let needle = format!("\"seq\":{seq},");
    lines
        .iter()
        .position(|line| line.contains(&needle))
        .unwrap()
}

fn line_of_checkpoint(lines: &[String], tree_size: u64) -> usize {
    let needle = format!("\"tree_size\":{tree_size},");
    lines
        .iter()
        .position(|line| line.starts_with("{\"type\":\"checkpoint\"") && line.contains(&needle))
        .unwrap()
}

/// Verifies sequentially and in parallel; both must agree exactly.
fn verify(export: &[u8], key: Option<&PublicKey>) -> Result<VerifyReport, VerifyFailure> {
    let parallel = verify_export(export, key);
    let sequential = verify_export_with(
        export,
        &VerifyOptions {
            trusted_keys: key.copied().into_iter().collect(),
            parallel: false,
        },
    );
    assert_eq!(parallel, sequential);
    parallel
}

fn trusted() -> Option<&'static PublicKey> {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    Some(KEY.get_or_init(|| log().key.public_key()))
}

fn verify_err(export: &[u8]) -> VerifyFailure {
    verify(export, trusted()).unwrap_err()
}

#[test]
fn a_genuine_export_verifies() {
    let export = log().export(&full_spec());
    let report = verify(&export, trusted()).unwrap();
    assert_eq!(report.tenant_id, log().tenant_id);
    assert_eq!((report.start_size, report.end_size), (0, EVENTS));
    assert_eq!(report.events, EVENTS);
    assert_eq!(report.purged, 0);
    // Five checkpoint records plus the header's latest.
    assert_eq!(report.checkpoints, 6);
    assert_eq!(report.consistency_proofs, 4);
    assert_eq!(report.anchored_size, Some(EVENTS));
    assert_eq!(report.unanchored(), 0);
    assert!(matches!(report.key_source, KeySource::Trusted { .. }));
    // Events are roughly 300–500 bytes, like real ones.
    let average = log().events.iter().map(Vec::len).sum::<usize>() / EVENTS as usize;
    assert!((300..=550).contains(&average), "{average}");
}

#[test]
fn without_a_trusted_key_the_header_keys_are_used_and_reported() {
    let report = verify(&log().export(&full_spec()), None).unwrap();
    let KeySource::ExportHeader { key_ids } = &report.key_source else {
        panic!("{:?}", report.key_source);
    };
    assert_eq!(key_ids, &vec![log().key.public_key().key_id()]);
    assert!(
        report
            .key_source
            .to_string()
            .contains("not independently trusted")
    );
}

#[test]
fn a_modified_event_is_named() {
    let mut lines = lines(&log().export(&full_spec()));
    let index = line_of_seq(&lines, 500);
    // One byte of the details: a digit of tokens_in.
    let at = lines[index].find("\"tokens_in\":").unwrap() + "\"tokens_in\":".len();
    let mut bytes = lines[index].clone().into_bytes();
    bytes[at] = if bytes[at] == b'9' {
        b'8'
    } else {
        bytes[at] + 1
    };
    lines[index] = String::from_utf8(bytes).unwrap();
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 500 });
    assert_eq!(failure.reason, FailureReason::LeafHashMismatch);
    assert_eq!(failure.line, index as u64 + 1);
    assert!(
        failure.to_string().starts_with("seq 500 (line"),
        "{failure}"
    );
}

#[test]
fn a_modified_event_with_a_recomputed_leaf_hash_breaks_the_chain() {
    let log = log();
    let mut lines = lines(&log.export(&full_spec()));
    let index = line_of_seq(&lines, 500);
    let original = String::from_utf8(log.events[500].clone()).unwrap();
    let altered = original.replace("\"decision\":\"allow\"", "\"decision\":\"deny!\"");
    assert_ne!(original, altered);
    lines[index] = lines[index].replace(&original, &altered).replace(
        &hex_encode(log.leaves[500]),
        &hex_encode(leaf_hash(altered.as_bytes())),
    );
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 500 });
    assert_eq!(failure.reason, FailureReason::ChainMismatch);
}

#[test]
fn a_rewritten_history_is_caught_at_the_next_checkpoint() {
    // The attacker modifies seq 500 and recomputes every hash after it; only the signed
    // checkpoint at 600 (which they cannot re-sign) gives them away.
    let log = log();
    let mut lines = lines(&log.export(&full_spec()));
    let original = String::from_utf8(log.events[500].clone()).unwrap();
    let altered = original.replace("\"decision\":\"allow\"", "\"decision\":\"deny!\"");
    let mut chain = log.chain_at(500);
    for seq in 500..EVENTS {
        let index = line_of_seq(&lines, seq);
        let event = if seq == 500 {
            altered.clone()
        } else {
            String::from_utf8(log.events[seq as usize].clone()).unwrap()
        };
        let leaf = leaf_hash(event.as_bytes());
        chain = chain_next(&chain, &leaf);
        lines[index] = format!(
            "{{\"type\":\"event\",\"seq\":{seq},\"leaf_hash\":\"{}\",\"chain_hash\":\"{}\",\"event\":{event}}}",
            hex_encode(leaf),
            hex_encode(chain)
        );
    }
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Checkpoint { tree_size: 600 });
    assert_eq!(failure.reason, FailureReason::RootMismatch);
}

#[test]
fn a_deleted_event_is_named() {
    let mut lines = lines(&log().export(&full_spec()));
    let index = line_of_seq(&lines, 321);
    lines.remove(index);
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 321 });
    assert_eq!(
        failure.reason,
        FailureReason::SequenceMismatch {
            expected: 321,
            found: 322
        }
    );
}

#[test]
fn a_deleted_event_with_renumbered_successors_breaks_the_chain() {
    let mut lines = lines(&log().export(&full_spec()));
    let index = line_of_seq(&lines, 321);
    lines.remove(index);
    lines[index] = lines[index].replace("\"seq\":322,", "\"seq\":321,");
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 321 });
    assert_eq!(failure.reason, FailureReason::ChainMismatch);
}

#[test]
fn swapped_events_are_named() {
    let mut lines = lines(&log().export(&full_spec()));
    let (a, b) = (line_of_seq(&lines, 700), line_of_seq(&lines, 701));
    lines.swap(a, b);
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 700 });
    assert_eq!(
        failure.reason,
        FailureReason::SequenceMismatch {
            expected: 700,
            found: 701
        }
    );
    // Swapping the seq numbers back does not help: the chain fixes the order.
    lines[a] = lines[a].replace("\"seq\":701,", "\"seq\":700,");
    lines[b] = lines[b].replace("\"seq\":700,", "\"seq\":701,");
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 700 });
    assert_eq!(failure.reason, FailureReason::ChainMismatch);
}

#[test]
fn an_inserted_event_is_named() {
    let log = log();
    let mut lines = lines(&log.export(&full_spec()));
    let index = line_of_seq(&lines, 400);
    let duplicate = lines[index].clone();
    lines.insert(index + 1, duplicate);
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 401 });
    assert_eq!(
        failure.reason,
        FailureReason::SequenceMismatch {
            expected: 401,
            found: 400
        }
    );

    // A new, self-consistent event appended after the end is beyond the header's end.
    let mut lines = self::lines(&log.export(&full_spec()));
    let event = String::from_utf8(log.events[3].clone()).unwrap();
    let leaf = leaf_hash(event.as_bytes());
    let chain = chain_next(&log.chain_at(EVENTS), &leaf);
    lines.push(format!(
        "{{\"type\":\"event\",\"seq\":{EVENTS},\"leaf_hash\":\"{}\",\"chain_hash\":\"{}\",\"event\":{event}}}",
        hex_encode(leaf),
        hex_encode(chain)
    ));
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: EVENTS });
    assert!(matches!(failure.reason, FailureReason::BeyondEnd { .. }));
}

#[test]
fn a_truncated_tail_is_caught() {
    let export = log().export(&full_spec());
    let mut lines = lines(&export);
    let index = line_of_seq(&lines, 900);
    lines.truncate(index);
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::EndOfExport);
    assert_eq!(
        failure.reason,
        FailureReason::Truncated {
            reached: 900,
            expected: EVENTS,
            expected_by: "the header's latest checkpoint covers",
        }
    );

    // Without a checkpoint in the header, the declared end still catches it.
    let spec = ExportSpec {
        latest: false,
        ..full_spec()
    };
    let mut lines = self::lines(&log().export(&spec));
    let index = line_of_seq(&lines, 900);
    lines.truncate(index);
    let failure = verify_err(&join(&lines));
    assert!(matches!(
        failure.reason,
        FailureReason::Truncated {
            reached: 900,
            expected: EVENTS,
            ..
        }
    ));

    // Lowering the header's end size while keeping its checkpoint does not help either.
    let mut lines = self::lines(&export);
    let index = line_of_seq(&lines, 900);
    lines.truncate(index);
    lines[0] = lines[0].replace(&format!("\"end_size\":{EVENTS},"), "\"end_size\":900,");
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Header);
}

#[test]
fn a_forged_checkpoint_is_caught() {
    let log = log();
    let export = log.export(&full_spec());
    let forger = SigningKey::generate().unwrap();
    let mut forged = log.checkpoint(600);
    forged.checkpoint.root_hash[0] ^= 1;
    let forged = sign_checkpoint(&forger, forged.checkpoint);
    let forged_line = format!(
        "{{\"type\":\"checkpoint\",\"checkpoint\":{}}}",
        serde_json::to_string(&forged).unwrap()
    );

    // Re-signed with another key: the trusted key does not know it.
    let mut lines = lines(&export);
    let index = line_of_checkpoint(&lines, 600);
    lines[index] = forged_line.clone();
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Checkpoint { tree_size: 600 });
    assert!(
        matches!(failure.reason, FailureReason::UnknownKey { .. }),
        "{failure}"
    );

    // Even with the forger's key slipped into the header and no trusted key, the forged
    // root differs from the one the events give.
    let forger_key = format!(
        "{{\"key_id\":\"{}\",\"algorithm\":\"ed25519\",\"public_key\":\"{}\"}}",
        forger.public_key().key_id(),
        forger.public_key().to_base64()
    );
    lines[0] = lines[0].replace("\"keys\":[", &format!("\"keys\":[{forger_key},"));
    let failure = verify(&join(&lines), None).unwrap_err();
    assert_eq!(failure.location, Location::Checkpoint { tree_size: 600 });
    assert_eq!(failure.reason, FailureReason::RootMismatch);

    // Altered signature bytes.
    let mut lines = self::lines(&export);
    let index = line_of_checkpoint(&lines, 600);
    let mut genuine = log.checkpoint(600);
    genuine.signature[5] ^= 0x10;
    lines[index] = format!(
        "{{\"type\":\"checkpoint\",\"checkpoint\":{}}}",
        serde_json::to_string(&genuine).unwrap()
    );
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Checkpoint { tree_size: 600 });
    assert_eq!(
        failure.reason,
        FailureReason::Signature(CheckpointError::BadSignature { tree_size: 600 })
    );

    // A forged checkpoint in the header is caught before any event is read.
    let mut lines = self::lines(&export);
    let genuine_latest = serde_json::to_string(&log.checkpoint(EVENTS)).unwrap();
    let mut altered = log.checkpoint(EVENTS);
    altered.signature[0] ^= 1;
    lines[0] = lines[0].replace(&genuine_latest, &serde_json::to_string(&altered).unwrap());
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Checkpoint { tree_size: EVENTS });
    assert_eq!(failure.line, 1);
}

#[test]
fn a_checkpoint_moved_or_from_another_tenant_is_caught() {
    let log = log();
    let mut lines = lines(&log.export(&full_spec()));
    let index = line_of_checkpoint(&lines, 250);
    let moved = lines.remove(index);
    lines.insert(index + 3, moved);
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Checkpoint { tree_size: 250 });
    assert!(matches!(
        failure.reason,
        FailureReason::CheckpointMisplaced { .. }
    ));
}

#[test]
fn a_tampered_consistency_proof_is_caught() {
    let mut lines = lines(&log().export(&full_spec()));
    let index = line_of_checkpoint(&lines, 777);
    let at = lines[index].find("\"proof\":[\"").unwrap() + "\"proof\":[\"".len();
    let mut bytes = lines[index].clone().into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    lines[index] = String::from_utf8(bytes).unwrap();
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Checkpoint { tree_size: 777 });
    assert!(
        matches!(failure.reason, FailureReason::Consistency(_)),
        "{failure}"
    );
}

#[test]
fn purged_payloads_still_verify() {
    let spec = ExportSpec {
        purged: 100..300,
        ..full_spec()
    };
    let export = log().export(&spec);
    let lines = lines(&export);
    assert!(lines[line_of_seq(&lines, 150)].starts_with("{\"type\":\"leaf\""));
    assert!(!lines[line_of_seq(&lines, 150)].contains("\"event\""));
    let report = verify(&export, trusted()).unwrap();
    assert_eq!(report.purged, 200);
    assert_eq!(report.events, EVENTS - 200);
    assert_eq!(report.anchored_size, Some(EVENTS));

    // A purged record's hash is still bound by the chain and the checkpoints.
    let mut lines = lines;
    let index = line_of_seq(&lines, 150);
    lines[index] = lines[index].replace(&hex_encode(log().leaves[150]), &hex_encode([7u8; 32]));
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 150 });
    assert_eq!(failure.reason, FailureReason::ChainMismatch);
}

#[test]
fn a_partial_export_verifies_from_its_start_state() {
    let spec = ExportSpec {
        since: 400,
        ..full_spec()
    };
    let export = log().export(&spec);
    let lines = lines(&export);
    assert!(lines[1].starts_with("{\"type\":\"start\""));
    let report = verify(&export, trusted()).unwrap();
    assert_eq!((report.start_size, report.end_size), (400, EVENTS));
    assert_eq!(report.events, EVENTS - 400);
    // Checkpoints 600, 777, 1000 in records, plus the header's.
    assert_eq!(report.checkpoints, 4);
    assert_eq!(report.unanchored(), 0);
}

#[test]
fn a_forged_start_state_is_caught_by_the_first_checkpoint() {
    let log = log();
    let spec = ExportSpec {
        since: 400,
        latest: false,
        ..full_spec()
    };
    let mut lines = lines(&log.export(&spec));
    let mut leaves = log.leaves[..400].to_vec();
    leaves[3] = [9u8; 32];
    let forged = Frontier::from_leaves(&leaves);
    lines[1] = format!(
        "{{\"type\":\"start\",\"chain_hash\":\"{}\",\"frontier\":{}}}",
        hex_encode(log.chain_at(400)),
        serde_json::to_string(&forged).unwrap()
    );
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Checkpoint { tree_size: 600 });
    assert_eq!(failure.reason, FailureReason::RootMismatch);

    // A missing start record is named as such.
    let mut lines = self::lines(&log.export(&spec));
    lines.remove(1);
    assert_eq!(failure_of(&lines).location, Location::Start);
}

fn failure_of(lines: &[String]) -> VerifyFailure {
    verify_err(&join(lines))
}

#[test]
fn without_checkpoints_nothing_is_anchored() {
    let export = log().export(&ExportSpec::default());
    let report = verify(&export, trusted()).unwrap();
    assert_eq!(report.checkpoints, 0);
    assert_eq!(report.anchored_size, None);
    assert_eq!(report.unanchored(), EVENTS);
}

#[test]
fn other_spellings_of_a_record_are_read_the_same() {
    let log = log();
    let mut lines = lines(&log.export(&full_spec()));
    let index = line_of_seq(&lines, 42);
    let event = String::from_utf8(log.events[42].clone()).unwrap();
    lines[index] = format!(
        "{{ \"seq\": 42, \"event\": {event}, \"chain_hash\": \"{}\", \"type\": \"event\", \"leaf_hash\": \"{}\" }}\r",
        hex_encode(log.chains[42]).to_uppercase(),
        hex_encode(log.leaves[42]),
    );
    verify(&join(&lines), trusted()).unwrap();
}

#[test]
fn garbage_is_rejected_with_a_line_number() {
    let mut lines = lines(&log().export(&full_spec()));
    let index = line_of_seq(&lines, 10);
    lines[index] = "{\"type\":\"event\",\"seq\":10,".to_owned();
    let failure = verify_err(&join(&lines));
    assert_eq!(failure.location, Location::Event { seq: 10 });
    assert_eq!(failure.line, index as u64 + 1);
    assert!(matches!(failure.reason, FailureReason::Malformed(_)));

    assert_eq!(failure_of(&[]).location, Location::Header);
    let wrong_format = vec![lines[0].replace("heddle-audit-export/1", "other/9")];
    assert!(matches!(
        failure_of(&wrong_format).reason,
        FailureReason::UnsupportedFormat(_)
    ));
}
