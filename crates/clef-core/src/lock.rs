//! The edit session's guard: one clef writer at a time per repository, and
//! no write to a cell while git is in the middle of a merge, rebase,
//! cherry-pick or revert that does not involve it.
//!
//! The write lock is an advisory `flock` on `<git dir>/clef.lock`: the
//! kernel releases it when the holder exits, however it exits, so a
//! `kill -9` leaves no stale lock behind (an old empty `clef.lock` left by an
//! earlier clef is simply locked again). The file is removed on release; a
//! waiter that locked a file that has meanwhile been removed or replaced
//! tries again, so two writers never hold locks on two different files.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Cell;

/// The lock file's name in the git directory.
pub const LOCK_NAME: &str = "clef.lock";

/// How long a writer waits for another one (they finish in milliseconds).
pub const WAIT: Duration = Duration::from_secs(10);

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
    /// Another writer held the lock for the whole wait.
    #[error(
        "{}: another clef command is still writing (the lock is released as soon as it exits, even if killed); try again",
        .0.display()
    )]
    Busy(PathBuf),
    /// The lock file cannot be created or locked.
    #[error("{}: cannot take the write lock: {kind}", path.display())]
    Create {
        /// The lock file.
        path: PathBuf,
        /// The OS error kind.
        kind: std::io::ErrorKind,
    },
}

/// A held write lock; released (and its file removed) on drop.
#[derive(Debug)]
pub struct WriteLock {
    file: File,
    path: PathBuf,
}

fn try_flock(f: &File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => Ok(false),
        Err(e) => Err(e.into()),
    }
}

impl WriteLock {
    /// Takes the write lock of the repository at `root` (`<git dir>/clef.lock`,
    /// or `.clef/clef.lock` outside git), waiting up to [`WAIT`].
    pub fn acquire(root: &Path) -> Result<WriteLock, LockError> {
        let dir = clef_git::worktree::git_dir(root).unwrap_or_else(|| root.join(".clef"));
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| LockError::Create {
                path: dir.join(LOCK_NAME),
                kind: e.kind(),
            })?;
        }
        WriteLock::acquire_in(&dir, WAIT)
    }

    /// Takes `<dir>/clef.lock`, waiting up to `wait` for another holder.
    #[allow(
        clippy::disallowed_methods,
        reason = "the lock file holds no data: it is only flock'ed"
    )]
    pub fn acquire_in(dir: &Path, wait: Duration) -> Result<WriteLock, LockError> {
        let path = dir.join(LOCK_NAME);
        let io = |e: std::io::Error| LockError::Create {
            path: path.clone(),
            kind: e.kind(),
        };
        let start = Instant::now();
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            if try_flock(&file).map_err(io)? {
                // Still the file at `path`? (The previous holder may have
                // removed it between our open and our lock.)
                let same = std::fs::metadata(&path).ok().zip(file.metadata().ok());
                if same.is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev()) {
                    return Ok(WriteLock { file, path });
                }
                continue;
            }
            if start.elapsed() >= wait {
                return Err(LockError::Busy(path));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // Remove while still holding the lock, then unlock by closing.
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

/// Whether the operation in progress changed `cell` (staged against
/// `HEAD`): a cell already resolved in this merge is still part of it.
fn merged_in(root: &Path, cell: &Cell) -> bool {
    let f = cell.file.to_string_lossy();
    clef_git::worktree::stdout_if_ok(root, &["diff", "--cached", "--name-only", "HEAD", "--", &f])
        .is_some_and(|o| !o.is_empty())
}

/// Refuses to write `cells` while a merge, rebase, cherry-pick or revert is
/// in progress, unless git lists each as unmerged or as changed by the
/// operation (then the write is part of resolving it); then takes the write lock, so concurrent `set`s cannot
/// lose each other's keys, and removes the temp files an interrupted writer
/// of these cells left (only a lock holder writes them, so they are stale).
pub fn check_writable(root: &Path, cells: &[&Cell]) -> Result<WriteLock, LockError> {
    if let Some(op) = clef_git::worktree::in_progress(root)
        && let Some(c) = cells
            .iter()
            .find(|c| !clef_git::worktree::is_unmerged(root, &c.file) && !merged_in(root, c))
    {
        return Err(LockError::InProgress {
            op,
            file: c.file.clone(),
        });
    }
    let lock = WriteLock::acquire(root)?;
    for c in cells {
        crate::cell::remove_stale_temps(root, c);
    }
    Ok(lock)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests write fixtures directly")]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_leftover_file_is_not_stale() {
        let dir = std::env::temp_dir().join(format!("clef-core-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // What an earlier clef killed with -9 left behind: an empty file.
        std::fs::write(dir.join(LOCK_NAME), b"").unwrap();
        let held = WriteLock::acquire_in(&dir, Duration::from_millis(50)).unwrap();
        let e = WriteLock::acquire_in(&dir, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, LockError::Busy(_)), "{e}");
        drop(held);
        assert!(!dir.join(LOCK_NAME).exists());
        let again = WriteLock::acquire_in(&dir, Duration::from_millis(50)).unwrap();
        assert_eq!(again.path(), dir.join(LOCK_NAME));
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn racing_holders_never_overlap() {
        let dir = std::env::temp_dir().join(format!("clef-core-lock-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (dir, inside) = (dir.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..30 {
                        let l = WriteLock::acquire_in(&dir, Duration::from_secs(20)).unwrap();
                        let n = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        assert_eq!(n, 0, "two holders at once");
                        std::thread::sleep(Duration::from_micros(200));
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        drop(l);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
