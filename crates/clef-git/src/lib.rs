//! Git access for Clef.
//!
//! This crate is the one place that talks to git. It answers three questions
//! that the scanner and the hooks ask, always in terms of *blobs* (file
//! contents as git stores them), never of the work tree:
//!
//! * [`Repo::staged`]: which blobs does the index hold that differ from `HEAD`
//!   (exactly what `git commit` would record, even if the work tree has been
//!   edited since `git add`);
//! * [`Repo::range`]: which blobs did the commits of a range such as
//!   `origin/main..HEAD` add or modify, and which commit did so;
//! * [`Repo::history`]: every unique blob reachable from any ref, once, with
//!   the commit, author and date that introduced it.
//!
//! [`Repo::blobs`] then streams the contents of a list of blobs through one
//! `git cat-file --batch` process, and [`Repo::added_lines`] tells which line
//! numbers of each staged or ranged file are additions (for hooks that only
//! want to judge new lines).
//!
//! It drives the `git` executable (plumbing commands with NUL-separated
//! output) rather than linking a git implementation: git is always present
//! where Clef runs (hooks are invoked by it), honours every repository setting
//! and environment variable the user relies on (`GIT_DIR`, `GIT_INDEX_FILE`
//! during `git commit -a`, alternates, partial clones), and costs nothing to
//! compile.
//!
//! ```no_run
//! let repo = clef_git::Repo::discover(std::path::Path::new("."))?;
//! let staged = repo.staged()?;
//! for blob in repo.blobs(staged.iter().map(|c| c.oid.clone()).collect(), 1 << 20)? {
//!     let blob = blob?;
//!     if let clef_git::BlobData::Bytes(bytes) = &blob.data {
//!         println!("{} has {} bytes", blob.oid, bytes.len());
//!     }
//! }
//! # Ok::<(), clef_git::GitError>(())
//! ```

mod history;
pub mod hooks_support;
pub mod odb;
mod packs;
pub mod worktree;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

/// Errors from git access. Messages carry git's own stderr (which never holds
/// file contents) and the command that failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` could not be started.
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// git ran and failed.
    #[error("`git {command}` failed: {stderr}")]
    Failed {
        /// The subcommand and its arguments.
        command: String,
        /// git's stderr, trimmed.
        stderr: String,
    },
    /// The output of git could not be understood.
    #[error("unexpected output from `git {command}`: {detail}")]
    Parse {
        /// The subcommand.
        command: String,
        /// What was unexpected.
        detail: String,
    },
    /// Reading git's output failed.
    #[error("reading from git: {0}")]
    Io(#[from] std::io::Error),
    /// A revision argument that would be read as an option.
    #[error("invalid revision range {0:?}")]
    BadRange(String),
}

/// The commit that introduced a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full commit id.
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    /// Author date, strict ISO 8601.
    pub date: String,
}

/// One blob at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// Blob id (hex).
    pub oid: String,
    /// The blob it replaced at the same path in the commit's first parent,
    /// when the commit modified a regular file (`None` for an added file and
    /// for staged blobs): what the commit added is the difference.
    pub parent: Option<String>,
    /// The commit that introduced it (`None` for staged blobs); shared by
    /// the commit's changes.
    pub commit: Option<std::sync::Arc<CommitInfo>>,
}

/// The contents of one blob as returned by [`Repo::blobs`].
#[derive(Debug)]
pub enum BlobData {
    /// The bytes (shared with the reader's delta-base cache, which often
    /// keeps the same version as the base of the next one read).
    Bytes(std::sync::Arc<Vec<u8>>),
    /// Larger than the limit passed to [`Repo::blobs`]; not read into memory.
    TooLarge(u64),
    /// The object is not in the repository (shallow or partial clone).
    Missing,
}

/// A blob read by [`Repo::blobs`].
#[derive(Debug)]
pub struct Blob {
    /// Blob id.
    pub oid: String,
    /// Contents, or why there are none.
    pub data: BlobData,
}

/// Which diff [`Repo::added_lines`] describes.
#[derive(Debug, Clone, Copy)]
pub enum DiffScope<'a> {
    /// Index against `HEAD`.
    Staged,
    /// A revision range, e.g. `origin/main..HEAD`.
    Range(&'a str),
}

/// A git repository (work tree or bare).
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
    /// The git directory, when already known (saves a `rev-parse`).
    git_dir: Option<PathBuf>,
}

impl Repo {
    /// Find the repository containing `dir` (like `git rev-parse`).
    pub fn discover(dir: &Path) -> Result<Repo, GitError> {
        // both questions in one `git`: a work tree answers both; a bare
        // repository or a git directory answers the first (`true` or
        // `false`) and fails at `--show-toplevel`; no repository answers
        // neither, so the failure is the first question's own
        let both = ["rev-parse", "--is-bare-repository", "--show-toplevel"];
        let out = output_in(dir, both)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let root = match text.split_once('\n') {
            Some(("true", _)) => run_in(dir, ["rev-parse", "--absolute-git-dir"])?,
            Some(("false", top)) if out.status.success() => top.as_bytes().to_vec(),
            Some(("false", _)) => {
                return Err(failed(["rev-parse", "--show-toplevel"], &out.stderr));
            }
            _ => return Err(failed(["rev-parse", "--is-bare-repository"], &out.stderr)),
        };
        let root = String::from_utf8_lossy(&root).trim().to_string();
        Ok(Repo {
            root: PathBuf::from(root),
            git_dir: None,
        })
    }

    /// The work tree root (or the git dir of a bare repository).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn git<I, S>(&self, args: I) -> Result<Vec<u8>, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_in(&self.root, args)
    }

    /// The contents of `path` (relative to the work tree root) in commit
    /// `rev`; `None` when the commit does not have that file (or `rev` does
    /// not exist yet, as before the first commit).
    pub fn file_at(&self, rev: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        if rev.starts_with('-') {
            return Err(GitError::BadRange(rev.to_owned()));
        }
        let spec = format!("{rev}:{path}");
        let listed = Command::new("git")
            .args(["cat-file", "-e", &spec])
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(GitError::Spawn)?;
        if !listed.success() {
            return Ok(None);
        }
        self.git(["cat-file", "blob", &spec]).map(Some)
    }

    /// Blobs in the index that differ from `HEAD` (added, copied, modified,
    /// renamed or type-changed files; deletions have no blob). Works before
    /// the first commit too.
    pub fn staged(&self) -> Result<Vec<Change>, GitError> {
        let out = self.git([
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
            "--diff-filter=ACMRT",
        ])?;
        let mut changes = Vec::new();
        let mut tokens = out.split(|&b| b == 0);
        while let Some(meta) = tokens.next() {
            let meta = trim_newlines(meta);
            if meta.is_empty() {
                continue;
            }
            let path = tokens.next().ok_or_else(|| GitError::Parse {
                command: "diff --cached --raw".into(),
                detail: "entry without a path".into(),
            })?;
            if let Some(oid) = raw_new_blob(meta) {
                changes.push(Change {
                    path: String::from_utf8_lossy(path).into_owned(),
                    oid,
                    parent: None,
                    commit: None,
                });
            }
        }
        Ok(changes)
    }

    /// Blobs added or modified by the commits in `range` (anything `git log`
    /// accepts, e.g. `A..B`), oldest commit first; each (path, blob) once, with
    /// the first commit of the range that introduced it.
    pub fn range(&self, range: &str) -> Result<Vec<Change>, GitError> {
        if range.is_empty() || range.starts_with('-') {
            return Err(GitError::BadRange(range.to_string()));
        }
        self.log_changes(&[range], false)
    }

    /// Every unique blob reachable from any ref (branches, tags, remotes,
    /// stash), once, attributed to the oldest commit that introduced it.
    ///
    /// git picks the commits and their order (`git log --reverse --all`);
    /// the tree diffs run in-process on `threads` threads (0: one per CPU)
    /// when the object store can be used. `git log --raw` lists them
    /// otherwise, and when gix cannot read an object that git might (a
    /// partial clone fetches missing trees on demand): both give the same
    /// list.
    pub fn history(&self, threads: usize) -> Result<Vec<Change>, GitError> {
        match self.object_store() {
            Some(store) => self
                .history_in_process(&store, threads)
                .or_else(|_| self.history_from_git()),
            None => self.history_from_git(),
        }
    }

    /// [`Repo::history`] as `git log --raw --all` lists it (one core).
    pub fn history_from_git(&self) -> Result<Vec<Change>, GitError> {
        self.log_changes(&["--all"], true)
    }

    /// [`Repo::history`] with the tree diffs done by gix on `threads` threads.
    pub fn history_in_process(
        &self,
        store: &odb::ObjectStore,
        threads: usize,
    ) -> Result<Vec<Change>, GitError> {
        let out = self.git([
            "log",
            "--reverse",
            "-z",
            "--format=%H %T %P%x02%an <%ae>%x02%aI",
            "--all",
            "--",
        ])?;
        let bad = || GitError::Parse {
            command: "log".into(),
            detail: "malformed commit header".into(),
        };
        let mut commits = Vec::new();
        // commit -> tree, for the first parents' trees (git's view of them,
        // replace refs and grafts included)
        let mut trees: HashMap<gix::ObjectId, gix::ObjectId> = HashMap::new();
        for rec in out.split(|&b| b == 0) {
            let rec = trim_newlines(rec);
            if rec.is_empty() {
                continue;
            }
            let rec = String::from_utf8_lossy(rec);
            let mut parts = rec.split('\x02');
            let (Some(ids), Some(author), Some(date)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let mut ids = ids.split(' ').filter(|s| !s.is_empty());
            let hex = |s: &str| gix::ObjectId::from_hex(s.as_bytes()).map_err(|_| bad());
            let id = ids.next().ok_or_else(bad)?;
            let tree = hex(ids.next().ok_or_else(bad)?)?;
            trees.insert(hex(id)?, tree);
            commits.push(history::Logged {
                tree,
                parent: ids.next().map(hex).transpose()?,
                info: std::sync::Arc::new(CommitInfo {
                    id: id.to_string(),
                    author: author.to_string(),
                    date: date.to_string(),
                }),
            });
        }
        history::changes(store, &commits, &trees, threads)
    }

    fn log_changes(&self, revs: &[&str], unique_blobs: bool) -> Result<Vec<Change>, GitError> {
        let mut args: Vec<&str> = vec![
            "log",
            "--reverse",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "-z",
            "--diff-merges=first-parent",
            "--diff-filter=ACMRT",
            "--format=%x01%H%x02%an <%ae>%x02%aI",
        ];
        args.extend_from_slice(revs);
        args.push("--");
        let out = self.git(&args)?;
        let mut seen_blobs: HashSet<String> = HashSet::new();
        let mut seen_pairs: HashSet<(String, String)> = HashSet::new();
        let mut changes = Vec::new();
        let mut commit: Option<std::sync::Arc<CommitInfo>> = None;
        let mut tokens = out.split(|&b| b == 0);
        while let Some(tok) = tokens.next() {
            let tok = trim_newlines(tok);
            if tok.is_empty() {
                continue;
            }
            if let Some(header) = tok.strip_prefix(b"\x01") {
                let header = String::from_utf8_lossy(header);
                let mut parts = header.split('\x02');
                let (Some(id), Some(author), Some(date)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(GitError::Parse {
                        command: "log".into(),
                        detail: "malformed commit header".into(),
                    });
                };
                commit = Some(std::sync::Arc::new(CommitInfo {
                    id: id.to_string(),
                    author: author.to_string(),
                    date: date.to_string(),
                }));
                continue;
            }
            if tok.first() != Some(&b':') {
                continue;
            }
            let path = tokens.next().ok_or_else(|| GitError::Parse {
                command: "log --raw".into(),
                detail: "entry without a path".into(),
            })?;
            let Some(oid) = raw_new_blob(tok) else {
                continue;
            };
            let path = String::from_utf8_lossy(path).into_owned();
            let fresh = if unique_blobs {
                seen_blobs.insert(oid.clone())
            } else {
                seen_pairs.insert((path.clone(), oid.clone()))
            };
            if fresh {
                changes.push(Change {
                    path,
                    oid,
                    parent: raw_old_blob(tok),
                    commit: commit.clone(),
                });
            }
        }
        Ok(changes)
    }

    /// The in-process object store, for reading many blobs in parallel
    /// ([`odb`]). `None` when it cannot be used; fall back to [`Repo::blobs`].
    pub fn object_store(&self) -> Option<odb::ObjectStore> {
        if let Some(dir) = &self.git_dir {
            return odb::ObjectStore::open(dir);
        }
        let out = self.git(["rev-parse", "--absolute-git-dir"]).ok()?;
        let dir = String::from_utf8(out).ok()?;
        odb::ObjectStore::open(Path::new(dir.trim_end_matches(['\n', '\r'])))
    }

    /// Stream the contents of `oids` (in order) through one
    /// `git cat-file --batch`. Blobs larger than `max_size` bytes are skipped
    /// without being buffered ([`BlobData::TooLarge`]); memory stays bounded by
    /// `max_size`.
    pub fn blobs(&self, oids: Vec<String>, max_size: u64) -> Result<BlobIter, GitError> {
        let mut child = Command::new("git")
            .args(["-c", "core.quotePath=false", "cat-file", "--batch"])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        let stdin = child.stdin.take().ok_or_else(|| GitError::Parse {
            command: "cat-file --batch".into(),
            detail: "no stdin".into(),
        })?;
        let stdout = child.stdout.take().ok_or_else(|| GitError::Parse {
            command: "cat-file --batch".into(),
            detail: "no stdout".into(),
        })?;
        let count = oids.len();
        // A writer thread avoids the pipe deadlock of writing all requests
        // while git blocks on a full stdout.
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            let mut stdin = std::io::BufWriter::new(stdin);
            for oid in oids {
                stdin.write_all(oid.as_bytes())?;
                stdin.write_all(b"\n")?;
            }
            stdin.flush()
        });
        Ok(BlobIter {
            child,
            stdout: BufReader::with_capacity(1 << 16, stdout),
            writer: Some(writer),
            remaining: count,
            max_size,
        })
    }

    /// For each file touched by `scope`, the 1-based line numbers of the new
    /// version that are additions (from a zero-context diff). Paths are
    /// relative to the repository root.
    pub fn added_lines(
        &self,
        scope: DiffScope<'_>,
    ) -> Result<HashMap<String, Vec<(u32, u32)>>, GitError> {
        let mut args: Vec<&str> = vec![
            "-c",
            "core.quotePath=false",
            "diff",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--diff-filter=ACMRT",
        ];
        match scope {
            DiffScope::Staged => args.push("--cached"),
            DiffScope::Range(r) => {
                if r.is_empty() || r.starts_with('-') {
                    return Err(GitError::BadRange(r.to_string()));
                }
                args.push(r);
            }
        }
        args.push("--");
        let out = self.git(&args)?;
        Ok(parse_added_lines(&out))
    }
}

/// Iterator over blob contents; see [`Repo::blobs`].
#[derive(Debug)]
pub struct BlobIter {
    child: Child,
    stdout: BufReader<ChildStdout>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    remaining: usize,
    max_size: u64,
}

impl BlobIter {
    fn read_one(&mut self) -> Result<Blob, GitError> {
        let mut header = Vec::new();
        self.stdout.read_until(b'\n', &mut header)?;
        if header.is_empty() {
            return Err(GitError::Parse {
                command: "cat-file --batch".into(),
                detail: "output ended early".into(),
            });
        }
        let header = String::from_utf8_lossy(trim_newlines(&header)).into_owned();
        let mut parts = header.split(' ');
        let oid = parts.next().unwrap_or_default().to_string();
        let kind = parts.next().unwrap_or_default();
        if kind == "missing" || kind == "ambiguous" {
            return Ok(Blob {
                oid,
                data: BlobData::Missing,
            });
        }
        let size: u64 =
            parts
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| GitError::Parse {
                    command: "cat-file --batch".into(),
                    detail: format!("bad header {header:?}"),
                })?;
        let data = if size > self.max_size || kind != "blob" {
            std::io::copy(&mut (&mut self.stdout).take(size), &mut std::io::sink())?;
            if kind == "blob" {
                BlobData::TooLarge(size)
            } else {
                BlobData::Missing
            }
        } else {
            let len = usize::try_from(size).map_err(|_| GitError::Parse {
                command: "cat-file --batch".into(),
                detail: "blob size overflows".into(),
            })?;
            let mut buf = vec![0u8; len];
            self.stdout.read_exact(&mut buf)?;
            BlobData::Bytes(std::sync::Arc::new(buf))
        };
        let mut nl = [0u8; 1];
        self.stdout.read_exact(&mut nl)?;
        Ok(Blob { oid, data })
    }

    fn finish(&mut self) -> Result<(), GitError> {
        if let Some(writer) = self.writer.take() {
            match writer.join() {
                Ok(r) => r?,
                Err(_) => {
                    return Err(GitError::Parse {
                        command: "cat-file --batch".into(),
                        detail: "request writer panicked".into(),
                    });
                }
            }
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let status = self.child.wait()?;
        if !status.success() {
            return Err(GitError::Failed {
                command: "cat-file --batch".into(),
                stderr: stderr.trim().to_string(),
            });
        }
        Ok(())
    }
}

impl Iterator for BlobIter {
    type Item = Result<Blob, GitError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            if self.writer.is_some() {
                return self.finish().err().map(Err);
            }
            return None;
        }
        self.remaining -= 1;
        match self.read_one() {
            Ok(b) => Some(Ok(b)),
            Err(e) => {
                self.remaining = 0;
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.writer = None;
                Some(Err(e))
            }
        }
    }
}

impl Drop for BlobIter {
    fn drop(&mut self) {
        if self.writer.is_some() || self.remaining > 0 {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run_in<I, S>(dir: &Path, args: I) -> Result<Vec<u8>, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = output_in(dir, &args)?;
    if !out.status.success() {
        return Err(failed(&args, &out.stderr));
    }
    Ok(out.stdout)
}

/// `git ARGS` run in `dir`, whatever its exit status.
fn output_in<I, S>(dir: &Path, args: I) -> Result<std::process::Output, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)
}

/// The error of `git ARGS` that exited non-zero with `stderr`.
fn failed<I, S>(args: I, stderr: &[u8]) -> GitError
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    GitError::Failed {
        command: args
            .into_iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        stderr: String::from_utf8_lossy(stderr).trim().to_string(),
    }
}

fn trim_newlines(mut s: &[u8]) -> &[u8] {
    while let [b'\n' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b'\n' | b'\r'] = s {
        s = rest;
    }
    s
}

/// From a `--raw` line `:100644 100644 <old> <new> M`, the new blob id, if the
/// new side is a regular file or executable (not a symlink, submodule or
/// deletion).
/// The old blob of a `--raw` entry that modified a regular file.
fn raw_old_blob(meta: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(meta).ok()?;
    let mut parts = text.trim_start_matches(':').split(' ');
    let old_mode = parts.next()?;
    let _new_mode = parts.next()?;
    let old = parts.next()?;
    if !(old_mode == "100644" || old_mode == "100755") || old.bytes().all(|b| b == b'0') {
        return None;
    }
    Some(old.to_string())
}

fn raw_new_blob(meta: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(meta).ok()?;
    let mut parts = text.trim_start_matches(':').split(' ');
    let _old_mode = parts.next()?;
    let new_mode = parts.next()?;
    let _old = parts.next()?;
    let new = parts.next()?;
    if !(new_mode == "100644" || new_mode == "100755") {
        return None;
    }
    if new.bytes().all(|b| b == b'0') {
        return None;
    }
    Some(new.to_string())
}

fn parse_added_lines(diff: &[u8]) -> HashMap<String, Vec<(u32, u32)>> {
    let mut map: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    let mut current: Option<String> = None;
    // `+++ ` is a file header only between `diff --git` and the first hunk;
    // inside a hunk it is an added line that starts with `++ `.
    let mut in_header = false;
    for line in diff.split(|&b| b == b'\n') {
        if line.starts_with(b"diff --git ") {
            in_header = true;
            current = None;
            continue;
        }
        if line.starts_with(b"@@ ") {
            in_header = false;
        }
        if !in_header && line.starts_with(b"+++ ") {
            continue;
        }
        if let Some(path) = line.strip_prefix(b"+++ ").filter(|_| in_header) {
            let path = String::from_utf8_lossy(path);
            current = if path == "/dev/null" {
                None
            } else {
                Some(path.strip_prefix("b/").unwrap_or(&path).to_string())
            };
            continue;
        }
        if let (Some(path), Some(hunk)) = (&current, line.strip_prefix(b"@@ ")) {
            // @@ -a,b +c,d @@
            let hunk = String::from_utf8_lossy(hunk);
            let Some(new) = hunk.split(' ').find(|p| p.starts_with('+')) else {
                continue;
            };
            let new = &new[1..];
            let (start, count) = match new.split_once(',') {
                Some((s, c)) => (s.parse().unwrap_or(0), c.parse().unwrap_or(0)),
                None => (new.parse().unwrap_or(0), 1),
            };
            if count > 0 {
                map.entry(path.clone())
                    .or_default()
                    .push((start, start + count - 1));
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lines() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        assert_eq!(
            raw_new_blob(format!(":000000 100644 {z} {a} A").as_bytes()),
            Some(a.clone())
        );
        assert_eq!(
            raw_new_blob(format!(":100644 120000 {z} {a} T").as_bytes()),
            None
        );
        assert_eq!(
            raw_new_blob(format!(":000000 160000 {z} {a} A").as_bytes()),
            None
        );
        assert_eq!(
            raw_new_blob(format!(":100644 000000 {a} {z} D").as_bytes()),
            None
        );
        assert_eq!(raw_new_blob(b"garbage"), None);
    }

    /// `git` in `dir`, which must succeed.
    fn git_ok(dir: &Path, args: &[&str]) -> String {
        let out = run_in(dir, args).expect("git");
        String::from_utf8_lossy(&out).trim().to_string()
    }

    #[test]
    fn discover_finds_the_work_tree_the_bare_repository_or_none() {
        let t = tempfile::tempdir().expect("tempdir");
        let base = t.path().canonicalize().expect("canonical");
        // a work tree, from its top and from a subdirectory
        let work = base.join("work");
        std::fs::create_dir_all(work.join("a/b")).expect("mkdir");
        git_ok(&work, &["init", "-q"]);
        for dir in [work.clone(), work.join("a/b")] {
            let repo = Repo::discover(&dir).expect("work tree");
            assert_eq!(repo.root(), work.as_path());
            assert_eq!(
                repo.root(),
                Path::new(&git_ok(&dir, &["rev-parse", "--show-toplevel"]))
            );
        }
        // a bare repository: its git directory
        let bare = base.join("bare.git");
        std::fs::create_dir_all(&bare).expect("mkdir");
        git_ok(&bare, &["init", "-q", "--bare"]);
        assert_eq!(Repo::discover(&bare).expect("bare").root(), bare.as_path());
        // inside a work tree's git directory: neither (as `git` says)
        assert!(Repo::discover(&work.join(".git")).is_err());
        // no repository: the first question's own error
        let none = base.join("none");
        std::fs::create_dir_all(&none).expect("mkdir");
        let out = output_in(&none, ["rev-parse", "--is-bare-repository"]).expect("git");
        if !out.status.success() {
            match Repo::discover(&none) {
                Err(GitError::Failed { command, stderr }) => {
                    assert_eq!(command, "rev-parse --is-bare-repository");
                    assert_eq!(stderr, String::from_utf8_lossy(&out.stderr).trim());
                }
                other => panic!("not a repository: {other:?}"),
            }
        }
    }

    #[test]
    fn hunk_headers() {
        let diff = b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,0 +2,3 @@\n+a\n+++ b\n+c\n@@ -9 +12 @@\n-q\n+r\n@@ -20,2 +22,0 @@\n-s\ndiff --git a/y b/y\n--- a/y\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n";
        let m = parse_added_lines(diff);
        assert_eq!(m.get("x"), Some(&vec![(2, 4), (12, 12)]));
    }
}
