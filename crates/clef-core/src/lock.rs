//! The repository's write lock: one clef writer at a time, so concurrent
//! `clef set` / `clef sops set` cannot lose each other's keys.
//!
//! It is an advisory `flock` on `<git dir>/clef.lock`: the kernel releases it
//! when the holder exits, however it exits, so a `kill -9` leaves no stale
//! lock behind (an old empty `clef.lock` left by an earlier clef is simply
//! locked again). The file is removed on release; a waiter that locked a file
//! that has meanwhile been removed or replaced tries again, so two writers
//! never hold locks on two different files.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name in the git directory.
pub const LOCK_NAME: &str = "clef.lock";

/// A lock problem.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock file cannot be created or locked.
    #[error("{}: cannot take the write lock: {reason}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// Another process held the lock for the whole wait.
    #[error("{}: another clef command has been writing for {}s (the lock is released when it exits); try again", path.display(), waited.as_secs())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
}

/// A held write lock; released (and its file removed) on drop.
#[derive(Debug)]
pub struct RepoLock {
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

impl RepoLock {
    /// Takes `<dir>/clef.lock`, waiting up to `wait` for another holder.
    pub fn acquire(dir: &Path, wait: Duration) -> Result<RepoLock, LockError> {
        let path = dir.join(LOCK_NAME);
        let io = |e: std::io::Error| LockError::Io {
            path: path.clone(),
            reason: e.kind().to_string(),
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
                    return Ok(RepoLock { file, path });
                }
                continue;
            }
            if start.elapsed() >= wait {
                return Err(LockError::Busy {
                    path,
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        // Remove while still holding the lock, then unlock by closing.
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_leftover_file_is_not_stale() {
        let dir = std::env::temp_dir().join(format!("clef-core-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // What an earlier clef killed with -9 left behind: an empty file.
        std::fs::write(dir.join(LOCK_NAME), b"").unwrap();
        let held = RepoLock::acquire(&dir, Duration::from_millis(50)).unwrap();
        let e = RepoLock::acquire(&dir, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, LockError::Busy { .. }), "{e}");
        drop(held);
        assert!(!dir.join(LOCK_NAME).exists());
        let again = RepoLock::acquire(&dir, Duration::from_millis(50)).unwrap();
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
                        let l = RepoLock::acquire(&dir, Duration::from_secs(20)).unwrap();
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
