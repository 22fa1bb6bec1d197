//! `heddle audit verify`: checks an export with no database.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use heddle_audit::{KeySource, verify_export};
use heddle_crypto::PublicKey;

/// Verifies every event, the chain, every checkpoint and the tail of an export. Prints a
/// report; a failure names the first bad record and exits non-zero.
pub fn verify_file(path: &Path, public_key: Option<&str>) -> anyhow::Result<ExitCode> {
    let trusted = public_key
        .map(PublicKey::from_text)
        .transpose()
        .context("`--public-key` must be an Ed25519 public key in hex or base64")?;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    match verify_export(BufReader::new(file), trusted.as_ref()) {
        Ok(report) => {
            println!(
                "OK: tenant {} seq {}..{}: {} event(s), {} purged payload(s), {} checkpoint signature(s)",
                report.tenant_id,
                report.start_size,
                report.end_size,
                report.events,
                report.purged,
                report.checkpoints
            );
            match report.key_source {
                KeySource::Trusted { .. } => println!("checkpoints are signed by the trusted key"),
                _ => println!(
                    "WARNING: checkpoints were checked against the keys inside the file; pass \
                     --public-key to prove they come from your Heddle"
                ),
            }
            if report.unanchored() > 0 {
                println!(
                    "note: the last {} record(s) are after the last checkpoint (hash-consistent, not signed)",
                    report.unanchored()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            println!("FAILED: {failure}");
            Ok(ExitCode::from(1))
        }
    }
}
