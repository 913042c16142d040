//! `clef-hook pre-commit | pre-merge-commit | pre-push <remote> <url>`
//! (called by the shims git runs) and `clef-hook install [--force] |
//! uninstall | status [DIR]`.
//!
//! Exit codes: [`clef_hooks::exit`] (0 nothing to report, 1 blocked, 2 the
//! check could not run, a panic included: fail closed); `--help` prints
//! that table.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clef_hooks::{HookError, HookKind, PushRef, Verdict, exit};

const USAGE: &str = "usage: clef-hook pre-commit | pre-merge-commit | pre-push <remote> <url> | install [--force] [DIR] | uninstall [DIR] | status [DIR]";

enum Outcome {
    Verdict(Verdict, HookKind),
    Done(String),
    Status(clef_hooks::HooksStatus),
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("reading the pre-push input: {0}")]
    Stdin(std::io::Error),
}

/// The one place outcomes become exit codes.
fn exit_code(r: &Result<Outcome, CliError>) -> u8 {
    match r {
        Ok(Outcome::Verdict(v, _)) if v.blocks() => exit::BLOCKED,
        Ok(Outcome::Status(s)) if !s.healthy() => exit::BLOCKED,
        Ok(_) => exit::CLEAN,
        Err(_) => exit::FAILED,
    }
}

fn dir_arg(rest: &[String]) -> PathBuf {
    rest.iter()
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Refs to push: git's stdin, else the pre-commit framework's environment
/// (it does not forward stdin to pre-push hooks).
fn push_refs() -> Result<Vec<PushRef>, CliError> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(CliError::Stdin)?;
    let refs = clef_hooks::parse_push_input(&input)?;
    if !refs.is_empty() {
        return Ok(refs);
    }
    let to = std::env::var("PRE_COMMIT_TO_REF")
        .ok()
        .filter(|s| !s.is_empty());
    let Some(to) = to else { return Ok(refs) };
    let from = std::env::var("PRE_COMMIT_FROM_REF").unwrap_or_default();
    Ok(vec![PushRef {
        local_ref: std::env::var("PRE_COMMIT_LOCAL_BRANCH").unwrap_or_else(|_| "HEAD".into()),
        local_sha: to,
        remote_ref: std::env::var("PRE_COMMIT_REMOTE_BRANCH").unwrap_or_default(),
        remote_sha: if from.is_empty() {
            "0".repeat(40)
        } else {
            from
        },
    }])
}

fn run(args: &[String]) -> Result<Outcome, CliError> {
    let (cmd, rest) = args
        .split_first()
        .ok_or_else(|| CliError::Usage(USAGE.into()))?;
    match cmd.as_str() {
        "pre-commit" | "pre-merge-commit" => Ok(Outcome::Verdict(
            clef_hooks::pre_commit(Path::new("."))?,
            HookKind::PreCommit,
        )),
        "pre-push" => {
            let refs = push_refs()?;
            // git passes the remote's name (or its URL when there is none);
            // the pre-commit framework passes it in the environment
            let remote = rest
                .first()
                .cloned()
                .or_else(|| std::env::var("PRE_COMMIT_REMOTE_NAME").ok());
            Ok(Outcome::Verdict(
                clef_hooks::pre_push(Path::new("."), &refs, remote.as_deref())?,
                HookKind::PrePush,
            ))
        }
        "install" => {
            let force = rest.iter().any(|a| a == "--force");
            Ok(Outcome::Done(
                clef_hooks::install(&dir_arg(rest), force)?.to_string(),
            ))
        }
        "uninstall" => Ok(Outcome::Done(
            clef_hooks::uninstall(&dir_arg(rest))?.to_string(),
        )),
        "status" => Ok(Outcome::Status(clef_hooks::status(&dir_arg(rest))?)),
        "-h" | "--help" | "help" => Ok(Outcome::Done(format!("{USAGE}\n\n{}", exit::help()))),
        "-V" | "--version" => Ok(Outcome::Done(format!(
            "clef-hook {}\n",
            env!("CARGO_PKG_VERSION")
        ))),
        other => Err(CliError::Usage(format!(
            "unknown command `{other}`\n{USAGE}"
        ))),
    }
}

fn main() -> ExitCode {
    // A panic is a check that could not run: exit::FAILED (fail closed),
    // never Rust's undocumented 101, and its message (which could quote a
    // staged line) is not printed, only where it happened.
    clef_sops::process::quiet_panics(
        "clef-hook",
        "\nclef-hook: the check could not run, so git was stopped; fix the cause, or bypass once with --no-verify",
        exit::FAILED.into(),
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = run(&args);
    match &r {
        Ok(Outcome::Verdict(v, kind)) => eprint!("{}", clef_hooks::render(v, *kind)),
        Ok(Outcome::Done(text)) => print!("{text}"),
        Ok(Outcome::Status(s)) => print!("{s}"),
        Err(e) => {
            eprintln!("clef-hook: {e}");
            if !matches!(e, CliError::Usage(_)) {
                eprintln!(
                    "clef-hook: the check could not run, so git was stopped; fix the cause, or bypass once with --no-verify"
                );
            }
        }
    }
    ExitCode::from(exit_code(&r))
}
