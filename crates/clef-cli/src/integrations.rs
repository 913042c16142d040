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
        /// Print [{"file","conflict","keys":[{"key","kind"}]}]; kind is one of
        /// both-modified, both-added, deleted-by-them (ours changed the key,
        /// theirs deleted it), deleted-by-us (the reverse).
        #[arg(long)]
        json: bool,
    },
    /// Resolve conflicted cells in place and stage them (`git add`): pick a side
    /// for every conflicting key (asked on a terminal). Only during a merge,
    /// rebase, cherry-pick or revert, on a file git lists as unmerged; the
    /// document is checked against git's index stages first (a hand-edited
    /// one is refused). Without FILE: every unmerged cell.
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
                                                ("kind", Json::s(kind.label())),
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
                            text.push_str(&format!(
                                "    {}  ({})\n",
                                out::shown(k),
                                kind.describe()
                            ));
                        }
                        if std::fs::read(&r.file).is_ok_and(|b| !driver_made(&b)) {
                            text.push_str(&format!(
                                "    git merged it as plain text (no clef merge driver in this clone): `clef hooks install && git checkout -m {}` redoes it key by key\n",
                                r.file.display()
                            ));
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
                    let cells: Vec<PathBuf> = clef_git::worktree::unmerged_paths(&start)
                        .into_iter()
                        .filter(|f| clef_merge::ops::conflict_format(f).is_ok())
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

/// The work tree, its operation in progress and the file's index stages:
/// refuses a file that is not unmerged in a merge/rebase/cherry-pick/revert.
pub(crate) fn stages_of(
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
pub(crate) fn side_names(top: &Path, op: &str) -> (String, String) {
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
pub(crate) fn ask_sides(
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
    let format = clef_merge::ops::conflict_format(path)?;
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
    let root = repo::find_root(path.parent().unwrap_or(Path::new(".")))
        .unwrap_or_else(|| start.to_path_buf());
    let ids: clef_sops::Keyring = clef_core::local::identities(&root, &repo::env)?.into();
    clef_merge::resolve::verify_stages(&bytes, format, &ids, &stages)
        .map_err(|e| CliError::new(code::GENERIC, format!("{}: {e}", path.display())))?;
    let done = clef_merge::ops::resolve_file(path, &ids, &choice, !no_stage)?;
    for (k, s) in &done.taken {
        let whose = match s {
            Side::Ours => format!("ours: {ours_name}"),
            Side::Theirs => format!("theirs: {theirs_name}"),
            Side::Base => "base: the common ancestor".to_owned(),
        };
        out::note(format!("{k}: took {whose}"));
    }
    if done.staged {
        out::note(format!("{} resolved and staged", path.display()));
    }
    Ok(())
}

/// Runs `clef scan ARGS…` with clef-scan's own command line.
pub fn scan(args: Vec<std::ffi::OsString>) -> i32 {
    let argv = std::iter::once(std::ffi::OsString::from("clef scan")).chain(args);
    clef_scan::run_cli(argv)
}
