//! Baseline files: the fingerprints of findings accepted at some point, so that
//! later scans report only new ones.
//!
//! Format (JSON, sorted, no timestamps, no positions, one entry per line so
//! merges rarely conflict):
//!
//! ```json
//! {
//!   "version": 1,
//!   "fingerprints": [
//!     "0f3c…",
//!     "9a1b…"
//!   ]
//! }
//! ```
//!
//! A JSON report written by `clef-scan --format json` is accepted as a
//! baseline too (its `findings[].fingerprint` values are used).

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use crate::error::ScanError;
use crate::finding::Finding;

/// Read the fingerprints of a baseline (or a JSON report).
pub fn load(path: &Path) -> Result<HashSet<String>, ScanError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|message| ScanError::Config {
        path: path.to_path_buf(),
        message,
    })
}

/// Parse baseline text.
pub fn parse(text: &str) -> Result<HashSet<String>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = HashSet::new();
    if let Some(list) = v.get("fingerprints").and_then(|f| f.as_array()) {
        for f in list {
            let s = f.as_str().ok_or("fingerprints must be strings")?;
            out.insert(s.to_string());
        }
    } else if let Some(list) = v.get("findings").and_then(|f| f.as_array()) {
        for f in list {
            if let Some(s) = f.get("fingerprint").and_then(|s| s.as_str()) {
                out.insert(s.to_string());
            }
        }
    } else {
        return Err("expected a \"fingerprints\" array (or a clef-scan JSON report)".into());
    }
    Ok(out)
}

/// Render the baseline for `findings`.
pub fn render(findings: &[Finding]) -> String {
    let set: BTreeSet<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    let mut s = String::from("{\n  \"version\": 1,\n  \"fingerprints\": [");
    for (i, fp) in set.iter().enumerate() {
        s.push_str(if i == 0 { "\n    \"" } else { ",\n    \"" });
        s.push_str(fp);
        s.push('"');
    }
    if !set.is_empty() {
        s.push_str("\n  ");
    }
    s.push_str("]\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_report_form() {
        let text = "{\n  \"version\": 1,\n  \"fingerprints\": [\n    \"a\",\n    \"b\"\n  ]\n}\n";
        let set = parse(text).unwrap_or_default();
        assert_eq!(set.len(), 2);
        let report = r#"{"findings":[{"fingerprint":"z"}],"stats":{}}"#;
        assert!(parse(report).unwrap_or_default().contains("z"));
        assert!(parse("[]").is_err());
        assert_eq!(
            render(&[]),
            "{\n  \"version\": 1,\n  \"fingerprints\": []\n}\n"
        );
    }
}
