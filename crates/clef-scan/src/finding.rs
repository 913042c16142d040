//! Findings and the secret wrapper that keeps values out of logs.

use std::fmt;

use sha2::{Digest, Sha256};

/// A detected secret value. `Debug` never shows it; the only ways to see it are
/// [`Secret::expose`] (used for `--no-redact` output and fingerprints) and
/// [`Secret::redacted`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The raw value. Only for `--no-redact` output and hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A display form that does not reveal the secret: the first four
    /// characters of long values (usually a public prefix such as `ghp_`)
    /// followed by asterisks; short values are fully masked.
    pub fn redacted(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 16 {
            let head: String = chars[..4].iter().collect();
            format!("{head}*****")
        } else {
            "*****".to_string()
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Rule id.
    pub rule: String,
    /// Rule description.
    pub description: String,
    /// Path (relative to the scan root, `/`-separated), or `<stdin>`.
    pub path: String,
    /// 1-based line of the secret's first character.
    pub line: usize,
    /// 1-based column (in characters) of the secret's first character.
    pub column: usize,
    /// 1-based line of the secret's last character.
    pub end_line: usize,
    /// 1-based column just after the secret's last character (exclusive, as in SARIF).
    pub end_column: usize,
    /// Byte offset of the secret in the scanned buffer.
    pub offset: usize,
    /// The value.
    pub secret: Secret,
    /// Shannon entropy of the value, bits per character.
    pub entropy: f64,
    /// Stable identity: hash of rule, path and value (not of the position).
    pub fingerprint: String,
    /// Commit that introduced the blob (git modes).
    pub commit: Option<String>,
    /// Author of that commit.
    pub author: Option<String>,
    /// Author date of that commit.
    pub date: Option<String>,
}

/// The fingerprint of a finding: the first 32 hex digits of
/// SHA-256(rule NUL path NUL secret). Moving lines does not change it;
/// changing the secret, the file or the rule does.
pub fn fingerprint(rule: &str, path: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(secret.as_bytes());
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redaction_hide_the_value() {
        let s = Secret::new("ghp_abcdefghijklmnopqrstuvwxyz0123456789".into());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.redacted(), "ghp_*****");
        assert_eq!(Secret::new("hunter2".into()).redacted(), "*****");
    }

    #[test]
    fn fingerprint_depends_on_rule_path_secret_only() {
        let a = fingerprint("r", "p", "s");
        assert_eq!(a.len(), 32);
        assert_eq!(a, fingerprint("r", "p", "s"));
        assert_ne!(a, fingerprint("r", "p", "t"));
        assert_ne!(a, fingerprint("r", "q", "s"));
        assert_ne!(a, fingerprint("x", "p", "s"));
    }
}
