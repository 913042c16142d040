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
            return WriteLock::acquire(&self.root);
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
        WriteLock::acquire(&self.root)
    }
}

/// `<git dir>/clef.lock` (or `.clef/clef.lock` outside git), removed on drop.
/// An empty marker file: it holds no data.
pub struct WriteLock(PathBuf);

impl WriteLock {
    fn acquire(root: &Path) -> Result<WriteLock, CliError> {
        let dir = clef_git::worktree::git_dir(root).unwrap_or_else(|| root.join(".clef"));
        let path = dir.join("clef.lock");
        // Up to ~10 s: other writers finish in milliseconds.
        for _ in 0..400 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(WriteLock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(std::time::Duration::from_millis(25))
                }
                Err(e) => {
                    return Err(CliError::new(
                        code::WRITE,
                        format!(
                            "{}: cannot create the write lock: {}",
                            path.display(),
                            e.kind()
                        ),
                    ));
                }
            }
        }
        Err(CliError::new(
            code::REFUSED,
            format!(
                "{}: another clef command is writing; if none is running, delete this lock file",
                path.display()
            ),
        ))
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `Name <email>` of whoever is making the change (git's author identity,
/// else `$USER`).
pub fn author(root: &Path) -> String {
    clef_git::worktree::author(root)
        .unwrap_or_else(|| env("USER").unwrap_or_else(|| "unknown".into()))
}
