//! `clef migrate-backend`: moves cells from one master-key backend to
//! another (age ⇄ AWS KMS / GCP KMS) in place, and points clef.yaml at it.
//!
//! The operation is all or nothing. First every cell in scope is decrypted
//! with the keys it has now, re-sealed under a new data key for exactly what
//! the *new* manifest grants ([`crate::Manifest::access`]), and verified by
//! parsing the result and decrypting it again through the same keyring (a
//! real KMS `Decrypt` for a KMS cell) — all in memory. A KMS that is
//! unreachable or denies access fails here, before any file is touched.
//! Then the cells and clef.yaml are written as one step
//! ([`crate::cell::write_blobs`]: each file atomically, the ones already
//! written restored if a later one fails). Key order, comments and values'
//! layout are kept (only the data key changes); sidecars are not touched.

use std::path::{Path, PathBuf};

use clef_sops::{EncryptedFile, Keyring, SopsError};

use crate::access::Access;
use crate::cell::{self, CellError};
use crate::lock::LockError;
use crate::manifest::{Backend, KmsKey, Manifest, ManifestError};
use crate::matrix::Cell;

/// Where cells go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Back to age (the manifest's age recipients).
    Age,
    /// A cloud KMS key.
    Kms(KmsKey),
}

impl Target {
    /// The backend this target uses.
    pub fn backend(&self) -> Backend {
        match self {
            Target::Age => Backend::Age,
            Target::Kms(k) => k.backend(),
        }
    }
}

/// What to migrate.
#[derive(Debug, Clone)]
pub struct Request {
    /// The new backend.
    pub target: Target,
    /// One environment (a per-environment override in clef.yaml), or all
    /// (the global default, and every environment without an override).
    pub environment: Option<String>,
    /// Only report what would be done.
    pub dry_run: bool,
}

/// One cell in scope.
#[derive(Debug, Clone)]
pub struct Step {
    /// `namespace/environment`.
    pub target: String,
    /// The cell file, relative to the repository root.
    pub file: PathBuf,
    /// The backend the cell is sealed with now.
    pub from: Backend,
}

/// What was (or, with `dry_run`, would be) done.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The cells re-sealed, in matrix order.
    pub cells: Vec<Step>,
    /// Cells of the scope that do not exist yet (they will be created under
    /// the new backend).
    pub absent: Vec<String>,
    /// The new clef.yaml text (written unless `dry_run`).
    pub manifest_changed: bool,
}

/// Why a migration did not happen. Names files, keys and the cloud error
/// code, never a value; in every case nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// clef.yaml cannot be read, or would not be valid after the change.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The environment is not in clef.yaml.
    #[error("unknown environment '{0}' (see clef.yaml)")]
    UnknownEnvironment(String),
    /// Age as a target, but clef.yaml would grant no age recipient.
    #[error(
        "{0}: clef.yaml lists no age recipient to migrate to (add one with `clef recipients add age1…`)"
    )]
    NoRecipients(String),
    /// Another writer holds the lock, or a merge is in progress.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A cell cannot be read.
    #[error("{target}: {source}; nothing was written (clef.yaml and every cell are as before)")]
    Cell {
        /// `namespace/environment`.
        target: String,
        /// Why.
        source: CellError,
    },
    /// A cell cannot be unwrapped, re-sealed or verified.
    #[error("{}: {source}; nothing was written (clef.yaml and every cell are as before)", file.display())]
    Reseal {
        /// The cell file.
        file: PathBuf,
        /// Why.
        source: ResealError,
    },
    /// Writing failed; the files already written were restored.
    #[error(
        "{0}; the files already written were restored, nothing was migrated (run the same command again)"
    )]
    Write(CellError),
}

/// Moves the cells of `req`'s scope to `req.target` and updates clef.yaml.
/// `keys` must hold the backends of both sides (age identities and
/// the cloud backends of `clef-kms`): it unwraps the old data keys and wraps
/// the new ones.
pub fn migrate(root: &Path, req: &Request, keys: &Keyring) -> Result<Outcome, MigrateError> {
    let old = Manifest::load(root)?;
    if let Some(e) = &req.environment
        && old.environment(e).is_none()
    {
        return Err(MigrateError::UnknownEnvironment(e.clone()));
    }
    let mut edited = old.clone();
    let key = match &req.target {
        Target::Age => None,
        Target::Kms(k) => Some(k.id()),
    };
    edited.set_backend(req.environment.as_deref(), req.target.backend(), key)?;
    let text = edited.to_text();
    let new = Manifest::parse(&text, old.path())?;

    let scope: Vec<Cell> = old
        .cells()
        .into_iter()
        .filter(|c| req.environment.as_ref().is_none_or(|e| *e == c.environment))
        .collect();
    let mut steps = Vec::new();
    let mut absent = Vec::new();
    let mut loaded = Vec::new();
    for c in &scope {
        let access = new.access(c);
        if req.target == Target::Age && access.age.is_empty() {
            return Err(MigrateError::NoRecipients(c.target()));
        }
        let cell_err = |source| MigrateError::Cell {
            target: c.target(),
            source,
        };
        match cell::load(root, c).map_err(cell_err)? {
            None => absent.push(c.target()),
            Some(l) => {
                steps.push(Step {
                    target: c.target(),
                    file: c.file.clone(),
                    from: Access::sealed_with(&l.file.meta),
                });
                loaded.push((c, l, access));
            }
        }
    }
    let manifest_changed = text != old.to_text();
    let outcome = Outcome {
        cells: steps,
        absent,
        manifest_changed,
    };
    if req.dry_run {
        return Ok(outcome);
    }

    let cells: Vec<&Cell> = loaded.iter().map(|(c, _, _)| *c).collect();
    let _lock = crate::lock::check_writable(root, &cells)?;
    let mut blobs: Vec<cell::Blob> = Vec::new();
    for (c, l, access) in &loaded {
        let bytes = reseal(&l.file, access, keys).map_err(|source| MigrateError::Reseal {
            file: c.file.clone(),
            source,
        })?;
        blobs.push((c.path_in(root), bytes, Some(l.raw.to_vec())));
    }
    if manifest_changed {
        let path = root.join(crate::manifest::FILE_NAME);
        let before = std::fs::read(&path).ok();
        blobs.push((path, text.into_bytes(), before));
        // clef's .sops.yaml follows the backend too
        blobs.extend(crate::sops_config::blob(root, &new));
    }
    cell::write_blobs(root, &blobs).map_err(MigrateError::Write)?;
    Ok(outcome)
}

/// Why one cell could not be re-sealed.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// Unwrapping, wrapping (the KMS error names the key and its code) or
    /// encrypting failed.
    #[error(transparent)]
    Sops(#[from] SopsError),
    /// The result did not verify.
    #[error("the re-sealed cell did not verify: {0}")]
    Verify(&'static str),
}

/// Decrypts `file` with `keys`, seals it under a new data key for exactly
/// `access`, and checks the result: it parses, every cloud KMS stanza
/// unwraps (a real `Decrypt`) to the new data key, and decrypting the file
/// through `keys` gives the same documents.
fn reseal(file: &EncryptedFile, access: &Access, keys: &Keyring) -> Result<Vec<u8>, ResealError> {
    let mut plain = file.decrypt(keys)?;
    access.conform(&mut plain, true, keys)?;
    let bytes = plain.encrypt()?.to_bytes()?;
    let again = EncryptedFile::parse(&bytes, file.format)?;
    check_stanzas(&again, plain.data_key().bytes(), keys)?;
    if again.decrypt(keys)?.docs != plain.docs {
        return Err(ResealError::Verify("it decrypts to other values"));
    }
    Ok(bytes)
}

/// Checks that every cloud KMS stanza of a freshly sealed `file` unwraps
/// (a real `Decrypt` through `keys`) to `data_key`: a key clef may encrypt
/// with but not decrypt with would leave cells nobody can open.
pub(crate) fn check_stanzas(
    file: &EncryptedFile,
    data_key: &[u8],
    keys: &Keyring,
) -> Result<(), ResealError> {
    for (kind, st) in file.meta.key_groups.iter().flat_map(|g| &g.other) {
        let k = keys.unwrap(kind, st).map_err(SopsError::Wrap)?;
        if k.as_slice() != data_key {
            return Err(ResealError::Verify(
                "a KMS stanza unwraps to another data key",
            ));
        }
    }
    Ok(())
}
