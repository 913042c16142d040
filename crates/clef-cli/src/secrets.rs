//! The everyday secret commands: set, get, delete, list, exec, export,
//! import, diff.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use clef_core::Cell;
use clef_core::cell::{self, Loaded};
use clef_core::sidecar::Sidecar;
use clef_doc::{Branch, Item, Value};
use clef_sops::Keyring;
use clef_sops::PlainFile;
use zeroize::Zeroizing;

use crate::error::{CliError, code};
use crate::out::{self, Json, MASK};
use crate::repo::{self, Repo};

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
}

/// Reads and decrypts a cell (must exist), without its sidecar.
pub fn decrypt_cell(
    repo: &Repo,
    cell: &Cell,
    ids: &Keyring,
) -> Result<(clef_sops::EncryptedFile, Vec<u8>, PlainFile), CliError> {
    cell::check_cell_paths(&repo.root, cell)?;
    let path = cell.path_in(&repo.root);
    let raw = match std::fs::read(&path) {
        Ok(r) => r,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(cell::CellError::Missing(cell.file.clone()).into());
        }
        Err(e) => {
            return Err(CliError::new(
                code::READ,
                format!("{}: cannot read: {}", cell.file.display(), e.kind()),
            ));
        }
    };
    if clef_core::conflict::is_conflict_document(&raw) {
        return Err(conflict_error(cell));
    }
    let file = clef_sops::EncryptedFile::parse(&raw, cell.format())
        .map_err(|e| CliError::sops(&cell.file, e))?;
    let plain = file.decrypt(ids).map_err(|e| decrypt_error(cell, ids, e))?;
    Ok((file, raw, plain))
}

/// A decryption failure; when this machine has no age identity at all, the
/// fix is `clef init` (not the sops variables).
fn decrypt_error(cell: &Cell, ids: &Keyring, e: clef_sops::SopsError) -> CliError {
    if matches!(e, clef_sops::SopsError::NoIdentity { .. }) && ids.identities().is_empty() {
        return CliError::new(
            code::KEY,
            format!(
                "{}: no identity on this machine (no age key found): run `clef init` in this repository to set yours up, then ask someone with access to add its recipient",
                cell.file.display()
            ),
        );
    }
    CliError::sops(&cell.file, e)
}

fn conflict_error(cell: &Cell) -> CliError {
    CliError::new(
        code::GENERIC,
        format!(
            "{}: the cell holds an unresolved merge conflict; see `clef merge status {}` and resolve it with `clef merge resolve`",
            cell.file.display(),
            cell.file.display()
        ),
    )
}

/// Opens a cell for editing, creating it (encrypted for the manifest's
/// recipients) when it does not exist yet.
pub fn open_for_edit(repo: &Repo, cell: &Cell, ids: &Keyring) -> Result<Editing, CliError> {
    open_for_edit_keys(repo, cell, ids, &[])
}

/// [`open_for_edit`] for a command that writes `keys`. When the cell is a
/// conflict document and every conflicting key is one of `keys`, the command
/// resolves the merge: the other values are taken as merged and `keys` are
/// about to be overwritten. Conflicts on other keys are refused by name.
pub fn open_for_edit_keys(
    repo: &Repo,
    cell: &Cell,
    ids: &Keyring,
    keys: &[&str],
) -> Result<Editing, CliError> {
    cell::check_cell_paths(&repo.root, cell)?;
    let path = cell.path_in(&repo.root);
    let raw = match std::fs::read(&path) {
        Ok(r) => Some(r),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::NotADirectory =>
        {
            None
        }
        Err(e) => {
            return Err(CliError::new(
                code::READ,
                format!("{}: cannot read: {}", cell.file.display(), e.kind()),
            ));
        }
    };
    if let Some(raw) = raw.filter(|r| clef_core::conflict::is_conflict_document(r)) {
        let st = clef_merge::status(&raw, cell.format())
            .map_err(|e| CliError::new(code::READ, format!("{}: {e}", cell.file.display())))?;
        let others: Vec<String> = st
            .keys
            .iter()
            .map(|k| k.path.to_string())
            .filter(|k| !keys.contains(&k.as_str()))
            .collect();
        if keys.is_empty() || !others.is_empty() {
            let file = cell.file.display();
            let what = if others.is_empty() {
                "some keys".to_owned()
            } else {
                others.join(", ")
            };
            // The keys of this command that conflict too: resolved in the
            // same step (any side: the command overwrites them after).
            let mine: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| st.keys.iter().any(|c| c.path.to_string() == *k))
                .collect();
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
            return Err(CliError::new(
                code::GENERIC,
                format!(
                    "{file}: unresolved merge conflict on {what}; decide it first: `clef merge resolve {file}{picks}`{then}; or `clef merge resolve {file}` on a terminal, which asks key by key"
                ),
            ));
        }
        let choice = clef_merge::Choice {
            default: Some(clef_merge::Side::Ours),
            picks: Vec::new(),
        };
        let resolved = clef_merge::resolve(&raw, cell.format(), ids, &choice)
            .map_err(|e| CliError::new(code::GENERIC, format!("{}: {e}", cell.file.display())))?;
        let file = clef_sops::EncryptedFile::parse(&resolved.bytes, cell.format())
            .map_err(|e| CliError::sops(&cell.file, e))?;
        let mut plain = file
            .decrypt(ids)
            .map_err(|e| CliError::sops(&cell.file, e))?;
        conform(repo, cell, &mut plain, false)?;
        let (sidecar, sidecar_raw) = cell::load_sidecar(&repo.root, cell)?;
        out::note(format!(
            "{}: resolving the merge conflict on {}",
            cell.file.display(),
            keys.join(", ")
        ));
        return Ok(Editing {
            cell: cell.clone(),
            loaded: Some(Loaded {
                file,
                raw,
                sidecar: sidecar.clone(),
                sidecar_raw,
            }),
            plain,
            sidecar,
        });
    }
    if path.exists() {
        let (file, raw, mut plain) = decrypt_cell(repo, cell, ids)?;
        conform(repo, cell, &mut plain, false)?;
        let (sidecar, sidecar_raw) = cell::load_sidecar(&repo.root, cell)?;
        let loaded = Loaded {
            file,
            raw,
            sidecar: sidecar.clone(),
            sidecar_raw,
        };
        return Ok(Editing {
            cell: cell.clone(),
            loaded: Some(loaded),
            plain,
            sidecar,
        });
    }
    let recipients = cell_recipients(repo, cell)?;
    let plain =
        cell::new_plain(cell.format(), &recipients).map_err(|e| CliError::sops(&cell.file, e))?;
    let (sidecar, _) = cell::load_sidecar(&repo.root, cell)?;
    Ok(Editing {
        cell: cell.clone(),
        loaded: None,
        plain,
        sidecar,
    })
}

/// Makes a decrypted cell's recipients exactly what clef.yaml grants before
/// it is written (a new data key when its block granted anyone else; see
/// [`clef_core::access::Access::conform`]), and says so. `rotate` forces a
/// new data key. Cells of environments on another backend are left alone.
pub fn conform(
    repo: &Repo,
    cell: &Cell,
    plain: &mut PlainFile,
    rotate: bool,
) -> Result<Option<clef_core::access::Conformed>, CliError> {
    let access = repo.manifest.access(cell);
    if access.age.is_empty() {
        cell_recipients(repo, cell)?;
    }
    if repo
        .manifest
        .environment(&cell.environment)
        .is_some_and(|e| repo.manifest.backend_of(e) != clef_core::manifest::Backend::Age)
    {
        return Ok(None);
    }
    let done = access
        .conform(plain, rotate, &repo.identities()?)
        .map_err(|e| CliError::sops(&cell.file, e))?;
    if let Some(c) = &done {
        for (_, line) in c.drift.describe() {
            out::note(format!("{}: {line}: fixed from clef.yaml", cell.target()));
        }
        if c.rotated && !rotate {
            out::note(format!(
                "{}: new data key: the cell was readable by a key clef.yaml does not grant",
                cell.target()
            ));
        }
    }
    Ok(done)
}

/// The recipients a cell must be encrypted for (age backend only).
pub fn cell_recipients(repo: &Repo, cell: &Cell) -> Result<Vec<String>, CliError> {
    let m = &repo.manifest;
    if let Some(env) = m.environment(&cell.environment) {
        let b = m.backend_of(env);
        if b != clef_core::manifest::Backend::Age {
            return Err(CliError::new(
                code::USAGE,
                format!(
                    "{}: environment '{}' uses the {} backend; clef can only encrypt for age recipients",
                    cell.file.display(),
                    env.name,
                    b.name()
                ),
            ));
        }
    }
    let r = m.access(cell).age;
    if r.is_empty() {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{}: clef.yaml lists no age recipient for {} (add one with `clef recipients add age1…`)",
                cell.file.display(),
                cell.target()
            ),
        ));
    }
    Ok(r)
}

/// Encrypts edits and writes each cell with its sidecar in one step.
pub fn commit(repo: &Repo, edits: &[Editing]) -> Result<(), CliError> {
    let mut blobs: Vec<cell::Blob> = Vec::new();
    for e in edits {
        let bytes = e
            .plain
            .encrypt()
            .and_then(|f| f.to_bytes())
            .map_err(|x| CliError::sops(&e.cell.file, x))?;
        blobs.push((
            e.cell.sidecar_in(&repo.root),
            e.sidecar.to_text().into_bytes(),
            e.loaded.as_ref().and_then(|l| l.sidecar_raw.clone()),
        ));
        blobs.push((
            e.cell.path_in(&repo.root),
            bytes,
            e.loaded.as_ref().map(|l| l.raw.clone()),
        ));
    }
    cell::write_blobs(&repo.root, &blobs)?;
    stage_resolved(repo, edits);
    Ok(())
}

/// A write that resolved a conflicted cell also marks it resolved in git
/// (`git add` of the cell and its sidecar), so `git commit` can go on.
fn stage_resolved(repo: &Repo, edits: &[Editing]) {
    for e in edits {
        let was_conflict = e
            .loaded
            .as_ref()
            .is_some_and(|l| clef_core::conflict::is_conflict_document(&l.raw));
        if !was_conflict || !clef_git::worktree::is_unmerged(&repo.root, &e.cell.file) {
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
        if clef_git::worktree::stdout_if_ok(&repo.root, &args).is_some() {
            out::note(format!(
                "{}: conflict resolved and staged; finish with `git commit` (or `git rebase --continue`)",
                e.cell.file.display()
            ));
        } else {
            out::note(format!(
                "{}: resolved, but `git add` failed; stage it yourself before committing",
                e.cell.file.display()
            ));
        }
    }
}

pub(crate) fn doc_mut(plain: &mut PlainFile) -> &mut Branch {
    if plain.docs.is_empty() {
        plain.docs.push(Branch::new());
    }
    &mut plain.docs[0]
}

fn check_key(key: &str) -> Result<(), CliError> {
    if cell::valid_key(key) {
        Ok(())
    } else if let Some((name, _)) = key.split_once('=') {
        // `KEY=value` in one argument: the part after `=` is a value; never echo it.
        Err(CliError::new(
            code::USAGE,
            format!(
                "'{}=…' is not a valid key name: the key and the value are separate arguments (`clef set TARGET {} VALUE`, or omit VALUE to be prompted); the value was not stored or shown",
                name.escape_debug(),
                name.escape_debug()
            ),
        ))
    } else {
        Err(CliError::new(
            code::USAGE,
            format!(
                "'{}' is not a valid key name (a letter or _, then letters, digits, _ . -; not 'sops')",
                key.escape_debug()
            ),
        ))
    }
}

/// The cells a command addresses: `ns/env`, or with `--all-envs` `ns` or `ns/env` (every environment of `ns`).
fn targets(repo: &Repo, target: &str, all_envs: bool) -> Result<Vec<Cell>, CliError> {
    if all_envs {
        let ns = target.split('/').next().unwrap_or(target);
        Ok(repo.manifest.namespace_cells(ns)?)
    } else {
        Ok(vec![repo.manifest.target(target)?])
    }
}

/// On a terminal, asks before writing to a protected environment (scripts
/// and CI, without a terminal, are not asked; `--yes` skips the question).
pub fn confirm_protected(repo: &Repo, cells: &[Cell], yes: bool) -> Result<(), CliError> {
    let protected: Vec<String> = cells
        .iter()
        .filter(|c| {
            repo.manifest
                .environment(&c.environment)
                .is_some_and(|e| e.protected)
        })
        .map(Cell::target)
        .collect();
    if protected.is_empty() || yes || !out::stdin_is_tty() {
        return Ok(());
    }
    eprint!(
        "clef: {} is protected. Write to it? [y/N] ",
        protected.join(", ")
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::new(code::READ, format!("cannot read the answer: {}", e.kind())))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(CliError::new(
            code::GENERIC,
            format!(
                "{}: not confirmed; nothing was written",
                protected.join(", ")
            ),
        ))
    }
}

/// A new random placeholder: 32 bytes from the OS, hex-encoded.
pub(crate) fn random_value() -> Result<Zeroizing<String>, CliError> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(&mut *b).map_err(|_| {
        CliError::new(
            code::GENERIC,
            "the operating system's random number generator failed",
        )
    })?;
    let mut s = Zeroizing::new(String::with_capacity(64));
    for x in b.iter() {
        s.push(char::from(b"0123456789abcdef"[usize::from(x >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(x & 15)]));
    }
    Ok(s)
}

/// Reads a value without echo from the terminal, or all of stdin when piped
/// (one trailing newline removed).
pub(crate) fn read_value(key: &str) -> Result<Zeroizing<String>, CliError> {
    // Reserved up front: growing the buffer would leave unwiped copies behind.
    let mut s = Zeroizing::new(String::with_capacity(64 * 1024));
    if out::stdin_is_tty() {
        // Echo goes off before the prompt appears, so nothing typed after
        // the prompt can be echoed.
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ =
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
        }
        eprint!("Value for {key} (input hidden): ");
        let r = stdin.read_line(&mut s);
        if let Some(t) = &saved {
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        }
        eprintln!();
        r.map_err(|e| CliError::new(code::READ, format!("cannot read the value: {}", e.kind())))?;
        if s.trim_end_matches(['\r', '\n']).is_empty() {
            return Err(CliError::new(
                code::USAGE,
                format!(
                    "empty value for {key}: nothing stored (to store an empty value on purpose, give it as an argument: '')"
                ),
            ));
        }
    } else {
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            CliError::new(
                code::READ,
                format!("cannot read the value from stdin: {}", e.kind()),
            )
        })?;
    }
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------- set

/// `clef set`
#[derive(Args, Debug)]
pub struct SetArgs {
    /// namespace/environment (with --all-envs, just the namespace is enough).
    pub target: String,
    /// The key, e.g. DATABASE_URL.
    pub key: String,
    /// The value. Omit it to type it at a hidden prompt, or pipe it on stdin
    /// (one trailing newline is removed). On the command line it ends up in
    /// your shell history.
    pub value: Option<String>,
    /// Store a random 64-hex-digit placeholder and mark the key pending.
    #[arg(long, conflicts_with = "value")]
    pub random: bool,
    /// Set the key in every environment of the namespace.
    #[arg(long)]
    pub all_envs: bool,
    /// Do not ask before writing to a protected environment (asked only on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Allow a key the cell's crypt rule leaves in clear text (e.g. a name
    /// ending in `_unencrypted`): without it, such a `set` is refused.
    #[arg(long)]
    pub allow_unencrypted: bool,
}

/// Refuses to store `keys` in clear text (the cell's crypt rule does not
/// encrypt them) unless `allowed`; says so loudly when allowed.
fn check_in_clear(e: &Editing, keys: &[&str], allowed: bool) -> Result<(), CliError> {
    let clear = cell::keys_in_clear(&e.plain, keys).map_err(|x| CliError::sops(&e.cell.file, x))?;
    if clear.is_empty() {
        return Ok(());
    }
    let names = clear.join(", ");
    if !allowed {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{}: {names} would be stored in CLEAR TEXT: the cell's crypt rule ({}: {:?}) does not encrypt it; rename the key, or pass --allow-unencrypted if it is not a secret. Nothing was written",
                e.cell.file.display(),
                e.plain.meta.rule.field(),
                e.plain.meta.rule.arg()
            ),
        ));
    }
    out::note(format!(
        "WARNING: {}: {names} is stored in CLEAR TEXT (not encrypted; --allow-unencrypted)",
        e.cell.target()
    ));
    Ok(())
}

/// Runs `clef set`.
pub fn set(dir: Option<&Path>, a: SetArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    check_key(&a.key)?;
    let cells = targets(&repo, &a.target, a.all_envs)?;
    // Refuse early (before prompting); take the lock only once the value is in.
    drop(repo.check_writable(&cells.iter().collect::<Vec<_>>())?);
    confirm_protected(&repo, &cells, a.yes)?;
    let value: Option<Zeroizing<String>> = match (&a.value, a.random) {
        (_, true) => None,
        (Some(v), false) => {
            if out::stdin_is_tty() {
                out::note(
                    "note: a value on the command line stays in your shell history; omit it to be prompted",
                );
            }
            Some(Zeroizing::new(v.clone()))
        }
        (None, false) => Some(read_value(&a.key)?),
    };
    let _lock = repo.check_writable(&cells.iter().collect::<Vec<_>>())?;
    let ids = repo.identities()?;
    let now = clef_sops::time::now_rfc3339();
    let by = repo::author(&repo.root);
    let mut edits = Vec::new();
    for c in &cells {
        let mut e = open_for_edit_keys(&repo, c, &ids, &[a.key.as_str()])?;
        let v = match &value {
            Some(v) => v.clone(),
            None => random_value()?,
        };
        doc_mut(&mut e.plain).insert(&a.key, Value::Str(v));
        check_in_clear(&e, &[a.key.as_str()], a.allow_unencrypted)?;
        if a.random {
            e.sidecar.mark_pending(&a.key, &now, "clef set --random");
        } else {
            e.sidecar.record_rotation(&a.key, &now, &by);
        }
        edits.push(e);
    }
    commit(&repo, &edits)?;
    for c in &cells {
        let what = if a.random {
            " (random placeholder, pending)"
        } else {
            ""
        };
        out::note(format!("set {} in {}{what}", a.key, c.target()));
    }
    Ok(())
}

// ---------------------------------------------------------------- get

/// `clef get`
#[derive(Args, Debug)]
pub struct GetArgs {
    /// namespace/environment
    pub target: String,
    /// The key.
    pub key: String,
    /// Print {"namespace","environment","key","value"}.
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef get`.
pub fn get(dir: Option<&Path>, a: GetArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let ids = repo.identities()?;
    let (_, _, plain) = decrypt_cell(&repo, &c, &ids)?;
    let v = plain
        .docs
        .first()
        .and_then(|d| d.get(&a.key))
        .ok_or_else(|| {
            CliError::new(
                code::GENERIC,
                format!(
                    "{}: key '{}' not found in {}",
                    c.file.display(),
                    a.key.escape_debug(),
                    c.target()
                ),
            )
        })?;
    let text = cell::value_text(v).ok_or_else(|| {
        CliError::new(
            code::GENERIC,
            format!(
                "{}: key '{}' holds a nested value, not a scalar",
                c.file.display(),
                a.key.escape_debug()
            ),
        )
    })?;
    if a.json {
        let j = Zeroizing::new(
            Json::Obj(vec![
                ("namespace", Json::s(&c.namespace)),
                ("environment", Json::s(&c.environment)),
                ("key", Json::s(&a.key)),
                ("value", Json::s(text.as_str())),
            ])
            .render(),
        );
        return out::print_str(&j);
    }
    let mut bytes = Zeroizing::new(text.as_bytes().to_vec());
    if out::stdout_is_tty() {
        bytes.push(b'\n');
    }
    out::print(&bytes)
}

// ---------------------------------------------------------------- delete

/// `clef delete`
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// namespace/environment (with --all-envs, just the namespace is enough).
    pub target: String,
    /// The key.
    pub key: String,
    /// Delete the key from every environment of the namespace.
    #[arg(long)]
    pub all_envs: bool,
    /// Do not ask before writing to a protected environment (asked only on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// Runs `clef delete`.
pub fn delete(dir: Option<&Path>, a: DeleteArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let cells = targets(&repo, &a.target, a.all_envs)?;
    confirm_protected(&repo, &cells, a.yes)?;
    let _lock = repo.check_writable(&cells.iter().collect::<Vec<_>>())?;
    let ids = repo.identities()?;
    let mut edits = Vec::new();
    for c in &cells {
        if !c.path_in(&repo.root).exists() {
            continue;
        }
        let mut e = open_for_edit_keys(&repo, c, &ids, &[a.key.as_str()])?;
        if doc_mut(&mut e.plain).remove(&a.key).is_some() {
            e.sidecar.forget(&a.key);
            edits.push(e);
        }
    }
    if edits.is_empty() {
        return Err(CliError::new(
            code::GENERIC,
            format!(
                "key '{}' not found in {}",
                a.key.escape_debug(),
                cells
                    .iter()
                    .map(Cell::target)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    commit(&repo, &edits)?;
    for e in &edits {
        out::note(format!("deleted {} from {}", a.key, e.cell.target()));
    }
    Ok(())
}

// ---------------------------------------------------------------- list

/// `clef list`
#[derive(Args, Debug)]
pub struct ListArgs {
    /// namespace/environment
    pub target: String,
    /// Print [{"key","pending"}].
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef list` (no decryption: key names are in clear in SOPS files).
pub fn list(dir: Option<&Path>, a: ListArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let loaded = cell::load_existing(&repo.root, &c)?;
    let keys = loaded.file.keys();
    if a.json {
        let arr = keys
            .iter()
            .map(|k| {
                Json::Obj(vec![
                    ("key", Json::s(k)),
                    ("pending", Json::Bool(loaded.sidecar.is_pending(k))),
                ])
            })
            .collect();
        return out::print_str(&Json::Arr(arr).render());
    }
    let width = keys.iter().map(|k| out::shown(k).len()).max().unwrap_or(0);
    let mut s = String::new();
    for k in &keys {
        let p = if loaded.sidecar.is_pending(k) {
            "  (pending)"
        } else {
            ""
        };
        let k = out::shown(k);
        s.push_str(&format!("{k:<width$}  {MASK}{p}\n"));
    }
    if keys.is_empty() {
        out::note(format!("{} is empty", c.target()));
    }
    out::print_str(&s)
}

// ---------------------------------------------------------------- exec

/// `clef exec`
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// namespace/environment whose values become environment variables.
    pub target: String,
    /// More cells to load (repeatable); the main target wins on a clash.
    #[arg(long)]
    pub also: Vec<String>,
    /// Only these keys (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Prefix every variable name, e.g. APP_.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Keep variables that are already set in the environment.
    #[arg(long)]
    pub no_override: bool,
    /// The command and its arguments (after --). No shell is involved.
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Whether `name` (made from key `k`) can be an environment variable; if
/// not, says that the key is skipped. `exec` and `export --format shell`
/// both go through this, so they agree.
fn usable_env_name(k: &str, name: &str) -> bool {
    let ok = valid_env_name(name);
    if !ok {
        out::note(format!(
            "warning: key '{k}' is not a valid environment variable name; skipped (`clef export --format json` or `dotenv` keep it)"
        ));
    }
    ok
}

fn valid_env_name(k: &str) -> bool {
    let mut c = k.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// The decrypted key/values of a list of cells, first cell winning.
fn collect_values(
    repo: &Repo,
    cells: &[Cell],
    ids: &Keyring,
) -> Result<Vec<(String, Zeroizing<String>)>, CliError> {
    let mut vars: Vec<(String, Zeroizing<String>)> = Vec::new();
    for c in cells {
        let (_, _, plain) = decrypt_cell(repo, c, ids)?;
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
                None => out::note(format!(
                    "warning: {}: key '{k}' holds a nested value; skipped",
                    c.file.display()
                )),
            }
        }
    }
    Ok(vars)
}

/// Runs `clef exec`: replaces this process with the command (Unix `exec`),
/// so its exit code and signals are the command's own.
pub fn exec(dir: Option<&Path>, a: ExecArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let mut cells = vec![repo.manifest.target(&a.target)?];
    for t in &a.also {
        cells.push(repo.manifest.target(t)?);
    }
    let ids = repo.identities()?;
    let vars = collect_values(&repo, &cells, &ids)?;
    for k in &a.only {
        if !vars.iter().any(|(x, _)| x == k) {
            return Err(CliError::new(
                code::GENERIC,
                format!(
                    "--only: key '{k}' not found in {}",
                    cells
                        .iter()
                        .map(Cell::target)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let (prog, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::new(code::USAGE, "no command given after --"))?;
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    let prefix = a.prefix.as_deref().unwrap_or("");
    for (k, v) in &vars {
        if !a.only.is_empty() && !a.only.contains(k) {
            continue;
        }
        let name = format!("{prefix}{k}");
        if !usable_env_name(k, &name) {
            continue;
        }
        if a.no_override && std::env::var_os(&name).is_some() {
            continue;
        }
        cmd.env(&name, v.as_str());
    }
    drop(vars);
    run_replacing(cmd, prog)
}

#[cfg(unix)]
fn run_replacing(mut cmd: std::process::Command, prog: &std::ffi::OsStr) -> Result<(), CliError> {
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    let c = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    Err(CliError::new(
        c,
        format!("cannot run '{}': {}", prog.to_string_lossy(), e.kind()),
    ))
}

#[cfg(not(unix))]
fn run_replacing(mut cmd: std::process::Command, prog: &std::ffi::OsStr) -> Result<(), CliError> {
    let status = cmd.status().map_err(|e| {
        CliError::new(
            127,
            format!("cannot run '{}': {}", prog.to_string_lossy(), e.kind()),
        )
    })?;
    // the command's own status, through main (an empty message prints nothing)
    match status.code() {
        Some(0) => Ok(()),
        c => Err(CliError::new(c.unwrap_or(1), String::new())),
    }
}

// ---------------------------------------------------------------- export

/// Output formats of `clef export`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// `export KEY='value'` lines, safe to `eval` in a POSIX shell.
    Shell,
    /// `KEY=value` lines as the dotenv libraries read them (a value with
    /// spaces, quotes, `#`, `$` or line breaks double-quoted with escapes).
    Dotenv,
    /// A JSON object.
    Json,
}

/// `clef export`
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// namespace/environment
    pub target: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "shell")]
    pub format: ExportFormat,
    /// With --format shell: omit the `export ` keyword.
    #[arg(long)]
    pub no_export: bool,
}

/// Quotes for a POSIX shell: `'…'` with `'` written as `'\''`.
pub fn shell_quote(v: &str) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(v.len() + 2));
    s.push('\'');
    for ch in v.chars() {
        if ch == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(ch);
        }
    }
    s.push('\'');
    s
}

/// Runs `clef export`.
pub fn export(dir: Option<&Path>, a: ExportArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let ids = repo.identities()?;
    let vars = collect_values(&repo, std::slice::from_ref(&c), &ids)?;
    let mut s = Zeroizing::new(String::new());
    match a.format {
        ExportFormat::Shell => {
            for (k, v) in &vars {
                if !usable_env_name(k, k) {
                    continue;
                }
                if !a.no_export {
                    s.push_str("export ");
                }
                s.push_str(k);
                s.push('=');
                s.push_str(&shell_quote(v));
                s.push('\n');
            }
        }
        ExportFormat::Dotenv => {
            s.push_str(&clef_core::envfile::emit(
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ));
        }
        ExportFormat::Json => {
            s.push('{');
            for (i, (k, v)) in vars.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                clef_doc::json::write_string(&mut s, k);
                s.push(':');
                clef_doc::json::write_string(&mut s, v);
            }
            s.push_str("}\n");
        }
    }
    out::print_str(&s)
}

// ---------------------------------------------------------------- import

/// Input formats of `clef import`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// KEY=value lines.
    Dotenv,
    /// A JSON object (scalars only).
    Json,
    /// A YAML mapping (scalars only).
    Yaml,
}

/// `clef import`
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// namespace/environment
    pub target: String,
    /// The file to import (or --stdin).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    pub file: Option<PathBuf>,
    /// Read from standard input.
    #[arg(long)]
    pub stdin: bool,
    /// Input format (default: from the file extension, else from the content).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Replace keys that already exist (otherwise they are skipped).
    #[arg(long)]
    pub overwrite: bool,
    /// Only these keys of the input (comma-separated, names as in the input).
    #[arg(long, value_delimiter = ',')]
    pub keys: Vec<String>,
    /// Prefix every imported key, e.g. LEGACY_.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before writing to a protected environment (asked only on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print the plan as JSON: [{"key","action"}].
    #[arg(long)]
    pub json: bool,
    /// Allow keys the cell's crypt rule leaves in clear text (e.g. names
    /// ending in `_unencrypted`): without it, such an import is refused.
    #[arg(long)]
    pub allow_unencrypted: bool,
}

fn detect_format(file: Option<&Path>, text: &str) -> ImportFormat {
    let ext = file
        .and_then(|f| f.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => return ImportFormat::Json,
        Some("yaml" | "yml") => return ImportFormat::Yaml,
        Some("env") => return ImportFormat::Dotenv,
        _ => {}
    }
    if file
        .and_then(|f| f.file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".env"))
    {
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

fn import_text(v: &Value) -> Option<Zeroizing<String>> {
    match v {
        Value::Bool(b) => Some(Zeroizing::new(b.to_string())),
        other => cell::value_text(other),
    }
}

/// Runs `clef import`.
pub fn import(dir: Option<&Path>, a: ImportArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let source = a
        .file
        .as_ref()
        .map_or_else(|| "stdin".to_owned(), |f| f.display().to_string());
    let mut raw = Zeroizing::new(Vec::with_capacity(256 * 1024));
    match &a.file {
        Some(f) => {
            *raw = std::fs::read(f).map_err(|e| {
                CliError::new(
                    if e.kind() == std::io::ErrorKind::NotFound {
                        code::NO_FILE
                    } else {
                        code::READ
                    },
                    format!("{source}: cannot read: {}", e.kind()),
                )
            })?;
        }
        None => {
            std::io::stdin().read_to_end(&mut raw).map_err(|e| {
                CliError::new(code::READ, format!("stdin: cannot read: {}", e.kind()))
            })?;
        }
    }
    let text = std::str::from_utf8(&raw).map_err(|e| {
        CliError::new(
            code::READ,
            format!("{source}: not UTF-8 (byte {})", e.valid_up_to()),
        )
    })?;
    let format = a
        .format
        .unwrap_or_else(|| detect_format(a.file.as_deref(), text));
    let bad = |e: &dyn std::fmt::Display| CliError::new(code::READ, format!("{source}: {e}"));
    let doc = match format {
        ImportFormat::Dotenv => Branch(
            clef_core::envfile::parse(text)
                .map_err(|e| bad(&e))?
                .into_iter()
                .map(|e| Item::Entry(e.key, Value::Str(e.value)))
                .collect(),
        ),
        ImportFormat::Json => clef_doc::json::parse(text).map_err(|e| bad(&e))?,
        ImportFormat::Yaml => clef_doc::yaml::parse(text)
            .map_err(|e| bad(&e))?
            .into_iter()
            .next()
            .unwrap_or_default(),
    };
    if !a.dry_run {
        confirm_protected(&repo, std::slice::from_ref(&c), a.yes)?;
    }
    let _lock = if a.dry_run {
        None
    } else {
        Some(repo.check_writable(&[&c])?)
    };
    let ids = repo.identities()?;
    let mut e = open_for_edit(&repo, &c, &ids)?;
    let now = clef_sops::time::now_rfc3339();
    let by = repo::author(&repo.root);
    let mut plan: Vec<(String, &'static str)> = Vec::new();
    let mut changed = false;
    for item in &doc.0 {
        let Item::Entry(k, v) = item else { continue };
        if !a.keys.is_empty() && !a.keys.contains(k) {
            continue;
        }
        let k = &format!("{}{k}", a.prefix.as_deref().unwrap_or(""));
        if !cell::valid_key(k) {
            plan.push((k.clone(), "skipped: not a valid key name"));
            continue;
        }
        let Some(t) = import_text(v) else {
            plan.push((k.clone(), "skipped: not a scalar value"));
            continue;
        };
        let d = doc_mut(&mut e.plain);
        let action = match d.get(k).and_then(cell::value_text) {
            Some(old) if old == t => "unchanged",
            Some(_) if !a.overwrite => "skipped: exists (use --overwrite)",
            Some(_) => "overwrite",
            None => "add",
        };
        if matches!(action, "overwrite" | "add") {
            d.insert(k, Value::Str(t));
            e.sidecar.record_rotation(k, &now, &by);
            changed = true;
        }
        plan.push((k.clone(), action));
    }
    let written: Vec<&str> = plan
        .iter()
        .filter(|(_, act)| matches!(*act, "overwrite" | "add"))
        .map(|(k, _)| k.as_str())
        .collect();
    check_in_clear(&e, &written, a.allow_unencrypted)?;
    if a.json {
        let arr = plan
            .iter()
            .map(|(k, act)| Json::Obj(vec![("key", Json::s(k)), ("action", Json::s(*act))]))
            .collect();
        out::print_str(&Json::Arr(arr).render())?;
    } else {
        let width = plan
            .iter()
            .map(|(k, _)| out::shown(k).chars().count())
            .max()
            .unwrap_or(0);
        let mut s = String::new();
        for (k, act) in &plan {
            let k = out::shown(k);
            s.push_str(&format!("{act:<10} {k:<width$}  {MASK}\n"));
        }
        out::print_str(&s)?;
    }
    if a.dry_run {
        out::note("dry run: nothing written");
        return Ok(());
    }
    if changed {
        commit(&repo, std::slice::from_ref(&e))?;
        out::note(format!("imported into {}", c.target()));
    }
    Ok(())
}

// ---------------------------------------------------------------- diff

/// `clef diff`
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The namespace.
    pub namespace: String,
    /// First environment.
    pub env_a: String,
    /// Second environment.
    pub env_b: String,
    /// Print the values instead of masks.
    #[arg(long)]
    pub show_values: bool,
    /// Also list keys whose values are identical.
    #[arg(long)]
    pub show_identical: bool,
    /// Print [{"key","status","a","b"}] (values only with --show-values).
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef diff`: exit 0 when identical, 1 when different.
pub fn diff(dir: Option<&Path>, a: DiffArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let ca = repo.manifest.cell(&a.namespace, &a.env_a)?;
    let cb = repo.manifest.cell(&a.namespace, &a.env_b)?;
    let ids = repo.identities()?;
    let va = collect_values(&repo, std::slice::from_ref(&ca), &ids)?;
    let vb = collect_values(&repo, std::slice::from_ref(&cb), &ids)?;
    let mut keys: Vec<&String> = va.iter().map(|(k, _)| k).collect();
    for (k, _) in &vb {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let find = |vs: &'_ [(String, Zeroizing<String>)], k: &str| {
        vs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
    };
    let mut rows = Vec::new();
    let mut differs = false;
    for k in keys {
        let (x, y) = (find(&va, k), find(&vb, k));
        let status = match (&x, &y) {
            (Some(p), Some(q)) if p == q => "identical",
            (Some(_), Some(_)) => "changed",
            (None, _) => "missing_a",
            (_, None) => "missing_b",
        };
        if status != "identical" {
            differs = true;
        }
        rows.push((k.clone(), status, x, y));
    }
    let shown = |v: &Option<Zeroizing<String>>| -> Zeroizing<String> {
        match v {
            None => Zeroizing::new("(absent)".into()),
            Some(s) if a.show_values => s.clone(),
            Some(_) => Zeroizing::new(MASK.into()),
        }
    };
    let mut text = Zeroizing::new(String::new());
    if a.json {
        let arr = rows
            .iter()
            .filter(|r| a.show_identical || r.1 != "identical")
            .map(|(k, st, x, y)| {
                let val = |v: &Option<Zeroizing<String>>| {
                    if a.show_values {
                        Json::opt(v.as_ref().map(|s| s.to_string()))
                    } else {
                        Json::Null
                    }
                };
                Json::Obj(vec![
                    ("key", Json::s(k)),
                    ("status", Json::s(*st)),
                    ("a", val(x)),
                    ("b", val(y)),
                ])
            })
            .collect();
        text.push_str(&Json::Arr(arr).render());
    } else {
        let width = rows
            .iter()
            .map(|r| out::shown(&r.0).len())
            .max()
            .unwrap_or(0);
        for (k, st, x, y) in &rows {
            if *st == "identical" && !a.show_identical {
                continue;
            }
            let k = out::shown(k);
            let st = match *st {
                "missing_a" => format!("only in {}", a.env_b),
                "missing_b" => format!("only in {}", a.env_a),
                other => other.to_owned(),
            };
            text.push_str(&format!(
                "{st:<10} {k:<width$}  {}: {}  {}: {}\n",
                a.env_a,
                shown(x).as_str(),
                a.env_b,
                shown(y).as_str()
            ));
        }
        if !differs {
            out::note(format!(
                "{}/{} and {}/{} hold the same keys and values",
                a.namespace, a.env_a, a.namespace, a.env_b
            ));
        }
    }
    out::print_str(&text)?;
    if differs {
        return Err(CliError::new(code::GENERIC, String::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_sh() {
        for v in [
            "plain",
            "it's",
            "a'b'c",
            "$(rm -rf /)",
            "`x` \"y\" \\z",
            "line\nbreak",
            "",
        ] {
            let q = shell_quote(v);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", q.as_str()))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), v);
        }
    }

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
        assert!(valid_env_name("_A1") && !valid_env_name("A.B") && !valid_env_name("1A"));
    }
}
