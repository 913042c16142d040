//! The command line shared by `clef-scan` and `clef scan`.
//!
//! The doc comments of [`Args`] are clap's help text, written for a
//! terminal: `<root>` and the like are meant literally, not as HTML.
#![allow(rustdoc::invalid_html_tags)]

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::engine::{Scanner, ScannerOptions};
use crate::error::ScanError;
use crate::report::Report;
use crate::{baseline, source};

/// Exit code: no findings.
pub const EXIT_CLEAN: i32 = 0;
/// Exit code: at least one finding.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: usage error, unreadable input or an incomplete scan.
pub const EXIT_ERROR: i32 = 2;

/// Every exit code with its meaning, in order: the one source of the table
/// `clef-scan --help` prints.
pub const EXIT_TABLE: [(i32, &str); 3] = [
    (EXIT_CLEAN, "no findings"),
    (EXIT_FINDINGS, "findings (reported on stdout)"),
    (
        EXIT_ERROR,
        "error: bad usage, unreadable input or an incomplete scan",
    ),
];

/// The exit-code table as help text (`Exit codes:` then one line a code).
pub fn exit_help() -> String {
    clef_sops::process::exit_help(&EXIT_TABLE, &[])
}

/// What `--help` prints after the options: the exit codes, then suppression.
fn after_help() -> String {
    format!(
        "{}\n\
Suppress a line with `clef:ignore` (or `gitleaks:allow`, `pragma: allowlist secret`),\n\
the next line with `clef:ignore-next-line`; paths and `rule:<id>` lines in .clefignore;\n\
rules and allowlists in .clef/scan.toml.",
        exit_help()
    )
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable lines (redacted).
    Text,
    /// JSON: `{"findings":[…],"stats":{…}}`.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Scan files, git blobs or stdin for secrets.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "clef-scan",
    version,
    about = "Find secrets in files, staged changes and git history (SOPS-aware)",
    after_help = after_help()
)]
pub struct Args {
    /// Files or directories to scan (default: the current directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Scan the blobs staged in the index (what `git commit` would record).
    #[arg(long, conflicts_with_all = ["range", "history", "stdin"])]
    pub staged: bool,
    /// Scan the blobs added or modified by the commits in a range, e.g. `origin/main..HEAD`.
    #[arg(long, value_name = "A..B", conflicts_with_all = ["history", "stdin"])]
    pub range: Option<String>,
    /// Scan every unique blob reachable from any ref, with the commit that introduced it.
    #[arg(long, conflicts_with = "stdin")]
    pub history: bool,
    /// Scan standard input.
    #[arg(long)]
    pub stdin: bool,
    /// Path to report (and to apply SOPS naming rules to) for --stdin.
    #[arg(long, value_name = "NAME", default_value = "<stdin>")]
    pub stdin_name: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Show secret values in the output (never in logs).
    #[arg(long)]
    pub no_redact: bool,
    /// Rules/allowlist config (default: <root>/.clef/scan.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Report only findings whose fingerprint is not in this baseline.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the fingerprints of today's findings to FILE (then exit 0).
    #[arg(long, value_name = "FILE")]
    pub baseline_write: Option<PathBuf>,
    /// Project root for .clef/scan.toml, .clefignore and relative paths
    /// (default: the git work tree containing the current directory, else it).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Disable the generic assignment/entropy detectors.
    #[arg(long)]
    pub no_generic: bool,
    /// Skip files and blobs larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20)]
    pub max_file_size: u64,
    /// Worker threads (default: number of CPUs).
    #[arg(short = 'j', long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Colour.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// No progress line, no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Text output: list the findings in test fixtures and examples one by
    /// one (by default they are counted by reason in one line; JSON and
    /// SARIF always list every finding, with severity low).
    #[arg(long)]
    pub show_fixtures: bool,
    /// List the active rules and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Scan only part I of N (1-based) of the files or blobs, split by path
    /// deterministically; `clef-scan merge` joins the parts' reports.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Key the fingerprints with this salt (hex, 16+ digits) instead of a
    /// random one, so that the reports of several shards can be merged and
    /// compared (a `--baseline` provides its own salt).
    #[arg(long, value_name = "HEX")]
    pub fingerprint_salt: Option<String>,
}

/// Run with process arguments (`args[0]` is the program name) on the real
/// stdin/stdout/stderr; returns the exit code. `clef scan` calls this.
pub fn run_cli<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut out = stdout.lock();
    let mut err = std::io::stderr();
    let mut input = std::io::stdin().lock();
    let args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == "merge") {
        return merge_cli(&args[2..], &mut out, &mut err);
    }
    match Args::try_parse_from(args) {
        Ok(a) => run(&a, &mut input, &mut out, &mut err, tty),
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_CLEAN
            };
            let _ = e.print();
            code
        }
    }
}

/// Run parsed arguments against the given streams. `stdout_is_tty` decides
/// colour (with `--color auto`) and the progress line.
pub fn run(
    args: &Args,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    stdout_is_tty: bool,
) -> i32 {
    match execute(args, stdin, stdout, stderr, stdout_is_tty) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(stderr, "clef-scan: error: {e}");
            EXIT_ERROR
        }
    }
}

fn execute(
    args: &Args,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    tty: bool,
) -> Result<i32, ScanError> {
    let cwd = std::env::current_dir().map_err(|source| ScanError::Read {
        path: ".".into(),
        source,
    })?;
    let git_needed = args.staged || args.range.is_some() || args.history;
    let repo = if git_needed {
        let dir = args.root.as_deref().unwrap_or(&cwd);
        Some(
            clef_git::Repo::discover(dir).map_err(|_| ScanError::NotARepository {
                dir: dir.to_path_buf(),
                option: git_option(args),
            })?,
        )
    } else {
        None
    };
    let root = match (&args.root, &repo) {
        (Some(r), _) => r.clone(),
        (None, Some(repo)) => repo.root().to_path_buf(),
        (None, None) => clef_git::Repo::discover(&cwd)
            .map(|r| r.root().to_path_buf())
            .unwrap_or(cwd.clone()),
    };
    // rewriting a baseline keeps its salt, so its unchanged entries stay
    let salt = match &args.fingerprint_salt {
        Some(s) if s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(s.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(ScanError::Usage(
                "--fingerprint-salt: expected at least 16 hex digits".into(),
            ));
        }
        None => args
            .baseline_write
            .as_deref()
            .and_then(|p| baseline::load(p).ok())
            .map(|b| b.salt),
    };
    let shard = args
        .shard
        .as_deref()
        .map(crate::shard::Shard::parse)
        .transpose()
        .map_err(ScanError::Usage)?;
    let opts = ScannerOptions {
        root: root.clone(),
        config: args.config.clone(),
        baseline: if args.baseline_write.is_some() {
            None
        } else {
            args.baseline.clone()
        },
        max_file_size: args.max_file_size,
        no_generic: args.no_generic,
        salt,
    };
    // Not dropped: both callers (`clef-scan`, `clef scan`) exit once the
    // report is out, and freeing the compiled rules and every thread's
    // regex caches cost ~15 ms at the end of a history scan. It holds no
    // scanned bytes.
    let scanner = std::mem::ManuallyDrop::new(Scanner::new(&opts)?.with_shard(shard));
    if args.list_rules {
        let mut text = String::new();
        for (id, desc) in scanner.rule_ids() {
            text.push_str(&format!("{id}\t{desc}\n"));
        }
        write_stdout(stdout, &text)?;
        return Ok(EXIT_CLEAN);
    }
    let progress = !args.quiet && args.format == Format::Text;
    let mut report: Report = if args.stdin {
        let mut buf = Vec::new();
        stdin
            .read_to_end(&mut buf)
            .map_err(|source| ScanError::Read {
                path: "<stdin>".into(),
                source,
            })?;
        source::scan_buffer(&scanner, &args.stdin_name, &buf)
    } else if let Some(repo) = &repo {
        // The rules compile on a spare core while git lists the changes;
        // the compiling thread stops at the next rule once the list is
        // there, and the scan does not wait for it.
        let listed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| scanner.prepare(&listed));
            let changes = if args.staged {
                repo.staged()
            } else if let Some(r) = &args.range {
                repo.range(r)
            } else {
                repo.history(args.threads)
            };
            listed.store(true, std::sync::atomic::Ordering::Relaxed);
            let changes = changes.map_err(|e| git_failure(args, e))?;
            source::scan_changes(&scanner, repo, changes, args.threads, progress)
        })?
    } else {
        let paths = if args.paths.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            args.paths.clone()
        };
        source::scan_paths(&scanner, &root, &paths, args.threads, progress)
    };

    report.fingerprint_salt = scanner.salt().to_owned();
    if let Some(path) = &args.baseline_write {
        write_file(path, &baseline::render(scanner.salt(), &report.findings))?;
        if !args.quiet {
            let _ = writeln!(
                stderr,
                "clef-scan: wrote {} fingerprints to {}",
                report.findings.len(),
                path.display()
            );
        }
        return Ok(if report.has_errors() {
            EXIT_ERROR
        } else {
            EXIT_CLEAN
        });
    }

    let redact = !args.no_redact;
    let rendered = match args.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report.to_json(redact)).unwrap_or_default()
        ),
        Format::Sarif => format!(
            "{}\n",
            serde_json::to_string_pretty(&report.to_sarif(&scanner.rule_ids(), redact))
                .unwrap_or_default()
        ),
        Format::Text => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    tty && args.output.is_none()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            report.to_text(redact, color, !args.quiet, args.show_fixtures)
        }
    };
    match &args.output {
        Some(p) => write_file(p, &rendered)?,
        None => write_stdout(stdout, &rendered)?,
    }
    Ok(if report.has_errors() {
        EXIT_ERROR
    } else if report.findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

/// Writes a report or baseline through the project's one atomic writer
/// (temporary file, fsync, rename): a reader never sees half a baseline.
fn write_file(path: &std::path::Path, text: &str) -> Result<(), ScanError> {
    clef_sops::io::atomic_write(path, text.as_bytes(), false).map_err(|source| ScanError::Write {
        what: path.display().to_string(),
        source,
    })
}

/// Writes to stdout; a closed pipe (`clef-scan --list-rules | head`) is not
/// an error, as with ripgrep: the reader has what it wanted.
fn write_stdout(stdout: &mut dyn Write, text: &str) -> Result<(), ScanError> {
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(ScanError::Write {
            what: "stdout".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The git option that needs a repository, for messages.
fn git_option(args: &Args) -> &'static str {
    if args.staged {
        "--staged"
    } else if args.range.is_some() {
        "--range"
    } else {
        "--history"
    }
}

/// One line for a failed git query: the option and git's own first line,
/// never git's internal command line.
fn git_failure(args: &Args, e: clef_git::GitError) -> ScanError {
    let reason = match e {
        clef_git::GitError::Failed { stderr, .. } => stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("git failed")
            .trim_start_matches("fatal: ")
            .to_owned(),
        other => other.to_string(),
    };
    ScanError::GitQuery {
        option: match (&args.range, git_option(args)) {
            (Some(r), "--range") => format!("--range {r}"),
            (_, o) => o.to_owned(),
        },
        reason,
    }
}

/// `clef-scan merge [-o FILE] REPORT…`: one report from several (JSON or
/// SARIF). Exit 0 without findings, 1 with, 2 on an error.
fn merge_cli(args: &[OsString], stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
    const USAGE: &str = "usage: clef-scan merge [-o FILE] REPORT.json|REPORT.sarif…";
    let mut output: Option<PathBuf> = None;
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-o" | "--output") => match it.next() {
                Some(p) => output = Some(PathBuf::from(p)),
                None => {
                    let _ = writeln!(stderr, "clef-scan: error: -o needs a FILE\n{USAGE}");
                    return EXIT_ERROR;
                }
            },
            Some("-h" | "--help") => {
                let _ = writeln!(stdout, "{USAGE}");
                return EXIT_CLEAN;
            }
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    let result = (|| -> Result<(String, bool), ScanError> {
        let mut reports = Vec::new();
        for p in &inputs {
            let text = std::fs::read_to_string(p).map_err(|source| ScanError::Read {
                path: p.clone(),
                source,
            })?;
            reports.push(
                serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
                    ScanError::Config {
                        path: p.clone(),
                        message: format!("not a JSON or SARIF report: {e}"),
                    }
                })?,
            );
        }
        let merged = crate::merge::merge(&reports).map_err(ScanError::Usage)?;
        let found = merged["findings"].as_array().is_some_and(|f| !f.is_empty())
            || merged["runs"][0]["results"]
                .as_array()
                .is_some_and(|r| !r.is_empty());
        Ok((
            format!(
                "{}\n",
                serde_json::to_string_pretty(&merged).unwrap_or_default()
            ),
            found,
        ))
    })();
    let (text, found) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(stderr, "clef-scan: error: {e}");
            return EXIT_ERROR;
        }
    };
    let written = match &output {
        Some(p) => write_file(p, &text),
        None => write_stdout(stdout, &text),
    };
    match written {
        Err(e) => {
            let _ = writeln!(stderr, "clef-scan: error: {e}");
            EXIT_ERROR
        }
        Ok(()) if found => EXIT_FINDINGS,
        Ok(()) => EXIT_CLEAN,
    }
}
