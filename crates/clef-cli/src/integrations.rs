//! Thin fronts over the other Clef crates: `clef hooks …` (clef-hooks),
//! `clef merge status|resolve` (clef-merge) and `clef scan …` (clef-scan).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use clef_merge::{Choice, Side};

use crate::error::{CliError, code};
use crate::out::{self, Json};
use crate::repo;

fn hook_err(e: clef_hooks::HookError) -> CliError {
    CliError::new(code::GENERIC, e.to_string())
}

/// What `clef hooks install` does, for `clef init`: shims, merge drivers, .gitattributes.
pub fn install_hooks(root: &Path) -> Result<(), CliError> {
    let report = clef_hooks::install::install(root, false).map_err(hook_err)?;
    if report.changed() {
        for line in report.to_string().lines() {
            eprintln!("clef: {line}");
        }
    }
    Ok(())
}

/// `clef hooks …`
#[derive(Subcommand, Debug)]
pub enum HooksCmd {
    /// Install the pre-commit, pre-merge-commit and pre-push shims (an existing
    /// hook is kept and chained), register the `clef` and `clef-meta` merge
    /// drivers in this clone, and add the .gitattributes lines. Idempotent.
    Install {
        /// Replace a merge driver configured with another command.
        #[arg(long)]
        force: bool,
    },
    /// Remove the shims (restoring chained hooks) and the merge drivers.
    Uninstall,
    /// Show what is installed.
    Status,
}

/// Runs `clef hooks`.
pub fn hooks(dir: Option<&Path>, cmd: HooksCmd) -> Result<(), CliError> {
    let start = repo::start_dir(dir)?;
    let text = match cmd {
        HooksCmd::Install { force } => clef_hooks::install::install(&start, force)
            .map_err(hook_err)?
            .to_string(),
        HooksCmd::Uninstall => clef_hooks::install::uninstall(&start)
            .map_err(hook_err)?
            .to_string(),
        HooksCmd::Status => {
            let s = clef_hooks::install::status(&start).map_err(hook_err)?;
            out::print_str(&s.to_string())?;
            if !s.healthy() {
                return Err(CliError::new(code::GENERIC, String::new()));
            }
            return Ok(());
        }
    };
    out::print_str(&text)
}

/// `clef merge …`
#[derive(Subcommand, Debug)]
pub enum MergeCmd {
    /// List the conflicting keys of conflicted cells (no key needed, no values shown).
    /// Without FILES: every file git lists as unmerged.
    Status {
        /// Conflicted files.
        files: Vec<PathBuf>,
        /// Print [{"file","keys":[{"key","kind"}]}].
        #[arg(long)]
        json: bool,
    },
    /// Resolve a conflicted cell in place and stage it (`git add`): pick a side
    /// for every conflicting key.
    Resolve {
        /// The conflicted file.
        file: PathBuf,
        /// Take our side for every conflicting key without a --pick.
        #[arg(long, conflicts_with = "theirs")]
        ours: bool,
        /// Take their side for every conflicting key without a --pick.
        #[arg(long)]
        theirs: bool,
        /// KEY=ours|theirs|base for one key (repeatable).
        #[arg(long)]
        pick: Vec<String>,
        /// Do not `git add` the result.
        #[arg(long)]
        no_stage: bool,
    },
}

impl From<clef_merge::ops::OpError> for CliError {
    fn from(e: clef_merge::ops::OpError) -> Self {
        use clef_merge::ops::OpError;
        let c = match &e {
            OpError::Sidecar(_) | OpError::UnknownFormat(_) => code::USAGE,
            OpError::Read { .. } => code::READ,
            OpError::Document { .. } | OpError::Stage(_) => code::GENERIC,
            OpError::Write { .. } => code::WRITE,
        };
        CliError::new(c, e.to_string())
    }
}

/// Runs `clef merge`.
pub fn merge(dir: Option<&Path>, cmd: MergeCmd) -> Result<(), CliError> {
    let start = repo::start_dir(dir)?;
    match cmd {
        MergeCmd::Status { files, json } => {
            let rows = clef_merge::ops::status(&start, files).map_err(|e| {
                // a file that is not a conflict document clef can read is bad input
                let read = matches!(e, clef_merge::ops::OpError::Document { .. });
                let mut c = CliError::from(e);
                if read {
                    c.code = code::READ;
                }
                c
            })?;
            if json {
                let rows = rows
                    .iter()
                    .map(|r| {
                        Json::Obj(vec![
                            ("file", Json::s(r.file.display().to_string())),
                            ("conflict", Json::Bool(r.conflict)),
                            (
                                "keys",
                                Json::Arr(
                                    r.keys
                                        .iter()
                                        .map(|(k, kind)| {
                                            Json::Obj(vec![
                                                ("key", Json::s(k.as_str())),
                                                ("kind", Json::s(format!("{kind:?}"))),
                                            ])
                                        })
                                        .collect(),
                                ),
                            ),
                        ])
                    })
                    .collect();
                out::print_str(&Json::Arr(rows).render())
            } else {
                let mut text = String::new();
                for r in &rows {
                    if r.conflict {
                        text.push_str(&format!(
                            "{}: {} conflicting key(s)\n",
                            r.file.display(),
                            r.keys.len()
                        ));
                        for (k, kind) in &r.keys {
                            text.push_str(&format!("    {k}  ({kind:?})\n"));
                        }
                    } else {
                        text.push_str(&format!("{}: no conflict\n", r.file.display()));
                    }
                }
                out::print_str(&text)
            }
        }
        MergeCmd::Resolve {
            file,
            ours,
            theirs,
            pick,
            no_stage,
        } => {
            let path = if file.is_absolute() {
                file.clone()
            } else {
                start.join(&file)
            };
            clef_merge::ops::conflict_format(&path)?;
            let mut choice = Choice {
                default: None,
                picks: Vec::new(),
            };
            if ours {
                choice.default = Some(Side::Ours);
            }
            if theirs {
                choice.default = Some(Side::Theirs);
            }
            for p in &pick {
                let (k, s) = clef_merge::resolve::parse_pick(p).ok_or_else(|| {
                    CliError::new(
                        code::USAGE,
                        format!("--pick '{p}': expected KEY=ours|theirs|base"),
                    )
                })?;
                choice.picks.push((k, s));
            }
            let root = repo::find_root(path.parent().unwrap_or(Path::new(".")))
                .unwrap_or_else(|| start.clone());
            let ids = clef_core::local::identities(&root, &repo::env)?;
            let done = clef_merge::ops::resolve_file(&path, &ids.into(), &choice, !no_stage)?;
            for (k, s) in &done.taken {
                eprintln!("clef: {k}: took {s:?}");
            }
            if done.staged {
                eprintln!("clef: {} resolved and staged", path.display());
            }
            Ok(())
        }
    }
}

/// Runs `clef scan ARGS…` with clef-scan's own command line.
pub fn scan(args: Vec<std::ffi::OsString>) -> i32 {
    let argv = std::iter::once(std::ffi::OsString::from("clef scan")).chain(args);
    clef_scan::run_cli(argv)
}
