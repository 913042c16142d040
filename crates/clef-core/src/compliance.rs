//! `compliance.json`: the evidence `clef policy report` writes for CI,
//! field for field the old tool's `ComplianceDocument` (schema version
//! `"1"`). Paths are relative to the repository root; nothing in it is a
//! value (scan previews are redacted, lint messages never quote values).
//!
//! Differences from the old tool, all bug fixes:
//! * `summary.rotation_overdue` counts the cells with an overdue key (the
//!   old tool counted a field that does not exist, so always 0);
//! * lint paths are relative; `-n`/`-e` filter the scan and lint too;
//! * an absent policy and `version: 1` alone hash the same.

use std::path::Path;

use serde::Serialize;

use crate::lint;
use crate::manifest::Manifest;
use crate::policy::{self, FileStatus, Filter, Policy};

/// One scan finding, as the old tool's `ScanMatch`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanMatch {
    /// Relative path.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// `pattern` or `entropy`.
    pub match_type: String,
    /// The rule, for `pattern` matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern_name: Option<String>,
    /// Shannon entropy, for `entropy` matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    /// A redacted preview (never the value).
    pub preview: String,
}

/// The scan section (`ScanResult`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// Findings.
    pub matches: Vec<ScanMatch>,
    /// Files scanned.
    pub files_scanned: u64,
    /// Files skipped (binary, ignored, too large).
    pub files_skipped: u64,
    /// Cells of the matrix that are not SOPS files.
    pub unencrypted_matrix_files: Vec<String>,
    /// Wall time of the scan.
    pub duration_ms: u64,
}

/// One lint issue (`LintIssue`); optional fields are left out when absent.
#[derive(Debug, Clone, Serialize)]
pub struct LintIssue {
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// The rule family.
    pub category: String,
    /// Relative path.
    pub file: String,
    /// The key, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// A command that fixes it.
    #[serde(rename = "fixCommand", skip_serializing_if = "Option::is_none")]
    pub fix_command: Option<String>,
}

/// The lint section (`LintResult`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LintResult {
    /// Issues.
    pub issues: Vec<LintIssue>,
    /// Cells examined.
    pub file_count: usize,
    /// Pending placeholders.
    pub pending_count: usize,
}

/// `summary`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Cells evaluated.
    pub total_files: usize,
    /// Cells whose every key is compliant.
    pub compliant: usize,
    /// Cells with at least one overdue key.
    pub rotation_overdue: usize,
    /// Scan findings.
    pub scan_violations: usize,
    /// Lint errors.
    pub lint_errors: usize,
}

/// The whole document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// `"1"`.
    pub schema_version: &'static str,
    /// When it was made (UTC, milliseconds).
    pub generated_at: String,
    /// The commit.
    pub sha: String,
    /// `owner/repo`.
    pub repo: String,
    /// `sha256:` + SHA-256 of the policy's canonical JSON.
    pub policy_hash: String,
    /// The resolved policy.
    pub policy_snapshot: serde_json::Value,
    /// Counts.
    pub summary: Summary,
    /// Per-cell rotation verdicts.
    pub files: Vec<FileStatus>,
    /// The secret scan.
    pub scan: ScanResult,
    /// Lint.
    pub lint: LintResult,
}

impl Document {
    /// Assembles the document (pure).
    pub fn new(
        now: i64,
        sha: String,
        repo: String,
        policy: &Policy,
        files: Vec<FileStatus>,
        scan: ScanResult,
        lint: LintResult,
    ) -> Document {
        let summary = Summary {
            total_files: files.len(),
            compliant: files.iter().filter(|f| f.compliant).count(),
            rotation_overdue: files.iter().filter(|f| f.overdue() > 0).count(),
            scan_violations: scan.matches.len(),
            lint_errors: lint.issues.iter().filter(|i| i.severity == "error").count(),
        };
        Document {
            schema_version: "1",
            generated_at: policy::iso_millis(now, 0),
            sha,
            repo,
            policy_hash: policy.hash(),
            policy_snapshot: policy.snapshot(),
            summary,
            files,
            scan,
            lint,
        }
    }

    /// The CI gate: no overdue cell, no scan finding, no lint error.
    pub fn passed(&self) -> bool {
        self.summary.rotation_overdue == 0
            && self.summary.scan_violations == 0
            && self.summary.lint_errors == 0
    }

    /// Pretty JSON (two-space indent, as the old tool), newline-terminated.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }
}

/// The lint report as the document's section: relative paths, only the
/// cells the filter keeps (issues about clef.yaml and other files stay).
pub fn lint_section(manifest: &Manifest, report: &lint::Report, filter: &Filter) -> LintResult {
    let dropped: Vec<String> = manifest
        .cells()
        .into_iter()
        .filter(|c| !filter.keeps(&c.namespace, &c.environment))
        .flat_map(|c| [c.file, c.sidecar])
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    let issues = report
        .issues
        .iter()
        .filter(|i| !dropped.contains(&i.file.replace('\\', "/")))
        .map(|i| LintIssue {
            severity: i.severity.name().into(),
            category: i.category.into(),
            file: i.file.replace('\\', "/"),
            key: i.key.clone(),
            message: i.message.clone(),
            fix_command: i.fix.clone(),
        })
        .collect();
    LintResult {
        issues,
        file_count: report.file_count,
        pending_count: report.pending_count,
    }
}

/// Cells the filter keeps that exist but are not SOPS files.
pub fn unencrypted_cells(root: &Path, manifest: &Manifest, filter: &Filter) -> Vec<String> {
    manifest
        .cells()
        .into_iter()
        .filter(|c| filter.keeps(&c.namespace, &c.environment))
        .filter(|c| {
            matches!(
                crate::cell::load(root, c),
                Err(crate::cell::CellError::Sops {
                    source: clef_sops::SopsError::NotEncryptedFile,
                    ..
                })
            )
        })
        .map(|c| c.file.to_string_lossy().replace('\\', "/"))
        .collect()
}

/// Whether a relative path belongs to a cell the filter drops.
pub fn dropped_by(manifest: &Manifest, filter: &Filter, path: &str) -> bool {
    manifest.cells().into_iter().any(|c| {
        !filter.keeps(&c.namespace, &c.environment)
            && [&c.file, &c.sidecar]
                .iter()
                .any(|p| p.to_string_lossy().replace('\\', "/") == path)
    })
}

/// The CI variables naming the commit, in the old tool's order.
const SHA_VARS: [&str; 5] = [
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "BITBUCKET_COMMIT",
    "CIRCLE_SHA1",
    "BUILD_VCS_NUMBER",
];

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The commit: CI variables, then `git rev-parse HEAD`, then `unknown`.
pub fn detect_sha(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> String {
    SHA_VARS
        .iter()
        .find_map(|v| non_empty(env(v)))
        .or_else(|| {
            clef_git::worktree::stdout_if_ok(root, &["rev-parse", "HEAD"])
                .and_then(|o| non_empty(Some(String::from_utf8_lossy(&o).into_owned())))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `owner/repo`: CI variables, then the `origin` URL, then `unknown`.
pub fn detect_repo(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> String {
    [
        "GITHUB_REPOSITORY",
        "CI_PROJECT_PATH",
        "BITBUCKET_REPO_FULL_NAME",
    ]
    .iter()
    .find_map(|v| non_empty(env(v)))
    .or_else(|| {
        match (
            non_empty(env("CIRCLE_PROJECT_USERNAME")),
            non_empty(env("CIRCLE_PROJECT_REPONAME")),
        ) {
            (Some(u), Some(r)) => Some(format!("{u}/{r}")),
            _ => None,
        }
    })
    .or_else(|| {
        let url = clef_git::worktree::stdout_if_ok(root, &["remote", "get-url", "origin"])?;
        slug_of_url(String::from_utf8_lossy(&url).trim())
    })
    .unwrap_or_else(|| "unknown".into())
}

/// The trailing `owner/repo` of a remote URL (`git@host:owner/repo.git`,
/// `https://host/owner/repo`), credentials never included.
pub fn slug_of_url(url: &str) -> Option<String> {
    let url = url.trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let (rest, repo) = url.rsplit_once('/')?;
    let owner = rest.rsplit(['/', ':']).next()?;
    if owner.is_empty() || repo.is_empty() || owner.contains('@') {
        return None;
    }
    Some(format!("{owner}/{repo}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(
            slug_of_url("git@github.com:acme/api.git").as_deref(),
            Some("acme/api")
        );
        assert_eq!(
            slug_of_url("https://github.com/acme/api/").as_deref(),
            Some("acme/api")
        );
        assert_eq!(
            slug_of_url("https://gitlab.com/group/sub/api.git").as_deref(),
            Some("sub/api")
        );
        assert_eq!(slug_of_url("/srv/repo").as_deref(), Some("srv/repo"));
        assert_eq!(slug_of_url("nothing"), None);
    }

    #[test]
    fn empty_document_passes() {
        let d = Document::new(
            0,
            "abc".into(),
            "o/r".into(),
            &Policy::default(),
            Vec::new(),
            ScanResult::default(),
            LintResult::default(),
        );
        assert!(d.passed());
        let j = d.to_json();
        assert!(
            j.starts_with(
                "{\n  \"schema_version\": \"1\",\n  \"generated_at\": \"1970-01-01T00:00:00.000Z\""
            ),
            "{j}"
        );
        assert!(j.contains("\"policy_hash\": \"sha256:9492fa2d421de1eac831678a0ae2719badff1680d73b5a61bb8b4829c0e85086\""));
        assert!(j.contains("\"unencryptedMatrixFiles\": []"));
    }
}
