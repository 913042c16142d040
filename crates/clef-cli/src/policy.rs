//! `clef policy init|show|check|report`: the rotation policy and the
//! compliance evidence (`clef_core::policy`, `clef_core::compliance`,
//! `clef_core::ci`). This module parses, calls and prints.

use std::path::Path;

use clap::{Args, Subcommand};
use clef_core::ci::{self, Provider, Status};
use clef_core::compliance::{self, Document, ScanMatch, ScanResult};
use clef_core::policy::{self, FileStatus, Filter, Policy};

use crate::error::{CliError, code};
use crate::out;
use crate::repo::{self, Repo};

/// `clef policy …`
#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Scaffold .clef/policy.yaml and a CI job that runs `clef policy report`
    /// and `clef policy check` with the released clef binaries (no Node) and
    /// uploads compliance.json. Existing files are kept unless --force.
    Init(InitArgs),
    /// Print the resolved policy (.clef/policy.yaml, or the built-in 90-day default).
    Show {
        /// Print it as JSON (the old tool's PolicyDocument).
        #[arg(long)]
        json: bool,
    },
    /// Evaluate every key against the policy, from the sidecars' rotation
    /// records (nothing is decrypted). A key with no record, an unreadable
    /// time or a time in the future is "unknown", never compliant.
    ///
    /// Exit codes: 0 every key compliant; 1 a key is overdue or unknown;
    /// 2 configuration error (clef.yaml, .clef/policy.yaml, an unknown -n/-e name).
    Check(CheckArgs),
    /// Write compliance.json (the old tool's schema, field for field): the
    /// rotation verdicts, a secret scan of the work tree and lint. Exits 0
    /// whenever the document is written (2 on a configuration error); the
    /// verdict is in the document and on stderr.
    Report(ReportArgs),
}

/// `clef policy init`
#[derive(Args, Debug)]
pub struct InitArgs {
    /// CI provider: github, gitlab, bitbucket or circleci (default: detected
    /// from the repository; none detected: only the policy is written).
    #[arg(long)]
    pub ci: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Only .clef/policy.yaml.
    #[arg(long, conflicts_with = "workflow_only")]
    pub policy_only: bool,
    /// Only the CI job.
    #[arg(long)]
    pub workflow_only: bool,
    /// Say what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Which cells (`-n`/`-e`, repeatable or comma-separated).
#[derive(Args, Debug)]
pub struct FilterArgs {
    /// Only these namespaces.
    #[arg(short = 'n', long = "namespace", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Only these environments.
    #[arg(short = 'e', long = "environment", value_delimiter = ',')]
    pub environments: Vec<String>,
}

/// `clef policy check`
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// One row per key (the default).
    #[arg(long, conflicts_with = "per_file")]
    pub per_key: bool,
    /// One row per cell.
    #[arg(long)]
    pub per_file: bool,
    /// Print {files, summary:{total_files,compliant,rotation_overdue,unknown_metadata}, passed}.
    #[arg(long)]
    pub json: bool,
}

/// `clef policy report`
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Write the document here instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
    /// The commit (default: GITHUB_SHA, CI_COMMIT_SHA, BITBUCKET_COMMIT,
    /// CIRCLE_SHA1, BUILD_VCS_NUMBER, then `git rev-parse HEAD`).
    #[arg(long)]
    pub sha: Option<String>,
    /// owner/repo (default: the CI's variables, then the origin URL).
    #[arg(long)]
    pub repo: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Skip the secret scan.
    #[arg(long)]
    pub no_scan: bool,
    /// Skip lint.
    #[arg(long)]
    pub no_lint: bool,
    /// Skip the rotation verdicts.
    #[arg(long)]
    pub no_rotation: bool,
}

/// Runs `clef policy …`.
pub fn run(dir: Option<&Path>, cmd: PolicyCmd) -> Result<(), CliError> {
    match cmd {
        PolicyCmd::Init(a) => init(dir, &a),
        PolicyCmd::Show { json } => show(dir, json),
        PolicyCmd::Check(a) => check(dir, &a),
        PolicyCmd::Report(a) => report(dir, &a),
    }
}

/// Writes a non-secret file (creating its directory) through the one atomic writer.
fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    let fail = |p: &Path, e: std::io::Error| {
        CliError::new(
            code::WRITE,
            format!("{}: cannot write: {}", p.display(), e.kind()),
        )
    };
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| fail(d, e))?;
    }
    clef_sops::io::atomic_write(path, text.as_bytes(), false).map_err(|e| fail(path, e))
}

fn config_err(e: impl std::fmt::Display) -> CliError {
    CliError::new(code::USAGE, e.to_string())
}

/// The repository and its policy; every configuration problem is exit 2.
fn open(
    dir: Option<&Path>,
    filter: Option<&FilterArgs>,
) -> Result<(Repo, Policy, Filter), CliError> {
    let repo = Repo::open(dir)?;
    let (policy, _) = Policy::load(&repo.root).map_err(config_err)?;
    let unknown = policy.unknown_environments(&repo.manifest);
    if !unknown.is_empty() {
        return Err(config_err(format!(
            "{}: rotation.environments names {} not declared in clef.yaml",
            policy::FILE,
            unknown
                .iter()
                .map(|e| format!("'{e}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let filter = filter.map_or_else(Filter::default, |f| Filter {
        namespaces: f.namespaces.clone(),
        environments: f.environments.clone(),
    });
    let unknown = filter.unknown(&repo.manifest);
    if !unknown.is_empty() {
        return Err(config_err(format!(
            "unknown {} (clef.yaml does not declare it)",
            unknown.join(", ")
        )));
    }
    warn_if_ignored(&repo.root);
    Ok((repo, policy, filter))
}

/// The policy must be committable: say so when an ignore rule hides it.
fn warn_if_ignored(root: &Path) {
    if root.join(policy::FILE).is_file()
        && clef_git::worktree::stdout_if_ok(
            root,
            &["check-ignore", "--no-index", "-q", policy::FILE],
        )
        .is_some()
    {
        out::note(format!(
            "warning: {} is ignored by git, so CI never sees it; remove the rule (`git check-ignore -v {}` names it)",
            policy::FILE,
            policy::FILE
        ));
    }
}

fn init(dir: Option<&Path>, a: &InitArgs) -> Result<(), CliError> {
    let provider = match &a.ci {
        Some(p) => Some(Provider::parse(p).ok_or_else(|| {
            CliError::new(
                code::USAGE,
                format!(
                    "invalid --ci value '{}': must be one of {}",
                    out::shown(p),
                    ci::PROVIDERS.join(", ")
                ),
            )
        })?),
        None => None,
    };
    let root = match repo::find_root(&repo::start_dir(dir)?) {
        Some(r) => r,
        None => {
            return Err(CliError::new(
                code::USAGE,
                "no clef.yaml here or above (run `clef init` first)",
            ));
        }
    };
    let provider = provider.or_else(|| Provider::detect(&root));
    let plan = ci::plan(
        &root,
        provider,
        a.force,
        !a.workflow_only,
        !a.policy_only,
        env!("CARGO_PKG_VERSION"),
    );
    for p in &plan {
        if p.status == Status::Created && !a.dry_run {
            write_file(&root.join(&p.path), &p.text)?;
        }
    }
    let mut s = String::new();
    for (label, p) in ["policy", "workflow"].iter().zip(&plan) {
        let what = match p.status {
            Status::Created if a.dry_run => "would create",
            Status::Created => "created",
            Status::Exists => "exists (--force overwrites)",
            Status::SkippedByFlag => "skipped",
            Status::NoProvider => {
                "skipped: no CI detected (pass --ci github|gitlab|bitbucket|circleci)"
            }
        };
        let path = if p.status == Status::NoProvider {
            String::new()
        } else {
            format!(" {}", p.path.display())
        };
        s.push_str(&format!("{label:<9} {what}{path}\n"));
    }
    out::print_str(&s)?;
    if let Some(m) = provider.and_then(Provider::merge_instruction)
        && !a.policy_only
    {
        out::note(format!("next: {m}"));
    }
    if !a.dry_run {
        warn_if_ignored(&root);
    }
    Ok(())
}

fn show(dir: Option<&Path>, json: bool) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let (policy, exists) = Policy::load(&repo.root).map_err(config_err)?;
    if json {
        return out::print_str(&format!("{}\n", policy.snapshot()));
    }
    let head = if exists {
        format!("# resolved from {}\n", policy::FILE)
    } else {
        format!(
            "# built-in default: no {} in this repository (`clef policy init` writes one)\n",
            policy::FILE
        )
    };
    out::print_str(&format!(
        "{head}{}# hash: {}\n",
        policy.to_yaml(),
        policy.hash()
    ))
}

/// Whole days since a recorded rotation.
fn age_days(k: &policy::KeyStatus, now: i64) -> String {
    match k
        .last_rotated_at
        .as_deref()
        .and_then(clef_core::sidecar::instant)
    {
        Some((t, _)) if k.last_rotated_known => format!("{}d", (now - t).max(0) / 86_400),
        _ => "-".into(),
    }
}

fn key_status(k: &policy::KeyStatus) -> String {
    if !k.last_rotated_known {
        format!(
            "unknown ({})",
            k.unknown_reason.unwrap_or("no rotation record")
        )
    } else if k.rotation_overdue {
        format!("overdue {}d", k.days_overdue)
    } else {
        "ok".into()
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let mut widths = vec![0; rows.first().map_or(0, Vec::len)];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

fn check(dir: Option<&Path>, a: &CheckArgs) -> Result<(), CliError> {
    let (repo, policy, filter) = open(dir, Some(&a.filter))?;
    let now = policy::now_secs();
    let (files, skipped) = policy::evaluate(&repo.root, &repo.manifest, &policy, &filter, now);
    let overdue: usize = files.iter().map(FileStatus::overdue).sum();
    let unknown: usize = files.iter().map(FileStatus::unknown).sum();
    let passed = overdue == 0 && unknown == 0 && skipped.is_empty();
    if a.json {
        let summary = serde_json::json!({
            "total_files": files.len(),
            "compliant": files.iter().filter(|f| f.compliant).count(),
            "rotation_overdue": files.iter().filter(|f| f.overdue() > 0).count(),
            "unknown_metadata": files.iter().filter(|f| f.unknown() > 0).count(),
        });
        let doc = serde_json::json!({ "files": files, "summary": summary, "passed": passed });
        out::print_str(&format!("{doc}\n"))?;
    } else {
        let mut rows = Vec::new();
        if a.per_file {
            rows.push(vec![
                "FILE".into(),
                "ENV".into(),
                "KEYS".into(),
                "STATUS".into(),
            ]);
            for f in &files {
                let status = match (f.overdue(), f.unknown()) {
                    (0, 0) => "all compliant".to_owned(),
                    (o, 0) => format!("{o} overdue"),
                    (0, u) => format!("{u} unknown"),
                    (o, u) => format!("{o} overdue, {u} unknown"),
                };
                rows.push(vec![
                    f.path.clone(),
                    f.environment.clone(),
                    f.keys.len().to_string(),
                    status,
                ]);
            }
        } else {
            rows.push(
                ["KEY", "FILE", "ENV", "AGE", "LIMIT", "STATUS"]
                    .map(String::from)
                    .to_vec(),
            );
            for f in &files {
                for k in &f.keys {
                    rows.push(vec![
                        out::shown(&k.key).into_owned(),
                        f.path.clone(),
                        f.environment.clone(),
                        age_days(k, now),
                        format!("{}d", k.max_age_days),
                        key_status(k),
                    ]);
                }
            }
        }
        let mut s = if rows.len() > 1 {
            table(&rows)
        } else {
            "no keys in the evaluated cells\n".to_owned()
        };
        let keys: usize = files.iter().map(|f| f.keys.len()).sum();
        s.push_str(&format!(
            "{} cells, {keys} keys: {} compliant cells, {overdue} overdue, {unknown} unknown\n",
            files.len(),
            files.iter().filter(|f| f.compliant).count()
        ));
        out::print_str(&s)?;
    }
    for sk in &skipped {
        out::note(format!("{}: not evaluated: {}", sk.path, sk.reason));
    }
    if passed {
        Ok(())
    } else {
        Err(CliError::new(code::GENERIC, String::new()))
    }
}

/// The secret scan of the work tree, in process (clef-scan).
fn scan(
    root: &Path,
    manifest: &clef_core::Manifest,
    filter: &Filter,
) -> Result<ScanResult, CliError> {
    let scanner = clef_scan::Scanner::new(&clef_scan::ScannerOptions {
        root: root.to_path_buf(),
        ..Default::default()
    })
    .map_err(|e| CliError::new(code::USAGE, format!("scan: {e}")))?;
    let r = clef_scan::source::scan_paths(&scanner, root, &[root.to_path_buf()], 0, false);
    let matches = r
        .findings
        .iter()
        .filter(|f| !compliance::dropped_by(manifest, filter, &f.path))
        .map(|f| {
            let generic = f.rule.starts_with("generic");
            ScanMatch {
                file: f.path.clone(),
                line: f.line,
                column: f.column,
                match_type: if generic { "entropy" } else { "pattern" }.into(),
                pattern_name: (!generic).then(|| f.rule.clone()),
                entropy: generic.then_some(f.entropy),
                preview: f.secret.redacted(),
            }
        })
        .collect();
    Ok(ScanResult {
        matches,
        files_scanned: r.files,
        files_skipped: r.skipped,
        unencrypted_matrix_files: compliance::unencrypted_cells(root, manifest, filter),
        duration_ms: r.duration_ms,
    })
}

fn report(dir: Option<&Path>, a: &ReportArgs) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let (repo, policy, filter) = open(dir, Some(&a.filter))?;
    let now = policy::now_secs();
    let files = if a.no_rotation {
        Vec::new()
    } else {
        policy::evaluate(&repo.root, &repo.manifest, &policy, &filter, now).0
    };
    let scan = if a.no_scan {
        ScanResult::default()
    } else {
        scan(&repo.root, &repo.manifest, &filter)?
    };
    let lint = if a.no_lint {
        compliance::LintResult::default()
    } else {
        // Compliance runs where keys may be missing (CI): lint reports an
        // undecryptable cell as info, not as an error.
        let ids = repo
            .identities()
            .unwrap_or_else(|_| clef_sops::Keyring::new(clef_keys::Identities::empty()));
        let r = clef_core::lint::run(&repo.root, &repo.manifest, &ids);
        compliance::lint_section(&repo.manifest, &r, &filter)
    };
    let sha = a
        .sha
        .clone()
        .unwrap_or_else(|| compliance::detect_sha(&repo.root, &repo::env));
    let slug = a
        .repo
        .clone()
        .unwrap_or_else(|| compliance::detect_repo(&repo.root, &repo::env));
    let doc = Document::new(now, sha, slug, &policy, files, scan, lint);
    let json = doc.to_json();
    match &a.output {
        Some(p) => {
            write_file(p, &json)?;
            let s = &doc.summary;
            out::note(format!(
                "wrote {}: {} ({} cells, {} overdue, {} scan findings, {} lint errors; {} ms)",
                p.display(),
                if doc.passed() { "passed" } else { "failed" },
                s.total_files,
                s.rotation_overdue,
                s.scan_violations,
                s.lint_errors,
                started.elapsed().as_millis()
            ));
            Ok(())
        }
        None => out::print_str(&json),
    }
}

/// `clef lint`'s rotation findings: overdue keys are warnings, keys of
/// unknown rotation state are info (a repository without a policy file is
/// held to the 90-day default). A policy that cannot be read is a warning.
pub fn lint_issues(repo: &Repo) -> Vec<clef_core::lint::Issue> {
    match Policy::load(&repo.root) {
        Ok((p, _)) => {
            let (files, _) = policy::evaluate(
                &repo.root,
                &repo.manifest,
                &p,
                &Filter::default(),
                policy::now_secs(),
            );
            policy::lint_issues(&files)
        }
        Err(e) => vec![clef_core::lint::Issue {
            severity: clef_core::lint::Severity::Warning,
            category: "policy",
            file: policy::FILE.into(),
            key: None,
            message: e.to_string(),
            fix: None,
        }],
    }
}

/// `clef report`
#[derive(Args, Debug)]
pub struct ReportCmdArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Write the report here instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
}

/// Runs `clef report`: the metadata report (exit 1 when lint finds errors).
pub fn metadata_report(dir: Option<&Path>, a: &ReportCmdArgs) -> Result<(), CliError> {
    let (repo, _, filter) = open(dir, Some(&a.filter))?;
    let ids = repo
        .identities()
        .unwrap_or_else(|_| clef_sops::Keyring::new(clef_keys::Identities::empty()));
    let mut lint = clef_core::lint::run(&repo.root, &repo.manifest, &ids);
    lint.issues.extend(lint_issues(&repo));
    let r = clef_core::report::build(
        &repo.root,
        &repo.manifest,
        &lint,
        &filter,
        policy::now_secs(),
    );
    let mut json = serde_json::to_string_pretty(&r).unwrap_or_else(|_| "{}".into());
    json.push('\n');
    match &a.output {
        Some(p) => write_file(p, &json)?,
        None => out::print_str(&json)?,
    }
    if r.policy.issue_count.error > 0 {
        return Err(CliError::new(
            code::GENERIC,
            format!(
                "{} lint errors (run `clef lint`)",
                r.policy.issue_count.error
            ),
        ));
    }
    Ok(())
}
