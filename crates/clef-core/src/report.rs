//! `clef report`: the metadata report in the old tool's shape (`ClefReport`,
//! schema version 1). Built without decrypting anything: key counts come
//! from the cells' clear key names, and the lint issues are sanitised so
//! that no key name leaves the repository (grouped and counted per file).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::lint::{self, Severity};
use crate::manifest::Manifest;
use crate::policy::Filter;

/// `repoIdentity`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoIdentity {
    /// `host/owner/repo` of `origin` (empty without one).
    pub repo_origin: String,
    /// HEAD (empty without commits).
    pub commit_sha: String,
    /// The current branch (empty when detached).
    pub branch: String,
    /// HEAD's committer date, strict ISO 8601.
    pub commit_timestamp: String,
    /// When the report was made.
    pub report_generated_at: String,
    /// This clef's version.
    pub clef_version: String,
    /// The SOPS format version clef writes (clef is its own engine).
    pub sops_version: Option<String>,
}

/// An environment of `manifest`.
#[derive(Debug, Clone, Serialize)]
pub struct EnvSummary {
    /// Name.
    pub name: String,
    /// Protected.
    pub protected: bool,
}

/// A namespace of `manifest`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsSummary {
    /// Name.
    pub name: String,
    /// Whether it names a schema.
    pub has_schema: bool,
    /// Owners.
    pub owners: Vec<String>,
}

/// `manifest`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSummary {
    /// Always 1.
    pub manifest_version: u32,
    /// `file_pattern`.
    pub file_pattern: String,
    /// Environments.
    pub environments: Vec<EnvSummary>,
    /// Namespaces.
    pub namespaces: Vec<NsSummary>,
    /// `sops.default_backend`.
    pub default_backend: String,
}

/// A cell's `metadata`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CellMetadata {
    /// Backend.
    pub backend: String,
    /// Recipients or key ids.
    pub recipients: Vec<String>,
    /// `lastmodified` (ISO), or null.
    pub last_modified: Option<String>,
}

/// One `matrix` entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixCell {
    /// Namespace.
    pub namespace: String,
    /// Environment.
    pub environment: String,
    /// Absolute path of the cell (the old tool's layout).
    pub file_path: String,
    /// Whether the file exists.
    pub exists: bool,
    /// Keys in it.
    pub key_count: usize,
    /// Pending placeholders.
    pub pending_count: usize,
    /// Its `sops` block, when it parses.
    pub metadata: Option<CellMetadata>,
}

/// One sanitised issue: never a key name.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyIssue {
    /// Severity.
    pub severity: &'static str,
    /// Category.
    pub category: String,
    /// Relative file, when the issue has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Grouped issues in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// Drift: the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Drift: the environment missing keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Drift: where they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_environment: Option<String>,
    /// Drift: how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_count: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// `policy.issueCount`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IssueCount {
    /// Errors.
    pub error: usize,
    /// Warnings.
    pub warning: usize,
    /// Info.
    pub info: usize,
}

/// `policy`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySection {
    /// Counts by severity.
    pub issue_count: IssueCount,
    /// Issues.
    pub issues: Vec<PolicyIssue>,
}

/// One `recipients` entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientSummary {
    /// `age`, `awskms`, `gcpkms` or `pgp`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Environments whose cells name it.
    pub environments: Vec<String>,
    /// Cells naming it.
    pub file_count: usize,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// 1.
    pub schema_version: u32,
    /// Where and when.
    pub repo_identity: RepoIdentity,
    /// The manifest's structure.
    pub manifest: ManifestSummary,
    /// The cells.
    pub matrix: Vec<MatrixCell>,
    /// Sanitised lint.
    pub policy: PolicySection,
    /// Recipients by id, sorted.
    pub recipients: BTreeMap<String, RecipientSummary>,
}

fn git(root: &Path, args: &[&str]) -> String {
    clef_git::worktree::stdout_if_ok(root, args)
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .unwrap_or_default()
}

/// `host/owner/repo` of a remote URL, credentials dropped.
pub fn origin_of_url(url: &str) -> String {
    let url = url.strip_suffix(".git").unwrap_or(url);
    if let Some(rest) = url.strip_prefix("git@")
        && let Some((host, path)) = rest.split_once(':')
    {
        return format!("{host}/{path}");
    }
    for scheme in ["https://", "http://", "ssh://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
            return rest.to_owned();
        }
    }
    url.to_owned()
}

fn recipient_kind(r: &str) -> &'static str {
    if r.starts_with("age1") {
        "age"
    } else if r.starts_with("arn:aws:kms:") {
        "awskms"
    } else if r.contains("projects/") && r.contains("cryptoKeys/") {
        "gcpkms"
    } else {
        "pgp"
    }
}

/// Groups lint issues and drops key names (the old tool's sanitiser).
pub fn sanitize(issues: &[lint::Issue]) -> PolicySection {
    let mut out: Vec<PolicyIssue> = Vec::new();
    let plain = |i: &lint::Issue| PolicyIssue {
        severity: i.severity.name(),
        category: i.category.into(),
        file: Some(i.file.clone()),
        count: None,
        namespace: None,
        environment: None,
        source_environment: None,
        drift_count: None,
        message: i.message.clone(),
    };
    let mut grouped = |sev: Severity,
                       cat: &str,
                       pick: &dyn Fn(&lint::Issue) -> bool,
                       msg: &dyn Fn(usize) -> String,
                       as_sev: Severity,
                       as_cat: &str| {
        let mut files: Vec<(String, usize)> = Vec::new();
        for i in issues
            .iter()
            .filter(|i| i.severity == sev && i.category == cat && i.key.is_some() && pick(i))
        {
            match files.iter_mut().find(|(f, _)| *f == i.file) {
                Some((_, n)) => *n += 1,
                None => files.push((i.file.clone(), 1)),
            }
        }
        for (file, n) in files {
            out.push(PolicyIssue {
                severity: as_sev.name(),
                category: as_cat.into(),
                file: Some(file),
                count: Some(n),
                namespace: None,
                environment: None,
                source_environment: None,
                drift_count: None,
                message: msg(n),
            });
        }
    };
    let s = |n: usize| if n == 1 { "" } else { "s" };
    let pending = |i: &lint::Issue| i.message.contains("placeholder");
    grouped(
        Severity::Error,
        "schema",
        &|_| true,
        &|n| format!("{n} key{} fail schema validation", s(n)),
        Severity::Error,
        "schema",
    );
    grouped(
        Severity::Warning,
        "schema",
        &pending,
        &|n| format!("{n} pending key{} awaiting values", s(n)),
        Severity::Info,
        "matrix",
    );
    grouped(
        Severity::Warning,
        "schema",
        &|i| !pending(i),
        &|n| {
            if n == 1 {
                "1 key has schema warnings".into()
            } else {
                format!("{n} keys have schema warnings")
            }
        },
        Severity::Warning,
        "schema",
    );
    grouped(
        Severity::Warning,
        "policy",
        &|_| true,
        &|n| format!("{n} key{} overdue for rotation", s(n)),
        Severity::Warning,
        "policy",
    );
    // Drift: "key is missing in ENV but present in A, B".
    let mut drift: Vec<(String, String, String, usize)> = Vec::new();
    for i in issues
        .iter()
        .filter(|i| i.category == "matrix" && i.key.is_some())
    {
        let Some((env, src)) = i
            .message
            .strip_prefix("key is missing in ")
            .and_then(|r| r.split_once(" but present in "))
        else {
            continue;
        };
        let ns = Path::new(&i.file)
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match drift
            .iter_mut()
            .find(|(a, b, c, _)| *a == ns && b == env && c == src)
        {
            Some(g) => g.3 += 1,
            None => drift.push((ns, env.to_owned(), src.to_owned(), 1)),
        }
    }
    for (ns, env, src, n) in drift {
        out.push(PolicyIssue {
            severity: "warning",
            category: "drift".into(),
            file: None,
            count: None,
            message: format!("{n} key{} in [{src}] missing from {env}", s(n)),
            namespace: Some(ns),
            environment: Some(env),
            source_environment: Some(src),
            drift_count: Some(n),
        });
    }
    // Everything else without its key (per-key info is dropped).
    for i in issues {
        let handled = matches!(i.category, "schema" | "policy") && i.key.is_some()
            || i.category == "matrix" && i.key.is_some();
        if handled || (i.key.is_some() && i.severity == Severity::Info) {
            continue;
        }
        out.push(plain(i));
    }
    let count = |sev: &str| out.iter().filter(|i| i.severity == sev).count();
    PolicySection {
        issue_count: IssueCount {
            error: count("error"),
            warning: count("warning"),
            info: count("info"),
        },
        issues: out,
    }
}

/// Builds the report (lint is run by the caller, with whatever identities
/// it has, and passed in).
pub fn build(
    root: &Path,
    manifest: &Manifest,
    lint_report: &lint::Report,
    filter: &Filter,
    now: i64,
) -> Report {
    let mut matrix = Vec::new();
    for c in manifest.cells() {
        if !filter.keeps(&c.namespace, &c.environment) {
            continue;
        }
        let file_path = c.path_in(root).to_string_lossy().into_owned();
        let loaded = crate::cell::load(root, &c).ok().flatten();
        let exists = c.path_in(root).exists();
        let (key_count, pending_count, metadata) = match &loaded {
            Some(l) => {
                let (backend, recipients) = crate::policy::backend_of(&l.file.meta);
                let lm = crate::sidecar::instant(&l.file.meta.lastmodified)
                    .map(|(s, n)| crate::policy::iso_millis(s, n));
                (
                    l.file.keys().len(),
                    l.sidecar.pending.len(),
                    Some(CellMetadata {
                        backend,
                        recipients,
                        last_modified: lm,
                    }),
                )
            }
            None => (0, 0, None),
        };
        matrix.push(MatrixCell {
            namespace: c.namespace.clone(),
            environment: c.environment.clone(),
            file_path,
            exists,
            key_count,
            pending_count,
            metadata,
        });
    }
    let mut recipients: BTreeMap<String, RecipientSummary> = BTreeMap::new();
    for c in &matrix {
        for r in c.metadata.iter().flat_map(|m| &m.recipients) {
            let e = recipients
                .entry(r.clone())
                .or_insert_with(|| RecipientSummary {
                    kind: recipient_kind(r),
                    environments: Vec::new(),
                    file_count: 0,
                });
            if !e.environments.contains(&c.environment) {
                e.environments.push(c.environment.clone());
            }
            e.file_count += 1;
        }
    }
    let kept: Vec<lint::Issue> = lint_report
        .issues
        .iter()
        .filter(|i| !crate::compliance::dropped_by(manifest, filter, &i.file))
        .cloned()
        .collect();
    Report {
        schema_version: 1,
        repo_identity: RepoIdentity {
            repo_origin: origin_of_url(&git(root, &["remote", "get-url", "origin"])),
            commit_sha: git(root, &["rev-parse", "HEAD"]),
            branch: git(root, &["branch", "--show-current"]),
            commit_timestamp: git(root, &["log", "-1", "--format=%cI"]),
            report_generated_at: crate::policy::iso_millis(now, 0),
            clef_version: env!("CARGO_PKG_VERSION").into(),
            sops_version: Some(clef_sops::metadata::WRITE_VERSION.into()),
        },
        manifest: ManifestSummary {
            manifest_version: 1,
            file_pattern: manifest.file_pattern.clone(),
            environments: manifest
                .environments
                .iter()
                .map(|e| EnvSummary {
                    name: e.name.clone(),
                    protected: e.protected,
                })
                .collect(),
            namespaces: manifest
                .namespaces
                .iter()
                .map(|n| NsSummary {
                    name: n.name.clone(),
                    has_schema: n.schema.is_some(),
                    owners: n.owners.clone(),
                })
                .collect(),
            default_backend: manifest.default_backend.name().into(),
        },
        matrix,
        policy: sanitize(&kept),
        recipients,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of_url("git@github.com:acme/api.git"),
            "github.com/acme/api"
        );
        assert_eq!(
            origin_of_url("https://tok@github.com/acme/api.git"),
            "github.com/acme/api"
        );
        assert_eq!(origin_of_url(""), "");
    }

    #[test]
    fn sanitizing_drops_key_names() {
        let mk = |sev, cat: &'static str, key: Option<&str>, msg: &str| lint::Issue {
            severity: sev,
            category: cat,
            file: "secrets/api/dev.enc.yaml".into(),
            key: key.map(Into::into),
            message: msg.into(),
            fix: key.map(|k| format!("clef set api/dev {k}")),
        };
        let issues = vec![
            mk(Severity::Error, "schema", Some("SECRET_A"), "required"),
            mk(Severity::Error, "schema", Some("SECRET_B"), "required"),
            mk(
                Severity::Warning,
                "schema",
                Some("SECRET_C"),
                "holds a random placeholder (pending): set the real value",
            ),
            mk(
                Severity::Warning,
                "matrix",
                Some("SECRET_D"),
                "key is missing in dev but present in prod",
            ),
            mk(
                Severity::Info,
                "policy",
                Some("SECRET_E"),
                "rotation state unknown",
            ),
            mk(Severity::Error, "sops", None, "not a valid SOPS file"),
        ];
        let p = sanitize(&issues);
        let j = serde_json::to_string(&p).unwrap();
        assert!(!j.contains("SECRET_"), "{j}");
        assert_eq!(p.issue_count.error, 2);
        assert!(j.contains("2 keys fail schema validation"));
        assert!(j.contains("1 pending key awaiting values"));
        assert!(j.contains("\"driftCount\":1"));
    }
}
