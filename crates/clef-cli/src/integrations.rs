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

fn format_of(file: &Path) -> Result<clef_sops::Format, CliError> {
    match clef_core::classify::merge_kind(file) {
        Some(clef_core::classify::MergeKind::Sops(f)) => Ok(f),
        Some(clef_core::classify::MergeKind::Sidecar) => Err(CliError::new(
            code::USAGE,
            format!(
                "{}: sidecars merge without conflicts on keys; fix it by hand or check it out from one side",
                file.display()
            ),
        )),
        None => Err(CliError::new(
            code::USAGE,
            clef_merge::DriverError::UnknownFormat(file.to_path_buf()).to_string(),
        )),
    }
}

/// Runs `clef merge`.
pub fn merge(dir: Option<&Path>, cmd: MergeCmd) -> Result<(), CliError> {
    let start = repo::start_dir(dir)?;
    match cmd {
        MergeCmd::Status { files, json } => {
            let files = if files.is_empty() {
                let out = clef_git::worktree::stdout_if_ok(
                    &start,
                    &["diff", "--name-only", "--diff-filter=U", "-z"],
                )
                .unwrap_or_default();
                let top =
                    clef_git::worktree::stdout_if_ok(&start, &["rev-parse", "--show-toplevel"])
                        .map(|o| PathBuf::from(String::from_utf8_lossy(&o).trim()))
                        .unwrap_or(start.clone());
                out.split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| top.join(String::from_utf8_lossy(s).as_ref()))
                    .collect()
            } else {
                files
                    .into_iter()
                    .map(|f| if f.is_absolute() { f } else { start.join(f) })
                    .collect::<Vec<_>>()
            };
            let mut rows = Vec::new();
            let mut text = String::new();
            for f in files.iter().filter(|f| {
                clef_core::classify::merge_kind(f)
                    .is_some_and(|k| !matches!(k, clef_core::classify::MergeKind::Sidecar))
            }) {
                let format = format_of(f)?;
                let bytes = std::fs::read(f).map_err(|e| {
                    CliError::new(
                        code::READ,
                        format!("{}: cannot read: {}", f.display(), e.kind()),
                    )
                })?;
                let st = clef_merge::status(&bytes, format)
                    .map_err(|e| CliError::new(code::READ, format!("{}: {e}", f.display())))?;
                let keys: Vec<(String, String)> = st
                    .keys
                    .iter()
                    .map(|k| (k.path.to_string(), format!("{:?}", k.kind())))
                    .collect();
                if st.is_conflict_document {
                    text.push_str(&format!(
                        "{}: {} conflicting key(s)\n",
                        f.display(),
                        keys.len()
                    ));
                    for (k, kind) in &keys {
                        text.push_str(&format!("    {k}  ({kind})\n"));
                    }
                } else {
                    text.push_str(&format!("{}: no conflict\n", f.display()));
                }
                rows.push(Json::Obj(vec![
                    ("file", Json::s(f.display().to_string())),
                    ("conflict", Json::Bool(st.is_conflict_document)),
                    (
                        "keys",
                        Json::Arr(
                            keys.into_iter()
                                .map(|(k, kind)| {
                                    Json::Obj(vec![("key", Json::s(k)), ("kind", Json::s(kind))])
                                })
                                .collect(),
                        ),
                    ),
                ]));
            }
            if json {
                out::print_str(&Json::Arr(rows).render())
            } else {
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
            let format = format_of(&path)?;
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
            let bytes = std::fs::read(&path).map_err(|e| {
                CliError::new(
                    code::READ,
                    format!("{}: cannot read: {}", path.display(), e.kind()),
                )
            })?;
            let root = repo::find_root(path.parent().unwrap_or(Path::new(".")))
                .unwrap_or_else(|| start.clone());
            let ids = clef_core::local::identities(&root, &repo::env)?;
            let resolved = clef_merge::resolve(&bytes, format, &ids.into(), &choice)
                .map_err(|e| CliError::new(code::GENERIC, format!("{}: {e}", path.display())))?;
            clef_sops::io::atomic_write(&path, &resolved.bytes, false).map_err(|e| {
                CliError::new(
                    code::WRITE,
                    format!("{}: cannot write: {}", path.display(), e.kind()),
                )
            })?;
            for (k, s) in &resolved.taken {
                eprintln!("clef: {k}: took {s:?}");
            }
            if !no_stage {
                let dir = path.parent().unwrap_or(Path::new("."));
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if clef_git::worktree::stdout_if_ok(dir, &["add", "--", &name]).is_none() {
                    return Err(CliError::new(
                        code::GENERIC,
                        format!(
                            "{}: resolved, but `git add` failed; stage it yourself",
                            path.display()
                        ),
                    ));
                }
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
