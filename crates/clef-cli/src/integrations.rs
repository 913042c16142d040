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
            out::note(line);
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
    /// Resolve conflicted cells in place and stage them (`git add`): pick a side
    /// for every conflicting key. Only during a merge, rebase, cherry-pick or
    /// revert, on a file git lists as unmerged; the document is checked
    /// against git's index stages first (a hand-edited one is refused).
    /// Without FILE: every unmerged cell.
    Resolve {
        /// The conflicted file (default: every unmerged cell).
        file: Option<PathBuf>,
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
                unmerged_files(&start)
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
                // JSON keeps the stable kind names; text says it in words.
                let keys: Vec<(String, String, &str)> = st
                    .keys
                    .iter()
                    .map(|k| {
                        (
                            k.path.to_string(),
                            format!("{:?}", k.kind()),
                            k.kind().describe(),
                        )
                    })
                    .collect();
                if st.is_conflict_document {
                    text.push_str(&format!(
                        "{}: {} conflicting key(s)\n",
                        f.display(),
                        keys.len()
                    ));
                    for (k, _, words) in &keys {
                        text.push_str(&format!("    {}  ({words})\n", out::shown(k)));
                    }
                    if !driver_made(&bytes) {
                        text.push_str(&format!(
                            "    git merged it as plain text (no clef merge driver in this clone): `clef hooks install && git checkout -m {}` redoes it key by key\n",
                            f.display()
                        ));
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
                                .map(|(k, kind, _)| {
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
            let files = match file {
                Some(f) => vec![if f.is_absolute() { f } else { start.join(f) }],
                None => {
                    let all = unmerged_files(&start);
                    let cells: Vec<PathBuf> = all
                        .into_iter()
                        .filter(|f| {
                            matches!(
                                clef_core::classify::merge_kind(f),
                                Some(clef_core::classify::MergeKind::Sops(_))
                            )
                        })
                        .collect();
                    if cells.is_empty() {
                        return Err(CliError::new(
                            code::GENERIC,
                            "no unmerged cell to resolve (git lists none)",
                        ));
                    }
                    cells
                }
            };
            for path in &files {
                resolve_one(&start, path, &choice, no_stage)?;
            }
            Ok(())
        }
    }
}

/// Every file git lists as unmerged, as absolute paths.
fn unmerged_files(start: &Path) -> Vec<PathBuf> {
    let out =
        clef_git::worktree::stdout_if_ok(start, &["diff", "--name-only", "--diff-filter=U", "-z"])
            .unwrap_or_default();
    let top = clef_git::worktree::stdout_if_ok(start, &["rev-parse", "--show-toplevel"])
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o).trim()))
        .unwrap_or(start.to_path_buf());
    out.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| top.join(String::from_utf8_lossy(s).as_ref()))
        .collect()
}

/// The work tree, its operation in progress and the file's index stages:
/// refuses a file that is not unmerged in a merge/rebase/cherry-pick/revert.
fn stages_of(
    path: &Path,
) -> Result<(PathBuf, &'static str, clef_merge::resolve::Stages), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let top = clef_git::worktree::stdout_if_ok(dir, &["rev-parse", "--show-toplevel"])
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o).trim()))
        .ok_or_else(|| {
            CliError::new(
                code::REFUSED,
                format!(
                    "{}: not in a git work tree; nothing to resolve",
                    path.display()
                ),
            )
        })?;
    let refuse = |why: &str| {
        CliError::new(
            code::REFUSED,
            format!(
                "{}: {why}; `clef merge resolve` only finishes a conflict git recorded (its sides are checked against git's index)",
                path.display()
            ),
        )
    };
    let Some(op) = clef_git::worktree::in_progress(&top) else {
        return Err(refuse(
            "no merge, rebase, cherry-pick or revert is in progress",
        ));
    };
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let real_top = std::fs::canonicalize(&top).unwrap_or_else(|_| top.clone());
    let rel = real
        .strip_prefix(&real_top)
        .map_err(|_| refuse("outside the work tree"))?
        .to_string_lossy()
        .into_owned();
    let listed = clef_git::worktree::stdout_if_ok(&top, &["ls-files", "-u", "-z", "--", &rel])
        .unwrap_or_default();
    if listed.is_empty() {
        return Err(refuse(&format!(
            "git does not list it as unmerged in this {op}"
        )));
    }
    let stage = |n: u8| {
        clef_git::worktree::stdout_if_ok(&top, &["cat-file", "blob", &format!(":{n}:{rel}")])
    };
    let stages = clef_merge::resolve::Stages {
        base: stage(1),
        ours: stage(2),
        theirs: stage(3),
    };
    Ok((top, op, stages))
}

/// What "ours" and "theirs" are in this operation, in words (during a
/// rebase "theirs" is your own commit being replayed).
fn side_names(top: &Path, op: &str) -> (String, String) {
    let line = |args: &[&str]| {
        clef_git::worktree::stdout_if_ok(top, args)
            .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let commit = |rev: &str| {
        line(&["log", "-1", "--format=%h %s", rev, "--"])
            .map_or_else(|| rev.to_owned(), |c| format!("commit {c}"))
    };
    let head_branch = line(&["symbolic-ref", "--short", "-q", "HEAD"]);
    match op {
        "merge" => (
            head_branch.map_or_else(|| "HEAD".to_owned(), |b| format!("your branch {b}")),
            line(&["name-rev", "--name-only", "--exclude=tags/*", "MERGE_HEAD"])
                .filter(|n| n != "undefined")
                .map_or_else(
                    || commit("MERGE_HEAD"),
                    |b| format!("the merged branch {b}"),
                ),
        ),
        "rebase" => (
            format!("the branch being rebased onto ({})", commit("HEAD")),
            format!("your {} being replayed", commit("REBASE_HEAD")),
        ),
        "cherry-pick" => (
            head_branch.map_or_else(|| "HEAD".to_owned(), |b| format!("your branch {b}")),
            format!("the picked {}", commit("CHERRY_PICK_HEAD")),
        ),
        _ => (
            head_branch.map_or_else(|| "HEAD".to_owned(), |b| format!("your branch {b}")),
            format!("the revert of {}", commit("REVERT_HEAD")),
        ),
    }
}

/// Whether the clef merge driver wrote this conflict document (git's own
/// text merge leaves markers but no sentinel MAC).
fn driver_made(bytes: &[u8]) -> bool {
    let mac = clef_core::conflict::CONFLICT_MAC.as_bytes();
    bytes.windows(mac.len()).any(|w| w == mac)
}

/// On a terminal: asks which side each conflicting key without a `--pick`
/// keeps (values are never shown).
fn ask_sides(
    path: &Path,
    bytes: &[u8],
    format: clef_sops::Format,
    ours_name: &str,
    theirs_name: &str,
    choice: &mut Choice,
) -> Result<(), CliError> {
    let st = clef_merge::status(bytes, format)
        .map_err(|e| CliError::new(code::READ, format!("{}: {e}", path.display())))?;
    for k in &st.keys {
        let name = k.path.to_string();
        if choice.picks.iter().any(|(p, _)| *p == name) {
            continue;
        }
        loop {
            eprint!(
                "clef: {} ({}): keep [o]urs ({ours_name}) or [t]heirs ({theirs_name}), or [b]ase? ",
                out::shown(&name),
                k.kind().describe()
            );
            let mut answer = String::new();
            let n = std::io::stdin().read_line(&mut answer).map_err(|e| {
                CliError::new(code::READ, format!("cannot read the answer: {}", e.kind()))
            })?;
            if n == 0 {
                return Err(CliError::new(
                    code::GENERIC,
                    format!(
                        "{}: no side chosen for {name}; nothing written",
                        path.display()
                    ),
                ));
            }
            let side = match answer.trim() {
                "o" | "ours" => Side::Ours,
                "t" | "theirs" => Side::Theirs,
                "b" | "base" => Side::Base,
                _ => continue,
            };
            choice.picks.push((name.clone(), side));
            break;
        }
    }
    Ok(())
}

fn resolve_one(start: &Path, path: &Path, choice: &Choice, no_stage: bool) -> Result<(), CliError> {
    let format = format_of(path)?;
    let (top, op, stages) = stages_of(path)?;
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            code::READ,
            format!("{}: cannot read: {}", path.display(), e.kind()),
        )
    })?;
    if !driver_made(&bytes) {
        return Err(CliError::new(
            code::GENERIC,
            format!(
                "{}: git merged this cell as plain text (the clef merge driver is not set up in this clone), so it cannot be resolved key by key; redo the merge of this file with the driver: `clef hooks install && git checkout -m {}`, then `clef merge resolve`",
                path.display(),
                path.display()
            ),
        ));
    }
    let (ours_name, theirs_name) = side_names(&top, op);
    let mut choice = choice.clone();
    if choice.default.is_none() && out::stdin_is_tty() {
        ask_sides(path, &bytes, format, &ours_name, &theirs_name, &mut choice)?;
    }
    let choice = &choice;
    let root = repo::find_root(path.parent().unwrap_or(Path::new(".")))
        .unwrap_or_else(|| start.to_path_buf());
    let ids: clef_sops::Keyring = clef_core::local::identities(&root, &repo::env)?.into();
    let fail = |e: clef_merge::DriverError| {
        CliError::new(code::GENERIC, format!("{}: {e}", path.display()))
    };
    clef_merge::resolve::verify_stages(&bytes, format, &ids, &stages).map_err(fail)?;
    let resolved = clef_merge::resolve(&bytes, format, &ids, choice).map_err(fail)?;
    clef_sops::io::atomic_write(path, &resolved.bytes, false).map_err(|e| {
        CliError::new(
            code::WRITE,
            format!("{}: cannot write: {}", path.display(), e.kind()),
        )
    })?;
    for (k, s) in &resolved.taken {
        let whose = match s {
            Side::Ours => format!("ours: {ours_name}"),
            Side::Theirs => format!("theirs: {theirs_name}"),
            Side::Base => "base: the common ancestor".to_owned(),
        };
        out::note(format!("{k}: took {whose}"));
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
        out::note(format!("{} resolved and staged", path.display()));
    }
    Ok(())
}

/// Runs `clef scan ARGS…` with clef-scan's own command line.
pub fn scan(args: Vec<std::ffi::OsString>) -> i32 {
    let argv = std::iter::once(std::ffi::OsString::from("clef scan")).chain(args);
    clef_scan::run_cli(argv)
}
