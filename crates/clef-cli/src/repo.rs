//! The repository a command works on: its root, manifest, identities, and
//! git state (mid-merge detection, the author for rotation records).

use std::path::{Path, PathBuf};

use clef_core::lock::WriteLock;
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

    /// The edit session's guard ([`clef_core::lock::check_writable`]): no
    /// write to a cell outside a merge in progress, one writer at a time.
    pub fn check_writable(&self, cells: &[&Cell]) -> Result<WriteLock, CliError> {
        Ok(clef_core::lock::check_writable(&self.root, cells)?)
    }
}

/// The write lock of the clef repository holding `file`, if it is in one
/// (`clef sops set|unset` on a cell serialise with `clef set`).
pub fn lock_near(file: &Path) -> Result<Option<WriteLock>, CliError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(find_root(&dir)
        .map(|r| WriteLock::acquire(&r))
        .transpose()?)
}

/// `Name <email>` of whoever is making the change (git's author identity,
/// else `$USER`).
pub fn author(root: &Path) -> String {
    clef_git::worktree::author(root)
        .unwrap_or_else(|| env("USER").unwrap_or_else(|| "unknown".into()))
}
