//! Errors. None of them ever carries a scanned value: only paths, rule ids and
//! messages produced by the parser or the OS.

use std::path::PathBuf;

/// Everything that can stop or degrade a scan.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A file could not be read (permissions, vanished, I/O error).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A configuration, baseline or ignore file is malformed.
    #[error("invalid {}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A rule is malformed (bad regex, missing keyword, unknown group).
    #[error("rule {id}: {message}")]
    Rule {
        /// Rule id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// Walking the tree failed.
    #[error("walking {}: {message}", path.display())]
    Walk {
        /// The path being walked.
        path: PathBuf,
        /// The walker's message.
        message: String,
    },
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] clef_git::GitError),
    /// A git mode was asked for outside a repository.
    #[error("{option} needs a git repository, and {} is not inside one", dir.display())]
    NotARepository {
        /// The directory looked at.
        dir: PathBuf,
        /// `--staged`, `--range` or `--history`.
        option: &'static str,
    },
    /// git refused the query (a bad range, no commits yet).
    #[error("{option}: {reason}")]
    GitQuery {
        /// The option and its argument.
        option: String,
        /// git's first line, without `fatal: `.
        reason: String,
    },
    /// A bad option value.
    #[error("{0}")]
    Usage(String),
    /// Writing output or the baseline failed.
    #[error("cannot write {what}: {source}")]
    Write {
        /// What was being written.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}
