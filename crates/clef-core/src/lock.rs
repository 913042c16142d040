//! The edit session's guard: one clef writer at a time per repository, and
//! no write to a cell while git is in the middle of a merge, rebase,
//! cherry-pick or revert that does not involve it.

use std::path::{Path, PathBuf};

use crate::Cell;

/// Why a write may not start.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A history operation is in progress and the cell is not part of it.
    #[error(
        "{}: refusing to write while a {op} is in progress (the cell is not part of the conflict); finish or abort the {op} first",
        file.display()
    )]
    InProgress {
        /// `merge`, `rebase`, `cherry-pick` or `revert`.
        op: &'static str,
        /// The cell.
        file: PathBuf,
    },
    /// Another writer has held the lock for too long.
    #[error(
        "{}: another clef command is writing; if none is running, delete this lock file",
        .0.display()
    )]
    Busy(PathBuf),
    /// The lock file cannot be created.
    #[error("{}: cannot create the write lock: {kind}", path.display())]
    Create {
        /// The lock file.
        path: PathBuf,
        /// The OS error kind.
        kind: std::io::ErrorKind,
    },
}

/// `<git dir>/clef.lock` (or `.clef/clef.lock` outside git), removed on drop.
/// An empty marker file: it holds no data.
#[derive(Debug)]
pub struct WriteLock(PathBuf);

impl WriteLock {
    /// Takes the repository's write lock, waiting up to ~10 s for another
    /// writer (they finish in milliseconds).
    #[allow(
        clippy::disallowed_methods,
        reason = "the lock is an empty marker created with create_new; it holds no data"
    )]
    pub fn acquire(root: &Path) -> Result<WriteLock, LockError> {
        let dir = clef_git::worktree::git_dir(root).unwrap_or_else(|| root.join(".clef"));
        let path = dir.join("clef.lock");
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
                    return Err(LockError::Create {
                        path,
                        kind: e.kind(),
                    });
                }
            }
        }
        Err(LockError::Busy(path))
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Refuses to write `cells` while a merge, rebase, cherry-pick or revert is
/// in progress, unless git lists each as unmerged (then the write is part of
/// resolving it); then takes the write lock, so concurrent `set`s cannot
/// lose each other's keys.
pub fn check_writable(root: &Path, cells: &[&Cell]) -> Result<WriteLock, LockError> {
    if let Some(op) = clef_git::worktree::in_progress(root)
        && let Some(c) = cells
            .iter()
            .find(|c| !clef_git::worktree::is_unmerged(root, &c.file))
    {
        return Err(LockError::InProgress {
            op,
            file: c.file.clone(),
        });
    }
    WriteLock::acquire(root)
}
