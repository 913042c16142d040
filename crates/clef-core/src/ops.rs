//! The everyday secret operations on cells, as typed functions: `set`,
//! `get`, `delete`, the decrypted values of cells (for `exec`/`export`),
//! `diff` and `import` (format detection, parsing, the plan). Each takes an input, returns an outcome or an [`OpError`];
//! none prints, prompts or exits. The caller holds the write lock
//! ([`crate::lock::check_writable`]) around a writing operation and asks
//! the user (protected environments, hidden prompts) before calling.

use std::path::PathBuf;

use clef_doc::{Branch, Item, Value};
use clef_sops::{Keyring, PlainFile};
use zeroize::Zeroizing;

use crate::cell;
use crate::edit::{self, EditError, Editing, Note, Repo};
use crate::matrix::Cell;

/// Why an operation failed. Names files and keys, never values.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Opening, decrypting or writing a cell.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// `KEY=value` given as one argument: never echoes the value.
    #[error(
        "'{}=…' is not a valid key name: the key and the value are separate arguments (`clef set TARGET {} VALUE`, or omit VALUE to be prompted); the value was not stored or shown",
        .0.escape_debug(),
        .0.escape_debug()
    )]
    KeyWithValue(String),
    /// Not a key name a cell can hold.
    #[error(
        "'{}' is not a valid key name (a letter or _, then letters, digits, _ . -; not 'sops')",
        .0.escape_debug()
    )]
    InvalidKey(String),
    /// The key is not in the cell.
    #[error("{}: key '{}' not found in {target}", file.display(), key.escape_debug())]
    NotFound {
        /// The cell file.
        file: PathBuf,
        /// The key.
        key: String,
        /// `namespace/environment`.
        target: String,
    },
    /// The key is in none of the cells.
    #[error("key '{}' not found in {}", key.escape_debug(), targets.join(", "))]
    NotFoundIn {
        /// The key.
        key: String,
        /// The cells looked at.
        targets: Vec<String>,
    },
    /// The key holds a map or a list.
    #[error("{}: key '{}' holds a nested value, not a scalar", file.display(), key.escape_debug())]
    Nested {
        /// The cell file.
        file: PathBuf,
        /// The key.
        key: String,
    },
    /// The keys would be stored in clear text and that was not allowed.
    #[error(
        "{}: {} would be stored in CLEAR TEXT: the cell's crypt rule ({field}: {arg:?}) does not encrypt it; rename the key, or pass --allow-unencrypted if it is not a secret. Nothing was written",
        file.display(),
        keys.join(", ")
    )]
    InClear {
        /// The cell file.
        file: PathBuf,
        /// The keys.
        keys: Vec<String>,
        /// The crypt rule's field (`unencrypted_suffix`, `encrypted_regex`, …).
        field: &'static str,
        /// Its argument.
        arg: String,
    },
    /// The OS random source failed.
    #[error("the operating system's random number generator failed")]
    Random,
}

/// Checks a key name before anything else happens.
pub fn check_key(key: &str) -> Result<(), OpError> {
    if cell::valid_key(key) {
        Ok(())
    } else if let Some((name, _)) = key.split_once('=') {
        Err(OpError::KeyWithValue(name.to_owned()))
    } else {
        Err(OpError::InvalidKey(key.to_owned()))
    }
}

/// The first document of a cell, created when the cell is empty.
pub fn doc_mut(plain: &mut PlainFile) -> &mut Branch {
    if plain.docs.is_empty() {
        plain.docs.push(Branch::new());
    }
    &mut plain.docs[0]
}

/// Refuses to store `keys` in clear text (the cell's crypt rule does not
/// encrypt them) unless `allowed`; when allowed, a [`Note::InClear`].
pub fn check_in_clear(e: &mut Editing, keys: &[&str], allowed: bool) -> Result<(), OpError> {
    let clear = cell::keys_in_clear(&e.plain, keys).map_err(|source| EditError::Sops {
        file: e.cell.file.clone(),
        source,
    })?;
    if clear.is_empty() {
        return Ok(());
    }
    if !allowed {
        return Err(OpError::InClear {
            file: e.cell.file.clone(),
            keys: clear,
            field: e.plain.meta.rule.field(),
            arg: e.plain.meta.rule.arg().to_owned(),
        });
    }
    e.notes.push(Note::InClear {
        target: e.cell.target(),
        keys: clear,
    });
    Ok(())
}

/// A new random placeholder: 32 bytes from the OS, hex-encoded.
pub fn random_value() -> Result<Zeroizing<String>, OpError> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(&mut *b).map_err(|_| OpError::Random)?;
    let mut s = Zeroizing::new(String::with_capacity(64));
    for x in b.iter() {
        s.push(char::from(b"0123456789abcdef"[usize::from(x >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(x & 15)]));
    }
    Ok(s)
}

/// What `set` stores.
pub enum NewValue {
    /// This value in every cell.
    Value(Zeroizing<String>),
    /// A fresh random placeholder per cell, marked pending.
    Random,
}

/// The input of [`set`].
pub struct Set<'a> {
    /// The cells to write.
    pub cells: &'a [Cell],
    /// The key (checked with [`check_key`]).
    pub key: &'a str,
    /// The value.
    pub value: NewValue,
    /// Store the key even if the crypt rule leaves it in clear text.
    pub allow_unencrypted: bool,
    /// When (RFC 3339), for the sidecar.
    pub now: &'a str,
    /// Who (`Name <email>`), for the rotation record.
    pub by: &'a str,
}

/// Sets a key in every cell of the input, all cells written in one step.
/// Returns what to tell the user, in order.
pub fn set(repo: Repo<'_>, ids: &Keyring, input: Set<'_>) -> Result<Vec<Note>, OpError> {
    set_with(repo, input, |c, keys| Ok(edit::open(repo, c, ids, keys)?))
}

/// [`set`], opening each cell with `open` (the CLI's opens a cell git lists
/// as unmerged with [`edit::open_settling`]: the document checked against
/// git's index stages, the other conflicting keys asked for on a terminal).
pub fn set_with<E: From<OpError>>(
    repo: Repo<'_>,
    input: Set<'_>,
    mut open: impl FnMut(&Cell, &[&str]) -> Result<Editing, E>,
) -> Result<Vec<Note>, E> {
    check_key(input.key)?;
    let mut notes = Vec::new();
    let mut edits = Vec::new();
    for c in input.cells {
        let mut e = open(c, &[input.key])?;
        put(&mut e, input.key, &input.value, input.allow_unencrypted)?;
        match input.value {
            NewValue::Random => e
                .sidecar
                .mark_pending(input.key, input.now, "clef set --random"),
            NewValue::Value(_) => e.sidecar.record_rotation(input.key, input.now, input.by),
        }
        notes.append(&mut e.notes);
        edits.push(e);
    }
    notes.extend(edit::commit(repo, &edits).map_err(OpError::from)?);
    Ok(notes)
}

/// Stores `value` (a random one is drawn here) under `key` in an open cell,
/// refusing clear text unless `allow_unencrypted`; the caller records it
/// in the sidecar.
fn put(
    e: &mut Editing,
    key: &str,
    value: &NewValue,
    allow_unencrypted: bool,
) -> Result<(), OpError> {
    let v = match value {
        NewValue::Value(v) => v.clone(),
        NewValue::Random => random_value()?,
    };
    doc_mut(&mut e.plain).insert(key, Value::Str(v.into()));
    check_in_clear(e, &[key], allow_unencrypted)
}

/// The input of [`rotate_values_with`].
pub struct Rotate<'a> {
    /// The cell.
    pub cell: &'a Cell,
    /// The keys (each one the cell holds, given once) and their new values.
    /// [`NewValue::Random`] draws a fresh random value that counts as a
    /// real one: it is recorded as a rotation, not as a pending placeholder.
    pub values: Vec<(String, NewValue)>,
    /// Store a key even if the crypt rule leaves it in clear text.
    pub allow_unencrypted: bool,
    /// When (RFC 3339), for the rotation records.
    pub now: &'a str,
    /// Who (`Name <email>`), for the rotation records.
    pub by: &'a str,
}

/// `clef rotate TARGET KEY…`: replaces the values of keys the cell holds
/// and gives it a new data key (wrapped for exactly what clef.yaml grants),
/// with a rotation record per key in the sidecar (count+1, `now`, `by`; no
/// longer pending); cell and sidecar are written in one step. A key the
/// cell does not hold, or that holds a map or a list, is refused before
/// anything is written. The cell is opened with `open` (see [`set_with`]).
pub fn rotate_values_with<E: From<OpError>>(
    repo: Repo<'_>,
    ids: &Keyring,
    input: Rotate<'_>,
    open: impl FnOnce(&Cell, &[&str]) -> Result<Editing, E>,
) -> Result<Vec<Note>, E> {
    let keys: Vec<&str> = input.values.iter().map(|(k, _)| k.as_str()).collect();
    for k in &keys {
        check_key(k)?;
    }
    let mut e = open(input.cell, &keys)?;
    check_held(&e.plain, &e.cell, &keys)?;
    for (k, v) in &input.values {
        put(&mut e, k, v, input.allow_unencrypted)?;
        e.sidecar.record_rotation(k, input.now, input.by);
    }
    edit::conform(repo, &e.cell, &mut e.plain, true, ids, &mut e.notes).map_err(OpError::from)?;
    let mut notes = std::mem::take(&mut e.notes);
    notes.extend(edit::commit(repo, std::slice::from_ref(&e)).map_err(OpError::from)?);
    Ok(notes)
}

/// Refuses (by name) a key the decrypted cell does not hold, or that holds
/// a map or a list: what `rotate` may give a new value.
pub fn check_held(plain: &PlainFile, cell: &Cell, keys: &[&str]) -> Result<(), OpError> {
    for k in keys {
        match plain.docs.first().and_then(|d| d.get(k)) {
            None => {
                return Err(OpError::NotFound {
                    file: cell.file.clone(),
                    key: (*k).to_owned(),
                    target: cell.target(),
                });
            }
            Some(v) if cell::value_text(v).is_none() => {
                return Err(OpError::Nested {
                    file: cell.file.clone(),
                    key: (*k).to_owned(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `clef rotate TARGET|--all`: a new data key for each cell of `cells`,
/// wrapped for exactly what clef.yaml grants. Values, their ciphertext
/// layout and the sidecars' rotation records are unchanged (a new data key
/// is not a new credential). A cell that does not exist is refused, or
/// skipped with `skip_missing`. All cells are written in one step; returns
/// how many, and what to tell the user.
pub fn rotate_data_keys(
    repo: Repo<'_>,
    ids: &Keyring,
    cells: &[Cell],
    skip_missing: bool,
) -> Result<(usize, Vec<Note>), OpError> {
    let mut notes = Vec::new();
    let mut blobs: Vec<cell::Blob> = Vec::new();
    for c in cells {
        let (_, raw, mut plain) = match edit::decrypt_cell(repo, c, ids) {
            Err(EditError::Cell(cell::CellError::Missing(_))) if skip_missing => continue,
            r => r?,
        };
        edit::cell_access(repo, c)?;
        edit::conform(repo, c, &mut plain, true, ids, &mut notes)?;
        let bytes = plain
            .encrypt()
            .and_then(|f| f.to_bytes())
            .map_err(|source| EditError::Sops {
                file: c.file.clone(),
                source,
            })?;
        blobs.push((c.path_in(repo.root), bytes, Some(raw)));
    }
    cell::write_blobs(repo.root, &blobs).map_err(EditError::from)?;
    Ok((blobs.len(), notes))
}

/// The outcome of [`delete`].
pub struct Deleted {
    /// What to tell the user (opening, staging).
    pub notes: Vec<Note>,
    /// The cells the key was deleted from.
    pub from: Vec<Cell>,
}

/// Deletes a key from every cell of `cells` that has it (cells that do not
/// exist are skipped); an error when none has it.
pub fn delete(
    repo: Repo<'_>,
    ids: &Keyring,
    cells: &[Cell],
    key: &str,
) -> Result<Deleted, OpError> {
    delete_with(repo, cells, key, |c, keys| {
        Ok(edit::open(repo, c, ids, keys)?)
    })
}

/// [`delete`], opening each cell with `open` (see [`set_with`]).
pub fn delete_with<E: From<OpError>>(
    repo: Repo<'_>,
    cells: &[Cell],
    key: &str,
    mut open: impl FnMut(&Cell, &[&str]) -> Result<Editing, E>,
) -> Result<Deleted, E> {
    let mut notes = Vec::new();
    let mut edits = Vec::new();
    for c in cells {
        if !c.path_in(repo.root).exists() {
            continue;
        }
        let mut e = open(c, &[key])?;
        notes.append(&mut e.notes);
        if doc_mut(&mut e.plain).remove(key).is_some() {
            e.sidecar.forget(key);
            edits.push(e);
        }
    }
    if edits.is_empty() {
        return Err(OpError::NotFoundIn {
            key: key.to_owned(),
            targets: cells.iter().map(Cell::target).collect(),
        }
        .into());
    }
    notes.extend(edit::commit(repo, &edits).map_err(OpError::from)?);
    Ok(Deleted {
        notes,
        from: edits.into_iter().map(|e| e.cell).collect(),
    })
}

/// The decrypted text of one key of a cell (a scalar).
pub fn get(
    repo: Repo<'_>,
    ids: &Keyring,
    cell: &Cell,
    key: &str,
) -> Result<Zeroizing<String>, OpError> {
    let (_, _, plain) = edit::decrypt_cell(repo, cell, ids)?;
    let v = plain
        .docs
        .first()
        .and_then(|d| d.get(key))
        .ok_or_else(|| OpError::NotFound {
            file: cell.file.clone(),
            key: key.to_owned(),
            target: cell.target(),
        })?;
    cell::value_text(v).ok_or_else(|| OpError::Nested {
        file: cell.file.clone(),
        key: key.to_owned(),
    })
}

/// Decrypted key/value pairs, in order (values wiped on drop).
pub type Values = Vec<(String, Zeroizing<String>)>;

/// Keys skipped because they hold a map or a list: (cell file, key).
pub type Nested = Vec<(PathBuf, String)>;

/// The decrypted scalar values of `cells`, the first cell winning on a
/// clash; the keys that hold nested values are skipped and returned as
/// `(file, key)`.
pub fn values(repo: Repo<'_>, ids: &Keyring, cells: &[Cell]) -> Result<(Values, Nested), OpError> {
    let mut vars: Values = Vec::new();
    let mut nested = Vec::new();
    for c in cells {
        let (_, _, plain) = edit::decrypt_cell(repo, c, ids)?;
        let Some(doc) = plain.docs.first() else {
            continue;
        };
        for item in &doc.0 {
            let Item::Entry(k, v) = item else { continue };
            if vars.iter().any(|(x, _)| x == k) {
                continue;
            }
            match cell::value_text(v) {
                Some(t) => vars.push((k.clone(), t)),
                None => nested.push((c.file.clone(), k.clone())),
            }
        }
    }
    Ok((vars, nested))
}

/// How a key compares between two cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffStatus {
    /// Same value in both.
    Identical,
    /// Different values.
    Changed,
    /// Only in the second cell.
    MissingA,
    /// Only in the first cell.
    MissingB,
}

impl DiffStatus {
    /// The name `--json` prints.
    pub fn name(self) -> &'static str {
        match self {
            DiffStatus::Identical => "identical",
            DiffStatus::Changed => "changed",
            DiffStatus::MissingA => "missing_a",
            DiffStatus::MissingB => "missing_b",
        }
    }
}

/// One key of a [`diff`]: the values are plaintext (keep in memory, never log).
pub struct DiffRow {
    /// The key.
    pub key: String,
    /// How it compares.
    pub status: DiffStatus,
    /// Its value in the first cell.
    pub a: Option<Zeroizing<String>>,
    /// Its value in the second cell.
    pub b: Option<Zeroizing<String>>,
}

/// Compares the values of two cells key by key (first cell's order, then
/// the keys only the second has).
pub fn diff(
    repo: Repo<'_>,
    ids: &Keyring,
    a: &Cell,
    b: &Cell,
) -> Result<(Vec<DiffRow>, Nested), OpError> {
    let (va, mut nested) = values(repo, ids, std::slice::from_ref(a))?;
    let (vb, nb) = values(repo, ids, std::slice::from_ref(b))?;
    nested.extend(nb);
    let mut keys: Vec<&String> = va.iter().map(|(k, _)| k).collect();
    for (k, _) in &vb {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let find = |vs: &Values, k: &str| vs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let rows = keys
        .into_iter()
        .map(|k| {
            let (x, y) = (find(&va, k), find(&vb, k));
            let status = match (&x, &y) {
                (Some(p), Some(q)) if p == q => DiffStatus::Identical,
                (Some(_), Some(_)) => DiffStatus::Changed,
                (None, _) => DiffStatus::MissingA,
                (_, None) => DiffStatus::MissingB,
            };
            DiffRow {
                key: k.clone(),
                status,
                a: x,
                b: y,
            }
        })
        .collect();
    Ok((rows, nested))
}

/// Input formats of `clef import`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// KEY=value lines (the dotenv libraries' conventions, [`crate::envfile`]).
    Dotenv,
    /// A JSON object (scalars only).
    Json,
    /// A YAML mapping (scalars only).
    Yaml,
}

/// The format of an import: from the file's extension (`.json`,
/// `.yaml`/`.yml`, `.env`, a name starting with `.env`), else from the content.
pub fn detect_format(file: Option<&std::path::Path>, text: &str) -> ImportFormat {
    let name = file.and_then(|f| f.file_name()).and_then(|n| n.to_str());
    let ext = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => return ImportFormat::Json,
        Some("yaml" | "yml") => return ImportFormat::Yaml,
        Some("env") => return ImportFormat::Dotenv,
        _ => {}
    }
    if name.is_some_and(|n| n.starts_with(".env")) {
        return ImportFormat::Dotenv;
    }
    let t = text.trim_start();
    if t.starts_with('{') {
        ImportFormat::Json
    } else if t
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .all(|l| l.contains('=') && !l.contains(": "))
    {
        ImportFormat::Dotenv
    } else {
        ImportFormat::Yaml
    }
}

/// Parses an import's text into a mapping (the first YAML document).
/// The error is the parser's message (positions, never values).
pub fn parse_import(text: &str, format: ImportFormat) -> Result<Branch, String> {
    Ok(match format {
        ImportFormat::Dotenv => Branch(
            crate::envfile::parse(text)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|e| Item::Entry(e.key, Value::Str(e.value.into())))
                .collect(),
        ),
        ImportFormat::Json => clef_doc::json::parse(text).map_err(|e| e.to_string())?,
        ImportFormat::Yaml => clef_doc::yaml::parse(text)
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .unwrap_or_default(),
    })
}

/// What [`import_into`] takes from the input.
pub struct ImportOptions<'a> {
    /// Only these keys of the input (names as in the input; empty: all).
    pub keys: &'a [String],
    /// Prefix for every imported key.
    pub prefix: &'a str,
    /// Replace keys that exist with another value.
    pub overwrite: bool,
    /// When (RFC 3339), for the sidecar.
    pub now: &'a str,
    /// Who, for the rotation records.
    pub by: &'a str,
}

/// What happens to one key of an import (`add`, `overwrite`, `unchanged`
/// or `skipped: …`).
pub type ImportPlan = Vec<(String, &'static str)>;

/// Whether a planned action writes the key.
pub fn import_writes(action: &str) -> bool {
    matches!(action, "overwrite" | "add")
}

/// Applies an imported mapping to an open cell (in memory) and returns the
/// plan, key by key; nothing is written until [`edit::commit`].
pub fn import_into(e: &mut Editing, doc: &Branch, opts: &ImportOptions<'_>) -> ImportPlan {
    let mut plan = Vec::new();
    for item in &doc.0 {
        let Item::Entry(k, v) = item else { continue };
        if !opts.keys.is_empty() && !opts.keys.contains(k) {
            continue;
        }
        let k = format!("{}{k}", opts.prefix);
        if !cell::valid_key(&k) {
            plan.push((k, "skipped: not a valid key name"));
            continue;
        }
        let text = match v {
            Value::Bool(b) => Some(Zeroizing::new(b.to_string())),
            other => cell::value_text(other),
        };
        let Some(t) = text else {
            plan.push((k, "skipped: not a scalar value"));
            continue;
        };
        let d = doc_mut(&mut e.plain);
        let action = match d.get(&k).and_then(cell::value_text) {
            Some(old) if old == t => "unchanged",
            Some(_) if !opts.overwrite => "skipped: exists (use --overwrite)",
            Some(_) => "overwrite",
            None => "add",
        };
        if import_writes(action) {
            d.insert(&k, Value::Str(t.into()));
            e.sidecar.record_rotation(&k, opts.now, opts.by);
        }
        plan.push((k, action));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_64_hex_and_distinct() {
        let a = random_value().unwrap();
        let b = random_value().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn import_format_detection() {
        use std::path::Path;
        assert_eq!(
            detect_format(Some(Path::new("x.json")), "A=1"),
            ImportFormat::Json
        );
        assert_eq!(
            detect_format(Some(Path::new(".env.production")), "A: 1"),
            ImportFormat::Dotenv
        );
        assert_eq!(detect_format(None, "{\"A\": \"1\"}"), ImportFormat::Json);
        assert_eq!(
            detect_format(None, "# c\nA=1\nB=x=y\n"),
            ImportFormat::Dotenv
        );
        assert_eq!(detect_format(None, "A: 1\n"), ImportFormat::Yaml);
    }

    #[test]
    fn a_key_with_its_value_is_refused_without_echoing_the_value() {
        let e = check_key("TOKEN=hunter2").unwrap_err().to_string();
        assert!(e.contains("'TOKEN=…'") && !e.contains("hunter2"), "{e}");
        assert!(matches!(check_key("sops"), Err(OpError::InvalidKey(_))));
        assert!(check_key("DB_URL").is_ok());
    }
}
