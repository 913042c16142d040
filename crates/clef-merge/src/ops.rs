//! `clef merge status` and `clef merge resolve` as operations on files:
//! typed inputs and outcomes, no printing (the front end prints). They live
//! here rather than in clef-core because they are merges (clef-core sits
//! below this crate).

use std::path::{Path, PathBuf};

use clef_core::classify::{MergeKind, merge_kind};
use clef_sops::{Format, Keyring};

use crate::{Choice, ConflictKind, ResolveError, Side};

/// Why a merge operation failed. Messages carry paths and key names only.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A sidecar was named: it never holds key conflicts.
    #[error(
        "{}: sidecars merge without conflicts on keys; fix it by hand or check it out from one side",
        .0.display()
    )]
    Sidecar(PathBuf),
    /// The path has no format clef can merge.
    #[error(
        "{}: unknown file format (expected .yaml/.yml, .json, .env or .clef-meta.yaml)",
        .0.display()
    )]
    UnknownFormat(PathBuf),
    /// The file cannot be read.
    #[error("{}: cannot read: {kind}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error kind.
        kind: std::io::ErrorKind,
    },
    /// The file is not a conflict document clef can read.
    #[error("{}: {source}", path.display())]
    Document {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: ResolveError,
    },
    /// The resolved file cannot be written.
    #[error("{}: cannot write: {kind}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error kind.
        kind: std::io::ErrorKind,
    },
    /// The file was resolved and written, but `git add` failed.
    #[error("{}: resolved, but `git add` failed; stage it yourself", .0.display())]
    Stage(PathBuf),
}

/// The SOPS format of a file that can hold key conflicts.
pub fn conflict_format(file: &Path) -> Result<Format, OpError> {
    match merge_kind(file) {
        Some(MergeKind::Sops(f)) => Ok(f),
        Some(MergeKind::Sidecar) => Err(OpError::Sidecar(file.to_path_buf())),
        None => Err(OpError::UnknownFormat(file.to_path_buf())),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, OpError> {
    std::fs::read(path).map_err(|e| OpError::Read {
        path: path.to_path_buf(),
        kind: e.kind(),
    })
}

/// The merge state of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The file.
    pub file: PathBuf,
    /// Whether it is a conflict document.
    pub conflict: bool,
    /// Its conflicting keys (as displayed) and how each conflicts.
    pub keys: Vec<(String, ConflictKind)>,
}

/// `clef merge status`: the state of `files`, or of every file git lists as
/// unmerged under `start` when `files` is empty. Sidecars and files of
/// unknown format are skipped (they never hold key conflicts).
pub fn status(start: &Path, files: Vec<PathBuf>) -> Result<Vec<FileStatus>, OpError> {
    let files = if files.is_empty() {
        clef_git::worktree::unmerged_paths(start)
    } else {
        files
            .into_iter()
            .map(|f| if f.is_absolute() { f } else { start.join(f) })
            .collect()
    };
    let mut out = Vec::new();
    for f in files {
        let Ok(format) = conflict_format(&f) else {
            continue;
        };
        let bytes = read(&f)?;
        let st = crate::status(&bytes, format).map_err(|source| OpError::Document {
            path: f.clone(),
            source,
        })?;
        out.push(FileStatus {
            conflict: st.is_conflict_document,
            keys: st
                .keys
                .iter()
                .map(|k| (k.path.to_string(), k.kind()))
                .collect(),
            file: f,
        });
    }
    Ok(out)
}

/// What `clef merge resolve` did.
#[derive(Debug)]
pub struct ResolveOutcome {
    /// The file, now a valid SOPS file.
    pub file: PathBuf,
    /// Which side each conflicting key took.
    pub taken: Vec<(String, Side)>,
    /// Whether it was staged with `git add`.
    pub staged: bool,
}

/// `clef merge resolve`: rewrites the conflict document `file` as a valid
/// SOPS file taking the chosen sides (through the one atomic writer), then
/// stages it unless `stage` is false.
pub fn resolve_file(
    file: &Path,
    ids: &Keyring,
    choice: &Choice,
    stage: bool,
) -> Result<ResolveOutcome, OpError> {
    let format = conflict_format(file)?;
    let bytes = read(file)?;
    let resolved =
        crate::resolve(&bytes, format, ids, choice).map_err(|source| OpError::Document {
            path: file.to_path_buf(),
            source,
        })?;
    clef_sops::io::atomic_write(file, &resolved.bytes, false).map_err(|e| OpError::Write {
        path: file.to_path_buf(),
        kind: e.kind(),
    })?;
    if stage {
        let dir = file.parent().unwrap_or(Path::new("."));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if clef_git::worktree::stdout_if_ok(dir, &["add", "--", &name]).is_none() {
            return Err(OpError::Stage(file.to_path_buf()));
        }
    }
    Ok(ResolveOutcome {
        file: file.to_path_buf(),
        taken: resolved
            .taken
            .iter()
            .map(|(k, s)| (k.to_string(), *s))
            .collect(),
        staged: stage,
    })
}
