//! Baseline files: the fingerprints of findings accepted at some point, so that
//! later scans report only new ones.
//!
//! Format (JSON, sorted, no timestamps, no positions, one entry per line so
//! merges rarely conflict):
//!
//! ```json
//! {
//!   "version": 2,
//!   "salt": "5f0c…",
//!   "fingerprints": [
//!     "0f3c…",
//!     "9a1b…"
//!   ]
//! }
//! ```
//!
//! Each fingerprint is HMAC-SHA-256 keyed with the baseline's own random
//! salt ([`crate::finding::fingerprint`]): a leaked baseline cannot be
//! checked against a dictionary of likely passwords without it, and two
//! baselines share nothing. Rewriting a baseline keeps its salt.
//!
//! A JSON report written by `clef-scan --format json` is accepted as a
//! baseline too (its `fingerprint_salt` and `findings[].fingerprint`).
//! Version-1 baselines (unsalted SHA-256) are refused with a hint to rewrite
//! them.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use crate::error::ScanError;
use crate::finding::Finding;

/// A loaded baseline.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// The salt (hex), the key of every fingerprint in it.
    pub salt: String,
    /// The accepted fingerprints.
    pub fingerprints: HashSet<String>,
}

/// A fresh random salt (16 bytes, hex).
pub fn new_salt() -> Result<String, ScanError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| ScanError::Config {
        path: "<random>".into(),
        message: format!("no randomness for a baseline salt: {e}"),
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Read a baseline (or a JSON report).
pub fn load(path: &Path) -> Result<Baseline, ScanError> {
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
pub fn parse(text: &str) -> Result<Baseline, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Baseline::default();
    let salt = v
        .get("salt")
        .or_else(|| v.get("fingerprint_salt"))
        .and_then(|s| s.as_str());
    if let Some(list) = v.get("fingerprints").and_then(|f| f.as_array()) {
        for f in list {
            let s = f.as_str().ok_or("fingerprints must be strings")?;
            out.fingerprints.insert(s.to_string());
        }
    } else if let Some(list) = v.get("findings").and_then(|f| f.as_array()) {
        for f in list {
            if let Some(s) = f.get("fingerprint").and_then(|s| s.as_str()) {
                out.fingerprints.insert(s.to_string());
            }
        }
    } else {
        return Err("expected a \"fingerprints\" array (or a clef-scan JSON report)".into());
    }
    match salt {
        Some(s) if s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            out.salt = s.to_ascii_lowercase();
        }
        Some(_) => return Err("the salt must be at least 16 hex digits".into()),
        None => {
            return Err(
                "no salt: this is an unsalted version-1 baseline (or an old report); rewrite it with `clef-scan --baseline-write FILE`"
                    .into(),
            );
        }
    }
    Ok(out)
}

/// Render the baseline for `findings` (whose fingerprints were made with
/// `salt`).
pub fn render(salt: &str, findings: &[Finding]) -> String {
    let set: BTreeSet<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    let mut s = format!("{{\n  \"version\": 2,\n  \"salt\": \"{salt}\",\n  \"fingerprints\": [");
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
        let salt = "00112233445566778899aabbccddeeff";
        let text = render(salt, &[]);
        assert_eq!(
            text,
            format!("{{\n  \"version\": 2,\n  \"salt\": \"{salt}\",\n  \"fingerprints\": []\n}}\n")
        );
        let b = parse(&text).expect("parse");
        assert_eq!(b.salt, salt);
        let text = format!("{{\"version\":2,\"salt\":\"{salt}\",\"fingerprints\":[\"a\",\"b\"]}}");
        assert_eq!(parse(&text).expect("parse").fingerprints.len(), 2);
        let report = format!(
            r#"{{"fingerprint_salt":"{salt}","findings":[{{"fingerprint":"z"}}],"stats":{{}}}}"#
        );
        assert!(parse(&report).expect("report").fingerprints.contains("z"));
        assert!(parse("[]").is_err());
        let v1 = "{\n  \"version\": 1,\n  \"fingerprints\": [\"a\"]\n}\n";
        assert!(parse(v1).expect_err("v1").contains("--baseline-write"));
        assert_ne!(new_salt().expect("salt"), new_salt().expect("salt"));
    }
}
