//! `clef lint`: the repository health check. Reports names, paths and
//! reasons; never a value (schema checks run on decrypted values in memory
//! and report only the key and the rule).

use std::path::Path;

use clef_sops::Keyring;
use clef_sops::SopsError;

use crate::cell::{self, CellError};
use crate::manifest::{Manifest, Namespace};
use crate::schema::{Level, Schema};

/// How serious an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Informational.
    Info,
    /// Should be looked at; does not fail lint.
    Warning,
    /// Fails lint (exit 1).
    Error,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Severity.
    pub severity: Severity,
    /// `matrix`, `sops`, `access`, `schema` or `metadata`.
    pub category: &'static str,
    /// The file, relative to the repository root.
    pub file: String,
    /// The key concerned, if any.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// A command that fixes it, if there is one.
    pub fix: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings, in matrix order.
    pub issues: Vec<Issue>,
    /// Cells examined (existing files).
    pub file_count: usize,
    /// Pending placeholders found.
    pub pending_count: usize,
}

impl Report {
    /// Whether any issue is an error.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}

fn issue(
    severity: Severity,
    category: &'static str,
    file: &Path,
    key: Option<&str>,
    message: impl Into<String>,
    fix: Option<String>,
) -> Issue {
    Issue {
        severity,
        category,
        file: file.display().to_string(),
        key: key.map(str::to_owned),
        message: message.into(),
        fix,
    }
}

/// The namespace's schema, if it has one, or the warning that says why it
/// cannot be read.
fn schema_of(root: &Path, ns: &Namespace) -> Result<Option<Schema>, Issue> {
    let Some(p) = &ns.schema else {
        return Ok(None);
    };
    let warning = |message: String| {
        issue(
            Severity::Warning,
            "schema",
            Path::new(p),
            None,
            message,
            None,
        )
    };
    let text = std::fs::read_to_string(root.join(p)).map_err(|e| {
        warning(format!(
            "cannot read the schema of namespace '{}': {}",
            ns.name,
            e.kind()
        ))
    })?;
    Schema::parse(&text)
        .map(Some)
        .map_err(|e| warning(format!("invalid schema: {e}")))
}

/// Runs every check over the matrix.
pub fn run(root: &Path, manifest: &Manifest, ids: &Keyring) -> Report {
    use Severity::*;
    let mut r = Report::default();
    for ns in &manifest.namespaces {
        let schema = schema_of(root, ns).unwrap_or_else(|warning| {
            r.issues.push(warning);
            None
        });
        let mut key_sets: Vec<(String, std::path::PathBuf, Vec<String>)> = Vec::new();
        for env in &manifest.environments {
            let Ok(c) = manifest.cell(&ns.name, &env.name) else {
                continue;
            };
            let target = c.target();
            let loaded = match cell::load(root, &c) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    r.issues.push(issue(
                        Error,
                        "matrix",
                        &c.file,
                        None,
                        format!("cell {target} is missing"),
                        Some(format!("clef set {target} KEY VALUE")),
                    ));
                    continue;
                }
                Err(CellError::Sidecar { file, source }) => {
                    r.issues.push(issue(
                        Error,
                        "metadata",
                        &file,
                        None,
                        format!("malformed sidecar: {source}"),
                        None,
                    ));
                    continue;
                }
                Err(CellError::Sops { source, .. }) => {
                    let conflicted = std::fs::read(c.path_in(root)).is_ok_and(|b| {
                        crate::conflict::is_conflict_document(&b)
                            || crate::conflict::has_markers(&String::from_utf8_lossy(&b))
                    });
                    r.issues.push(if conflicted {
                        issue(
                            Error,
                            "merge",
                            &c.file,
                            None,
                            "unresolved merge conflict (conflict markers in the cell)",
                            Some(format!(
                                "clef merge status {f}, then clef merge resolve {f}",
                                f = c.file.display()
                            )),
                        )
                    } else {
                        issue(
                            Error,
                            "sops",
                            &c.file,
                            None,
                            format!("not a valid SOPS file: {source}"),
                            None,
                        )
                    });
                    continue;
                }
                Err(e) => {
                    r.issues
                        .push(issue(Error, "sops", &c.file, None, e.to_string(), None));
                    continue;
                }
            };
            r.file_count += 1;
            let keys = loaded.file.keys();
            let mut clear_reported = false;
            match loaded.file.unencrypted_values() {
                Ok(paths) => {
                    clear_reported = !paths.is_empty();
                    for p in paths {
                        // A damaged envelope is not a value in clear.
                        let steps = clef_sops::path::parse(&p).ok();
                        let leaf = steps.as_ref().and_then(|st| {
                            let d = loaded.file.docs.first()?;
                            clef_sops::path::get(d, st).ok()
                        });
                        let damaged =
                            matches!(&leaf, Some(clef_doc::Value::Str(s)) if s.starts_with("ENC["));
                        let key = match steps.as_deref() {
                            Some([clef_sops::path::Step::Key(k)]) => k.clone(),
                            _ => p.clone(),
                        };
                        let (msg, fix) = if damaged {
                            (
                                "the encrypted value is damaged (not a valid ENC[...] envelope)",
                                format!(
                                    "restore it from history (git log -p -- {}) or set it again: clef set {target} {key}",
                                    c.file.display()
                                ),
                            )
                        } else {
                            (
                                "value is stored in clear text: treat it as leaked",
                                format!(
                                    "change it where it is issued, then store the new one: clef set {target} {key}"
                                ),
                            )
                        };
                        r.issues
                            .push(issue(Error, "sops", &c.file, Some(&p), msg, Some(fix)));
                    }
                }
                Err(e) => r
                    .issues
                    .push(issue(Error, "sops", &c.file, None, e.to_string(), None)),
            }
            // The cell's sops block against the access list: any drift is
            // an error (the block is not covered by the MAC).
            let drift = manifest.access(&c).drift(&loaded.file.meta);
            for (is_error, m) in drift.describe() {
                r.issues.push(issue(
                    if is_error { Error } else { Warning },
                    "access",
                    &c.file,
                    None,
                    m,
                    Some(format!("clef rotate {target}")),
                ));
            }
            for who in crate::access::Access::mislabelled(&loaded.file.meta, ids.identities()) {
                r.issues.push(issue(
                    Error,
                    "access",
                    &c.file,
                    None,
                    format!(
                        "the stanza labelled {who} (your key) does not open with your identity: it is mislabelled"
                    ),
                    Some(format!("clef rotate {target}")),
                ));
            }
            // MAC and schema values, where a key is available.
            match loaded.file.decrypt(ids) {
                Ok(plain) => {
                    if let (Some(s), Some(doc)) = (&schema, plain.docs.first()) {
                        for v in s.check_values(doc) {
                            let sev = if v.level == Level::Error {
                                Error
                            } else {
                                Warning
                            };
                            r.issues.push(issue(
                                sev,
                                "schema",
                                &c.file,
                                Some(&v.key),
                                v.message,
                                None,
                            ));
                        }
                    }
                }
                // Already reported above, value by value.
                Err(SopsError::NotEncrypted { .. }) if clear_reported => {}
                Err(SopsError::NoIdentity { .. } | SopsError::Threshold { .. }) => {
                    r.issues.push(issue(
                        Info,
                        "sops",
                        &c.file,
                        None,
                        "MAC not verified: none of your identities can decrypt this cell",
                        None,
                    ));
                }
                Err(
                    e @ (SopsError::MacMismatch | SopsError::MacUndecryptable | SopsError::NoMac),
                ) => {
                    r.issues.push(issue(
                        Error,
                        "sops",
                        &c.file,
                        None,
                        format!("integrity check failed: {e}"),
                        None,
                    ));
                }
                Err(e) => r.issues.push(issue(
                    Error,
                    "sops",
                    &c.file,
                    None,
                    format!("cannot decrypt: {e}"),
                    None,
                )),
            }
            if let Some(s) = &schema {
                for v in s.check_keys(&keys) {
                    let sev = if v.level == Level::Error {
                        Error
                    } else {
                        Warning
                    };
                    r.issues
                        .push(issue(sev, "schema", &c.file, Some(&v.key), v.message, None));
                }
            }
            // Sidecar.
            for p in &loaded.sidecar.pending {
                r.pending_count += 1;
                r.issues.push(issue(
                    Warning,
                    "schema",
                    &c.file,
                    Some(&p.key),
                    "holds a random placeholder (pending): set the real value",
                    Some(format!("clef set {target} {}", p.key)),
                ));
            }
            for rot in &loaded.sidecar.rotations {
                if !keys.contains(&rot.key) {
                    r.issues.push(issue(
                        Warning,
                        "metadata",
                        &c.sidecar,
                        Some(&rot.key),
                        "rotation record for a key that is not in the cell",
                        None,
                    ));
                }
            }
            key_sets.push((env.name.clone(), c.file.clone(), keys));
        }
        // Drift: a key present in some environments of the namespace but not others.
        let mut union: Vec<&String> = Vec::new();
        for (_, _, ks) in &key_sets {
            for k in ks {
                if !union.contains(&k) {
                    union.push(k);
                }
            }
        }
        for (env, file, ks) in &key_sets {
            for k in &union {
                if !ks.contains(k) {
                    let has: Vec<&str> = key_sets
                        .iter()
                        .filter(|(_, _, o)| o.contains(k))
                        .map(|(e, _, _)| e.as_str())
                        .collect();
                    r.issues.push(issue(
                        Warning,
                        "matrix",
                        file,
                        Some(k),
                        format!("key is missing in {env} but present in {}", has.join(", ")),
                        Some(format!("clef set {}/{env} {k}", ns.name)),
                    ));
                }
            }
        }
    }
    // Service identities: environment coverage and shared keys (their
    // per-cell recipient drift is the access check above).
    for s in crate::service::validate(root, manifest) {
        if matches!(s.code, "recipient_not_registered" | "scope_mismatch") {
            continue;
        }
        r.issues.push(issue(
            if s.severity == "error" {
                Error
            } else {
                Warning
            },
            "service",
            Path::new(crate::manifest::FILE_NAME),
            None,
            format!("service identity '{}': {}", s.identity, s.message),
            s.fix,
        ));
    }
    r
}
