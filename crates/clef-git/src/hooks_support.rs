//! Git queries the pre-commit and pre-push hooks need, each in as few git
//! processes as possible (hook latency is dominated by process start-up):
//!
//! * [`Repo::open_worktree`]: one `rev-parse` instead of two;
//! * [`Repo::staged_with_lines`]: the staged blobs **and** the line numbers
//!   each one adds, from a single `git diff --cached --raw -p -U0`;
//! * [`Repo::pushed`]: the blobs added by the commits `tips --not excludes`
//!   (optionally also not reachable from any remote-tracking ref), each with
//!   the lines its commit added, from a single `git log --raw -p -U0`;
//! * [`Repo::has_object`] and [`Repo::git_path`].
//!
//! The patch parser counts hunk lines from the `@@` header, so an added line
//! that itself starts with `++ ` (shown as `+++ …` in the patch) is not taken
//! for a file header.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{GitError, Repo, run_in, trim_newlines};

/// A blob with the 1-based, inclusive line ranges of it that its diff adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedBlob {
    /// Path relative to the repository root, `/`-separated, unquoted.
    pub path: String,
    /// Blob id (hex).
    pub oid: String,
    /// The commit that added it (`None` for staged blobs).
    pub commit: Option<String>,
    /// Added line ranges of the new version (empty for binary or mode-only
    /// changes).
    pub added: Vec<(u32, u32)>,
}

impl AddedBlob {
    /// Whether 1-based `line` is one of the added lines.
    pub fn is_added(&self, line: u32) -> bool {
        self.added.iter().any(|&(a, b)| a <= line && line <= b)
    }
}

impl Repo {
    /// The repository whose work tree contains `dir`, with a single
    /// `git rev-parse --show-toplevel --absolute-git-dir` (no bare-repository
    /// probe; the git directory is kept for [`Repo::object_store`]).
    pub fn open_worktree(dir: &Path) -> Result<Repo, GitError> {
        let out = run_in(dir, ["rev-parse", "--show-toplevel", "--absolute-git-dir"])?;
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        let (root, git_dir) = match lines.as_slice() {
            [root, git_dir] if !root.is_empty() => (*root, Some(PathBuf::from(git_dir))),
            // a path with a line break in it: ask for the top level alone
            _ => {
                let out = run_in(dir, ["rev-parse", "--show-toplevel"])?;
                let root = String::from_utf8_lossy(trim_newlines(&out)).into_owned();
                return if root.is_empty() {
                    Err(GitError::Parse {
                        command: "rev-parse --show-toplevel".into(),
                        detail: "no work tree".into(),
                    })
                } else {
                    Ok(Repo {
                        root: PathBuf::from(root),
                        git_dir: None,
                    })
                };
            }
        };
        Ok(Repo {
            root: PathBuf::from(root),
            git_dir,
        })
    }

    /// `git rev-parse --git-path <name>`, made absolute (honours
    /// `core.hooksPath` for `hooks`, and linked worktrees).
    pub fn git_path(&self, name: &str) -> Result<PathBuf, GitError> {
        let out = run_in(&self.root, ["rev-parse", "--git-path", name])?;
        let p = PathBuf::from(String::from_utf8_lossy(trim_newlines(&out)).into_owned());
        Ok(if p.is_absolute() {
            p
        } else {
            self.root.join(p)
        })
    }

    /// Whether the object database holds `oid` (`git cat-file -e`).
    pub fn has_object(&self, oid: &str) -> bool {
        if oid.is_empty() || oid.starts_with('-') {
            return false;
        }
        run_in(&self.root, ["cat-file", "-e", &format!("{oid}^{{object}}")]).is_ok()
    }

    /// Staged blobs (index against `HEAD`, or against the empty tree before
    /// the first commit) with the lines each adds, in one git process.
    pub fn staged_with_lines(&self) -> Result<Vec<AddedBlob>, GitError> {
        let mut args = diff_args();
        args.extend(["--cached".into(), "--".into()]);
        let out = self.git(&args)?;
        let mut blobs = parse_raw_patch(&out, "diff --cached")?;
        for b in &mut blobs {
            b.commit = None;
        }
        Ok(blobs)
    }

    /// The added lines of the staged versions of `paths` only (one
    /// `git diff --cached -U0` limited to those paths, taken literally).
    pub fn staged_added_lines(
        &self,
        paths: &[String],
    ) -> Result<HashMap<String, Vec<(u32, u32)>>, GitError> {
        let mut args = diff_args();
        args.push("--cached".into());
        args.push("--".into());
        args.extend(paths.iter().map(|p| format!(":(literal){p}")));
        let out = self.git(&args)?;
        Ok(parse_raw_patch(&out, "diff --cached")?
            .into_iter()
            .map(|b| (b.path, b.added))
            .collect())
    }

    /// Blobs added or modified by the commits reachable from `tips` but not
    /// from `excludes` (nor, with `exclude_remote`, from the remote-tracking
    /// refs of that one remote, `refs/remotes/<name>/*`: what *another* remote
    /// has is not on the one being pushed to), oldest commit first. Merge
    /// commits are diffed against their first parent. Every (commit, path)
    /// occurrence is returned with the lines that commit added; callers
    /// deduplicate blobs by id.
    pub fn pushed(
        &self,
        tips: &[String],
        excludes: &[String],
        exclude_remote: Option<&str>,
    ) -> Result<Vec<AddedBlob>, GitError> {
        for r in tips.iter().chain(excludes) {
            if r.is_empty() || r.starts_with('-') {
                return Err(GitError::BadRange(r.clone()));
            }
        }
        if tips.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = log_args();
        args.extend(tips.iter().cloned());
        args.push("--not".into());
        args.extend(excludes.iter().cloned());
        if let Some(remote) = exclude_remote.filter(|r| self.is_remote(r)) {
            // a configured remote's name has no glob characters, so git
            // reads this as refs/remotes/<remote>/*
            args.push(format!("--remotes={remote}"));
        }
        args.push("--".into());
        let out = self.git(&args)?;
        parse_raw_patch(&out, "log")
    }

    /// Whether `name` is a configured remote whose name git's `--remotes=`
    /// would take literally (no glob characters).
    pub fn is_remote(&self, name: &str) -> bool {
        if name.is_empty() || name.starts_with('-') || name.contains(['*', '?', '[', '\\']) {
            return false;
        }
        run_in(&self.root, ["remote"])
            .is_ok_and(|out| String::from_utf8_lossy(&out).lines().any(|l| l == name))
    }

    /// The type (`commit`, `tree`, `blob`, `tag`) of the object `rev` names
    /// once peeled of tags (`rev^{}`), or `None` if there is no such object.
    pub fn peeled_type(&self, rev: &str) -> Option<String> {
        if rev.is_empty() || rev.starts_with('-') {
            return None;
        }
        let out = run_in(&self.root, ["cat-file", "-t", &format!("{rev}^{{}}")]).ok()?;
        Some(String::from_utf8_lossy(trim_newlines(&out)).into_owned())
    }

    /// Every regular file of the tree `rev` peels to, as blobs whose every
    /// line counts as added (a pushed tree or blob has no parent to diff
    /// against), with their paths in the tree. A blob is one entry named
    /// `name`.
    pub fn whole_objects(&self, rev: &str, name: &str) -> Result<Vec<AddedBlob>, GitError> {
        let all = vec![(1, u32::MAX)];
        match self.peeled_type(rev).as_deref() {
            Some("blob") => {
                let out = run_in(&self.root, ["rev-parse", &format!("{rev}^{{}}")])?;
                Ok(vec![AddedBlob {
                    path: name.to_owned(),
                    oid: String::from_utf8_lossy(trim_newlines(&out)).into_owned(),
                    commit: None,
                    added: all,
                }])
            }
            Some("tree") => {
                let out = run_in(
                    &self.root,
                    ["ls-tree", "-r", "-z", "--full-tree", &format!("{rev}^{{}}")],
                )?;
                let mut v = Vec::new();
                for entry in out.split(|&b| b == 0).filter(|e| !e.is_empty()) {
                    // <mode> SP <type> SP <oid> TAB <path>
                    let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
                        continue;
                    };
                    let meta = String::from_utf8_lossy(&entry[..tab]);
                    let f: Vec<&str> = meta.split(' ').collect();
                    if f.len() == 3 && f[1] == "blob" && (f[0] == "100644" || f[0] == "100755") {
                        v.push(AddedBlob {
                            path: String::from_utf8_lossy(&entry[tab + 1..]).into_owned(),
                            oid: f[2].to_owned(),
                            commit: None,
                            added: all.clone(),
                        });
                    }
                }
                Ok(v)
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The options of the raw patch that `parse_raw_patch` reads: raw entries
/// with full ids, then `-U0` hunks (the added lines), no renames.
const PATCH_ARGS: &[&str] = &[
    "--raw",
    "-p",
    "-U0",
    // `-diff` / `binary` attributes (`*.lock -diff`) would turn the hunks
    // into "Binary files differ" and hide every added line (issue 11, item 1)
    "--text",
    "--no-abbrev",
    "--full-index",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
];

/// `git -c core.quotePath=false COMMAND… PATCH_ARGS… OPTIONS…`.
fn patch_args(command: &[&str], options: &[&str]) -> Vec<String> {
    ["-c", "core.quotePath=false"]
        .iter()
        .chain(command)
        .chain(PATCH_ARGS)
        .chain(options)
        .map(|s| (*s).to_owned())
        .collect()
}

/// `git diff` of added and modified files.
fn diff_args() -> Vec<String> {
    patch_args(&["diff"], &["--diff-filter=ACMRT"])
}

/// `git log`, oldest first, merges against their first parent, each commit
/// announced by `\x01` and its id.
fn log_args() -> Vec<String> {
    patch_args(
        &["log", "--reverse"],
        &[
            "--diff-merges=first-parent",
            "--diff-filter=ACMRT",
            "--format=%x01%H",
        ],
    )
}

/// Undo git's C-style path quoting (`"a\tb"`, octal escapes for bytes).
fn unquote(p: &[u8]) -> String {
    let [b'"', inner @ .., b'"'] = p else {
        return String::from_utf8_lossy(p).into_owned();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c != b'\\' || i + 1 >= inner.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = inner[i + 1];
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v: u32 = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 && i < inner.len() && (b'0'..=b'7').contains(&inner[i]) {
                    v = v * 8 + u32::from(inner[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(u8::try_from(v & 0xff).unwrap_or(b'?'));
            }
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `+a,b` or `+a` from a hunk header → (start, count).
fn hunk_new(header: &[u8]) -> Option<(u32, u32, u32)> {
    let text = std::str::from_utf8(header).ok()?;
    let mut parts = text.split(' ');
    let old = parts.find(|p| p.starts_with('-'))?;
    let new = parts.next().filter(|p| p.starts_with('+'))?;
    let count = |s: &str| -> Option<(u32, u32)> {
        match s.split_once(',') {
            Some((a, c)) => Some((a.parse().ok()?, c.parse().ok()?)),
            None => Some((s.parse().ok()?, 1)),
        }
    };
    let (_, old_count) = count(&old[1..])?;
    let (start, new_count) = count(&new[1..])?;
    Some((start, new_count, old_count))
}

/// Parse `--raw -p -U0 --full-index` output (optionally with `%x01<commit>`
/// headers) into blobs with their added lines.
fn parse_raw_patch(out: &[u8], command: &str) -> Result<Vec<AddedBlob>, GitError> {
    let mut blobs: Vec<AddedBlob> = Vec::new();
    // (commit, raw path as printed) -> index in `blobs`
    let mut index: HashMap<(Option<String>, Vec<u8>), usize> = HashMap::new();
    let mut commit: Option<String> = None;
    let mut current: Option<usize> = None;
    // remaining old/new lines of the hunk being read
    let mut hunk_left: (u32, u32) = (0, 0);
    let bad = |detail: &str| GitError::Parse {
        command: command.to_string(),
        detail: detail.to_string(),
    };
    for line in out.split(|&b| b == b'\n') {
        if hunk_left.0 > 0 || hunk_left.1 > 0 {
            match line.first() {
                Some(b'+') => hunk_left.1 = hunk_left.1.saturating_sub(1),
                Some(b'-') => hunk_left.0 = hunk_left.0.saturating_sub(1),
                Some(b' ') => {
                    hunk_left.0 = hunk_left.0.saturating_sub(1);
                    hunk_left.1 = hunk_left.1.saturating_sub(1);
                }
                Some(b'\\') => {} // "\ No newline at end of file"
                _ => return Err(bad("hunk shorter than its header says")),
            }
            continue;
        }
        if let Some(id) = line.strip_prefix(b"\x01") {
            commit = Some(String::from_utf8_lossy(trim_newlines(id)).into_owned());
            current = None;
            continue;
        }
        if let Some(meta) = line.strip_prefix(b":") {
            // :<old mode> <new mode> <old> <new> <status>\t<path>
            let Some(tab) = meta.iter().position(|&b| b == b'\t') else {
                return Err(bad("raw line without a path"));
            };
            let (fields, path) = (&meta[..tab], &meta[tab + 1..]);
            let fields = String::from_utf8_lossy(fields);
            let f: Vec<&str> = fields.split(' ').collect();
            if f.len() < 5 {
                return Err(bad("short raw line"));
            }
            let (new_mode, new) = (f[1], f[3]);
            if !(new_mode == "100644" || new_mode == "100755") || new.bytes().all(|b| b == b'0') {
                continue;
            }
            let key = (commit.clone(), path.to_vec());
            index.entry(key).or_insert_with(|| {
                blobs.push(AddedBlob {
                    path: unquote(path),
                    oid: new.to_string(),
                    commit: commit.clone(),
                    added: Vec::new(),
                });
                blobs.len() - 1
            });
            continue;
        }
        if line.starts_with(b"diff --git ") {
            current = None;
            continue;
        }
        if let Some(p) = line.strip_prefix(b"+++ ") {
            // `+++ b/path` or `+++ "b/pa\th"`; /dev/null for deletions
            let raw: Vec<u8> = if let Some(rest) = p.strip_prefix(b"\"b/") {
                let mut v = vec![b'"'];
                v.extend_from_slice(rest);
                v
            } else if let Some(rest) = p.strip_prefix(b"b/") {
                rest.to_vec()
            } else {
                current = None;
                continue;
            };
            // `diff` may print a tab after names with spaces
            let raw = raw.strip_suffix(b"\t").map(<[u8]>::to_vec).unwrap_or(raw);
            current = index.get(&(commit.clone(), raw)).copied();
            continue;
        }
        if let Some(h) = line.strip_prefix(b"@@ ") {
            let (start, new_count, old_count) =
                hunk_new(h).ok_or_else(|| bad("bad hunk header"))?;
            hunk_left = (old_count, new_count);
            if let (Some(i), true) = (current, new_count > 0) {
                blobs[i].added.push((start, start + new_count - 1));
            }
            continue;
        }
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_patch_together() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let out = format!(
            "\x01c1\n\n:000000 100644 {z} {a} A\tx.txt\n:100644 100644 {a} {b} M\t\"we\\tird\"\n\
             :100644 000000 {a} {z} D\tgone\n\n\
             diff --git a/x.txt b/x.txt\nnew file mode 100644\nindex {z}..{a}\n--- /dev/null\n+++ b/x.txt\n\
             @@ -0,0 +1,2 @@\n+++ not a header\n+two\n\
             diff --git \"a/we\\tird\" \"b/we\\tird\"\nindex {a}..{b} 100644\n--- \"a/we\\tird\"\n+++ \"b/we\\tird\"\n\
             @@ -3 +3,0 @@\n-x\n@@ -9 +9 @@\n-q\n+r\n\\ No newline at end of file\n"
        );
        let blobs = parse_raw_patch(out.as_bytes(), "log").unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].path, "x.txt");
        assert_eq!(blobs[0].added, vec![(1, 2)]);
        assert_eq!(blobs[0].commit.as_deref(), Some("c1"));
        assert_eq!(blobs[1].path, "we\tird");
        assert_eq!(blobs[1].oid, b);
        assert_eq!(blobs[1].added, vec![(9, 9)]);
        assert!(blobs[1].is_added(9) && !blobs[1].is_added(3));
    }

    #[test]
    fn same_path_in_two_commits() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let out = format!(
            "\x01c1\n:000000 100644 {z} {a} A\tf\n\ndiff --git a/f b/f\n--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+x\n\
             \x01c2\n:100644 100644 {a} {b} M\tf\n\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,0 +2 @@\n+y\n"
        );
        let blobs = parse_raw_patch(out.as_bytes(), "log").unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[1].commit.as_deref(), Some("c2"));
        assert_eq!(blobs[1].added, vec![(2, 2)]);
    }

    #[test]
    fn truncated_hunk_is_an_error() {
        let out =
            b":000000 100644 0000 aaaa A\tf\n\n+++ b/f\n@@ -0,0 +1,3 @@\n+x\ndiff --git a/g b/g\n";
        assert!(parse_raw_patch(out, "log").is_err());
    }

    #[test]
    fn octal_quoting() {
        assert_eq!(unquote(b"\"caf\\303\\251\""), "café");
        assert_eq!(unquote(b"plain name"), "plain name");
    }
}
