//! `.clef/policy.yaml`: the rotation policy, and its evaluation against the
//! sidecars' rotation records (never against values: nothing is decrypted).
//!
//! ```yaml
//! version: 1
//! rotation:
//!   max_age_days: 90
//!   environments:
//!     production:
//!       max_age_days: 30
//! ```
//!
//! An absent file is the default policy (`max_age_days: 90`), and a file
//! that says only `version: 1` resolves to the same policy, with the same
//! hash ([`Policy::hash`]): the hash is of the *resolved* policy.
//!
//! A key is compliant only when its sidecar has a rotation record whose
//! time parses, is not in the future (beyond [`CLOCK_SKEW_SECS`]) and is
//! within the limit. A missing record, an unreadable time or a record from
//! the future is *unknown*, never compliant.

use std::path::{Path, PathBuf};

use clef_doc::{Branch, Item, Value};
use sha2::{Digest, Sha256};

use crate::locate::Seg;
use crate::manifest::{Ctx, Manifest};
use crate::matrix::Cell;

/// Where the policy lives, relative to the repository root.
pub const FILE: &str = ".clef/policy.yaml";
/// The limit when the policy names none.
pub const DEFAULT_MAX_AGE_DAYS: u64 = 90;
/// How far in the future a rotation record may be (another machine's clock)
/// before it is treated as unknown.
pub const CLOCK_SKEW_SECS: i64 = 300;

const DAY: i64 = 86_400;

/// What `clef policy init` writes.
pub const TEMPLATE: &str = "# Clef rotation policy: how old a secret's value may get before it must be\n# rotated (`clef set` records each rotation in the cell's .clef-meta.yaml).\n# Checked by `clef policy check`, `clef lint` and `clef policy report` (CI).\nversion: 1\nrotation:\n  # Days a value may live, in every environment unless overridden below.\n  max_age_days: 90\n  # Per-environment overrides (names from clef.yaml):\n  # environments:\n  #   production:\n  #     max_age_days: 30\n";

/// A policy file that cannot be used (exit 2: a configuration error).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Unreadable.
    #[error("{}: cannot read: {reason}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not a valid policy.
    #[error("{}:{line}: {field}: {reason}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The offending field (`rotation.max_age_days`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The resolved rotation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The limit for every environment without an override.
    pub max_age_days: u64,
    /// Per-environment limits, in file order.
    pub environments: Vec<(String, u64)>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_age_days: DEFAULT_MAX_AGE_DAYS,
            environments: Vec::new(),
        }
    }
}

/// `b.max_age_days`: required, a whole number of days above 0.
fn days(cx: &Ctx<'_, PolicyError>, b: &Branch, at: &[Seg]) -> Result<u64, PolicyError> {
    let mut p = at.to_vec();
    p.push(Seg::key("max_age_days"));
    match b.get("max_age_days") {
        None | Some(Value::Null) => Err(cx.err(&p, "is required")),
        Some(Value::Int(n)) if *n > 0 => Ok(u64::try_from(*n).unwrap_or(u64::MAX)),
        Some(_) => Err(cx.err(&p, "must be a whole number of days greater than 0")),
    }
}

impl Policy {
    /// Parses policy text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Policy, PolicyError> {
        let invalid = |line, field, reason| PolicyError::Invalid {
            file: file.to_owned(),
            line,
            field,
            reason,
        };
        let cx = Ctx::new(text, &invalid);
        let docs = clef_doc::yaml::parse(text).map_err(|e| PolicyError::Invalid {
            file: file.to_owned(),
            line: e.line,
            field: "(document)".into(),
            reason: format!("invalid YAML: {}", e.reason),
        })?;
        let Some(doc) = docs.first() else {
            return Err(cx.err(&[], "empty policy: expected `version: 1`"));
        };
        let top = Value::Map(doc.clone());
        let top = cx.map(&top, &[], &["version", "rotation"])?;
        match top.get("version") {
            Some(Value::Int(1)) => {}
            None => return Err(cx.err(&[Seg::key("version")], "is required (version: 1)")),
            Some(_) => return Err(cx.err(&[Seg::key("version")], "must be 1")),
        }
        let mut policy = Policy::default();
        let rot_at = [Seg::key("rotation")];
        match top.get("rotation") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let rot = cx.map(v, &rot_at, &["max_age_days", "environments"])?;
                policy.max_age_days = days(&cx, rot, &rot_at)?;
                let env_at = [Seg::key("rotation"), Seg::key("environments")];
                match rot.get("environments") {
                    None | Some(Value::Null) => {}
                    Some(v) => {
                        let envs = cx.map(v, &env_at, &[])?;
                        for (name, v) in envs.0.iter().filter_map(|i| match i {
                            Item::Entry(k, v) => Some((k.as_str(), v)),
                            _ => None,
                        }) {
                            let mut at = env_at.to_vec();
                            at.push(Seg::key(name));
                            if !Manifest::valid_name(name) {
                                return Err(cx.err(
                                    &at,
                                    "not an environment name (lowercase letter, then a-z 0-9 _ -)",
                                ));
                            }
                            let b = cx.map(v, &at, &["max_age_days"])?;
                            policy
                                .environments
                                .push((name.to_owned(), days(&cx, b, &at)?));
                        }
                    }
                }
            }
        }
        Ok(policy)
    }

    /// The policy of the repository at `root`: `.clef/policy.yaml`, or the
    /// default when it does not exist (the flag says whether it did).
    pub fn load(root: &Path) -> Result<(Policy, bool), PolicyError> {
        let path = root.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| PolicyError::Read {
                    file: PathBuf::from(FILE),
                    reason: "not UTF-8".into(),
                })?;
                Ok((Policy::parse(&text, Path::new(FILE))?, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Policy::default(), false)),
            Err(e) => Err(PolicyError::Read {
                file: PathBuf::from(FILE),
                reason: e.kind().to_string(),
            }),
        }
    }

    /// Environments named by the policy that clef.yaml does not declare.
    pub fn unknown_environments<'a>(&'a self, manifest: &Manifest) -> Vec<&'a str> {
        self.environments
            .iter()
            .filter(|(e, _)| manifest.environment(e).is_none())
            .map(|(e, _)| e.as_str())
            .collect()
    }

    /// The limit for `environment`.
    pub fn max_age_for(&self, environment: &str) -> u64 {
        self.environments
            .iter()
            .find(|(e, _)| e == environment)
            .map_or(self.max_age_days, |(_, d)| *d)
    }

    /// The resolved policy as the old tool's `PolicyDocument`:
    /// `{"version":1,"rotation":{"max_age_days":N[,"environments":{…}]}}`.
    pub fn snapshot(&self) -> serde_json::Value {
        let mut rotation = serde_json::Map::new();
        rotation.insert("max_age_days".into(), self.max_age_days.into());
        if !self.environments.is_empty() {
            let mut envs = serde_json::Map::new();
            for (e, d) in &self.environments {
                envs.insert(e.clone(), serde_json::json!({ "max_age_days": d }));
            }
            rotation.insert("environments".into(), envs.into());
        }
        serde_json::json!({ "version": 1, "rotation": rotation })
    }

    /// `sha256:` + hex SHA-256 of the canonical JSON of [`Policy::snapshot`]
    /// (keys sorted recursively, no spaces), as the old tool computes it.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(canonical_json(&self.snapshot()).as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// The resolved policy as YAML (what `clef policy show` prints).
    pub fn to_yaml(&self) -> String {
        let mut s = format!(
            "version: 1\nrotation:\n  max_age_days: {}\n",
            self.max_age_days
        );
        if !self.environments.is_empty() {
            s.push_str("  environments:\n");
            for (e, d) in &self.environments {
                s.push_str(&format!("    {e}:\n      max_age_days: {d}\n"));
            }
        }
        s
    }
}

/// JSON with object keys sorted recursively and no whitespace.
pub fn canonical_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        serde_json::Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.clone()),
                        canonical_json(&o[k])
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        other => other.to_string(),
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (JavaScript's `toISOString`, the old tool's form).
pub fn iso_millis(secs: i64, nanos: u32) -> String {
    let base = clef_sops::time::from_unix(secs);
    let stem = base.strip_suffix('Z').unwrap_or(&base);
    format!("{stem}.{:03}Z", nanos / 1_000_000)
}

/// The verdict on one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyStatus {
    /// The key name.
    pub key: String,
    /// The recorded rotation time (normalised to UTC when it parses; as
    /// written otherwise), or null without a record.
    pub last_rotated_at: Option<String>,
    /// Whether there is a usable record: present, parseable, not from the future.
    pub last_rotated_known: bool,
    /// Who rotated it (`Name <email>`), or null without a record.
    pub rotated_by: Option<String>,
    /// Rotations recorded (0 without a record).
    pub rotation_count: u64,
    /// `last_rotated_at + max_age_days`, or null when unknown.
    pub rotation_due: Option<String>,
    /// Known and past due.
    pub rotation_overdue: bool,
    /// Whole days past due (0 when not overdue or unknown).
    pub days_overdue: u64,
    /// Known and not overdue.
    pub compliant: bool,
    /// Why the record is unknown, when it is (not in the old tool's layout).
    #[serde(skip)]
    pub unknown_reason: Option<&'static str>,
    /// The limit applied (not in the old tool's layout).
    #[serde(skip)]
    pub max_age_days: u64,
}

/// The verdict on one cell (the old tool's `FileRotationStatus`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileStatus {
    /// The cell file, relative to the repository root, `/`-separated.
    pub path: String,
    /// Its environment.
    pub environment: String,
    /// `age`, `awskms`, `gcpkms`, `azurekv` or `pgp` (from the sops block).
    pub backend: String,
    /// The recipients or key ids of that backend.
    pub recipients: Vec<String>,
    /// The cell's `sops.lastmodified` (UTC, milliseconds).
    pub last_modified: String,
    /// Whether `lastmodified` was present and parsed.
    pub last_modified_known: bool,
    /// One verdict per key, in file order.
    pub keys: Vec<KeyStatus>,
    /// Every key compliant (vacuously true for an empty cell).
    pub compliant: bool,
    /// The namespace (not in the old tool's layout).
    #[serde(skip)]
    pub namespace: String,
}

impl FileStatus {
    /// Keys past due.
    pub fn overdue(&self) -> usize {
        self.keys.iter().filter(|k| k.rotation_overdue).count()
    }

    /// Keys of unknown rotation state.
    pub fn unknown(&self) -> usize {
        self.keys.iter().filter(|k| !k.last_rotated_known).count()
    }
}

/// Which cells to evaluate: empty lists mean every one.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Namespaces.
    pub namespaces: Vec<String>,
    /// Environments.
    pub environments: Vec<String>,
}

impl Filter {
    /// Whether the cell passes the filter.
    pub fn keeps(&self, namespace: &str, environment: &str) -> bool {
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && (self.environments.is_empty() || self.environments.iter().any(|e| e == environment))
    }

    /// Names given that clef.yaml does not declare (a configuration error).
    pub fn unknown(&self, manifest: &Manifest) -> Vec<String> {
        let mut out: Vec<String> = self
            .namespaces
            .iter()
            .filter(|n| manifest.namespace(n).is_none())
            .map(|n| format!("namespace '{n}'"))
            .collect();
        out.extend(
            self.environments
                .iter()
                .filter(|e| manifest.environment(e).is_none())
                .map(|e| format!("environment '{e}'")),
        );
        out
    }
}

/// The verdict on one key from its record (pure: `now` is given).
pub fn evaluate_key(
    key: &str,
    record: Option<&crate::sidecar::Rotation>,
    max_age_days: u64,
    now: i64,
) -> KeyStatus {
    let mut s = KeyStatus {
        key: key.to_owned(),
        last_rotated_at: None,
        last_rotated_known: false,
        rotated_by: None,
        rotation_count: 0,
        rotation_due: None,
        rotation_overdue: false,
        days_overdue: 0,
        compliant: false,
        unknown_reason: Some("no rotation record"),
        max_age_days,
    };
    let Some(r) = record else {
        return s;
    };
    s.rotated_by = Some(r.rotated_by.clone());
    s.rotation_count = r.rotation_count;
    let Some((at, nanos)) = crate::sidecar::instant(&r.last_rotated_at) else {
        s.last_rotated_at = Some(r.last_rotated_at.clone());
        s.unknown_reason = Some("the rotation time does not parse");
        return s;
    };
    s.last_rotated_at = Some(iso_millis(at, nanos));
    if at > now + CLOCK_SKEW_SECS {
        s.unknown_reason = Some("the rotation time is in the future (clock skew)");
        return s;
    }
    let max = i64::try_from(max_age_days).unwrap_or(i64::MAX / DAY);
    let due = at.saturating_add(max.saturating_mul(DAY));
    s.rotation_due = Some(iso_millis(due, nanos));
    s.last_rotated_known = true;
    s.unknown_reason = None;
    s.rotation_overdue = now > due;
    s.days_overdue = if s.rotation_overdue {
        u64::try_from((now - due) / DAY).unwrap_or(0)
    } else {
        0
    };
    s.compliant = !s.rotation_overdue;
    s
}

/// The backend and recipients a cell's `sops` block names (first non-empty
/// kind among age, kms, gcp_kms, azure_kv, pgp; age when none).
pub fn backend_of(meta: &clef_sops::Metadata) -> (String, Vec<String>) {
    let age: Vec<String> = meta
        .key_groups
        .iter()
        .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
        .collect();
    if !age.is_empty() {
        return ("age".into(), age);
    }
    for (kind, name, field) in [
        ("kms", "awskms", "arn"),
        ("gcp_kms", "gcpkms", "resource_id"),
        ("azure_kv", "azurekv", "vaultUrl"),
        ("pgp", "pgp", "fp"),
    ] {
        let ids: Vec<String> = meta
            .key_groups
            .iter()
            .flat_map(|g| g.other.iter())
            .filter(|(t, _)| t == kind)
            .filter_map(|(_, v)| match v {
                Value::Map(b) => match b.get(field) {
                    Some(Value::Str(s)) => Some(s.expose().to_owned()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        if !ids.is_empty() {
            return (name.into(), ids);
        }
    }
    ("age".into(), Vec::new())
}

/// One cell that could not be evaluated (lint reports why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The cell file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Evaluates every existing cell the filter keeps. Cells that cannot be
/// read are returned apart (with no verdict: lint reports them as errors).
pub fn evaluate(
    root: &Path,
    manifest: &Manifest,
    policy: &Policy,
    filter: &Filter,
    now: i64,
) -> (Vec<FileStatus>, Vec<Skipped>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for c in manifest.cells() {
        if !filter.keeps(&c.namespace, &c.environment) {
            continue;
        }
        match evaluate_cell(root, &c, policy, now) {
            Ok(Some(f)) => files.push(f),
            Ok(None) => {}
            Err(e) => skipped.push(Skipped {
                path: rel(&c.file),
                reason: e.to_string(),
            }),
        }
    }
    (files, skipped)
}

fn rel(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// The verdict on one cell; `None` when the cell file does not exist.
pub fn evaluate_cell(
    root: &Path,
    c: &Cell,
    policy: &Policy,
    now: i64,
) -> Result<Option<FileStatus>, crate::cell::CellError> {
    let Some(loaded) = crate::cell::load(root, c)? else {
        return Ok(None);
    };
    let max = policy.max_age_for(&c.environment);
    let keys: Vec<KeyStatus> = loaded
        .file
        .keys()
        .iter()
        .map(|k| {
            let rec = loaded.sidecar.rotations.iter().find(|r| &r.key == k);
            evaluate_key(k, rec, max, now)
        })
        .collect();
    let (backend, recipients) = backend_of(&loaded.file.meta);
    let lm = crate::sidecar::instant(&loaded.file.meta.lastmodified);
    Ok(Some(FileStatus {
        path: rel(&c.file),
        environment: c.environment.clone(),
        namespace: c.namespace.clone(),
        backend,
        recipients,
        last_modified: lm.map_or_else(|| iso_millis(now, 0), |(s, n)| iso_millis(s, n)),
        last_modified_known: lm.is_some(),
        compliant: keys.iter().all(|k| k.compliant),
        keys,
    }))
}

/// `clef lint`'s rotation findings: an overdue key is a warning, a key of
/// unknown rotation state is info.
pub fn lint_issues(files: &[FileStatus]) -> Vec<crate::lint::Issue> {
    let mut out = Vec::new();
    for f in files {
        for k in &f.keys {
            let (severity, message) = if k.rotation_overdue {
                (
                    crate::lint::Severity::Warning,
                    format!(
                        "rotation overdue by {} days (policy: every {} days)",
                        k.days_overdue, k.max_age_days
                    ),
                )
            } else if !k.last_rotated_known {
                (
                    crate::lint::Severity::Info,
                    format!(
                        "rotation state unknown: {}",
                        k.unknown_reason.unwrap_or("no rotation record")
                    ),
                )
            } else {
                continue;
            };
            out.push(crate::lint::Issue {
                severity,
                category: "policy",
                file: f.path.clone(),
                key: Some(k.key.clone()),
                message,
                fix: Some(format!(
                    "clef set {}/{} {}",
                    f.namespace, f.environment, k.key
                )),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::Rotation;

    #[test]
    fn default_hash_is_the_old_tools() {
        let old = "sha256:9492fa2d421de1eac831678a0ae2719badff1680d73b5a61bb8b4829c0e85086";
        assert_eq!(Policy::default().hash(), old);
        // `version: 1` alone resolves to the default, and hashes the same.
        let p = Policy::parse("version: 1\n", Path::new(FILE)).unwrap();
        assert_eq!(p.hash(), old);
        assert_eq!(
            Policy::parse(TEMPLATE, Path::new(FILE)).unwrap().hash(),
            old
        );
        assert_eq!(
            canonical_json(&Policy::default().snapshot()),
            r#"{"rotation":{"max_age_days":90},"version":1}"#
        );
    }

    #[test]
    fn overrides_and_errors_with_lines() {
        let p = Policy::parse(
            "version: 1\nrotation:\n  max_age_days: 60\n  environments:\n    production:\n      max_age_days: 7\n",
            Path::new(FILE),
        )
        .unwrap();
        assert_eq!(p.max_age_for("production"), 7);
        assert_eq!(p.max_age_for("dev"), 60);
        assert_eq!(
            canonical_json(&p.snapshot()),
            r#"{"rotation":{"environments":{"production":{"max_age_days":7}},"max_age_days":60},"version":1}"#
        );
        let e = Policy::parse(
            "version: 1\nrotation:\n  max_age_days: -3\n",
            Path::new(FILE),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            ".clef/policy.yaml:3: rotation.max_age_days: must be a whole number of days greater than 0"
        );
        let e = Policy::parse("version: 2\n", Path::new(FILE))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: version: must be 1"), "{e}");
        let e = Policy::parse("version: 1\nrotate: {}\n", Path::new(FILE))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: rotate: unknown key"), "{e}");
        let e = Policy::parse("version: 1\nrotation: [\n", Path::new(FILE))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid YAML"), "{e}");
    }

    #[test]
    fn key_verdicts() {
        let t0 = crate::sidecar::instant("2026-01-01T00:00:00Z").unwrap().0;
        let rec = |at: &str| Rotation {
            key: "K".into(),
            last_rotated_at: at.into(),
            rotated_by: "A <a@x>".into(),
            rotation_count: 2,
        };
        let r = rec("2026-01-01T00:00:00Z");
        let ok = evaluate_key("K", Some(&r), 90, t0 + 10 * DAY);
        assert!(ok.compliant && ok.last_rotated_known && !ok.rotation_overdue);
        assert_eq!(ok.rotation_due.as_deref(), Some("2026-04-01T00:00:00.000Z"));
        assert_eq!(
            ok.last_rotated_at.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        let late = evaluate_key("K", Some(&r), 90, t0 + 100 * DAY + 5);
        assert!(!late.compliant && late.rotation_overdue);
        assert_eq!(late.days_overdue, 10);
        let none = evaluate_key("K", None, 90, t0);
        assert!(!none.compliant && !none.last_rotated_known);
        let future = evaluate_key("K", Some(&r), 90, t0 - DAY);
        assert!(!future.compliant && !future.last_rotated_known);
        assert!(future.unknown_reason.unwrap().contains("future"));
        let bad = evaluate_key("K", Some(&rec("yesterday")), 90, t0);
        assert!(!bad.compliant && !bad.last_rotated_known);
        // Exactly at the due time: not yet overdue.
        let edge = evaluate_key("K", Some(&r), 90, t0 + 90 * DAY);
        assert!(edge.compliant);
    }
}
