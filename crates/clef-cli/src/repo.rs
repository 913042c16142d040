//! The repository a command works on: its root, manifest, identities, and
//! git state (mid-merge detection, the author for rotation records).

use std::path::{Path, PathBuf};

use clef_core::{Cell, Manifest};
use clef_sops::Keyring;

use crate::error::{CliError, code};

/// A loaded repository.
pub struct Repo {
    /// The directory holding clef.yaml.
    pub root: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
}

/// The environment lookup every command uses.
pub fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// The starting directory: `--dir`, else the current directory.
pub fn start_dir(dir: Option<&Path>) -> Result<PathBuf, CliError> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => std::env::current_dir().map_err(|e| {
            CliError::new(
                code::READ,
                format!("cannot read the current directory: {}", e.kind()),
            )
        }),
    }
}

/// Finds the nearest directory at or above `start` that holds clef.yaml.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    start
        .ancestors()
        .find(|d| d.join(clef_core::manifest::FILE_NAME).is_file())
        .map(Path::to_path_buf)
}

impl Repo {
    /// Loads the repository containing `dir` (or the current directory).
    pub fn open(dir: Option<&Path>) -> Result<Repo, CliError> {
        let start = start_dir(dir)?;
        let root = find_root(&start).ok_or_else(|| {
            CliError::new(
                code::USAGE,
                format!(
                    "no clef.yaml in {} or any parent directory (run `clef init` first)",
                    start.display()
                ),
            )
        })?;
        let manifest = Manifest::load(&root)?;
        Ok(Repo { root, manifest })
    }

    /// Every identity available here.
    pub fn identities(&self) -> Result<Keyring, CliError> {
        let ids = clef_core::local::identities(&self.root, &env)?;
        // cloud KMS backends too: no runtime starts unless a cell has a kms/gcp_kms stanza
        Ok(clef_kms::with_cloud_backends(
            Keyring::new(ids),
            clef_kms::AwsOptions::from_env(),
        ))
    }

    /// Refuses to write `cell` while a merge, rebase, cherry-pick or revert is
    /// in progress, unless git lists the cell as unmerged (then the write is
    /// part of resolving it).
    ///
    /// Returns the repository's write lock: one clef writer at a time, so
    /// concurrent `set`s cannot lose each other's keys.
    pub fn check_writable(&self, cells: &[&Cell]) -> Result<WriteLock, CliError> {
        let Some(op) = clef_git::worktree::in_progress(&self.root) else {
            return self.lock_cells(cells);
        };
        for c in cells {
            if !clef_git::worktree::is_unmerged(&self.root, &c.file) {
                return Err(CliError::new(
                    code::REFUSED,
                    format!(
                        "{}: refusing to write while a {op} is in progress (the cell is not part of the conflict); finish or abort the {op} first",
                        c.file.display()
                    ),
                ));
            }
        }
        self.lock_cells(cells)
    }

    /// Takes the write lock, then removes what an interrupted writer of
    /// these cells left behind (only a lock holder writes them, so any temp
    /// file of theirs is stale now).
    fn lock_cells(&self, cells: &[&Cell]) -> Result<WriteLock, CliError> {
        let lock = WriteLock::acquire(&self.root)?;
        for c in cells {
            clef_core::cell::remove_stale_temps(&self.root, c);
        }
        Ok(lock)
    }
}

/// The repository's write lock ([`clef_core::lock::RepoLock`] on
/// `<git dir>/clef.lock`, or `.clef/clef.lock` outside git): released when
/// the process exits in any way, so a killed writer leaves no stale lock.
pub struct WriteLock(#[allow(dead_code)] clef_core::lock::RepoLock);

impl WriteLock {
    /// Takes the lock of the repository at `root` (waiting up to 10 s).
    pub fn acquire(root: &Path) -> Result<WriteLock, CliError> {
        let dir = clef_git::worktree::git_dir(root).unwrap_or_else(|| root.join(".clef"));
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| {
                CliError::new(
                    code::WRITE,
                    format!("{}: cannot create: {}", dir.display(), e.kind()),
                )
            })?;
        }
        clef_core::lock::RepoLock::acquire(&dir, std::time::Duration::from_secs(10))
            .map(WriteLock)
            .map_err(|e| match e {
                clef_core::lock::LockError::Busy { .. } => {
                    CliError::new(code::REFUSED, e.to_string())
                }
                clef_core::lock::LockError::Io { .. } => CliError::new(code::WRITE, e.to_string()),
            })
    }
}

/// The write lock of the clef repository holding `file`, if it is in one
/// (`clef sops set|unset` on a cell serialise with `clef set`).
pub fn lock_near(file: &Path) -> Result<Option<WriteLock>, CliError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    find_root(&dir).map(|r| WriteLock::acquire(&r)).transpose()
}

/// `Name <email>` of whoever is making the change (git's author identity,
/// else `$USER`).
pub fn author(root: &Path) -> String {
    clef_git::worktree::author(root)
        .unwrap_or_else(|| env("USER").unwrap_or_else(|| "unknown".into()))
}
