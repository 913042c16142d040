//! Reading and writing a cell together with its sidecar.
//!
//! A write replaces the cell and its sidecar with [`clef_sops::io::atomic_write`]
//! (temp file, fsync, rename) one after the other; if the second fails, the
//! first is put back, so the pair never ends up half-written.

use std::path::{Path, PathBuf};

use clef_doc::{Branch, Value};
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, PlainFile, SopsError};
use zeroize::Zeroizing;

use crate::matrix::Cell;
use crate::sidecar::{Sidecar, SidecarError};

/// A cell problem. Names the file (and key), never a value.
#[derive(Debug, thiserror::Error)]
pub enum CellError {
    /// The cell file does not exist.
    #[error("{}: the cell does not exist (create it with `clef set`, or `clef init`)", .0.display())]
    Missing(PathBuf),
    /// The file cannot be read.
    #[error("{}: cannot read: {reason}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The engine refused (not SOPS, MAC mismatch, no identity, …).
    #[error("{}: {source}", file.display())]
    Sops {
        /// The file.
        file: PathBuf,
        /// Why.
        source: SopsError,
    },
    /// The sidecar is malformed.
    #[error("{}: {source}", file.display())]
    Sidecar {
        /// The sidecar.
        file: PathBuf,
        /// Why.
        source: SidecarError,
    },
    /// The path leads outside the work tree (a committed symlink): refused.
    #[error("{}: resolves outside the repository ({}); refusing to read or write through a symlink that leaves the work tree", file.display(), target.display())]
    Outside {
        /// The file, as clef.yaml names it.
        file: PathBuf,
        /// Where it resolves to.
        target: PathBuf,
    },
    /// A write failed (nothing was changed).
    #[error("{}: cannot write: {reason}", file.display())]
    Write {
        /// The file.
        file: PathBuf,
        /// The OS error.
        reason: String,
    },
}

impl CellError {
    /// Wraps an engine error for `file`.
    pub fn sops(file: &Path, source: SopsError) -> Self {
        CellError::Sops {
            file: file.to_owned(),
            source,
        }
    }
}

/// A cell as read from disk.
#[derive(Debug)]
pub struct Loaded {
    /// The parsed ciphertext.
    pub file: EncryptedFile,
    /// The bytes as read (for rollback).
    pub raw: Vec<u8>,
    /// The sidecar.
    pub sidecar: Sidecar,
    /// The sidecar bytes as read, if it exists.
    pub sidecar_raw: Option<Vec<u8>>,
}

/// Checks that `path` (absolute, under `root`) stays inside `root` once every
/// symlink on the way is resolved: the deepest part of it that exists is
/// resolved and must lie under the resolved root. A dangling symlink is
/// refused too (writing through it would create its target).
pub fn confined(root: &Path, path: &Path) -> Result<(), CellError> {
    let outside = |target: PathBuf| CellError::Outside {
        file: path.strip_prefix(root).unwrap_or(path).to_owned(),
        target,
    };
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let mut probe = Some(path);
    while let Some(p) = probe {
        if std::fs::symlink_metadata(p).is_ok() {
            let real = std::fs::canonicalize(p).map_err(|_| outside(p.to_owned()))?;
            return if real.starts_with(&real_root) {
                Ok(())
            } else {
                Err(outside(real))
            };
        }
        probe = p.parent();
    }
    Ok(())
}

/// [`confined`] for a cell and its sidecar.
pub fn check_cell_paths(root: &Path, cell: &Cell) -> Result<(), CellError> {
    confined(root, &cell.path_in(root))?;
    confined(root, &cell.sidecar_in(root))
}

/// A file's bytes; `None` when it is missing (or under something that is
/// not a directory).
pub(crate) fn read_if_exists(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, CellError> {
    read_if_exists(path).map_err(|e| CellError::Read {
        file: path.to_owned(),
        reason: e.kind().to_string(),
    })
}

/// Reads a cell's sidecar (absent: empty).
pub fn load_sidecar(root: &Path, cell: &Cell) -> Result<(Sidecar, Option<Vec<u8>>), CellError> {
    let path = cell.sidecar_in(root);
    confined(root, &path)?;
    match read(&path)? {
        None => Ok((Sidecar::default(), None)),
        Some(b) => {
            let text = String::from_utf8_lossy(&b);
            let s = Sidecar::parse(&text).map_err(|source| CellError::Sidecar {
                file: cell.sidecar.clone(),
                source,
            })?;
            Ok((s, Some(b)))
        }
    }
}

/// Reads and parses a cell and its sidecar; `None` when the cell file does not exist.
pub fn load(root: &Path, cell: &Cell) -> Result<Option<Loaded>, CellError> {
    check_cell_paths(root, cell)?;
    let Some(raw) = read(&cell.path_in(root))? else {
        return Ok(None);
    };
    let file =
        EncryptedFile::parse(&raw, cell.format()).map_err(|e| CellError::sops(&cell.file, e))?;
    let (sidecar, sidecar_raw) = load_sidecar(root, cell)?;
    Ok(Some(Loaded {
        file,
        raw,
        sidecar,
        sidecar_raw,
    }))
}

/// Like [`load`] but a missing cell is an error.
pub fn load_existing(root: &Path, cell: &Cell) -> Result<Loaded, CellError> {
    load(root, cell)?.ok_or_else(|| CellError::Missing(cell.file.clone()))
}

/// A new, empty cell encrypted for `recipients`.
pub fn new_plain(format: Format, recipients: &[String]) -> Result<PlainFile, SopsError> {
    PlainFile::new(
        format,
        vec![Branch::new()],
        vec![KeyGroup::of_recipients(recipients)],
        0,
        CryptRule::default(),
        false,
        &clef_sops::Keyring::empty(),
    )
}

/// A new, empty cell sealed exactly as `access` grants (age recipients and
/// the environment's KMS key, wrapped through `keys`).
pub fn new_for(
    format: Format,
    access: &crate::access::Access,
    keys: &clef_sops::Keyring,
) -> Result<PlainFile, SopsError> {
    PlainFile::new(
        format,
        vec![Branch::new()],
        access.key_groups(),
        0,
        CryptRule::default(),
        false,
        keys,
    )
}

/// Removes the temp files an interrupted write of this cell or its sidecar
/// left next to them (`.<name>.clef-tmp-<hex>`, the names
/// [`clef_sops::io::atomic_write`] uses). Call only while holding the
/// repository's write lock, so no write of the cell is under way.
pub fn remove_stale_temps(root: &Path, cell: &Cell) {
    for f in [cell.path_in(root), cell.sidecar_in(root)] {
        let (Some(dir), Some(name)) = (f.parent(), f.file_name().and_then(|n| n.to_str())) else {
            continue;
        };
        let prefix = format!(".{name}.clef-tmp-");
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name();
            let is_temp = n.to_str().is_some_and(|n| {
                n.strip_prefix(&prefix)
                    .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            });
            if is_temp && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// One file of a write: where, the new bytes, and what was there before.
pub struct Change<'a> {
    /// Absolute path.
    pub path: PathBuf,
    /// New contents.
    pub bytes: &'a [u8],
    /// Previous contents (None: the file did not exist).
    pub old: Option<&'a [u8]>,
}

/// Writes several files under the work tree `root` as one step: each
/// atomically; if one fails, the ones already written are restored (or
/// removed when they did not exist). A path that resolves outside `root`
/// (see [`confined`]) is refused before anything is written.
pub fn write_all(root: &Path, changes: &[Change<'_>]) -> Result<(), CellError> {
    for c in changes {
        confined(root, &c.path)?;
    }
    for (i, c) in changes.iter().enumerate() {
        let result = c
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| clef_sops::io::atomic_write(&c.path, c.bytes, false));
        if let Err(e) = result {
            for done in changes[..i].iter().rev() {
                let _ = match done.old {
                    Some(old) => clef_sops::io::atomic_write(&done.path, old, false),
                    None => std::fs::remove_file(&done.path),
                };
            }
            return Err(CellError::Write {
                file: c.path.clone(),
                reason: e.kind().to_string(),
            });
        }
    }
    Ok(())
}

/// One file to write, owned: the absolute path, the new bytes, and what was
/// there before (None: the file did not exist).
pub type Blob = (PathBuf, Vec<u8>, Option<Vec<u8>>);

/// [`write_all`] over owned [`Blob`]s, under the work tree `root`.
pub fn write_blobs(root: &Path, blobs: &[Blob]) -> Result<(), CellError> {
    let changes: Vec<Change<'_>> = blobs
        .iter()
        .map(|(path, bytes, old)| Change {
            path: path.clone(),
            bytes,
            old: old.as_deref(),
        })
        .collect();
    write_all(root, &changes)
}

/// The text of a scalar value (strings as is; numbers, booleans and times in
/// sops's canonical form); `None` for maps, lists and null.
pub fn value_text(v: &Value) -> Option<Zeroizing<String>> {
    match v {
        Value::Str(s) => Some(s.clone().into_zeroizing()),
        Value::Map(_) | Value::List(_) | Value::Null | Value::Comment(_) => None,
        other => {
            let b = Zeroizing::new(clef_sops::to_bytes(other)?);
            String::from_utf8(b.to_vec()).ok().map(Zeroizing::new)
        }
    }
}

/// The top-level keys of `plain` that the cell's crypt rule leaves in clear
/// text (`X_unencrypted` under sops's default `unencrypted_suffix`, or what
/// an `encrypted_regex` does not match). Decided by encrypting, so it is the
/// engine's own rule, not a copy of it. An empty string is not counted: sops
/// writes `""` as `""` under every rule, and it reveals nothing.
pub fn keys_in_clear(plain: &PlainFile, keys: &[&str]) -> Result<Vec<String>, SopsError> {
    let enc = plain.encrypt()?;
    let Some(doc) = enc.docs.first() else {
        return Ok(Vec::new());
    };
    Ok(keys
        .iter()
        .filter(|k| match doc.get(k) {
            Some(Value::Str(s)) => !s.is_empty() && !s.starts_with("ENC[AES256_GCM,"),
            Some(_) => true,
            None => false,
        })
        .map(|k| (*k).to_owned())
        .collect())
}

/// Whether `key` can be stored in a cell: starts with a letter or `_`, then
/// letters, digits, `_`, `.` or `-`; not `sops`.
pub fn valid_key(key: &str) -> bool {
    let mut c = key.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'))
        && key != "sops"
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests write fixtures directly")]
mod tests {
    use super::*;

    #[test]
    fn paths_through_a_symlink_out_of_the_tree_are_refused() {
        let base = std::env::temp_dir().join(format!("clef-core-confine-{}", std::process::id()));
        let root = base.join("repo");
        let away = base.join("elsewhere");
        std::fs::create_dir_all(root.join("secrets/inside")).unwrap();
        std::fs::create_dir_all(&away).unwrap();
        std::os::unix::fs::symlink(&away, root.join("secrets/api")).unwrap();
        std::os::unix::fs::symlink("inside", root.join("secrets/ok")).unwrap();
        std::os::unix::fs::symlink(base.join("nowhere"), root.join("secrets/dangling")).unwrap();
        let p = |s: &str| root.join(s);
        assert!(confined(&root, &p("secrets/api/dev.enc.yaml")).is_err());
        assert!(confined(&root, &p("secrets/dangling")).is_err());
        assert!(confined(&root, &p("secrets/ok/dev.enc.yaml")).is_ok());
        assert!(confined(&root, &p("secrets/new/deeper/dev.enc.yaml")).is_ok());
        let change = [Change {
            path: p("secrets/api/dev.enc.yaml"),
            bytes: b"x",
            old: None,
        }];
        let e = write_all(&root, &change).unwrap_err();
        assert!(matches!(e, CellError::Outside { .. }), "{e}");
        assert!(
            !away.join("dev.enc.yaml").exists(),
            "nothing written outside"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn write_all_rolls_back() {
        let dir = std::env::temp_dir().join(format!("clef-core-cell-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        std::fs::write(&a, b"old").unwrap();
        let blocker = dir.join("blocker");
        std::fs::write(&blocker, b"x").unwrap();
        let changes = [
            Change {
                path: a.clone(),
                bytes: b"new",
                old: Some(b"old"),
            },
            Change {
                path: dir.join("new-file"),
                bytes: b"n",
                old: None,
            },
            Change {
                path: blocker.join("under-a-file"),
                bytes: b"x",
                old: None,
            },
        ];
        assert!(write_all(&dir, &changes).is_err());
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        assert!(!dir.join("new-file").exists());
        write_all(&dir, &changes[..2]).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            valid_key("DB_URL")
                && valid_key("_x.y-z")
                && !valid_key("1A")
                && !valid_key("A B")
                && !valid_key("sops")
                && !valid_key("")
        );
        assert_eq!(value_text(&Value::Int(5)).unwrap().as_str(), "5");
        assert!(value_text(&Value::Map(Branch::new())).is_none());
    }
}
