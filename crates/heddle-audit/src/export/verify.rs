//! The streaming offline verifier.
//!
//! Work per line splits in two. Parsing a record and hashing its event bytes is independent
//! per line, so it runs over a chunk of lines on both cores; the chain, the frontier and
//! the checkpoints depend on everything before, so they run afterwards in order on one core.
//! The sequential pass stops at the first bad line, so the reported failure is the same as a
//! purely sequential run would give.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use heddle_crypto::{PublicKey, hex_decode_into};
use heddle_types::TenantId;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    ALGORITHM_ED25519, CheckpointRecord, ConsistencyEvidence, EXPORT_FORMAT, HeaderRecord,
    StartRecord,
};
use crate::checkpoint::{CheckpointError, SignedCheckpoint, verify_checkpoint};
use crate::frontier::Frontier;
use crate::hash::{CHAIN_GENESIS, Hash, chain_next, leaf_hash_with};
use crate::proof::{ProofError, verify_consistency};

/// Lines per chunk: big enough that starting a helper thread per chunk costs nothing
/// measurable, small enough to keep memory flat (a few MiB).
const CHUNK_LINES: usize = 8192;
const CHUNK_BYTES: usize = 8 << 20;
/// Below this many lines a second thread is not worth starting.
const PARALLEL_MIN_LINES: usize = 512;

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Keys the caller trusts. When non-empty, every checkpoint must be signed by one of
    /// them and the header's keys are ignored.
    pub trusted_keys: Vec<PublicKey>,
    /// Parse and hash on two threads (the result is identical either way).
    pub parallel: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            trusted_keys: Vec::new(),
            parallel: true,
        }
    }
}

/// Whose keys checkpoint signatures were checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Keys the caller supplied: the checkpoints are genuine if those keys are.
    Trusted { key_ids: Vec<String> },
    /// Keys from the export's own header: this proves internal consistency only, since
    /// whoever rewrites the file can re-sign it.
    ExportHeader { key_ids: Vec<String> },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Trusted { key_ids } => {
                write!(f, "trusted key(s) {}", key_ids.join(", "))
            }
            Self::ExportHeader { key_ids } => write!(
                f,
                "the export's own header key(s) {} (not independently trusted: pass the \
                 tenant's public key to rule out a re-signed export)",
                key_ids.join(", ")
            ),
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub tenant_id: TenantId,
    /// First seq in the export.
    pub start_size: u64,
    /// Tree size reached at the end (the export held seq `start_size..end_size`).
    pub end_size: u64,
    /// Event records whose bytes were hashed.
    pub events: u64,
    /// `leaf` records (payload purged by retention).
    pub purged: u64,
    /// Checkpoint signatures verified (records and the header's latest checkpoint).
    pub checkpoints: u64,
    pub consistency_proofs: u64,
    pub key_source: KeySource,
    /// Largest tree size covered by a verified checkpoint: every seq below it is anchored.
    pub anchored_size: Option<u64>,
}

impl VerifyReport {
    /// Records after the last verified checkpoint: internally consistent, not signed.
    pub fn unanchored(&self) -> u64 {
        self.end_size
            - self
                .anchored_size
                .unwrap_or(self.start_size)
                .max(self.start_size)
    }
}

/// Where verification failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Header,
    Start,
    /// The first bad seq: the record expected at this position.
    Event {
        seq: u64,
    },
    Checkpoint {
        tree_size: u64,
    },
    EndOfExport,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header => f.write_str("header"),
            Self::Start => f.write_str("start record"),
            Self::Event { seq } => write!(f, "seq {seq}"),
            Self::Checkpoint { tree_size } => write!(f, "checkpoint at tree size {tree_size}"),
            Self::EndOfExport => f.write_str("end of export"),
        }
    }
}

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureReason {
    #[error("reading the export failed: {0}")]
    Io(String),
    #[error("the record is malformed: {0}")]
    Malformed(String),
    #[error("format `{0}` is not `heddle-audit-export/1`")]
    UnsupportedFormat(String),
    #[error("expected a `{expected}` record here, found `{found}`")]
    UnexpectedRecord {
        expected: &'static str,
        found: String,
    },
    #[error("the header's key `{key_id}` is unusable: {reason}")]
    BadHeaderKey { key_id: String, reason: String },
    #[error(
        "the start record's frontier has size `{found}`, but the header says the export starts \
         at `{expected}`"
    )]
    StartSizeMismatch { expected: u64, found: u64 },
    #[error(
        "expected seq `{expected}`, found seq `{found}`: an event was deleted, inserted or \
         reordered"
    )]
    SequenceMismatch { expected: u64, found: u64 },
    #[error(
        "seq `{seq}` is beyond the header's end size `{end_size}`: events were appended or \
         inserted"
    )]
    BeyondEnd { seq: u64, end_size: u64 },
    #[error("the event bytes do not hash to the recorded leaf hash: the event was modified")]
    LeafHashMismatch,
    #[error(
        "the chain hash does not follow from the previous record: an event was modified, \
         removed or reordered"
    )]
    ChainMismatch,
    #[error("the checkpoint belongs to tenant `{found}`, not to the exported tenant")]
    WrongTenant { found: TenantId },
    #[error(
        "the checkpoint has tree size `{tree_size}` but appears after `{position}` records; \
         events before it are missing or extra"
    )]
    CheckpointMisplaced { tree_size: u64, position: u64 },
    #[error("the checkpoint is signed by key `{key_id}`, which is not among the {key_origin} keys")]
    UnknownKey {
        key_id: String,
        key_origin: &'static str,
    },
    #[error("{0}")]
    Signature(#[from] CheckpointError),
    #[error(
        "the signed root hash differs from the root recomputed from the records: the log was \
         rewritten or the checkpoint forged"
    )]
    RootMismatch,
    #[error(
        "the signed chain hash differs from the chain recomputed from the records: the log was \
         rewritten or the checkpoint forged"
    )]
    CheckpointChainMismatch,
    #[error(
        "the consistency proof starts at tree size `{from_size}`, but the previous checkpoint \
         in the export is at `{previous}`"
    )]
    ConsistencyFromUnknown { from_size: u64, previous: String },
    #[error("the consistency proof does not verify: {0}")]
    Consistency(#[from] ProofError),
    #[error(
        "the export ends at tree size `{reached}` but {expected_by} `{expected}`: the tail was \
         cut off"
    )]
    Truncated {
        reached: u64,
        expected: u64,
        expected_by: &'static str,
    },
}

/// The first problem found: where, on which line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location} (line {line}): {reason}")]
pub struct VerifyFailure {
    /// 1-based line number in the export.
    pub line: u64,
    pub location: Location,
    pub reason: FailureReason,
}

/// Verifies an export with the caller's `trusted_key`, or the header's keys when `None`.
pub fn verify_export(
    reader: impl BufRead,
    trusted_key: Option<&PublicKey>,
) -> Result<VerifyReport, VerifyFailure> {
    let options = VerifyOptions {
        trusted_keys: trusted_key.copied().into_iter().collect(),
        ..VerifyOptions::default()
    };
    verify_export_with(reader, &options)
}

/// Verifies an export; see the [module docs](crate::export) for what is checked.
pub fn verify_export_with(
    mut reader: impl BufRead,
    options: &VerifyOptions,
) -> Result<VerifyReport, VerifyFailure> {
    let mut buffer = Vec::with_capacity(CHUNK_BYTES + (64 << 10));
    let header_len = read_line(&mut reader, &mut buffer).map_err(|reason| VerifyFailure {
        line: 1,
        location: Location::Header,
        reason,
    })?;
    if header_len == 0 {
        return Err(VerifyFailure {
            line: 1,
            location: Location::Header,
            reason: FailureReason::Malformed("the export is empty".to_owned()),
        });
    }
    let mut state = State::from_header(trim_line(&buffer), options)?;
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(CHUNK_LINES);
    let mut parsed: Vec<Parsed> = Vec::with_capacity(CHUNK_LINES);
    let mut parsed_helper: Vec<Parsed> = Vec::with_capacity(CHUNK_LINES / 2);
    let mut scratch = Vec::with_capacity(1024);
    let mut scratch_helper = Vec::with_capacity(1024);
    loop {
        buffer.clear();
        ranges.clear();
        let mut read_error = None;
        while ranges.len() < CHUNK_LINES && buffer.len() < CHUNK_BYTES {
            let start = buffer.len();
            match read_line(&mut reader, &mut buffer) {
                Ok(0) => break,
                Ok(_) => ranges.push((start, buffer.len())),
                Err(reason) => {
                    read_error = Some(reason);
                    break;
                }
            }
        }
        if ranges.is_empty() && read_error.is_none() {
            break;
        }
        let lines = |range: &[(usize, usize)]| -> Vec<&[u8]> {
            range
                .iter()
                .map(|&(start, end)| trim_line(buffer.get(start..end).unwrap_or_default()))
                .collect()
        };
        let chunk = lines(&ranges);
        parsed.clear();
        if options.parallel && chunk.len() >= PARALLEL_MIN_LINES {
            let (first, second) = chunk.split_at(chunk.len() / 2);
            parsed_helper.clear();
            let helper_ok = std::thread::scope(|scope| {
                let helper =
                    scope.spawn(|| parse_lines(second, &mut scratch_helper, &mut parsed_helper));
                parse_lines(first, &mut scratch, &mut parsed);
                helper.join().is_ok()
            });
            if helper_ok {
                parsed.append(&mut parsed_helper);
            } else {
                // The helper died (it cannot, short of allocation failure): redo its half here.
                parsed_helper.clear();
                parse_lines(second, &mut scratch, &mut parsed);
            }
        } else {
            parse_lines(&chunk, &mut scratch, &mut parsed);
        }
        for (line, item) in chunk.iter().zip(parsed.drain(..)) {
            state.apply(line, item)?;
        }
        if let Some(reason) = read_error {
            return Err(state.fail(state.line_no + 1, Location::EndOfExport, reason));
        }
    }
    state.finish()
}

/// Appends one line (with its `\n`) to `buffer`; returns its length, 0 at the end.
fn read_line(reader: &mut impl BufRead, buffer: &mut Vec<u8>) -> Result<usize, FailureReason> {
    reader
        .read_until(b'\n', buffer)
        .map_err(|error| FailureReason::Io(error.to_string()))
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The result of the per-line, order-independent step.
#[derive(Debug)]
enum Parsed {
    Leaf {
        seq: u64,
        leaf: Hash,
        chain: Hash,
        payload: Payload,
    },
    /// Header, start or checkpoint: handled in order from the raw line.
    Other,
    Bad(FailureReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    Purged,
    Matches,
    Mismatch,
}

fn parse_lines(lines: &[&[u8]], scratch: &mut Vec<u8>, out: &mut Vec<Parsed>) {
    out.reserve(lines.len());
    for line in lines {
        out.push(parse_line(line, scratch));
    }
}

fn parse_line(line: &[u8], scratch: &mut Vec<u8>) -> Parsed {
    let record = match fast_leaf_record(line) {
        Some(record) => record,
        None => match slow_leaf_record(line) {
            Ok(Some(record)) => record,
            Ok(None) => return Parsed::Other,
            Err(reason) => return Parsed::Bad(reason),
        },
    };
    let payload = match record.event {
        None => Payload::Purged,
        Some(event) if leaf_hash_with(scratch, event) == record.leaf => Payload::Matches,
        Some(_) => Payload::Mismatch,
    };
    Parsed::Leaf {
        seq: record.seq,
        leaf: record.leaf,
        chain: record.chain,
        payload,
    }
}

struct LeafRecord<'a> {
    seq: u64,
    leaf: Hash,
    chain: Hash,
    event: Option<&'a [u8]>,
}

/// The layout [`ExportWriter`](super::ExportWriter) produces, parsed by hand: no JSON
/// tokenizer runs over the event bytes. Anything else falls back to `serde_json`. The event
/// bytes are not validated as JSON here; they are hashed, and only bytes that hash to the
/// signed leaf are accepted, which a canonical event is.
fn fast_leaf_record(line: &[u8]) -> Option<LeafRecord<'_>> {
    let (rest, has_event) = if let Some(rest) = line.strip_prefix(b"{\"type\":\"event\",\"seq\":") {
        (rest, true)
    } else {
        (line.strip_prefix(b"{\"type\":\"leaf\",\"seq\":")?, false)
    };
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if digits == 0 || digits > 20 || (digits > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    let (number, rest) = rest.split_at(digits);
    let seq = number.iter().try_fold(0u64, |acc, &digit| {
        acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    let rest = rest.strip_prefix(b",\"leaf_hash\":\"")?;
    let (leaf_hex, rest) = rest.split_at_checked(64)?;
    let rest = rest.strip_prefix(b"\",\"chain_hash\":\"")?;
    let (chain_hex, rest) = rest.split_at_checked(64)?;
    let rest = rest.strip_prefix(b"\"")?;
    let mut leaf = [0u8; 32];
    let mut chain = [0u8; 32];
    if !hex_decode_into(leaf_hex, &mut leaf) || !hex_decode_into(chain_hex, &mut chain) {
        return None;
    }
    let event = if has_event {
        let event = rest.strip_prefix(b",\"event\":")?.strip_suffix(b"}")?;
        if event.first() != Some(&b'{') || event.last() != Some(&b'}') {
            return None;
        }
        Some(event)
    } else if rest == b"}" {
        None
    } else {
        return None;
    };
    Some(LeafRecord {
        seq,
        leaf,
        chain,
        event,
    })
}

#[derive(Deserialize)]
struct AnyRecord<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    leaf_hash: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    chain_hash: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
}

/// Any valid JSON spelling of an `event` or `leaf` record (other key order, whitespace,
/// extra fields); `None` for other record types.
fn slow_leaf_record(line: &[u8]) -> Result<Option<LeafRecord<'_>>, FailureReason> {
    if line.is_empty() {
        return Err(FailureReason::Malformed("empty line".to_owned()));
    }
    let record: AnyRecord<'_> = serde_json::from_slice(line)
        .map_err(|error| FailureReason::Malformed(error.to_string()))?;
    let has_event = match record.kind.as_ref() {
        "event" => true,
        "leaf" => false,
        _ => return Ok(None),
    };
    let missing = |field: &str| FailureReason::Malformed(format!("`{field}` is missing"));
    let seq = record.seq.ok_or_else(|| missing("seq"))?;
    let leaf = decode_hash("leaf_hash", record.leaf_hash.as_deref())?;
    let chain = decode_hash("chain_hash", record.chain_hash.as_deref())?;
    let event = match (has_event, record.event) {
        (true, Some(event)) => Some(event.get().as_bytes()),
        (true, None) => return Err(missing("event")),
        (false, Some(_)) => {
            return Err(FailureReason::Malformed(
                "a `leaf` record must not carry an event".to_owned(),
            ));
        }
        (false, None) => None,
    };
    Ok(Some(LeafRecord {
        seq,
        leaf,
        chain,
        event,
    }))
}

fn decode_hash(field: &str, text: Option<&str>) -> Result<Hash, FailureReason> {
    let text = text.ok_or_else(|| FailureReason::Malformed(format!("`{field}` is missing")))?;
    let mut hash = [0u8; 32];
    if hex_decode_into(text.as_bytes(), &mut hash) {
        Ok(hash)
    } else {
        Err(FailureReason::Malformed(format!(
            "`{field}` `{}` is not 64 hex characters",
            text.chars().take(80).collect::<String>()
        )))
    }
}

/// The in-order part of verification.
struct State {
    tenant_id: TenantId,
    keys: Vec<PublicKey>,
    trusted: bool,
    key_source: KeySource,
    start_size: u64,
    end_size: u64,
    /// Header's latest checkpoint, checked when the stream reaches its size.
    latest: Option<SignedCheckpoint>,
    latest_size: u64,
    started: bool,
    frontier: Frontier,
    chain: Hash,
    /// Tree size and root of the previous checkpoint record, for consistency proofs.
    previous_checkpoint: Option<(u64, Hash)>,
    line_no: u64,
    events: u64,
    purged: u64,
    checkpoints: u64,
    consistency_proofs: u64,
    anchored_size: Option<u64>,
}

impl State {
    fn from_header(line: &[u8], options: &VerifyOptions) -> Result<Self, VerifyFailure> {
        let fail = |reason| VerifyFailure {
            line: 1,
            location: Location::Header,
            reason,
        };
        let header: HeaderRecord = serde_json::from_slice(line)
            .map_err(|error| fail(FailureReason::Malformed(error.to_string())))?;
        if header.kind != "header" {
            return Err(fail(FailureReason::UnexpectedRecord {
                expected: "header",
                found: clip(&header.kind),
            }));
        }
        if header.format != EXPORT_FORMAT {
            return Err(fail(FailureReason::UnsupportedFormat(clip(&header.format))));
        }
        let mut header_keys = Vec::with_capacity(header.keys.len());
        for key in &header.keys {
            let bad = |reason: String| {
                fail(FailureReason::BadHeaderKey {
                    key_id: clip(&key.key_id),
                    reason,
                })
            };
            if key.algorithm != ALGORITHM_ED25519 {
                return Err(bad(format!(
                    "algorithm `{}` is not ed25519",
                    clip(&key.algorithm)
                )));
            }
            let public = PublicKey::from_base64(&key.public_key).map_err(|e| bad(e.to_string()))?;
            if public.key_id() != key.key_id {
                return Err(bad(format!("the public key's id is `{}`", public.key_id())));
            }
            header_keys.push(public);
        }
        let trusted = !options.trusted_keys.is_empty();
        let keys = if trusted {
            options.trusted_keys.clone()
        } else {
            header_keys
        };
        let key_ids = keys.iter().map(PublicKey::key_id).collect();
        let key_source = if trusted {
            KeySource::Trusted { key_ids }
        } else {
            KeySource::ExportHeader { key_ids }
        };
        if header.start_size > header.end_size {
            return Err(fail(FailureReason::Malformed(format!(
                "start size `{}` is after end size `{}`",
                header.start_size, header.end_size
            ))));
        }
        let latest_size = header
            .latest_checkpoint
            .as_ref()
            .map_or(u64::MAX, |latest| latest.checkpoint.tree_size);
        let mut state = Self {
            tenant_id: header.tenant_id,
            keys,
            trusted,
            key_source,
            start_size: header.start_size,
            end_size: header.end_size,
            latest: header.latest_checkpoint,
            latest_size,
            started: header.start_size == 0,
            frontier: Frontier::new(),
            chain: CHAIN_GENESIS,
            previous_checkpoint: None,
            line_no: 1,
            events: 0,
            purged: 0,
            checkpoints: 0,
            consistency_proofs: 0,
            anchored_size: None,
        };
        if let Some(latest) = state.latest.clone() {
            let tree_size = latest.checkpoint.tree_size;
            if tree_size < state.start_size || tree_size > state.end_size {
                return Err(fail(FailureReason::Malformed(format!(
                    "the latest checkpoint's tree size `{tree_size}` is outside the exported \
                     range `{}..={}`",
                    state.start_size, state.end_size
                ))));
            }
            // Signature now; roots when the stream reaches its size.
            state
                .check_signature(&latest)
                .map_err(|reason| VerifyFailure {
                    line: 1,
                    location: Location::Checkpoint { tree_size },
                    reason,
                })?;
            state.checkpoints += 1;
        }
        if state.started {
            state.check_latest()?;
        }
        Ok(state)
    }

    fn fail(&self, line: u64, location: Location, reason: FailureReason) -> VerifyFailure {
        VerifyFailure {
            line,
            location,
            reason,
        }
    }

    fn apply(&mut self, line: &[u8], parsed: Parsed) -> Result<(), VerifyFailure> {
        self.line_no += 1;
        match parsed {
            Parsed::Leaf {
                seq,
                leaf,
                chain,
                payload,
            } => self.apply_leaf(seq, leaf, chain, payload),
            Parsed::Bad(reason) => {
                let location = if self.started {
                    Location::Event {
                        seq: self.frontier.size(),
                    }
                } else {
                    Location::Start
                };
                Err(self.fail(self.line_no, location, reason))
            }
            Parsed::Other => self.apply_other(line),
        }
    }

    fn apply_leaf(
        &mut self,
        seq: u64,
        leaf: Hash,
        chain: Hash,
        payload: Payload,
    ) -> Result<(), VerifyFailure> {
        let position = self.frontier.size();
        let at = |reason| VerifyFailure {
            line: self.line_no,
            location: Location::Event { seq: position },
            reason,
        };
        if !self.started {
            return Err(VerifyFailure {
                line: self.line_no,
                location: Location::Start,
                reason: FailureReason::UnexpectedRecord {
                    expected: "start",
                    found: "event".to_owned(),
                },
            });
        }
        if seq != position {
            return Err(at(FailureReason::SequenceMismatch {
                expected: position,
                found: seq,
            }));
        }
        if seq >= self.end_size {
            return Err(at(FailureReason::BeyondEnd {
                seq,
                end_size: self.end_size,
            }));
        }
        match payload {
            Payload::Mismatch => return Err(at(FailureReason::LeafHashMismatch)),
            Payload::Matches => self.events += 1,
            Payload::Purged => self.purged += 1,
        }
        let next = chain_next(&self.chain, &leaf);
        if next != chain {
            return Err(at(FailureReason::ChainMismatch));
        }
        self.chain = next;
        self.frontier.push(leaf);
        if self.frontier.size() == self.latest_size {
            self.check_latest()?;
        }
        Ok(())
    }

    fn apply_other(&mut self, line: &[u8]) -> Result<(), VerifyFailure> {
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type", borrow)]
            kind: Cow<'a, str>,
        }
        let line_no = self.line_no;
        let location = if self.started {
            Location::Event {
                seq: self.frontier.size(),
            }
        } else {
            Location::Start
        };
        let malformed = |error: serde_json::Error| FailureReason::Malformed(error.to_string());
        let kind: Kind<'_> = serde_json::from_slice(line)
            .map_err(|error| self.fail(line_no, location.clone(), malformed(error)))?;
        match kind.kind.as_ref() {
            "start" if !self.started => {
                let start: StartRecord = serde_json::from_slice(line)
                    .map_err(|error| self.fail(line_no, Location::Start, malformed(error)))?;
                if start.frontier.size() != self.start_size {
                    return Err(self.fail(
                        line_no,
                        Location::Start,
                        FailureReason::StartSizeMismatch {
                            expected: self.start_size,
                            found: start.frontier.size(),
                        },
                    ));
                }
                self.frontier = start.frontier;
                self.chain = start.chain_hash;
                self.started = true;
                self.check_latest()
            }
            "checkpoint" if self.started => {
                let record: CheckpointRecord = serde_json::from_slice(line)
                    .map_err(|error| self.fail(line_no, location.clone(), malformed(error)))?;
                let tree_size = record.checkpoint.checkpoint.tree_size;
                self.check_checkpoint_record(&record).map_err(|reason| {
                    self.fail(line_no, Location::Checkpoint { tree_size }, reason)
                })
            }
            other => Err(self.fail(
                line_no,
                location,
                FailureReason::UnexpectedRecord {
                    expected: if self.started { "event" } else { "start" },
                    found: clip(other),
                },
            )),
        }
    }

    fn check_checkpoint_record(&mut self, record: &CheckpointRecord) -> Result<(), FailureReason> {
        let signed = &record.checkpoint;
        let tree_size = signed.checkpoint.tree_size;
        if tree_size != self.frontier.size() {
            return Err(FailureReason::CheckpointMisplaced {
                tree_size,
                position: self.frontier.size(),
            });
        }
        self.check_signature(signed)?;
        let root = self.check_roots(signed)?;
        if let Some(ConsistencyEvidence { from_size, proof }) = &record.consistency {
            match self.previous_checkpoint {
                Some((previous_size, previous_root)) if previous_size == *from_size => {
                    verify_consistency(previous_size, tree_size, &previous_root, &root, proof)?;
                    self.consistency_proofs += 1;
                }
                previous => {
                    return Err(FailureReason::ConsistencyFromUnknown {
                        from_size: *from_size,
                        previous: previous
                            .map_or_else(|| "none".to_owned(), |(size, _)| size.to_string()),
                    });
                }
            }
        }
        self.checkpoints += 1;
        self.previous_checkpoint = Some((tree_size, root));
        Ok(())
    }

    fn check_signature(&self, signed: &SignedCheckpoint) -> Result<(), FailureReason> {
        if signed.checkpoint.tenant_id != self.tenant_id {
            return Err(FailureReason::WrongTenant {
                found: signed.checkpoint.tenant_id,
            });
        }
        let key = self
            .keys
            .iter()
            .find(|key| key.key_id() == signed.checkpoint.key_id)
            .ok_or_else(|| FailureReason::UnknownKey {
                key_id: clip(&signed.checkpoint.key_id),
                key_origin: if self.trusted { "trusted" } else { "header's" },
            })?;
        verify_checkpoint(key, signed)?;
        Ok(())
    }

    /// Compares a checkpoint whose tree size equals the current size with the recomputed
    /// state; returns the root.
    fn check_roots(&mut self, signed: &SignedCheckpoint) -> Result<Hash, FailureReason> {
        let root = self.frontier.root();
        if signed.checkpoint.root_hash != root {
            return Err(FailureReason::RootMismatch);
        }
        if signed.checkpoint.chain_hash != self.chain {
            return Err(FailureReason::CheckpointChainMismatch);
        }
        let size = signed.checkpoint.tree_size;
        self.anchored_size = Some(
            self.anchored_size
                .map_or(size, |anchored| anchored.max(size)),
        );
        Ok(root)
    }

    /// Checks the header's latest checkpoint once the stream stands at its size.
    fn check_latest(&mut self) -> Result<(), VerifyFailure> {
        let Some(latest) = self.latest.take() else {
            return Ok(());
        };
        if latest.checkpoint.tree_size != self.frontier.size() {
            self.latest = Some(latest);
            return Ok(());
        }
        let tree_size = latest.checkpoint.tree_size;
        self.check_roots(&latest)
            .map(|_| ())
            .map_err(|reason| VerifyFailure {
                line: 1,
                location: Location::Checkpoint { tree_size },
                reason,
            })
    }

    fn finish(self) -> Result<VerifyReport, VerifyFailure> {
        let at_end = |reason| VerifyFailure {
            line: self.line_no + 1,
            location: Location::EndOfExport,
            reason,
        };
        if !self.started {
            return Err(VerifyFailure {
                line: self.line_no + 1,
                location: Location::Start,
                reason: FailureReason::UnexpectedRecord {
                    expected: "start",
                    found: "end of file".to_owned(),
                },
            });
        }
        let reached = self.frontier.size();
        if let Some(latest) = &self.latest {
            return Err(at_end(FailureReason::Truncated {
                reached,
                expected: latest.checkpoint.tree_size,
                expected_by: "the header's latest checkpoint covers",
            }));
        }
        if reached != self.end_size {
            return Err(at_end(FailureReason::Truncated {
                reached,
                expected: self.end_size,
                expected_by: "its header declares",
            }));
        }
        Ok(VerifyReport {
            tenant_id: self.tenant_id,
            start_size: self.start_size,
            end_size: reached,
            events: self.events,
            purged: self.purged,
            checkpoints: self.checkpoints,
            consistency_proofs: self.consistency_proofs,
            key_source: self.key_source,
            anchored_size: self.anchored_size,
        })
    }
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_and_slow_paths_agree() {
        let leaf = "ab".repeat(32);
        let chain = "cd".repeat(32);
        let line = format!(
            r#"{{"type":"event","seq":7,"leaf_hash":"{leaf}","chain_hash":"{chain}","event":{{"a":1}}}}"#
        );
        let fast = fast_leaf_record(line.as_bytes()).unwrap();
        let slow = slow_leaf_record(line.as_bytes()).unwrap().unwrap();
        assert_eq!(
            (fast.seq, fast.leaf, fast.chain),
            (slow.seq, slow.leaf, slow.chain)
        );
        assert_eq!(fast.event, Some(&b"{\"a\":1}"[..]));
        assert_eq!(fast.event, slow.event);

        // Another spelling: only the slow path reads it, with the same result.
        let reordered = format!(
            r#"{{ "event": {{"a":1}}, "seq": 7, "type": "event", "chain_hash": "{chain}", "leaf_hash": "{leaf}" }}"#
        );
        assert!(fast_leaf_record(reordered.as_bytes()).is_none());
        let slow = slow_leaf_record(reordered.as_bytes()).unwrap().unwrap();
        assert_eq!(slow.event, Some(&b"{\"a\":1}"[..]));
        assert_eq!(slow.seq, 7);

        let purged =
            format!(r#"{{"type":"leaf","seq":0,"leaf_hash":"{leaf}","chain_hash":"{chain}"}}"#);
        assert!(fast_leaf_record(purged.as_bytes()).unwrap().event.is_none());
        assert!(
            slow_leaf_record(purged.as_bytes())
                .unwrap()
                .unwrap()
                .event
                .is_none()
        );
    }

    #[test]
    fn fast_path_declines_odd_shapes() {
        let leaf = "ab".repeat(32);
        for line in [
            format!(
                r#"{{"type":"event","seq":07,"leaf_hash":"{leaf}","chain_hash":"{leaf}","event":{{}}}}"#
            ),
            format!(
                r#"{{"type":"event","seq":99999999999999999999,"leaf_hash":"{leaf}","chain_hash":"{leaf}","event":{{}}}}"#
            ),
            format!(
                r#"{{"type":"event","seq":1,"leaf_hash":"{leaf}","chain_hash":"{leaf}","event":{{}} }}"#
            ),
            format!(
                r#"{{"type":"event","seq":1,"leaf_hash":"{leaf}","chain_hash":"{leaf}","event":[]}}"#
            ),
            format!(
                r#"{{"type":"leaf","seq":1,"leaf_hash":"{leaf}","chain_hash":"{leaf}","x":1}}"#
            ),
            format!(
                r#"{{"type":"leaf","seq":1,"leaf_hash":"{}","chain_hash":"{leaf}"}}"#,
                "zz".repeat(32)
            ),
        ] {
            assert!(fast_leaf_record(line.as_bytes()).is_none(), "{line}");
        }
    }

    #[test]
    fn slow_path_rejects_broken_records() {
        assert!(slow_leaf_record(b"").is_err());
        assert!(slow_leaf_record(b"{not json").is_err());
        assert!(slow_leaf_record(br#"{"type":"event","seq":1}"#).is_err());
        assert!(matches!(
            slow_leaf_record(br#"{"type":"checkpoint"}"#),
            Ok(None)
        ));
    }
}
