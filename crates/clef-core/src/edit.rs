//! The edit session: open a cell (decrypted in memory, conformed to
//! clef.yaml's access list), edit it, then write the cell and its sidecar
//! in one step. Typed errors and [`Note`]s for the front end to print; no
//! printing, no exit.
//!
//! The caller holds the write lock ([`crate::lock::check_writable`]) for
//! the whole session; the identities are the caller's (`clef` adds the
//! cloud KMS backends to its keyring, which clef-core does not link).

use std::fmt;
use std::path::{Path, PathBuf};

use clef_sops::{EncryptedFile, Keyring, PlainFile, SopsError};

use crate::access::Conformed;
use crate::cell::{self, CellError, Loaded};
use crate::manifest::{Backend, Manifest};
use crate::matrix::Cell;
use crate::merge::{Choice, ResolveError, Side};
use crate::sidecar::Sidecar;

/// The repository a session works in: the directory holding clef.yaml and
/// its manifest.
#[derive(Clone, Copy)]
pub struct Repo<'a> {
    /// The directory holding clef.yaml.
    pub root: &'a Path,
    /// The manifest.
    pub manifest: &'a Manifest,
}

/// A cell opened for editing: decrypted in memory.
pub struct Editing {
    /// The cell.
    pub cell: Cell,
    /// What was on disk (None: a new cell).
    pub loaded: Option<Loaded>,
    /// The plaintext.
    pub plain: PlainFile,
    /// The sidecar being updated.
    pub sidecar: Sidecar,
    /// What opening it did on the way (fixed drift, resolved conflict).
    pub notes: Vec<Note>,
}

/// Something a session did that the user should be told (one line each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A drift of the cell's `sops` block from clef.yaml was fixed.
    Fixed {
        /// `namespace/environment`.
        target: String,
        /// What differed.
        line: String,
    },
    /// The cell got a new data key because a key clef.yaml does not grant held the old one.
    NewDataKey {
        /// `namespace/environment`.
        target: String,
    },
    /// A conflicted cell is being resolved by this write.
    Resolving {
        /// The cell file.
        file: PathBuf,
        /// The keys the command overwrites.
        keys: Vec<String>,
    },
    /// Keys were stored in clear text, as allowed (`--allow-unencrypted`).
    InClear {
        /// `namespace/environment`.
        target: String,
        /// The keys.
        keys: Vec<String>,
    },
    /// A resolved cell was staged in git.
    Staged(PathBuf),
    /// A resolved cell could not be staged.
    StageFailed(PathBuf),
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Fixed { target, line } => write!(f, "{target}: {line}: fixed from clef.yaml"),
            Note::NewDataKey { target } => write!(
                f,
                "{target}: new data key: the cell was readable by a key clef.yaml does not grant"
            ),
            Note::Resolving { file, keys } => write!(
                f,
                "{}: resolving the merge conflict on {}",
                file.display(),
                keys.join(", ")
            ),
            Note::InClear { target, keys } => write!(
                f,
                "WARNING: {target}: {} is stored in CLEAR TEXT (not encrypted; --allow-unencrypted)",
                keys.join(", ")
            ),
            Note::Staged(file) => write!(
                f,
                "{}: conflict resolved and staged; finish with `git commit` (or `git rebase --continue`)",
                file.display()
            ),
            Note::StageFailed(file) => write!(
                f,
                "{}: resolved, but `git add` failed; stage it yourself before committing",
                file.display()
            ),
        }
    }
}

/// Why a session cannot open or write a cell. Names files and keys, never values.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Reading, confining or writing the cell or its sidecar.
    #[error(transparent)]
    Cell(#[from] CellError),
    /// The cell file cannot be read.
    #[error("{}: cannot read: {kind}", file.display())]
    Read {
        /// The cell file.
        file: PathBuf,
        /// The OS error kind.
        kind: std::io::ErrorKind,
    },
    /// The cell holds a conflict document (a read cannot go on).
    #[error(
        "{}: the cell holds an unresolved merge conflict; see `clef merge status {}` and resolve it with `clef merge resolve`",
        file.display(),
        file.display()
    )]
    Conflicted {
        /// The cell file.
        file: PathBuf,
    },
    /// The cell holds a conflict on keys this write does not overwrite.
    #[error("{}", conflict_message(file, others, mine))]
    ConflictOn {
        /// The cell file.
        file: PathBuf,
        /// The conflicting keys the command does not write (empty: the command writes no key).
        others: Vec<String>,
        /// The command's own keys that conflict too.
        mine: Vec<String>,
    },
    /// The conflict document cannot be read.
    #[error("{}: {source}", file.display())]
    Status {
        /// The cell file.
        file: PathBuf,
        /// Why.
        source: ResolveError,
    },
    /// The conflict document cannot be resolved.
    #[error("{}: {source}", file.display())]
    Resolve {
        /// The cell file.
        file: PathBuf,
        /// Why.
        source: ResolveError,
    },
    /// This machine has no identity at all.
    #[error(
        "{}: no identity on this machine (no age key found): run `clef init` in this repository to set yours up, then ask someone with access to add its recipient",
        file.display()
    )]
    NoIdentity {
        /// The cell file.
        file: PathBuf,
    },
    /// The engine refused (not SOPS, MAC mismatch, no identity that opens it, …).
    #[error("{}: {source}", file.display())]
    Sops {
        /// The cell file.
        file: PathBuf,
        /// Why.
        source: SopsError,
    },
    /// The environment uses a backend clef cannot encrypt for.
    #[error(
        "{}: environment '{environment}' uses the {backend} backend; clef encrypts for age, AWS KMS and GCP KMS only",
        file.display()
    )]
    Backend {
        /// The cell file.
        file: PathBuf,
        /// The environment.
        environment: String,
        /// The backend's name.
        backend: &'static str,
    },
    /// clef.yaml grants nobody the cell.
    #[error(
        "{}: clef.yaml lists no age recipient for {target} (add one with `clef recipients add age1…`)",
        file.display()
    )]
    NoRecipients {
        /// The cell file.
        file: PathBuf,
        /// `namespace/environment`.
        target: String,
    },
}

fn conflict_message(file: &Path, others: &[String], mine: &[String]) -> String {
    let file = file.display();
    let what = if others.is_empty() {
        "some keys".to_owned()
    } else {
        others.join(", ")
    };
    let picks: String = others
        .iter()
        .map(|k| format!(" --pick {k}=ours|theirs"))
        .chain(mine.iter().map(|k| format!(" --pick {k}=ours")))
        .collect();
    let then = if mine.is_empty() {
        String::new()
    } else {
        format!(
            ", then run this command again ({} is overwritten by it)",
            mine.join(", ")
        )
    };
    format!(
        "{file}: unresolved merge conflict on {what}; decide it first: `clef merge resolve {file}{picks}`{then}; or run this command (or `clef merge resolve {file}`) on a terminal, which asks key by key"
    )
}

impl EditError {
    fn sops(cell: &Cell, source: SopsError) -> EditError {
        EditError::Sops {
            file: cell.file.clone(),
            source,
        }
    }
}

/// Reads a cell's bytes (`None`: it does not exist yet), confined to the work tree.
fn read_cell(repo: Repo<'_>, cell: &Cell) -> Result<Option<Vec<u8>>, EditError> {
    cell::check_cell_paths(repo.root, cell)?;
    cell::read_if_exists(&cell.path_in(repo.root)).map_err(|e| EditError::Read {
        file: cell.file.clone(),
        kind: e.kind(),
    })
}

/// Reads and decrypts a cell (must exist), without its sidecar.
pub fn decrypt_cell(
    repo: Repo<'_>,
    cell: &Cell,
    ids: &Keyring,
) -> Result<(EncryptedFile, Vec<u8>, PlainFile), EditError> {
    let raw = read_cell(repo, cell)?.ok_or_else(|| CellError::Missing(cell.file.clone()))?;
    let (file, plain) = decrypt_raw(cell, &raw, ids)?;
    Ok((file, raw, plain))
}

/// Parses and decrypts a cell's bytes (a conflict document is refused).
fn decrypt_raw(
    cell: &Cell,
    raw: &[u8],
    ids: &Keyring,
) -> Result<(EncryptedFile, PlainFile), EditError> {
    if crate::conflict::is_conflict_document(raw) {
        return Err(EditError::Conflicted {
            file: cell.file.clone(),
        });
    }
    let file = EncryptedFile::parse(raw, cell.format()).map_err(|e| EditError::sops(cell, e))?;
    let plain = file.decrypt(ids).map_err(|e| {
        // with no identity at all, the fix is `clef init`, not the sops variables
        if matches!(e, SopsError::NoIdentity { .. }) && ids.identities().is_empty() {
            EditError::NoIdentity {
                file: cell.file.clone(),
            }
        } else {
            EditError::sops(cell, e)
        }
    })?;
    Ok((file, plain))
}

/// Opens a cell for a command that writes `keys`, creating it (encrypted
/// for the manifest's recipients) when it does not exist yet; its `sops`
/// block is made exactly what clef.yaml grants ([`conform`]).
///
/// When the cell is a conflict document and every conflicting key is one
/// of `keys`, the command resolves the merge: the other values are taken as
/// merged and `keys` are about to be overwritten. Conflicts on other keys
/// (or any conflict, when `keys` is empty) are refused by name.
pub fn open(
    repo: Repo<'_>,
    cell: &Cell,
    ids: &Keyring,
    keys: &[&str],
) -> Result<Editing, EditError> {
    open_settling(repo, cell, ids, keys, &Settle::default())
}

/// How a write settles a conflict document beyond the keys it overwrites.
#[derive(Default)]
pub struct Settle<'a> {
    /// Sides chosen for other conflicting keys (asked on a terminal); a
    /// conflicting key with no side here and not written by the command is
    /// refused ([`EditError::ConflictOn`]).
    pub picks: Vec<(String, Side)>,
    /// Git's index stages of the unmerged cell, when git recorded the
    /// merge: the document must still say what they say
    /// ([`crate::merge::resolve::verify_stages`]), so a hand-edited one is
    /// not sealed under a fresh MAC.
    pub stages: Option<&'a crate::merge::resolve::Stages>,
}

/// [`open`], settling a conflict document as `settle` says.
pub fn open_settling(
    repo: Repo<'_>,
    cell: &Cell,
    ids: &Keyring,
    keys: &[&str],
    settle: &Settle<'_>,
) -> Result<Editing, EditError> {
    let mut notes = Vec::new();
    let raw = read_cell(repo, cell)?;
    let (loaded, plain) = match raw {
        Some(raw) if crate::conflict::is_conflict_document(&raw) => {
            let (file, plain) = resolve_for(repo, cell, ids, (keys, settle), &raw, &mut notes)?;
            (Some((file, raw)), plain)
        }
        Some(raw) => {
            let (file, mut plain) = decrypt_raw(cell, &raw, ids)?;
            conform(repo, cell, &mut plain, false, ids, &mut notes)?;
            (Some((file, raw)), plain)
        }
        None => {
            let access = cell_access(repo, cell)?;
            let plain =
                cell::new_for(cell.format(), &access, ids).map_err(|e| EditError::sops(cell, e))?;
            (None, plain)
        }
    };
    let (sidecar, sidecar_raw) = cell::load_sidecar(repo.root, cell)?;
    Ok(Editing {
        cell: cell.clone(),
        loaded: loaded.map(|(file, raw)| Loaded {
            file,
            raw,
            sidecar: sidecar.clone(),
            sidecar_raw,
        }),
        plain,
        sidecar,
        notes,
    })
}

/// A conflict document resolved for a write of `keys` (see [`open`]).
fn resolve_for(
    repo: Repo<'_>,
    cell: &Cell,
    ids: &Keyring,
    (keys, settle): (&[&str], &Settle<'_>),
    raw: &[u8],
    notes: &mut Vec<Note>,
) -> Result<(EncryptedFile, PlainFile), EditError> {
    let st = crate::merge::status(raw, cell.format()).map_err(|source| EditError::Status {
        file: cell.file.clone(),
        source,
    })?;
    if let Some(stages) = settle.stages {
        crate::merge::resolve::verify_stages(raw, cell.format(), ids, stages).map_err(
            |source| EditError::Resolve {
                file: cell.file.clone(),
                source,
            },
        )?;
    }
    let others: Vec<String> = st
        .keys
        .iter()
        .map(|k| k.path.to_string())
        .filter(|k| !keys.contains(&k.as_str()) && !settle.picks.iter().any(|(p, _)| p == k))
        .collect();
    if keys.is_empty() || !others.is_empty() {
        // The keys of this command that conflict too: resolved in the
        // same step (any side: the command overwrites them after).
        let mine = keys
            .iter()
            .filter(|k| st.keys.iter().any(|c| c.path.to_string() == **k))
            .map(|k| (*k).to_owned())
            .collect();
        return Err(EditError::ConflictOn {
            file: cell.file.clone(),
            others,
            mine,
        });
    }
    let choice = Choice {
        default: Some(Side::Ours),
        picks: settle.picks.clone(),
    };
    let resolved = crate::merge::resolve(raw, cell.format(), ids, &choice).map_err(|source| {
        EditError::Resolve {
            file: cell.file.clone(),
            source,
        }
    })?;
    let file = EncryptedFile::parse(&resolved.bytes, cell.format())
        .map_err(|e| EditError::sops(cell, e))?;
    let mut plain = file.decrypt(ids).map_err(|e| EditError::sops(cell, e))?;
    conform(repo, cell, &mut plain, false, ids, notes)?;
    notes.push(Note::Resolving {
        file: cell.file.clone(),
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
    });
    Ok((file, plain))
}

/// Makes a decrypted cell's recipients exactly what clef.yaml grants before
/// it is written (a new data key when its block granted anyone else; see
/// [`crate::access::Access::conform`]), with a [`Note`] per change. `rotate`
/// forces a new data key. Cells of environments on a backend clef does not
/// govern (azurekv, pgp, hsm) are left alone.
pub fn conform(
    repo: Repo<'_>,
    cell: &Cell,
    plain: &mut PlainFile,
    rotate: bool,
    ids: &Keyring,
    notes: &mut Vec<Note>,
) -> Result<Option<Conformed>, EditError> {
    let m = repo.manifest;
    let access = m.access(cell);
    if access.kms.is_none() && access.age.is_empty() {
        cell_access(repo, cell)?;
    }
    if access.kms.is_none() && access.backend != Backend::Age {
        return Ok(None);
    }
    let done = access
        .conform(plain, rotate, ids)
        .map_err(|e| EditError::sops(cell, e))?;
    if let Some(c) = &done {
        for (_, line) in c.drift.describe() {
            notes.push(Note::Fixed {
                target: cell.target(),
                line,
            });
        }
        if c.rotated && !rotate {
            notes.push(Note::NewDataKey {
                target: cell.target(),
            });
        }
    }
    Ok(done)
}

/// What a cell must be sealed for (clef.yaml's access list), when clef can
/// seal it: a cloud KMS environment, or an age environment with recipients.
pub fn cell_access(repo: Repo<'_>, cell: &Cell) -> Result<crate::access::Access, EditError> {
    let m = repo.manifest;
    let access = m.access(cell);
    if access.kms.is_some() {
        return Ok(access);
    }
    if let Some(env) = m.environment(&cell.environment) {
        let b = m.backend_of(env);
        if b != Backend::Age {
            return Err(EditError::Backend {
                file: cell.file.clone(),
                environment: env.name.clone(),
                backend: b.name(),
            });
        }
    }
    if access.age.is_empty() {
        return Err(EditError::NoRecipients {
            file: cell.file.clone(),
            target: cell.target(),
        });
    }
    Ok(access)
}

/// Encrypts the edits and writes each cell with its sidecar in one step
/// (all or nothing); a write that resolved a conflicted cell also stages it
/// in git, so `git commit` can go on. Returns what to tell the user.
pub fn commit(repo: Repo<'_>, edits: &[Editing]) -> Result<Vec<Note>, EditError> {
    let mut blobs: Vec<cell::Blob> = Vec::new();
    for e in edits {
        let bytes = e
            .plain
            .encrypt()
            .and_then(|f| f.to_bytes())
            .map_err(|x| EditError::sops(&e.cell, x))?;
        blobs.push((
            e.cell.sidecar_in(repo.root),
            e.sidecar.to_text().into_bytes(),
            e.loaded.as_ref().and_then(|l| l.sidecar_raw.clone()),
        ));
        blobs.push((
            e.cell.path_in(repo.root),
            bytes,
            e.loaded.as_ref().map(|l| l.raw.clone()),
        ));
    }
    cell::write_blobs(repo.root, &blobs)?;
    Ok(stage_resolved(repo, edits))
}

/// `git add` of each cell (and its sidecar) that the write resolved.
fn stage_resolved(repo: Repo<'_>, edits: &[Editing]) -> Vec<Note> {
    let mut notes = Vec::new();
    for e in edits {
        let was_conflict = e
            .loaded
            .as_ref()
            .is_some_and(|l| crate::conflict::is_conflict_document(&l.raw));
        if !was_conflict || !clef_git::worktree::is_unmerged(repo.root, &e.cell.file) {
            continue;
        }
        let (f, sc) = (
            e.cell.file.to_string_lossy().into_owned(),
            e.cell.sidecar.to_string_lossy().into_owned(),
        );
        let mut args = vec!["add", "--", f.as_str()];
        if repo.root.join(&e.cell.sidecar).exists() {
            args.push(sc.as_str());
        }
        notes.push(
            if clef_git::worktree::stdout_if_ok(repo.root, &args).is_some() {
                Note::Staged(e.cell.file.clone())
            } else {
                Note::StageFailed(e.cell.file.clone())
            },
        );
    }
    notes
}
