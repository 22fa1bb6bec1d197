//! `heddle trust eval`: the detectors scored on labeled files, offline.

use std::path::Path;

use anyhow::{Context, Result, bail};
use heddle_trust::eval::injection::{parse_injection_items, score_injection};
use heddle_trust::eval::pii::{parse_pii_items, score_pii};
use heddle_trust::injection::InjectionDetector;
use heddle_trust::pii::{NameDictionary, PiiDetector};

pub fn eval(pii: Option<&Path>, injection: Option<&Path>, json: bool) -> Result<()> {
    if pii.is_none() && injection.is_none() {
        bail!("nothing to score: give --pii FILE, --injection FILE or both");
    }
    let mut report = serde_json::Map::new();
    if let Some(path) = pii {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let items = parse_pii_items(&text).with_context(|| format!("in {}", path.display()))?;
        let detector = PiiDetector::new();
        // No record store here: names are found by the detector's own heuristics only.
        let names = NameDictionary::empty();
        let scored = score_pii(&items, |text| detector.detect(text, &names));
        if json {
            report.insert("pii".to_owned(), serde_json::to_value(&scored)?);
        } else {
            println!(
                "PII detection: {} ({} texts)\n",
                path.display(),
                items.len()
            );
            println!("{}", scored.to_table());
        }
    }
    if let Some(path) = injection {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let items =
            parse_injection_items(&text).with_context(|| format!("in {}", path.display()))?;
        let detector = InjectionDetector::new();
        let scored = score_injection(&items, |text, channel| detector.scan(text, channel).score);
        if json {
            report.insert("injection".to_owned(), serde_json::to_value(&scored)?);
        } else {
            println!(
                "Injection detection: {} ({} items)\n",
                path.display(),
                items.len()
            );
            println!("{}", scored.to_table());
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
