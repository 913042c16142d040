//! Small questions about a work tree that the front ends ask (the edit
//! session's write checks, `clef init`/`doctor`, `clef merge status`, hook
//! installation): run one git command, where is the git directory, is a
//! merge in progress, who is the author. The only git runner outside
//! [`crate::Repo`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::GitError;

/// What one git command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Whether git exited 0.
    pub ok: bool,
    /// Its stdout, without trailing newlines (lossy UTF-8).
    pub stdout: String,
    /// Its stderr, trimmed.
    pub stderr: String,
}

/// Runs git in `dir` with stdin closed; `Err` only when git cannot start.
pub fn run(dir: &Path, args: &[&str]) -> Result<Ran, GitError> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    Ok(Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Runs git in `dir` (stdin closed, stderr discarded); its raw stdout when it
/// succeeds, `None` when it fails or cannot start.
pub fn stdout_if_ok(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// The git directory of the work tree at `root`, found without running git
/// (`GIT_DIR`, a `.git` directory, or a `.git` file's `gitdir:`).
pub fn git_dir(root: &Path) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("GIT_DIR") {
        return Some(root.join(d));
    }
    for dir in root.ancestors() {
        let dot = dir.join(".git");
        if dot.is_dir() {
            return Some(dot);
        }
        if dot.is_file() {
            let text = std::fs::read_to_string(&dot).ok()?;
            let rest = text.trim().strip_prefix("gitdir:")?.trim().to_owned();
            return Some(dir.join(rest));
        }
    }
    None
}

/// Which history-rewriting operation is in progress, if any (`merge`,
/// `rebase`, `cherry-pick`, `revert`).
pub fn in_progress(root: &Path) -> Option<&'static str> {
    let gd = git_dir(root)?;
    [
        ("MERGE_HEAD", "merge"),
        ("rebase-merge", "rebase"),
        ("rebase-apply", "rebase"),
        ("CHERRY_PICK_HEAD", "cherry-pick"),
        ("REVERT_HEAD", "revert"),
    ]
    .into_iter()
    .find(|(f, _)| gd.join(f).exists())
    .map(|(_, op)| op)
}

/// Whether git lists `file` (relative to `root`) as unmerged.
pub fn is_unmerged(root: &Path, file: &Path) -> bool {
    let f = file.to_string_lossy();
    stdout_if_ok(root, &["ls-files", "-u", "-z", "--", &f]).is_some_and(|o| !o.is_empty())
}

/// `Name <email>` of whoever is making the change (git's author identity),
/// when git knows one.
pub fn author(root: &Path) -> Option<String> {
    let ident = stdout_if_ok(root, &["var", "GIT_AUTHOR_IDENT"])?;
    let s = String::from_utf8_lossy(&ident).trim().to_owned();
    // "Name <email> 1700000000 +0000"
    let end = s.rfind('>')?;
    Some(s[..=end].to_owned())
}

/// The files git lists as unmerged in the repository containing `start`,
/// as absolute paths (empty outside a repository or a merge).
pub fn unmerged_paths(start: &Path) -> Vec<PathBuf> {
    let out =
        stdout_if_ok(start, &["diff", "--name-only", "--diff-filter=U", "-z"]).unwrap_or_default();
    let top = stdout_if_ok(start, &["rev-parse", "--show-toplevel"])
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o).trim()))
        .unwrap_or_else(|| start.to_path_buf());
    out.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| top.join(String::from_utf8_lossy(s).as_ref()))
        .collect()
}
